"""Bad and hostile client input, no failover: a malformed request gets Redis's own
"-ERR Protocol error..." and that one connection is closed; every other client, and the proxy
process, go on as if nothing happened. Unknown commands are Redis's business (forwarded).
Connection churn, half commands and a very deep pipeline leave the proxy healthy."""

from __future__ import annotations

import contextlib
import os
import socket
import struct

import pytest

import harness
from harness import HOST, RawResp, RespError, now, wait_until


uniq = harness.key_maker("bad")


def err_count(node) -> int:
    """errorstat_ERR count of a Redis node (redis-py 4.3 returns "count=N" or a dict)."""
    v = node.client().info("errorstats").get("errorstat_ERR", 0)
    if isinstance(v, dict):
        return int(v.get("count", 0))
    if isinstance(v, str) and v.startswith("count="):
        return int(v.split("=", 1)[1].split(",")[0])
    return int(v)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def sender_and_bystander(proxy):
    """Two raw connections: one sends the bad input, the other must not notice it."""
    bystander = RawResp(proxy.port)
    s = RawResp(proxy.port)
    try:
        yield s, bystander
    finally:
        s.close()
        bystander.close()


def assert_healthy(proxy, bystander: RawResp, label: str):
    """The proxy process is alive, a connection opened earlier still works, and so does a
    new one."""
    assert proxy.alive(), f"{label}: the proxy exited\n{proxy.log_tail()}"
    k = uniq("bystander")
    assert bystander.call("SET", k, label) == "OK", label
    assert bystander.call("GET", k) == label, label
    fresh = RawResp(proxy.port, timeout=5)
    try:
        assert fresh.call("PING") == "PONG"
        assert fresh.call("GET", k) == label
    finally:
        fresh.close()


