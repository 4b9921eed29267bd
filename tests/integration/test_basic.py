"""Through the proxy, with no failover: it must behave exactly like the master it fronts."""

import socket
import threading
import time
import uuid

import pytest
import redis

import harness
from harness import HOST, raw_command


uniq = harness.key_maker("basic")


def test_set_get(proxy, master):
    c = proxy.client()
    k = uniq("k")
    assert c.set(k, "hello") is True
    assert c.get(k) == "hello"
    assert master.client().get(k) == "hello"
    assert c.ping() is True


def test_deep_pipeline_replies_in_order(proxy):
    c = proxy.client(socket_timeout=15)
    counter = uniq("counter")
    with c.pipeline(transaction=False) as p:
        for i in range(1000):
            if i % 2 == 0:
                p.incr(counter)
            else:
                p.echo(f"e{i}")
        replies = p.execute()
    assert len(replies) == 1000
    expected = [(i // 2 + 1) if i % 2 == 0 else f"e{i}" for i in range(1000)]
    assert replies == expected


def test_multi_exec(proxy, master):
    c = proxy.client()
    a, b = uniq("a"), uniq("b")
    with c.pipeline(transaction=True) as p:
        p.set(a, "1").incr(b).incr(b).get(a)
        assert p.execute() == [True, 1, 2, "1"]
    # The same by hand on one connection: QUEUED replies, then EXEC's array.
    conn = proxy.connection()
    try:
        assert raw_command(conn, "MULTI") == "OK"
        assert raw_command(conn, "SET", a, "2") == "QUEUED"
        assert raw_command(conn, "INCR", b) == "QUEUED"
        assert raw_command(conn, "EXEC") == ["OK", 3]
        assert raw_command(conn, "MULTI") == "OK"
        assert raw_command(conn, "SET", a, "3") == "QUEUED"
        assert raw_command(conn, "DISCARD") == "OK"
    finally:
        conn.disconnect()
    assert master.client().get(a) == "2"


def test_select_is_kept_for_the_connection(proxy, master):
    k = uniq("db3")
    conn = proxy.connection()
    try:
        assert raw_command(conn, "SELECT", "3") == "OK"
        assert raw_command(conn, "SET", k, "in-three") == "OK"
        assert raw_command(conn, "GET", k) == "in-three"
    finally:
        conn.disconnect()
    assert master.client(db=3).get(k) == "in-three"
    assert master.client(db=0).get(k) is None
    # Another client through the proxy starts in db 0.
    assert proxy.client().get(k) is None


def test_pubsub_delivery(proxy):
    sub = proxy.client(socket_timeout=10).pubsub()
    ch = uniq("ch")
    sub.subscribe(ch)
    sub.psubscribe(f"{ch}.*")
    # Wait for both subscribe confirmations, bounded. (redis-py fills sub.channels when the
    # command is sent, not when Redis confirms it, so those cannot tell; a PUBLISH from
    # another connection before the confirmation may reach Redis first, directly as much
    # as through the proxy.)
    confirmed = set()
    deadline = time.monotonic() + 10
    while len(confirmed) < 2 and time.monotonic() < deadline:
        m = sub.get_message(timeout=0.2)
        if m and m["type"] in ("subscribe", "psubscribe"):
            confirmed.add(m["type"])
    assert confirmed == {"subscribe", "psubscribe"}, confirmed
    pub = proxy.client()
    assert pub.publish(ch, "m1") == 1
    assert pub.publish(f"{ch}.x", "m2") == 1
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        m = sub.get_message(timeout=0.5)
        if m:
            got.append((m["type"], m["channel"], m["data"]))
    sub.close()
    assert ("message", ch, "m1") in got
    assert ("pmessage", f"{ch}.x", "m2") in got


def test_brpop_wakes_on_lpush_from_another_client(proxy):
    q = uniq("q")
    result = {}

    def consume():
        c = proxy.client(socket_timeout=20)
        t = time.monotonic()
        try:
            result["reply"] = c.brpop([q + ":other", q], timeout=10)
        except Exception as exc:  # noqa: BLE001
            result["error"] = exc
        result["elapsed"] = time.monotonic() - t

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    time.sleep(0.5)
    assert proxy.client().lpush(q, "item") == 1
    th.join(20)
    assert not th.is_alive()
    assert "error" not in result, result
    assert result["reply"] == (q, "item")
    assert result["elapsed"] < 9.5  # woke up on the push, not at the BRPOP timeout


def test_unknown_command_gets_redis_error(proxy, master):
    with pytest.raises(redis.ResponseError) as via_proxy:
        proxy.client().execute_command("FOOBARCMD", "a", "b")
    with pytest.raises(redis.ResponseError) as direct:
        master.client().execute_command("FOOBARCMD", "a", "b")
    assert str(via_proxy.value) == str(direct.value)
    # the connection is still usable afterwards
    assert proxy.client().ping() is True


def _read_until_closed(sock: socket.socket, limit: int = 65536) -> tuple[bytes, bool]:
    data = b""
    closed = False
    deadline = time.monotonic() + 10
    while len(data) < limit and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return data, closed


@pytest.mark.parametrize("garbage", [b"*1\r\n$x\r\n", b"*abc\r\n"])
def test_protocol_garbage_closes_only_that_client(proxy, garbage):
    bystander = proxy.connection()
    k = uniq("bystander")
    assert raw_command(bystander, "SET", k, "before") == "OK"

    s = socket.create_connection((HOST, proxy.port), timeout=5)
    s.settimeout(5)
    try:
        s.sendall(garbage)
        data, closed = _read_until_closed(s)
    finally:
        s.close()
    assert data.startswith(b"-ERR Protocol error"), data
    assert closed, "the proxy should close a client that sent protocol garbage"

    # the other client and new clients are unaffected
    assert raw_command(bystander, "GET", k) == "before"
    assert raw_command(bystander, "SET", k, "after") == "OK"
    bystander.disconnect()
    assert proxy.client().get(k) == "after"


def test_one_mib_value_round_trips(proxy, master):
    k = uniq("big")
    value = (uuid.uuid4().hex * (1024 * 1024 // 32 + 1))[:1024 * 1024].encode()
    assert len(value) == 1024 * 1024
    c = proxy.client(decode_responses=False, socket_timeout=15)
    assert c.set(k, value) is True
    assert c.get(k) == value
    assert master.client(decode_responses=False).get(k) == value
