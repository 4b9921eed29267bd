"""log.format = json: every line the proxy writes is one JSON object, even when a message
carries quotes (a configuration error quoting the bad value, reported on SIGHUP)."""

from __future__ import annotations

import json
import os
import signal

import harness


def test_every_log_line_is_json_even_with_quotes(make_topology, make_proxy, tmp_path):
    topo = make_topology()
    conf = tmp_path / "proxy.toml"
    conf.write_text('[log]\nformat = "json"\n')
    proxy = make_proxy(topo, extra_args=["--config", str(conf)])
    assert proxy.client().set("json:k", "v")
    # A broken file on reload: the error message quotes the bad value.
    conf.write_text('[log]\nformat = "json"\n[proxy]\nlisten = "bad\\"addr"\n')
    os.kill(proxy.process.pid, signal.SIGHUP)
    harness.wait_until(lambda: "reload failed" in proxy.log_text(), timeout=10,
                       what="the reload error in the log")
    lines = [l for l in proxy.log_text().splitlines() if l.strip()]
    assert lines
    records = [json.loads(l) for l in lines]  # raises on any line that is not JSON
    assert all({"time", "level", "msg"} <= r.keys() for r in records)
    err = next(r for r in records if "reload failed" in r["msg"])
    assert err["level"] == "error"
    assert 'bad"addr' in err["msg"]


def test_json_lines_carry_pool_master_and_event_fields(make_topology, make_proxy, tmp_path):
    """Issue 22: JSON lines carried only time, level and message. A failover's lines now
    carry the pool, the master name and the event's own fields."""
    topo = make_topology()
    conf = tmp_path / "proxy.toml"
    conf.write_text('[log]\nformat = "json"\n')
    proxy = make_proxy(topo, extra_args=["--config", str(conf)])
    old = topo.current_master()
    topo.planned_failover()
    new = topo.wait_for_switch(old.addr, timeout=40)

    def events():
        records = [json.loads(l) for l in proxy.log_text().splitlines() if l.strip()]
        return [r for r in records if "event" in r]

    harness.wait_until(lambda: any(r["event"] == "failover_timeline" for r in events()),
                       timeout=20, what="the failover timeline line")
    records = events()
    for r in records:
        assert (r["pool"], r["master"]) == ("default", harness.MASTER_NAME), r
    by_event = {}
    for r in records:
        by_event.setdefault(r["event"], []).append(r)
    assert by_event["pool_started"][0]["msg"].startswith("pool default: following")
    old_addr, new_addr = f"{old.addr[0]}:{old.addr[1]}", f"{new.addr[0]}:{new.addr[1]}"
    switched = [r for r in by_event["master_verified"] if r.get("from") == old_addr]
    assert switched and switched[-1]["address"] == new_addr, by_event["master_verified"]
    assert isinstance(switched[-1].get("held_ms", 0), int)
    [timeline] = by_event["failover_timeline"]
    assert (timeline["from"], timeline["to"]) == (old_addr, new_addr), timeline
    assert isinstance(timeline["longest_hold_ms"], int) and timeline["level"] == "info"
    assert any(r["from"] == old_addr for r in by_event.get("failover_started", [])) or \
        any(r.get("from") == old_addr for r in by_event.get("hold", [])), records
    # Lines without an event keep the three fields only.
    plain = [json.loads(l) for l in proxy.log_text().splitlines() if l.strip()]
    assert any(set(r) == {"time", "level", "msg"} for r in plain)
