"""limits.stream_bulk_len (issue 14, defect 3): a bulk longer than it is forwarded to Redis as
it arrives, never held whole. A 200 MiB SET raises the proxy's peak RSS by a few MiB (it was
about three times the value), the reply and the stored value are right, pipelined commands
around it are answered in order, a client that stalls mid-value blocks no one, and a master
lost mid-stream closes that client (the write's outcome is unknown) while others go on."""

from __future__ import annotations

import hashlib
import os
import signal
import socket

import harness
from harness import HOST, RawResp, admin_get, free_port, metric_value, now, peak_rss_kib, wait_until

uniq = harness.key_maker("stream")

MiB = 1 << 20


def header(key: str, size: int) -> bytes:
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key.encode(), size)


def block(i: int) -> bytes:
    """1 MiB of the value, different for every i (so a misplaced MiB is seen)."""
    seed = hashlib.sha256(b"%d" % i).digest()
    return (seed * (MiB // len(seed)))[:MiB]


# Sentinel's down-after-milliseconds for the 200 MiB SET: Redis copying 200 MiB into its
# replication buffer on a loaded machine left PINGs unanswered past the default 1000 ms in a
# CI run (+sdown, +odown, the replica promoted, STRLEN 0 there: the write lost with the old
# master). This test is not about failovers.
BIG_WRITE_DOWN_AFTER_MS = 10_000


def test_a_200_mib_set_streams_with_little_proxy_memory(make_topology, make_proxy,
                                                        record_figures):
    topo = make_topology(replicas=1, down_after_ms=BIG_WRITE_DOWN_AFTER_MS)
    master_port = topo.current_master().port
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    pid = proxy.process.pid
    key = uniq("big")
    size = 200 * MiB
    r = RawResp(proxy.port, timeout=60)
    assert r.call("PING") == "PONG"
    before = peak_rss_kib(pid)
    # small commands before and after it, in the same stream
    r.send(r.command("SET", key + ":before", "1") + header(key, size))
    digest = hashlib.sha256()
    for i in range(size // MiB):
        b = block(i)
        digest.update(b)
        r.send(b)
    r.send(b"\r\n" + r.command("STRLEN", key) + r.command("GET", key + ":before"))
    t0 = now()
    replies = [r.read_reply() for _ in range(4)]
    answered_s = now() - t0
    assert topo.current_master().port == master_port, "a failover during the test"
    assert replies == ["OK", "OK", size, "1"]
    peak = peak_rss_kib(pid)
    r.close()

    m = topo.current_master().client(socket_timeout=60, decode_responses=False)
    for off in (0, MiB - 3, 77 * MiB + 12345, size - 10):
        i, j = off // MiB, off % MiB
        want = (block(i) + block(i + 1) if i + 1 < size // MiB else block(i))[j:j + 10]
        assert m.getrange(key, off, off + 9) == want, off
    assert hashlib.sha256(m.get(key)).hexdigest() == digest.hexdigest()
    m.delete(key)
    grown = (peak - before) / 1024
    record_figures("streaming a 200 MiB SET", {
        "proxy VmHWM before (MiB)": f"{before / 1024:.1f}",
        "proxy VmHWM after (MiB)": f"{peak / 1024:.1f}",
        "peak growth (MiB)": f"{grown:.1f}",
        "replies after the last byte (s)": f"{answered_s:.2f}"})
    assert grown < 24, f"the proxy's peak RSS grew by {grown:.1f} MiB for a 200 MiB value"
    assert "max query buffer length" not in proxy.log_text()
    assert "memory budget" not in proxy.log_text()
    status, body = admin_get(admin, "/metrics")
    assert status == 200
    # the big SET streamed; the small commands around it did not
    streamed = sum(float(ln.split()[-1]) for ln in body.splitlines()
                   if ln.startswith("sentinel_proxy_commands_total{") and 'outcome="streamed"' in ln)
    assert streamed == 1, streamed


def test_a_stalled_stream_blocks_no_one_and_holds_little(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy = make_proxy(topo)
    pid = proxy.process.pid
    key = uniq("stalled")
    size = 64 * MiB
    rss_before = harness.rss_mib(pid)
    stalled = RawResp(proxy.port, timeout=30)
    stalled.send(header(key, size))
    for i in range(size // MiB // 2):
        stalled.send(block(i))
    rss_mid = harness.rss_mib(pid)

    # others, over the shared links, are not held up by it
    c = proxy.client(socket_timeout=5)
    t0 = now()
    for i in range(200):
        k = uniq(f"other{i}")
        assert c.set(k, "v") is True
        assert c.get(k) == "v"
    assert now() - t0 < 10
    other = RawResp(proxy.port, timeout=10)
    other.send(header(uniq("other-big"), 2 * MiB) + b"o" * (2 * MiB) + b"\r\n")
    assert other.read_reply() == "OK"
    other.close()
    # held whole, the 32 MiB sent would be in the proxy
    assert rss_mid - rss_before < 12, \
        f"proxy RSS {rss_before:.1f} -> {rss_mid:.1f} MiB with 32 MiB of a value in flight"

    # the stalled one finishes and is answered
    for i in range(size // MiB // 2, size // MiB):
        stalled.send(block(i))
    stalled.send(b"\r\n")
    assert stalled.read_reply() == "OK"
    assert stalled.call("STRLEN", key) == size
    assert stalled.call("GETRANGE", key, 40 * MiB, 40 * MiB + 7) == block(40)[:8].decode(
        "utf-8", "replace")
    stalled.close()


def test_the_master_killed_mid_stream_closes_that_client(make_topology, make_proxy):
    topo = make_topology()
    topo.wait_stable()
    proxy = make_proxy(topo)
    key = uniq("lost")
    streaming = RawResp(proxy.port, timeout=30)
    streaming.send(header(key, 100 * MiB))
    for i in range(10):
        streaming.send(block(i))
    old, _ = topo.kill_master()
    closed = False
    reply = None
    t_end = now() + 60
    try:
        while now() < t_end:
            streaming.sock.settimeout(0.5)
            try:
                data = streaming.sock.recv(4096)
                if not data:
                    closed = True
                    break
                reply = data
                break
            except socket.timeout:
                streaming.sock.sendall(block(0))  # a client still sending its value
    except OSError:
        closed = True
    streaming.close()
    assert reply is None, f"a reply was made up: {reply!r}"
    assert closed, "the client streaming to the lost master was not closed"

    topo.wait_for_switch(old.addr)
    c = proxy.client(socket_timeout=10)

    def works():
        try:
            return c.set(uniq("after"), "x") is True
        except Exception:
            return False
    wait_until(works, 40, 0.2, "commands through the proxy after the failover")
    # a new big value streams to the new master
    r = RawResp(proxy.port, timeout=30)
    k2 = uniq("new")
    r.send(header(k2, 3 * MiB) + block(1) + block(2) + block(3) + b"\r\n")
    assert r.read_reply() == "OK"
    assert r.call("STRLEN", k2) == 3 * MiB
    r.close()


def test_big_values_inside_multi_and_during_pipelines_keep_order(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy = make_proxy(topo)
    value = os.urandom(3 * MiB)
    r = RawResp(proxy.port, timeout=30)
    k1, k2 = uniq("tx"), uniq("pipe")
    # inside MULTI: held whole as before (queued, replayable), answered by EXEC
    r.send(r.command("MULTI") + r.command("SET", k1, value) + r.command("EXEC"))
    assert r.read_reply() == "OK"
    assert r.read_reply() == "QUEUED"
    assert r.read_reply() == ["OK"]
    # a deep pipeline of small commands on a shared link, then a big one: after them
    n = 500
    r.send(r.command("INCR", k2) * n + r.command("SET", k2 + ":v", value) +
           r.command("INCR", k2))
    for i in range(n):
        assert r.read_reply() == i + 1
    assert r.read_reply() == "OK"
    assert r.read_reply() == n + 1
    r.close()
    m = topo.current_master().client(decode_responses=False)
    assert m.get(k1) == value
    assert m.get(k2 + ":v") == value


def test_a_bad_header_after_a_streamed_bulk_closes_the_client(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy = make_proxy(topo)
    key = uniq("bad")
    r = RawResp(proxy.port, timeout=10)
    assert r.call("PING") == "PONG"
    # SET key <2 MiB> then an integer where the 4th bulk's header should be: the first part
    # is already on its way to Redis, so the client gets the protocol error and is closed
    r.send(b"*4\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key.encode(), 2 * MiB)
           + block(0) + block(1) + b"\r\n:1\r\n")
    reply = r.read_reply()
    assert reply == "ERR Protocol error: expected '$', got ':'", reply
    try:
        r.read_reply()
        closed = False
    except (ConnectionError, OSError):
        closed = True
    assert closed, "the client was not closed after the protocol error"
    r.close()
    m = topo.current_master().client()
    assert m.exists(key) == 0
    c = proxy.client()
    assert c.set(key, "fine") is True


def test_a_client_stalled_mid_value_is_closed_at_the_idle_timeout(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy = make_proxy(topo, ["--client-idle-timeout-ms", "600"])
    key = uniq("idle")
    r = RawResp(proxy.port, timeout=10)
    r.send(header(key, 10 * MiB) + block(0) + block(1))
    t0 = now()
    # it owes bytes, not replies: idle is its doing, as in Redis (timeout)
    try:
        r.read_reply()
        closed = False
    except (ConnectionError, OSError):
        closed = True
    waited = now() - t0
    r.close()
    assert closed, "a client stalled mid-value was not closed"
    assert 0.4 < waited < 5, waited
    assert topo.current_master().client().exists(key) == 0


def test_a_big_value_sent_during_a_hold_is_held_whole_and_answered(make_topology, make_proxy):
    """No master verified: the value cannot stream (it may go to the next master, so it keeps
    its bytes); it is held within the limits and answered once a master is back. The master
    is killed with both replicas at replica-priority 0 and restarted (test_hold_queue)."""
    topo = make_topology(replica_extra={"replica-priority": "0"})
    admin = free_port()
    proxy = make_proxy(topo, ["--hold-window-ms", "40000", "--admin-listen", f"{HOST}:{admin}"])

    def verified() -> float:
        status, body = admin_get(admin, "/metrics")
        assert status == 200
        return metric_value(body, "sentinel_proxy_master_verified")

    master = topo.current_master()
    master.stop(signal.SIGKILL)
    wait_until(lambda: master.role() == "down", 5, 0.05, "the master to be gone")
    wait_until(lambda: verified() == 0, 20, 0.1, "the proxy to hold (no verified master)")
    key = uniq("held")
    r = RawResp(proxy.port, timeout=60)
    try:
        r.send(header(key, 3 * MiB) + block(0) + block(1) + block(2) + b"\r\n" +
               r.command("STRLEN", key))
        harness.time.sleep(0.5)
        topo.restart_node(master)
        wait_until(lambda: verified() == 1, 40, 0.1, "the restarted master to be verified")
        assert r.read_reply() == "OK"
        assert r.read_reply() == 3 * MiB
        value = master.client(decode_responses=False).get(key)
        assert value == block(0) + block(1) + block(2)
    finally:
        r.close()
