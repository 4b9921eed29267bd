"""No master for longer than the hold window (issue 3, outcome 2): a command is held, never
answered with a made-up error, and after about the hold window the proxy closes that client's
connection (redis-py: ConnectionError, which every client retries). The proxy stays up.

The master is killed with -9 while both replicas have replica-priority 0, so Sentinel cannot
promote anything: there is no master to verify."""

from __future__ import annotations

import signal

import pytest
import redis

from harness import now, wait_until

HOLD_MS = 1500


def test_command_held_then_connection_closed_after_hold_window(make_topology, make_proxy,
                                                               record_figures):
    topo = make_topology(replica_extra={"replica-priority": "0"})
    proxy = make_proxy(topo, ["--hold-window-ms", str(HOLD_MS)])
    master = topo.current_master()
    c = proxy.client(socket_timeout=15)
    assert c.set("hold:before", "1") is True

    master.stop(signal.SIGKILL)
    # give the proxy time to notice (its links drop at once; Sentinel flags it after ~1 s)
    wait_until(lambda: master.role() == "down", 5, 0.05, "the master to be gone")
    wait_until(lambda: any("o_down" in s.master_state()["flags"] for s in topo.live_sentinels()),
               15, 0.1, "sentinels to flag the master o_down")

    results = []
    for attempt in range(2):
        fresh = proxy.client(socket_timeout=15, single_connection_client=True)
        t0 = now()
        with pytest.raises(redis.RedisError) as exc:
            fresh.set(f"hold:during:{attempt}", "x")
        elapsed = now() - t0
        results.append((type(exc.value).__name__, str(exc.value), elapsed))
        fresh.close()
        assert not isinstance(exc.value, redis.ResponseError), (
            f"held command answered with an error reply instead of a closed connection: "
            f"{exc.value!r}")
        assert isinstance(exc.value, redis.ConnectionError), repr(exc.value)
        assert not isinstance(exc.value, redis.TimeoutError), (
            "the proxy never closed the connection (client socket timeout hit)")
        # held about the hold window: not closed at once, and not held for ever
        assert elapsed >= 0.8 * HOLD_MS / 1000, f"closed after {elapsed:.2f}s: not held"
        assert elapsed <= HOLD_MS / 1000 + 8.0, f"held {elapsed:.2f}s, far past the window"

    record_figures("hold window (no master can be elected)", {
        "hold window (s)": HOLD_MS / 1000,
        "held command -> connection closed after (s)": ", ".join(f"{r[2]:.2f}" for r in results),
        "client saw": results[0][0],
    })

    # the proxy itself is up and answers PING on a new connection (it answers PING itself)
    assert proxy.answers_ping()
    assert proxy.client(socket_timeout=5).ping() is True
