"""Limits like Redis's (issue 15): TCP keepalive on client and backend sockets (half-open
peers are reaped), an optional idle-client timeout that spares subscribers and blocked
clients as Redis's `timeout` does, and the pub/sub output limit: a subscriber that stops
reading is disconnected instead of growing the proxy's memory."""

from __future__ import annotations

import socket
import subprocess
import threading

import harness
from harness import HOST, RawResp, now, raw_command, wait_until

uniq = harness.key_maker("limits")


def keepalive_sockets(port_filter: str) -> list[str]:
    out = subprocess.run(["ss", "-tnoH", "state", "established", port_filter],
                         capture_output=True, text=True, timeout=10).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


def test_keepalive_on_client_and_backend_sockets(module_topology, module_proxy):
    proxy = module_proxy
    master = module_topology.current_master()
    c = proxy.connection()
    try:
        assert raw_command(c, "SET", uniq("ka"), "1") == "OK"
        # the proxy's end of the client connection
        client_side = keepalive_sockets(f"( sport = :{proxy.port} )")
        assert client_side and all("keepalive" in ln for ln in client_side), client_side
        # the proxy's end of its links to the master (the test's own connections to the
        # master are the ones without keepalive: redis-py does not set it)
        pid = proxy.process.pid
        out = subprocess.run(["ss", "-tnopH", "state", "established",
                              f"( dport = :{master.port} )"],
                             capture_output=True, text=True, timeout=10).stdout
        mine = [ln for ln in out.splitlines() if f"pid={pid}," in ln]
        assert mine and all("keepalive" in ln for ln in mine), out
    finally:
        c.disconnect()


def test_idle_clients_closed_but_not_subscribers_or_blocked(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo, ["--client-idle-timeout-ms", "600"])
    idle = RawResp(proxy.port)
    assert idle.call("PING") == "PONG"
    sub = RawResp(proxy.port)
    ch = uniq("ch")
    assert sub.call("SUBSCRIBE", ch) == ["subscribe", ch, 1]
    blocked = RawResp(proxy.port, timeout=15)
    blocked.send(blocked.command("BLPOP", uniq("nothing"), "3"))
    t0 = now()
    assert idle.wait_closed(5), "an idle client was not closed"
    assert now() - t0 < 3
    busy = proxy.connection()
    # a client that keeps talking stays
    for _ in range(10):
        assert raw_command(busy, "PING") == "PONG"
        harness.time.sleep(0.2)
    # the blocked client gets its (nil) reply after 3 s, not a close at 0.6 s
    assert blocked.read_reply() is None
    assert raw_command(busy, "PING") == "PONG"
    # the subscriber is still there: a message reaches it
    assert topo.current_master().client().publish(ch, "hi") == 1
    assert sub.read_reply() == ["message", ch, "hi"]
    for r in (sub, blocked):
        r.close()
    busy.disconnect()


def test_subscriber_that_stops_reading_is_disconnected(module_topology, module_proxy):
    proxy = module_proxy
    master = module_topology.current_master()
    ch = uniq("flood")
    slow = socket.create_connection((HOST, proxy.port), timeout=10)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(ch), ch.encode()))
    wait_until(lambda: master.client().pubsub_numsub(ch)[0][1] == 1, 10, 0.05, "subscribed")
    bystander = proxy.connection()
    payload = "m" * (1 << 20)
    pub = master.client()
    closed = threading.Event()
    t_end = now() + 30
    sent = 0
    # 1 MiB messages until the proxy gives up on the subscriber (bounded: 30 s, 200 MiB)
    while now() < t_end and sent < 200 and not closed.is_set():
        if pub.publish(ch, payload) == 0:
            closed.set()
            break
        sent += 1
    assert closed.is_set(), f"still subscribed after {sent} MiB published"
    assert sent < 120, f"the proxy buffered about {sent} MiB before disconnecting"
    assert raw_command(bystander, "PING") == "PONG"
    bystander.disconnect()
    slow.close()