MALFORMED = {
    "bulk length not a number": b"*1\r\n$abc\r\n",
    "integer instead of bulk": b"*2\r\n$3\r\nGET\r\n:1\r\n",
    "multibulk count not a number": b"*x\r\n",
    "multibulk count 2000000": b"*2000000\r\n",
    "unbalanced quotes inline": b'SET "abc\r\n',
    "unbalanced single quote inline": b"GET 'abc\r\n",
    "bulk body longer than declared": b"*1\r\n$3\r\nPINGX\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_request_gets_protocol_error_and_is_closed(proxy, name):
    with sender_and_bystander(proxy) as (s, bystander):
        assert bystander.call("PING") == "PONG"
        # a good command first on the same connection: it is answered normally
        assert s.call("PING") == "PONG"
        s.send(MALFORMED[name])
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("ERR Protocol error"), (name, r)
        assert s.wait_closed(5), f"{name}: the connection was left open after {r!r}"
        assert s.buf == b"", f"{name}: bytes after the protocol error: {s.buf[:100]!r}"
        assert_healthy(proxy, bystander, name)


def test_huge_declared_bulk_is_refused_before_the_body(proxy):
    with sender_and_bystander(proxy) as (s, bystander):
        t0 = now()
        # 600,000,000 > proto-max-bulk-len (512 MiB); no body is ever sent
        s.send(b"*2\r\n$3\r\nSET\r\n$600000000\r\n")
        r = s.read_reply()
        elapsed = now() - t0
        assert isinstance(r, RespError) and r.startswith("ERR Protocol error"), r
        assert "bulk" in r.lower(), r
        assert elapsed < 2.0, f"refused only after {elapsed:.2f}s"
        assert s.wait_closed(5)
        assert_healthy(proxy, bystander, "huge bulk")


def test_huge_inline_line_without_newline(proxy):
    with sender_and_bystander(proxy) as (s, bystander):
        # inline requests are limited to 64 KiB; this one never ends
        s.send(b"SET k " + b"a" * (64 * 1024 + 1000))
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("ERR Protocol error"), r
        assert "inline" in r, r
        assert s.wait_closed(5)
        assert_healthy(proxy, bystander, "huge inline")


def test_pipeline_before_protocol_error_is_answered_in_order(proxy, master):
    """Good commands ahead of the bad bytes in the same write are answered first (as Redis
    does), then the protocol error, then the close."""
    k = uniq("before-error")
    s = RawResp(proxy.port)
    try:
        s.send(s.command("SET", k, "1") + s.command("INCR", k) + b"*1\r\n$abc\r\n"
               + s.command("INCR", k))
        assert s.read_reply() == "OK"
        assert s.read_reply() == 2
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("ERR Protocol error"), r
        assert s.wait_closed(5)
        assert s.buf == b"", s.buf[:100]
    finally:
        s.close()
    # the INCR after the bad bytes never ran
    assert master.client().get(k) == "2"


def test_protocol_error_waits_for_a_blocked_command_reply(proxy):
    """BLPOP (1 s, nothing to pop) then bad bytes in the same write: the BLPOP's own reply
    (nil, after about a second) comes first, then the protocol error, then the close."""
    q = uniq("q")
    s = RawResp(proxy.port)
    try:
        t0 = now()
        s.send(s.command("BLPOP", q, "1") + b"*2\r\n$3\r\nGET\r\n:1\r\n")
        assert s.read_reply() is None
        elapsed = now() - t0
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("ERR Protocol error"), r
        assert elapsed >= 0.8, f"BLPOP answered after {elapsed:.2f}s"
        assert s.wait_closed(5)
    finally:
        s.close()


def connected_clients(node) -> int:
    return int(node.client().info("clients")["connected_clients"])


def test_client_close_behind_an_unanswered_command_frees_its_session(module_topology,
                                                                     make_proxy, master):
    """Issue 10, defect 5: BLPOP (forever) then bad bytes, then the client closes. The session
    and its backend link must go at once (against Redis the connection is simply freed), or
    any client could fill max_clients."""
    proxy = make_proxy(module_topology, ["--max-clients", "40"])
    baseline = connected_clients(master)
    socks = []
    try:
        for i in range(40):
            s = RawResp(proxy.port, timeout=5)
            socks.append(s)
            s.send(s.command("BLPOP", uniq(f"nokey{i}"), "0") + b"*-x\r\n")
        wait_until(lambda: connected_clients(master) >= baseline + 40, 15, 0.1,
                   "the 40 BLPOPs to reach the master")
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: connected_clients(master) <= baseline + 1, 10, 0.1,
               f"the proxy to close its links (master has {connected_clients(master)}, "
               f"baseline {baseline})")
    fresh = RawResp(proxy.port, timeout=5)
    try:
        assert fresh.call("PING") == "PONG"
    finally:
        fresh.close()


def test_inline_line_with_nul_waits_like_redis_and_is_never_forwarded(module_topology,
                                                                      make_proxy, master):
    """Issue 10, defect 5: Redis finds an inline line's end with strchr, so a NUL before the
    newline hides it: Redis waits for more and, past 64 KiB, answers "too big inline
    request". The proxy must do the same itself and never send such a line to Redis (which
    would leave a command owed forever, tripping the command timeout)."""
    proxy = make_proxy(module_topology, ["--command-timeout-ms", "500"])
    k = uniq("nul")
    for port in (proxy.port, master.port):
        s = RawResp(port, timeout=5)
        try:
            s.send(b"SET " + k.encode() + b" a\0b\r\nPING\r\n")
            assert not s.wait_closed(1.5), f"port {port}: closed after a NUL line"
            assert s.buf == b"", f"port {port}: answered {s.buf[:100]!r}"
            s.send(b"x" * (64 * 1024 + 10))
            r = s.read_reply()
            assert r == RespError("ERR Protocol error: too big inline request"), (port, r)
            assert s.wait_closed(5)
        finally:
            s.close()
    assert master.client().get(k) is None
    assert "command timeout" not in proxy.log_text()
    assert proxy.client().ping() is True


