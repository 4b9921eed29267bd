"""Passwords everywhere: Redis nodes with requirepass (the proxy AUTHs for its clients),
sentinels with their own requirepass, a client password checked by the proxy itself, and a
client's own AUTH (an ACL user) replayed on the new master after a failover.

Every topology here is fresh (each test fails one over or needs its own passwords)."""

from __future__ import annotations

import pytest
import redis

import harness
from harness import HOST, RawResp, RespError, Writer, now, raw_command, wait_until

REDIS_PW = "redis-secret-pw"
SENTINEL_PW = "sentinel-secret-pw"
CLIENT_PW = "client-secret-pw"


uniq = harness.key_maker("auth")


def failover_under_load(topo, proxy, writes_after: int = 1000):
    """A planned failover while a Writer writes through the proxy. Returns (old, new, stats)."""
    old = topo.current_master()
    writer = Writer(HOST, proxy.port, password=proxy.client_password).start()
    try:
        writer.wait_acks(300, timeout=30)
        topo.planned_failover()
        new = topo.wait_for_switch(old.addr, timeout=30)
        writer.wait_acks(writes_after, timeout=40)
    finally:
        stats = writer.stop()
    return old, new, stats


def assert_acked_writes_on(stats, node):
    seqs = list(stats.acked_seqs())
    assert seqs, "no write was acknowledged"
    # the new master received the writes; replication is asynchronous, wait (bounded)
    c = node.client(socket_timeout=10)
    wait_until(lambda: stats.verify_on(c, seqs[-200:]) == ([], []), 15, 0.2,
               "the last acknowledged writes to be on the new master")
    missing, wrong = stats.verify_on(c, seqs)
    assert (missing[:10], wrong[:10]) == ([], []), (
        f"{len(missing)} acknowledged writes missing, {len(wrong)} wrong on {node.name}")


# ---------------------------------------------------------------------------------------------
# (a) Redis with requirepass; the proxy AUTHs with --redis-password

def test_redis_password_clients_without_auth_and_planned_failover(make_topology, make_proxy,
                                                                  record_figures):
    topo = make_topology(redis_password=REDIS_PW)
    proxy = make_proxy(topo, ["--redis-password", REDIS_PW])
    master = topo.current_master()

    # the nodes really require the password
    with pytest.raises(redis.AuthenticationError):
        master.client(password=None).ping()

    # a client with no AUTH at all works through the proxy
    c = proxy.client(password=None)
    k = uniq("noauth")
    assert c.set(k, "v") is True
    assert c.get(k) == "v"
    assert master.client().get(k) == "v"

    # SELECT 4 before the failover, on one connection that is kept
    db4 = proxy.connection()
    k4_before, k4_after = uniq("db4:before"), uniq("db4:after")
    try:
        assert raw_command(db4, "SELECT", "4") == "OK"
        assert raw_command(db4, "SET", k4_before, "four") == "OK"

        old, new, stats = failover_under_load(topo, proxy)
        assert new is not old
        assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"
        assert_acked_writes_on(stats, new)

        # the same connection, still in db 4, now on the new master
        assert raw_command(db4, "SET", k4_after, "four-after") == "OK"
        assert raw_command(db4, "GET", k4_before) == "four"
    finally:
        db4.disconnect()
    assert new.client(db=4).get(k4_after) == "four-after"
    assert new.client(db=0).get(k4_after) is None
    # new connections without AUTH keep working on the new master
    k2 = uniq("after")
    assert proxy.client(password=None).set(k2, "x") is True
    assert new.client().get(k2) == "x"
    record_figures("auth: redis requirepass, planned failover", {
        "acknowledged writes": stats.acked,
        "errors": len(stats.errors),
        "longest gap (s)": stats.longest_gap(),
    })


# ---------------------------------------------------------------------------------------------
# (b) Sentinels with their own requirepass; the proxy AUTHs with --sentinel-password

def test_sentinel_password_wrong_or_missing_never_verifies_a_master(make_topology, make_proxy):
    hold_ms = 1500
    topo = make_topology(sentinel_password=SENTINEL_PW)
    # the sentinels really require the password
    with pytest.raises(redis.AuthenticationError):
        topo.sentinels[0].client(password=None).ping()

    for name, args in (("no password", []),
                       ("wrong password", ["--sentinel-password", "not-" + SENTINEL_PW])):
        proxy = make_proxy(topo, ["--hold-window-ms", str(hold_ms), *args], writable=False)
        # the proxy is up (it answers PING itself) ...
        assert proxy.client(socket_timeout=5).ping() is True
        # ... but a command is held and, with no verified master, the connection is closed
        fresh = proxy.client(socket_timeout=15, single_connection_client=True)
        t0 = now()
        with pytest.raises(redis.RedisError) as exc:
            fresh.set(uniq("held"), "x")
        elapsed = now() - t0
        fresh.close()
        assert isinstance(exc.value, redis.ConnectionError) and \
            not isinstance(exc.value, redis.TimeoutError), f"{name}: {exc.value!r}"
        assert elapsed >= 0.8 * hold_ms / 1000, f"{name}: closed after {elapsed:.2f}s: not held"
        assert elapsed <= hold_ms / 1000 + 8.0, f"{name}: held {elapsed:.2f}s"
        assert proxy.alive()
        proxy.stop()
    # nothing reached the master through those proxies
    assert topo.current_master().client().dbsize() == 0


