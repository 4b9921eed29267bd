"""Sentinel misconfiguration is named, not silent (issue 14, defect 5): a wrong master
name or a missing sentinel password is logged at warning with its cause, before any master
was ever verified, and shown per sentinel in /status."""

from __future__ import annotations


import harness
from harness import HOST, MASTER_NAME, free_port, pool_status, wait_until


def start_proxy(tmp_path, topo, master_name=MASTER_NAME, extra=()):
    admin = free_port()
    proxy = harness.Proxy(tmp_path, topo.sentinel_ports,
                          ["--admin-listen", f"{HOST}:{admin}", "--log-level", "info", *extra])
    i = proxy.argv.index("--master")
    proxy.argv[i + 1] = master_name
    proxy.argv.remove("debug")  # info level: the warning must show without debug logs
    proxy.argv.remove("--log-level")
    return proxy.start(), admin


def test_wrong_master_name_is_named(tmp_path, make_topology):
    topo = make_topology()
    proxy, admin = start_proxy(tmp_path, topo, master_name="mymastr")
    try:
        want = "does not know master 'mymastr' (it knows: mymaster)"
        wait_until(lambda: want in proxy.log_text(), 10, 0.2, "the cause in the log")
        line = next(ln for ln in proxy.log_text().splitlines() if want in ln)
        assert "warn" in line.lower(), line
        st = pool_status(admin)
        assert st["master"] is None
        assert all(s["problem"] and want in s["problem"] for s in st["sentinels"]), st["sentinels"]
        # rate-limited: one line per sentinel, not one per poll
        harness.time.sleep(3)
        assert proxy.log_text().count(want) <= len(topo.sentinels), proxy.log_tail()
    finally:
        proxy.stop()


def test_missing_sentinel_password_is_named(tmp_path, make_topology):
    topo = make_topology(sentinel_password="sentinel-pw-1")
    proxy, admin = start_proxy(tmp_path, topo)
    try:
        wait_until(lambda: "NOAUTH" in proxy.log_text(), 10, 0.2, "NOAUTH in the log")
        line = next(ln for ln in proxy.log_text().splitlines() if "NOAUTH" in ln)
        assert "warn" in line.lower() and "sentinel 127.0.0.1:" in line, line
        st = pool_status(admin)
        assert st["master"] is None
        assert any(s["problem"] and "NOAUTH" in s["problem"] for s in st["sentinels"])
    finally:
        proxy.stop()
