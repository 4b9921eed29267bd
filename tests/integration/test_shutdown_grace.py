"""SIGTERM with proxy.accept_grace_ms (issue 14 item 7): for that long after the signal
/readyz answers 503 while new connections are still accepted and served, so Kubernetes
endpoints converge before the listener closes; then the usual drain runs and the process
exits 0. Real processes on 127.0.0.1, bounded waits, stop by PID."""
from __future__ import annotations

import os
import signal
import socket
import time

from harness import HOST, free_port, readyz, wait_until

GRACE_MS = 2000


def test_sigterm_keeps_accepting_during_the_grace(make_topology, make_proxy):
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}",
                              "--accept-grace-ms", str(GRACE_MS), "--drain-timeout-ms", "1000"])
    assert readyz(admin)[0] == 200
    before = proxy.client()
    assert before.ping()

    os.kill(proxy.process.pid, signal.SIGTERM)
    sent = time.monotonic()
    wait_until(lambda: readyz(admin)[0] == 503, 1.0, 0.02, "/readyz 503 after SIGTERM")
    status, reason = readyz(admin)
    assert "draining" in reason, (status, reason)

    # New clients are still served, well into the grace.
    served = 0
    while time.monotonic() - sent < GRACE_MS / 1000 * 0.75:
        c = proxy.client(socket_timeout=2, socket_connect_timeout=1)
        assert c.set(f"sp:grace:{served}", "1")
        c.close()
        served += 1
        time.sleep(0.1)
    assert served >= 5
    assert before.ping()  # existing clients too
    before.close()

    # Then the listener closes and the process exits 0 once drained.
    proxy.process.proc.wait(timeout=GRACE_MS / 1000 + 10)
    assert proxy.process.proc.returncode == 0
    elapsed = time.monotonic() - sent
    assert elapsed >= GRACE_MS / 1000, elapsed
    try:
        socket.create_connection((HOST, proxy.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused
    assert "still accepting for 2000 ms" in proxy.log_text()


def test_without_grace_the_listener_closes_at_once(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo)
    os.kill(proxy.process.pid, signal.SIGTERM)
    proxy.process.proc.wait(timeout=10)
    assert proxy.process.proc.returncode == 0
    assert "still accepting" not in proxy.log_text()
