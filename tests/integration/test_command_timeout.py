"""timeouts.command_ms: a master that stops answering (SIGSTOP, not dead: its socket stays
open) must not hang clients forever. With --command-timeout-ms the proxy closes the client
whose command got no reply in time (the outcome is unknown, so no reply is invented);
blocking commands are exempt from the timeout."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

import harness


def test_hung_master_closes_client_after_command_timeout(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo, extra_args=["--command-timeout-ms", "400"])
    master = topo.current_master()
    client = proxy.client(socket_timeout=20)
    assert client.set("ct:before", "1")
    # A blocking command waits longer than the command timeout without being cut.
    blocker = proxy.client(socket_timeout=20)
    assert blocker.blpop(["ct:nothing"], timeout=1) is None

    pid = master.process.pid
    try:
        # Freeze the master (its socket stays open). Sentinel (down-after 1 s) will fail it
        # over eventually; the command timeout must act first, and either way the client
        # sees a closed connection, never an invented error reply.
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            client.set("ct:during", "1")
        elapsed = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert elapsed < 15, elapsed
    log = proxy.log_path.read_text()
    assert "within the command timeout (400 ms)" in log, proxy.log_tail(40)
    # The proxy is still healthy: a new connection works once a master is verified again.
    harness.wait_until(lambda: _writable(proxy), timeout=40, what="writes through the proxy")


def _writable(proxy) -> bool:
    try:
        return bool(proxy.client(socket_timeout=5).set("ct:after", "1"))
    except redis.RedisError:
        return False
