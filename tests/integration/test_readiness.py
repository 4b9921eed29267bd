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
