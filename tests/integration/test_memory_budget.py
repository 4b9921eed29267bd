"""limits.memory_budget (issue 14, defect 3): one large value must not take the proxy down.
All clients together may hold only the budget in the proxy; a client holding a big share
when the total passes it gets a clear protocol error and is closed, while the others, and
values that fit, go on."""

from __future__ import annotations

import socket
import threading
import time

import harness
from harness import HOST, admin_get, free_port, metric_value, now, raw_command, rss_mib, wait_until

uniq = harness.key_maker("budget")


def watch_peak_rss(pid: int) -> tuple[list[float], threading.Event]:
    """Samples the process's RSS every 50 ms into peak[0] (MiB) until stop is set."""
    peak = [0.0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            stop.wait(0.05)
    threading.Thread(target=watch, daemon=True).start()
    return peak, stop


def test_a_value_past_the_budget_closes_only_its_client(make_topology, make_proxy):
    topo = make_topology()
    # Streaming off: these values are held whole, as commands that cannot stream are (inside
    # MULTI, during a hold...); test_streaming.py covers the streamed path.
    proxy = make_proxy(topo, ["--memory-budget", str(32 << 20)],
                       extra_env={"SENTINEL_PROXY_LIMITS_STREAM_BULK_LEN": "0"})
    bystander = proxy.connection()
    assert raw_command(bystander, "PING") == "PONG"

    # a value that fits goes through
    ok = proxy.client(socket_timeout=30)
    k_ok = uniq("fits")
    assert ok.set(k_ok, "x" * (10 << 20)) is True
    assert len(topo.current_master().client().get(k_ok)) == 10 << 20

    peak, stop = watch_peak_rss(proxy.process.pid)

    big = socket.create_connection((HOST, proxy.port), timeout=20)
    k_big = uniq("big")
    size = 200 << 20
    big.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(k_big), k_big.encode(), size))
    chunk = b"y" * (1 << 20)
    sent = 0
    closed_early = False
    t_end = now() + 60
    try:
        while sent < size and now() < t_end:
            big.sendall(chunk)
            sent += len(chunk)
    except OSError:
        closed_early = True
    reply = b""
    try:
        big.settimeout(10)
        while not reply.endswith(b"\r\n"):
            data = big.recv(4096)
            if not data:
                break
            reply += data
    except OSError:
        pass
    stop.set()
    big.close()
    assert reply.startswith(b"-ERR Protocol error: the command does not fit in the proxy's "
                            b"memory budget"), (reply[:200], sent, closed_early)
    assert sent < size or closed_early or reply
    assert topo.current_master().client().exists(k_big) == 0
    # the proxy held a bounded amount, not the 200 MiB value (about three times over)
    assert peak[0] < 160, f"proxy RSS peaked at {peak[0]:.0f} MiB"
    # everybody else is fine
    assert raw_command(bystander, "PING") == "PONG"
    assert ok.get(k_ok) is not None
    bystander.disconnect()


def test_replies_owed_on_a_shared_link_count_in_the_budget(make_topology, make_proxy,
                                                             record_figures):
    # Issue 21, case 13: one client pipelining 40 GETs of a 10 MiB value over a shared link
    # and never reading made the proxy hold 610-640 MiB against a 128 MiB budget, and nobody
    # was closed. The replies owed to it count in its share of the budget: it is closed once
    # it holds a big share of a full budget, the proxy stays bounded, the others go on.
    topo = make_topology()
    budget = 128 << 20
    admin = free_port()
    proxy = make_proxy(topo, ["--memory-budget", str(budget), "--admin-listen", f"{HOST}:{admin}"])
    key = uniq("ten")
    value = "v" * (10 << 20)
    assert topo.current_master().client().set(key, value) is True
    bystander = proxy.connection()
    assert raw_command(bystander, "PING") == "PONG"

    def clients() -> float:
        status, body = admin_get(admin, "/metrics")
        assert status == 200
        return metric_value(body, "sentinel_proxy_client_connections_active")
    base = clients()

    peak, stop = watch_peak_rss(proxy.process.pid)

    hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing, absorbs little
    hog.settimeout(10)
    hog.connect((HOST, proxy.port))
    get = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key.encode())
    try:
        hog.sendall(get * 40)  # 400 MiB of replies owed, never read
        closed = True
        try:
            # (<=: a connection of the set-up may still have been counted in base)
            wait_until(lambda: clients() <= base, 30, 0.2, "the client over the budget to go")
        except harness.WaitTimeout:
            closed = False
        time.sleep(1)  # whatever was still on its way
        stop.set()
        record_figures("shared-link replies in the budget",
                       {"peak RSS MiB": f"{peak[0]:.0f}", "hog closed": closed})
        assert peak[0] < 2 * (budget >> 20), f"proxy RSS peaked at {peak[0]:.0f} MiB"
        assert closed, ("the client over the budget was never closed: "
                        f"{clients()} clients, base {base}\n{proxy.log_tail(20)}")
    finally:
        stop.set()
        hog.close()
    assert raw_command(bystander, "PING") == "PONG"
    c = proxy.client(socket_timeout=20)
    assert len(c.get(key)) == 10 << 20
    bystander.disconnect()
