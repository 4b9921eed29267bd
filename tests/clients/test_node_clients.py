"""Node.js clients through the proxy across failovers (issue 4, scenarios 5 and 6), both during
the same failover; a planned and then an unplanned one, on one topology.

node-redis (npm `redis`, the version in package-lock.json, with `RESP: 3`: HELLO 3 on every
connection, push frames for pub/sub): plain commands, a MULTI/EXEC transaction and a
subscription fed by PUBLISH must work before and after the failover (node_redis_scenario.js).
ioredis: a pipeline-heavy writer (pipelines of 50 SETs + INCR + GET) must ride through the
failover; its acknowledged keys are checked on the master afterwards (ioredis_scenario.js).
The scripts run under /usr/bin/node and report JSON lines; this file computes the figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from conftest import NodeScript, longest_gap, mono, proxy_errors
from harness import now

MAX_SECONDS = 150
GRACE = 1.0   # s after the proxy verified the new master before "after the failover" starts


@dataclass
class Run:
    fo: object
    nr: NodeScript
    io: NodeScript
    t_begin: float
    t_end: float
    io_prefix: str


def _run(kind, proxy, failovers, tmp_path_factory) -> Run:
    failovers.settle()
    work = tmp_path_factory.mktemp(f"node-{kind}")
    tag = uuid.uuid4().hex[:8]
    nr = NodeScript("node_redis_scenario.js", [str(proxy.port), str(MAX_SECONDS), tag], work,
                    "node-redis")
    io = NodeScript("ioredis_scenario.js", [str(proxy.port), str(MAX_SECONDS), tag], work,
                    "ioredis")
    started = []
    try:
        nr.start()
        started.append(nr)
        io.start()
        started.append(io)
        nr.wait_for("subscribed", timeout=30)
        io.wait_for("started", timeout=30)
        t_begin = now()
        for op in ("plain", "tx", "publish"):
            nr.wait_for("ok", 20, timeout=30, op=op)
        nr.wait_for("message", 20, timeout=30)
        io.wait_for("ok", 20, timeout=30, op="pipeline")
        fo = failovers.run(kind)
        after = fo.t_verified + GRACE
        for op in ("plain", "tx", "publish"):
            nr.wait_for("ok", 20, timeout=60, after=after, op=op)
        nr.wait_for("message", 20, timeout=60, after=after)
        io.wait_for("ok", 20, timeout=60, after=after, op="pipeline")
        t_end = now()
        rc_nr, rc_io = nr.stop(), io.stop()
        started.clear()
        assert rc_nr == 0, f"node-redis script exited {rc_nr}: {nr.stderr_tail()}"
        assert rc_io == 0, f"ioredis script exited {rc_io}: {io.stderr_tail()}"
        return Run(fo, nr, io, t_begin, t_end, f"io:{tag}")
    finally:
        for s in started:
            s.kill()


@pytest.fixture(scope="module")
def runs(module_proxy, failovers, tmp_path_factory, node_modules):
    cache: dict[str, Run] = {}

    def get(kind: str) -> Run:
        if kind not in cache:
            cache[kind] = _run(kind, module_proxy, failovers, tmp_path_factory)
        return cache[kind]
    return get


def _samples(events, fo, n=4):
    return [f"+{e['mono'] - fo.t_start:.2f}s {e.get('op', e.get('client', ''))}: "
            f"{e.get('msg', '')[:140]}" for e in events[:n]] or "none"


def _node_redis(kind, r: Run, record_figures):
    fo, nr = r.fo, r.nr
    ev = list(nr.events)
    started = next(e for e in ev if e["ev"] == "started")
    errs = [e for e in ev if e["ev"] == "err"]
    client_errs = [e for e in ev if e["ev"] == "client_error"]
    late = [e for e in errs if mono(e["t0"] / 1000.0) > fo.t_verified + GRACE]
    oks = [e for e in ev if e["ev"] == "ok"]
    msgs = [e for e in ev if e["ev"] == "message"]
    pub_oks = [e for e in oks if e["op"] == "publish"]
    figures = {
        **fo.figures(),
        "node-redis version / RESP / HELLO proto": f"{started['version']} / {started['resp']} / "
                                                   f"{started['proto']} ({started['helloType']})",
        "ops ok (plain / tx / publish)": " / ".join(
            str(sum(1 for e in oks if e["op"] == op)) for op in ("plain", "tx", "publish")),
        "op errors": len(errs),
        "op errors by op": {op: sum(1 for e in errs if e["op"] == op)
                            for op in sorted({e["op"] for e in errs})} or "none",
        "op error samples": _samples(errs, fo),
        "client 'error' events (socket level)": len(client_errs),
        "client error samples": _samples(client_errs, fo),
        "reconnects (main / sub)": f"{sum(1 for e in ev if e['ev'] == 'reconnecting' and e['client'] == 'main')}"
                                   f" / {sum(1 for e in ev if e['ev'] == 'reconnecting' and e['client'] == 'sub')}",
        "messages received / publishes acknowledged": f"{len(msgs)} / {len(pub_oks)}",
        "publishes acknowledged with 0 receivers": sum(1 for e in pub_oks if e.get("detail") == 0),
        "longest gap between successful ops (s)":
            longest_gap([e["mono"] for e in oks], r.t_begin, r.t_end),
        "longest gap between received messages (s)":
            longest_gap([e["mono"] for e in msgs], r.t_begin, r.t_end),
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"node-redis (RESP3), {kind} failover", figures)
    assert started["resp"] == 3 and started["proto"] == 3, started
    garbage = [e for e in ev if e["ev"] in ("garbage", "fatal")]
    assert not garbage, garbage[:3]
    for op in ("plain", "tx", "publish"):
        assert any(e["op"] == op and e["mono"] < fo.t_start for e in oks), f"{op} before"
        assert any(e["op"] == op and e["mono"] > fo.t_verified for e in oks), f"{op} after"
    assert any(e["mono"] < fo.t_start for e in msgs) and \
        any(e["mono"] > fo.t_verified for e in msgs), "subscription messages before and after"
    assert not late, f"ops started after the proxy verified the new master failed: {late[:5]}"
    return errs


def _ioredis(kind, r: Run, record_figures, master_client):
    fo, io = r.fo, r.io
    ev = list(io.events)
    started = next(e for e in ev if e["ev"] == "started")
    oks = [e for e in ev if e["ev"] == "ok"]
    errs = [e for e in ev if e["ev"] == "err"]
    client_errs = [e for e in ev if e["ev"] == "client_error"]
    late = [e for e in errs if mono(e["t0"] / 1000.0) > fo.t_verified + GRACE]
    acked = [s for e in oks for s in range(e["first"], e["first"] + e["n"])]
    missing = []
    for i in range(0, len(acked), 1000):
        part = acked[i:i + 1000]
        vals = master_client.mget([f"{r.io_prefix}:{s}" for s in part])
        missing += [s for s, v in zip(part, vals) if v != f"v{s}"]
    figures = {
        **fo.figures(),
        "ioredis version": started["version"],
        "pipelines ok / failed": f"{len(oks)} / {len(errs)}",
        "writes acknowledged": len(acked),
        "pipeline error samples": _samples(errs, fo),
        "client 'error' events (socket level)": len(client_errs),
        "client error samples": _samples(client_errs, fo),
        "reconnects": sum(1 for e in ev if e["ev"] == "reconnecting"),
        "acknowledged writes missing on the master afterwards": len(missing),
        "longest gap between acknowledged pipelines (s)":
            longest_gap([e["mono"] for e in oks], r.t_begin, r.t_end),
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"ioredis pipelines, {kind} failover", figures)
    assert any(e["mono"] < fo.t_start for e in oks) and any(e["mono"] > fo.t_verified
                                                             for e in oks)
    assert not late, f"pipelines started after the proxy verified the new master failed: {late[:5]}"
    return errs, missing


def _master_client(module_topology):
    return module_topology.current_master().client(socket_timeout=10, db=4)


def test_planned_node_redis(runs, record_figures):
    _node_redis("planned", runs("planned"), record_figures)


def test_planned_ioredis(runs, record_figures, module_topology):
    errs, missing = _ioredis("planned", runs("planned"), record_figures,
                             _master_client(module_topology))
    assert not missing, f"planned failover lost {len(missing)} acknowledged writes"


def test_unplanned_node_redis(runs, record_figures):
    _node_redis("unplanned", runs("unplanned"), record_figures)


def test_unplanned_ioredis(runs, record_figures, module_topology):
    _ioredis("unplanned", runs("unplanned"), record_figures, _master_client(module_topology))
