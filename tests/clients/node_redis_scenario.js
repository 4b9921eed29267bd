// node-redis (npm `redis`, RESP3) through the proxy: plain commands, a transaction, and a
// subscription fed by PUBLISH, in a loop until the stop file appears (or max seconds pass).
// Prints one JSON object per line: {ev, t (Date.now() ms), ...}. Driven by test_node_clients.py.
'use strict';
const fs = require('fs');
const { createClient } = require('redis');

const [port, maxSeconds, tag, stopFile] = process.argv.slice(2);
const emit = (ev, extra = {}) => process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...extra }) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const OP_TIMEOUT_MS = 12000;

function withTimeout(p, ms) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

function instrument(client, name) {
  client.on('error', (e) => emit('client_error', { client: name, msg: String(e && e.message || e) }));
  client.on('reconnecting', () => emit('reconnecting', { client: name }));
  client.on('ready', () => emit('ready', { client: name }));
  client.on('end', () => emit('end', { client: name }));
  return client;
}

async function op(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await withTimeout(fn(), OP_TIMEOUT_MS);
    emit('ok', { op: name, t0, detail });
  } catch (e) {
    emit('err', { op: name, t0, msg: String(e && e.message || e), type: e && e.constructor && e.constructor.name });
  }
}

async function main() {
  const version = require('redis/package.json').version;
  const opts = {
    RESP: 3,
    database: 3,
    socket: { host: '127.0.0.1', port: Number(port), connectTimeout: 2000,
              reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 500) },
  };
  const client = instrument(createClient(opts), 'main');
  const sub = instrument(client.duplicate(), 'sub');
  await client.connect();
  await sub.connect();
  const hello = await client.sendCommand(['HELLO', '3']);
  const proto = hello instanceof Map ? hello.get('proto') : (hello && hello.proto);
  emit('started', { version, resp: opts.RESP, proto: Number(proto), helloType: hello instanceof Map ? 'map' : typeof hello });
  const channel = `nr:${tag}:chan`;
  await sub.subscribe(channel, (message) => emit('message', { data: message }));
  emit('subscribed', { channel });

  const deadline = Date.now() + Number(maxSeconds) * 1000;
  let i = 0;
  while (Date.now() < deadline && !fs.existsSync(stopFile)) {
    i += 1;
    const k = `nr:${tag}:k:${i}`;
    await op('plain', async () => {
      await client.set(k, String(i));
      const v = await client.get(k);
      if (v !== String(i)) throw new Error(`GET returned ${JSON.stringify(v)}, expected ${i}`);
      return await client.incr(`nr:${tag}:counter`);
    });
    await op('tx', async () => {
      const res = await client.multi().set(`nr:${tag}:tx`, String(i)).incr(`nr:${tag}:txc`).get(`nr:${tag}:tx`).exec();
      if (!Array.isArray(res) || res.length !== 3 || res[0] !== 'OK' || typeof res[1] !== 'number' || res[2] !== String(i))
        throw new Error(`EXEC returned ${JSON.stringify(res)}`);
      return res[1];
    });
    await op('publish', async () => client.publish(channel, `m${i}`));
    await sleep(40);
  }
  emit('stopping', { iterations: i });
  await withTimeout(Promise.allSettled([sub.unsubscribe(channel)]), 3000).catch(() => {});
  await withTimeout(Promise.allSettled([client.quit(), sub.quit()]), 3000).catch(() => {});
  emit('done');
}

main().then(() => process.exit(0), (e) => { emit('fatal', { msg: String(e && e.stack || e) }); process.exit(2); });
