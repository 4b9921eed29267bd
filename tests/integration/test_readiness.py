"""What ready means for a proxy that holds commands (issue 14, defect 6): /readyz is 503
until a master was verified since start, then stays 200 through a failover, so Kubernetes
never takes every proxy endpoint out at once while commands are being held; it is 503 again
only while draining (SIGTERM)."""

from __future__ import annotations

import signal

from harness import HOST, free_port, now, readyz, wait_until


def ready_code(port: int) -> int:
    """/readyz's status, -1 while the endpoint does not answer."""
    try:
        return readyz(port, timeout=2)[0]
    except OSError:
        return -1


def test_ready_stays_200_through_an_unplanned_failover(make_topology, make_proxy):
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    wait_until(lambda: ready_code(admin) == 200, 10, 0.1, "/readyz 200")
    old, _ = topo.kill_master()
    t_end = now() + 30
    seen = []
    switched = False
    while now() < t_end and not switched:
        seen.append(ready_code(admin))
        try:
            switched = topo.agreed_master() not in (None, old.addr)
        except Exception:  # noqa: BLE001
            pass
    assert switched, "no failover happened"
    proxy.wait_writable(timeout=30)
    seen.append(ready_code(admin))
    assert set(seen) == {200}, f"/readyz answered {sorted(set(seen))} during the failover"
    proxy.stop(signal.SIGTERM)


def test_unready_without_a_sentinel_majority(make_topology, make_proxy, record_figures):
    """Issue 20: a proxy that cannot see a sentinel majority cannot follow the next failover;
    after timeouts.unready_without_majority_ms (here 2 s) /readyz answers 503 with the
    reason, and 200 again once the majority is back. (It keeps serving the verified
    master meanwhile: the sentinels are down, nobody can fail it over.)"""
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}",
                              "--unready-without-majority-ms", "2000"])
    wait_until(lambda: ready_code(admin) == 200, 10, 0.1, "/readyz 200")
    t0 = now()
    for s in topo.sentinels[:2]:
        s.stop(signal.SIGKILL)
    codes = []
    while now() - t0 < 1.5:  # within the bound it is still ready
        codes.append(ready_code(admin))
    assert set(codes) == {200}, codes
    code, body = wait_until(lambda: (lambda cb: cb if cb[0] == 503 else None)(readyz(admin)),
                            10, 0.1, "/readyz 503 without a sentinel majority")
    t_unready = now() - t0
    assert "no sentinel majority for" in body and "1 of 3 known sentinels answering" in body, body
    c = proxy.client(socket_timeout=5)
    assert c.set("ready:kept", "1") is True  # still serving the verified master
    for s in topo.sentinels[:2]:
        s.start()
    wait_until(lambda: ready_code(admin) == 200, 20, 0.1, "/readyz 200 once the majority is back")
    record_figures("readyz without a sentinel majority (bound 2 s)", {
        "503 after s": t_unready, "reason": body, "200 again after s": now() - t0})
    assert 2.0 <= t_unready < 6.0, t_unready