def test_large_valid_bulk_is_not_refused(proxy, master):
    """Limits must not misfire: a 20 MiB value, sent in one write, goes through."""
    k = uniq("big")
    value = os.urandom(10 * 1024 * 1024).hex().encode()  # 20 MiB of hex
    s = RawResp(proxy.port, timeout=30)
    try:
        s.send(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
               % (len(k), k.encode(), len(value), value))
        assert s.read_reply() == "OK"
        assert s.call("STRLEN", k) == len(value)
    finally:
        s.close()
    assert master.client(decode_responses=False).get(k) == value
    master.client().delete(k)


def test_unknown_command_is_forwarded_to_redis(proxy, master):
    errs_before = err_count(master)
    s = RawResp(proxy.port)
    try:
        r = s.call("FOOBAR")
        assert isinstance(r, RespError) and r.startswith("ERR unknown command"), r
        assert "FOOBAR" in r, r
        r = s.call("FOOBAR", "arg1", "arg2")
        assert isinstance(r, RespError) and r.startswith("ERR unknown command"), r
        assert "'arg1' 'arg2'" in r, r  # Redis 7 lists the arguments it got
        # inline form too
        s.send(b"FOOBAR inline\r\n")
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("ERR unknown command"), r
        # the connection is fine afterwards
        assert s.call("PING") == "PONG"
    finally:
        s.close()
    # the errors were Redis's: the master counted them
    errs_after = err_count(master)
    assert errs_after - errs_before >= 3, (errs_before, errs_after)


def test_half_command_then_disconnect_does_not_disturb_others(proxy, master):
    bystander = RawResp(proxy.port)
    try:
        k = uniq("half")
        halves = [
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$5\r\nval" % (len(k), k.encode()),  # mid-bulk
            b"*3\r\n$3\r\nSET\r\n$",                                              # mid-header
            b"*3\r\n",                                                            # count only
            b"SET " + k.encode() + b" inline-half",                               # inline
        ]
        for i, data in enumerate(halves):
            s = RawResp(proxy.port)
            s.send(data)
            if i % 2:
                # abortive close (RST) for every other one
                s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            assert_healthy(proxy, bystander, f"half command {i}")
        # nothing of the half commands ran
        assert master.client().get(k) is None
    finally:
        bystander.close()


def test_connection_churn_leaves_the_proxy_healthy(proxy):
    bystander = RawResp(proxy.port)
    try:
        assert bystander.call("PING") == "PONG"
        pid = proxy.process.pid
        fds_before = open_fds(pid)
        t0 = now()
        for i in range(200):
            s = socket.create_connection((HOST, proxy.port), timeout=5)
            kind = i % 4
            if kind == 1:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
            elif kind == 2:
                # a command that opens a link to Redis, not waiting for its reply
                s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(f"churn{i}"),
                                                                  f"churn{i}".encode()))
            elif kind == 3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")
            s.close()
        churn_s = now() - t0
        assert_healthy(proxy, bystander, "after churn")
        # every churned connection (and its Redis link) is released: no fd leak
        wait_until(lambda: open_fds(pid) <= fds_before + 5, 15, 0.2,
                   f"the proxy's open fds to return to ~{fds_before} (now {open_fds(pid)})")
        assert churn_s < 60
    finally:
        bystander.close()


def test_pipeline_of_10000_commands_in_one_write(proxy, master):
    counter = uniq("counter")
    n = 10_000
    parts = []
    for i in range(n):
        if i % 2 == 0:
            parts.append(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(counter), counter.encode()))
        else:
            e = f"e{i}".encode()
            parts.append(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(e), e))
    payload = b"".join(parts)
    s = RawResp(proxy.port, timeout=30)
    try:
        s.send(payload)  # one sendall of the whole pipeline
        replies = [s.read_reply() for _ in range(n)]
        expected = [(i // 2 + 1) if i % 2 == 0 else f"e{i}" for i in range(n)]
        assert len(replies) == n
        first_bad = next((i for i, (a, b) in enumerate(zip(replies, expected)) if a != b), None)
        assert first_bad is None, (first_bad, replies[first_bad], expected[first_bad])
        assert s.call("PING") == "PONG"
    finally:
        s.close()
    assert master.client().get(counter) == str(n // 2)


def test_proxy_still_alive_at_the_end(proxy):
    assert proxy.answers_ping()
