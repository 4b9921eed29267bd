"""limits.memory_budget (issue 14, defect 3): one large value must not take the proxy down.
All clients together may hold only the budget in the proxy; a client holding a big share
when the total passes it gets a clear protocol error and is closed, while the others, and
values that fit, go on."""

from __future__ import annotations

import socket
import threading

import harness
from harness import HOST, now, raw_command, rss_mib

uniq = harness.key_maker("budget")


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

    peak = [0.0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(proxy.process.pid))
            stop.wait(0.05)
    threading.Thread(target=watch, daemon=True).start()

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
