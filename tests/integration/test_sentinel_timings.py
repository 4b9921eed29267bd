"""The hold window follows Sentinel's own timings (issue 22, item 4): read from SENTINEL
MASTER (down-after-milliseconds, failover-timeout, parallel-syncs, num-slaves), logged and
shown in /status; an explicit timeouts.hold_window_ms wins, with a warning when it is
shorter than Sentinel can fail over in."""
from __future__ import annotations

import json
import urllib.request

from harness import HOST, free_port, wait_until


def pool_status(admin: int) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{admin}/status", timeout=3) as r:
        return json.loads(r.read())["pools"][0]


def test_hold_window_derived_from_down_after_5000(make_topology, make_proxy):
    topo = make_topology(replicas=1, sentinels=1, quorum=1, down_after_ms=5000)
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    status = wait_until(lambda: (lambda p: p if p["sentinel_timings"] else None)(
        pool_status(admin)), 10, 0.1, "Sentinel's timings in /status")
    assert status["sentinel_timings"] == {"down_after_ms": 5000, "failover_timeout_ms": 10000,
                                          "parallel_syncs": 1, "replicas": 1}, status
    # down-after 5000 + 6000 ms allowance (no other replica to reconfigure).
    assert status["hold_window"] == {"ms": 11000, "source": "derived",
                                     "sentinel_failover_ms": 11000}, status
    log = proxy.log_path.read_text()
    assert "hold window 11000 ms (derived" in log, log[-3000:]
    assert "down-after-milliseconds 5000" in log


def test_explicit_hold_window_wins_and_is_warned_when_too_short(make_topology, make_proxy):
    topo = make_topology(replicas=1, sentinels=1, quorum=1, down_after_ms=5000)
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", "--hold-window-ms", "3000"])
    status = wait_until(lambda: (lambda p: p if p["sentinel_timings"] else None)(
        pool_status(admin)), 10, 0.1, "Sentinel's timings in /status")
    assert status["hold_window"] == {"ms": 3000, "source": "configured",
                                     "sentinel_failover_ms": 11000}, status
    lines = [line for line in proxy.log_path.read_text().splitlines()
             if " warning " in line and "shorter than Sentinel can fail over in" in line]
    assert lines and "timeouts.hold_window_ms = 3000" in lines[0], lines
