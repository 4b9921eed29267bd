// ioredis through the proxy: a pipeline-heavy writer (pipelines of SETs on unique keys plus an
// INCR and a GET) until the stop file appears (or max seconds pass). Prints one JSON object per
// line: {ev, t (Date.now() ms), ...}; each acknowledged pipeline names its keys so the test can
// check them on the master afterwards. Driven by test_node_clients.py.
'use strict';
const fs = require('fs');
const Redis = require('ioredis');

const [port, maxSeconds, tag, stopFile] = process.argv.slice(2);
const emit = (ev, extra = {}) => process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...extra }) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const BATCH = 50;
const OP_TIMEOUT_MS = 15000;

function withTimeout(p, ms) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function main() {
  const redis = new Redis({ host: '127.0.0.1', port: Number(port), db: 4, connectTimeout: 2000,
                            retryStrategy: (times) => Math.min(50 * times, 500) });
  redis.on('error', (e) => emit('client_error', { msg: String(e && e.message || e) }));
  redis.on('reconnecting', () => emit('reconnecting'));
  redis.on('ready', () => emit('ready'));
  redis.on('end', () => emit('end'));
  emit('started', { version: require('ioredis/package.json').version, prefix: `io:${tag}` });

  const deadline = Date.now() + Number(maxSeconds) * 1000;
  let seq = 0;
  while (Date.now() < deadline && !fs.existsSync(stopFile)) {
    const first = seq;
    seq += BATCH;
    const t0 = Date.now();
    try {
      const p = redis.pipeline();
      for (let s = first; s < first + BATCH; s++) p.set(`io:${tag}:${s}`, `v${s}`);
      p.incr(`io:${tag}:batches`);
      p.get(`io:${tag}:${first}`);
      const res = await withTimeout(p.exec(), OP_TIMEOUT_MS);
      const errs = res.filter(([e]) => e).map(([e]) => String(e.message || e));
      const sets = res.slice(0, BATCH).every(([e, r]) => !e && r === 'OK');
      const got = res[BATCH + 1] && res[BATCH + 1][1];
      if (errs.length || !sets || got !== `v${first}`) {
        emit('err', { op: 'pipeline', t0, first, n: BATCH, msg: errs.length ? errs.slice(0, 3).join('; ') : `unexpected replies ${JSON.stringify(res.slice(-3))}` });
      } else {
        emit('ok', { op: 'pipeline', t0, first, n: BATCH });
      }
    } catch (e) {
      emit('err', { op: 'pipeline', t0, first, n: BATCH, msg: String(e && e.message || e) });
    }
    await sleep(5);
  }
  emit('stopping', { batches: seq / BATCH });
  await withTimeout(redis.quit(), 3000).catch(() => redis.disconnect());
  emit('done');
}

main().then(() => process.exit(0), (e) => { emit('fatal', { msg: String(e && e.stack || e) }); process.exit(2); });
