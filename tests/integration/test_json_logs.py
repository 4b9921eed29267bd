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