def test_sentinel_password_proxy_follows_planned_failover(make_topology, make_proxy):
    topo = make_topology(sentinel_password=SENTINEL_PW)
    proxy = make_proxy(topo, ["--sentinel-password", SENTINEL_PW])
    k = uniq("before")
    assert proxy.client().set(k, "1") is True
    assert topo.current_master().client().get(k) == "1"

    old, new, stats = failover_under_load(topo, proxy)
    assert new is not old
    assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"
    assert_acked_writes_on(stats, new)
    k2 = uniq("after")
    assert proxy.client().set(k2, "2") is True
    assert new.client().get(k2) == "2"


# ---------------------------------------------------------------------------------------------
# (c) --client-password: the proxy checks AUTH itself and never forwards it

def _auth_calls(topo) -> dict[str, int]:
    out = {}
    for n in topo.nodes:
        stats = n.client().info("commandstats")
        out[n.name] = int(stats.get("cmdstat_auth", {}).get("calls", 0))
    return out


def test_client_password_checked_by_the_proxy(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo, ["--client-password", CLIENT_PW], client_password=CLIENT_PW)
    master = topo.current_master()
    k = uniq("k")
    auth_before = _auth_calls(topo)

    s = RawResp(proxy.port)
    try:
        r = s.call("GET", k)
        assert isinstance(r, RespError) and r.startswith("NOAUTH"), r
        r = s.call("SET", k, "x")
        assert isinstance(r, RespError) and r.startswith("NOAUTH"), r
        r = s.call("HELLO", "3")
        assert isinstance(r, RespError) and r.startswith("NOAUTH"), r
        r = s.call("AUTH", "wrong")
        assert isinstance(r, RespError) and r.startswith("WRONGPASS"), r
        r = s.call("AUTH", "default", "wrong")
        assert isinstance(r, RespError) and r.startswith("WRONGPASS"), r
        r = s.call("AUTH", "someone", CLIENT_PW)
        assert isinstance(r, RespError) and r.startswith("WRONGPASS"), r
        r = s.call("GET", k)
        assert isinstance(r, RespError) and r.startswith("NOAUTH"), r
        # "AUTH pw": ok; the Redis nodes have no password, so a forwarded AUTH would have
        # been answered "-ERR AUTH <password> called without any password configured..."
        assert s.call("AUTH", CLIENT_PW) == "OK"
        assert s.call("SET", k, "x") == "OK"
        assert s.call("GET", k) == "x"
    finally:
        s.close()
    assert master.client().get(k) == "x"

    s = RawResp(proxy.port)
    try:
        assert s.call("AUTH", "default", CLIENT_PW) == "OK"
        assert s.call("GET", k) == "x"
    finally:
        s.close()

    s = RawResp(proxy.port)
    try:
        s.send(s.command("HELLO", "3", "AUTH", "default", "wrong"))
        r = s.read_reply()
        assert isinstance(r, RespError) and r.startswith("WRONGPASS"), r
        s.send(s.command("HELLO", "3", "AUTH", "default", CLIENT_PW))
        assert s.first_byte() == b"%", f"HELLO 3 reply is not a RESP3 map: {s.buf[:80]!r}"
        hello = s.read_reply()
        assert hello.get("proto") == 3, hello
        assert hello.get("server") == "redis", hello
        # the connection speaks RESP3 now: a map reply for HGETALL
        h = uniq("h")
        assert s.call("HSET", h, "f", "v") == 1
        s.send(s.command("HGETALL", h))
        assert s.first_byte() == b"%", s.buf[:80]
        assert s.read_reply() == {"f": "v"}
    finally:
        s.close()

    # redis-py with the password (AUTH on connect) works; without it, NOAUTH
    assert proxy.client(password=CLIENT_PW).get(k) == "x"
    with pytest.raises(redis.RedisError) as exc:
        proxy.client(password=None).get(k)
    assert "NOAUTH" in str(exc.value) or "Authentication required" in str(exc.value), exc.value
    with pytest.raises(redis.RedisError) as exc:
        proxy.client(password="wrong").get(k)
    assert "WRONGPASS" in str(exc.value), exc.value

    # no AUTH of any client reached a Redis node
    assert _auth_calls(topo) == auth_before


# ---------------------------------------------------------------------------------------------
# (d) Without --client-password: a client's own AUTH (ACL user) is replayed after a failover

