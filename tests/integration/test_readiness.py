"""What ready means for a proxy that holds commands (issue 14, defect 6): /readyz is 503
until a master was verified since start, then stays 200 through a failover, so Kubernetes
never takes every proxy endpoint out at once while commands are being held; it is 503 again
only while draining (SIGTERM)."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request

from harness import HOST, free_port, now, wait_until


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


def test_ready_stays_200_through_an_unplanned_failover(make_topology, make_proxy):
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    wait_until(lambda: readyz(admin) == 200, 10, 0.1, "/readyz 200")
    old, _ = topo.kill_master()
    t_end = now() + 30
    seen = []
    switched = False
    while now() < t_end and not switched:
        seen.append(readyz(admin))
        try:
            switched = topo.agreed_master() not in (None, old.addr)
        except Exception:  # noqa: BLE001
            pass
    assert switched, "no failover happened"
    proxy.wait_writable(timeout=30)
    seen.append(readyz(admin))
    assert set(seen) == {200}, f"/readyz answered {sorted(set(seen))} during the failover"
    proxy.stop(signal.SIGTERM)


def readyz_body(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


def test_unready_without_a_sentinel_majority(make_topology, make_proxy, record_figures):
    """Issue 20: a proxy that cannot see a sentinel majority cannot follow the next failover;
    after timeouts.unready_without_majority_ms (here 2 s) /readyz answers 503 with the
    reason, and 200 again once the majority is back. (It keeps serving the verified
    master meanwhile: the sentinels are down, nobody can fail it over.)"""
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}",
                              "--unready-without-majority-ms", "2000"])
    wait_until(lambda: readyz(admin) == 200, 10, 0.1, "/readyz 200")
    t0 = now()
    for s in topo.sentinels[:2]:
        s.stop(signal.SIGKILL)
    codes = []
    while now() - t0 < 1.5:  # within the bound it is still ready
        codes.append(readyz(admin))
    assert set(codes) == {200}, codes
    code, body = wait_until(lambda: (lambda cb: cb if cb[0] == 503 else None)(readyz_body(admin)),
                            10, 0.1, "/readyz 503 without a sentinel majority")
    t_unready = now() - t0
    assert "no sentinel majority for" in body and "1 of 3 known sentinels answering" in body, body
    c = proxy.client(socket_timeout=5)
    assert c.set("ready:kept", "1") is True  # still serving the verified master
    for s in topo.sentinels[:2]:
        s.start()
    wait_until(lambda: readyz(admin) == 200, 20, 0.1, "/readyz 200 once the majority is back")
    record_figures("readyz without a sentinel majority (bound 2 s)", {
        "503 after s": t_unready, "reason": body, "200 again after s": now() - t0})
    assert 2.0 <= t_unready < 6.0, t_unready