def test_client_acl_auth_is_replayed_on_the_new_master(make_topology, make_proxy):
    topo = make_topology()
    # ACL users are not replicated: create the user on every node
    for n in topo.nodes:
        assert n.client().execute_command(
            "ACL", "SETUSER", "app", "on", ">apppw", "~*", "&*", "+@all") == "OK"
    proxy = make_proxy(topo)
    k_before, k_after = uniq("acl:before"), uniq("acl:after")

    conn = proxy.connection()
    other = proxy.connection()
    try:
        assert raw_command(conn, "ACL", "WHOAMI") == "default"
        r = raw_command(conn, "AUTH", "app", "wrong")
        assert isinstance(r, redis.ResponseError) and "WRONGPASS" in str(r), r
        assert raw_command(conn, "AUTH", "app", "apppw") == "OK"
        assert raw_command(conn, "ACL", "WHOAMI") == "app"
        assert raw_command(conn, "SET", k_before, "1") == "OK"
        # another client through the proxy is not affected
        assert raw_command(other, "ACL", "WHOAMI") == "default"

        old, new, stats = failover_under_load(topo, proxy, writes_after=500)
        assert new is not old
        assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"

        # the same connection, on the new master, still as "app"
        assert raw_command(conn, "ACL", "WHOAMI") == "app"
        assert raw_command(conn, "SET", k_after, "2") == "OK"
        assert raw_command(other, "ACL", "WHOAMI") == "default"
        # the new master has this connection's link authenticated as "app"
        assert any(c.get("user") == "app" for c in new.client().client_list()), \
            new.client().client_list()
    finally:
        conn.disconnect()
        other.disconnect()
    assert new.client().get(k_after) == "2"


# ---------------------------------------------------------------------------------------------
# (c+a) --client-password and --redis-password together, across a planned failover

def test_client_password_with_redis_password_across_failover(make_topology, make_proxy):
    """The client authenticates to the proxy with the client password; the proxy
    authenticates to Redis with the Redis password; a RESP3 connection (HELLO 3 AUTH) and a
    RESP2 one in db 6 keep working, unchanged, on the new master."""
    topo = make_topology(redis_password=REDIS_PW)
    proxy = make_proxy(topo, ["--client-password", CLIENT_PW, "--redis-password", REDIS_PW],
                       client_password=CLIENT_PW)
    # the Redis password is not a client password
    s = RawResp(proxy.port)
    try:
        r = s.call("AUTH", REDIS_PW)
        assert isinstance(r, RespError) and r.startswith("WRONGPASS"), r
    finally:
        s.close()

    h, k6 = uniq("h3"), uniq("db6")
    r3 = RawResp(proxy.port, timeout=20)
    r2 = RawResp(proxy.port, timeout=20)
    try:
        r3.send(r3.command("HELLO", "3", "AUTH", "default", CLIENT_PW))
        assert r3.first_byte() == b"%", r3.buf[:80]
        assert r3.read_reply().get("proto") == 3
        assert r3.call("HSET", h, "f", "before") == 1
        assert r2.call("AUTH", CLIENT_PW) == "OK"
        assert r2.call("SELECT", "6") == "OK"
        assert r2.call("SET", k6, "before") == "OK"

        old, new, stats = failover_under_load(topo, proxy, writes_after=500)
        assert new is not old
        assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"

        # still RESP3 (HELLO 3 replayed), still authenticated, on the new master
        assert r3.call("HSET", h, "g", "after") == 1
        r3.send(r3.command("HGETALL", h))
        assert r3.first_byte() == b"%", r3.buf[:80]
        assert r3.read_reply() == {"f": "before", "g": "after"}
        # still db 6
        assert r2.call("GET", k6) == "before"
        assert r2.call("SET", k6, "after") == "OK"
    finally:
        r3.close()
        r2.close()
    assert new.client(db=6).get(k6) == "after"
    assert new.client().hgetall(h) == {"f": "before", "g": "after"}


# ---------------------------------------------------------------------------------------------
# (f) Passwords in files (issue 22): Redis's password rotated, the file changed, SIGHUP

def test_redis_password_file_rotated_and_reloaded_on_sighup(make_topology, make_proxy, tmp_path):
    import os
    import signal

    new_pw = REDIS_PW + "-rotated"
    topo = make_topology(replicas=0, sentinels=1, quorum=1, redis_password=REDIS_PW)
    pw_file = tmp_path / "redis-password"
    pw_file.write_text(REDIS_PW + "\n")  # as `echo` or an editor writes it
    proxy = make_proxy(topo, ["--redis-password-file", str(pw_file)])
    master = topo.current_master()
    key = uniq("rotate")
    c = proxy.client(socket_timeout=5)
    assert c.set(key, "before")

    # Rotate: Redis (and the sentinel's auth-pass) first, then the mounted Secret, then SIGHUP.
    master.client().config_set("requirepass", new_pw)
    master.password = master.auth_password = new_pw
    for s in topo.sentinels:
        s.client().execute_command("SENTINEL", "SET", harness.MASTER_NAME, "auth-pass", new_pw)
    pw_file.write_text(new_pw + "\n")
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: "redis.password (secret) changed" in proxy.log_path.read_text(), 5, 0.05,
               "the reload line naming the changed password")

    # Every connection of the proxy to Redis is cut: the new ones must log in with the
    # new password (the old one is refused now).
    killed = master.client().client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    c2 = proxy.client(socket_timeout=5)
    wait_until(lambda: c2.set(key, "after"), 10, 0.1, "a SET through the proxy after the rotation")
    assert master.client().get(key) == "after"
    assert "WRONGPASS" not in proxy.log_path.read_text()
