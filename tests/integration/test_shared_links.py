"""Shared pipelined backend connections (issue 11): clients in the default connection state
share a few pipelined links to the master, so Redis sees a handful of connections for any
number of clients; a client whose state needs a connection of its own (SELECT n, MULTI,
WATCH, blocking, subscriptions, its own AUTH) gets one while it needs it; one client's
pipeline, disconnect or slow reading never disturbs the others; and a lost shared link
re-sends reads and closes only the clients that had a write in flight."""

from __future__ import annotations

import socket
import threading

import redis

import harness
from harness import HOST, RawResp, now, raw_command, wait_until

uniq = harness.key_maker("shared")
SHARED_NAME = "sentinel-proxy-shared"


def proxy_links(master) -> tuple[int, int]:
    """(shared links, all client connections) on `master`, read from CLIENT LIST."""
    clients = master.client().client_list()
    shared = sum(1 for c in clients if c.get("name") == SHARED_NAME)
    return shared, len(clients)


def test_many_default_clients_share_one_connection(module_topology, module_proxy):
    master = module_topology.current_master()
    proxy = module_proxy
    conns = []
    try:
        _, before = proxy_links(master)
        for i in range(60):
            c = proxy.connection()
            k = uniq(f"c{i}")
            assert raw_command(c, "SET", k, str(i)) == "OK"
            assert raw_command(c, "GET", k) == str(i)
            conns.append(c)
        shared, after = proxy_links(master)
        assert 1 <= shared <= 4, f"{shared} shared links"
        # 60 clients, at most a few new connections on Redis (the shared links)
        assert after - before <= 4, f"Redis went from {before} to {after} connections"
        # RESP3 clients get their own shared link (replies differ), not one each
        r3 = [RawResp(proxy.port) for _ in range(10)]
        for i, r in enumerate(r3):
            hello = r.call("HELLO", "3")
            assert isinstance(hello, dict) and hello["proto"] == 3, hello
            assert r.call("SET", uniq(f"r3{i}"), "x") == "OK"
            assert r.call("HGETALL", uniq("nohash")) == {}  # a RESP3 map, not an array
        shared3, after3 = proxy_links(master)
        assert shared3 <= shared + 2 and after3 - before <= 6, (shared3, after3, before)
        for r in r3:
            r.close()
    finally:
        for c in conns:
            c.disconnect()


def test_pinned_states_get_a_connection_of_their_own_and_give_it_back(module_topology,
                                                                      module_proxy):
    master = module_topology.current_master()
    proxy = module_proxy
    c = proxy.connection()
    try:
        assert raw_command(c, "PING") == "PONG"
        _, base = proxy_links(master)
        k = uniq("db")
        assert raw_command(c, "SELECT", "2") == "OK"
        assert raw_command(c, "SET", k, "in-db2") == "OK"
        assert proxy_links(master)[1] == base + 1  # its own connection, in db 2
        assert master.client(db=2).get(k) == "in-db2"
        assert master.client(db=0).get(k) is None
        assert raw_command(c, "SELECT", "0") == "OK"
        assert raw_command(c, "GET", k) is None  # db 0 again, over the shared link
        wait_until(lambda: proxy_links(master)[1] == base, 5, 0.05,
                   "its own connection to be given back")
        # a transaction stays on one connection, and then the client is shared again
        assert raw_command(c, "MULTI") == "OK"
        assert raw_command(c, "SET", k, "tx") == "QUEUED"
        assert raw_command(c, "EXEC") == ["OK"]
        assert raw_command(c, "GET", k) == "tx"
        wait_until(lambda: proxy_links(master)[1] == base, 5, 0.05, "back to shared")
        # the client's name is its own, not the shared link's
        assert raw_command(c, "CLIENT", "SETNAME", "mine") == "OK"
        assert raw_command(c, "CLIENT", "GETNAME") == "mine"
        assert sum(1 for x in master.client().client_list() if x["name"] == "mine") == 0
    finally:
        c.disconnect()


def test_replies_stay_in_order_across_shared_and_own_connections(module_topology,
                                                                  module_proxy):
    master = module_topology.current_master()
    k = uniq("order")
    r = RawResp(module_proxy.port)
    try:
        cmds = [("SET", k, "db0"), ("SELECT", "3"), ("SET", k, "db3"), ("GET", k),
                ("SELECT", "0"), ("GET", k), ("MULTI",), ("INCR", k + ":n"), ("EXEC",),
                ("GET", k + ":n"), ("PING", "last")]
        r.send(b"".join(r.command(*c) for c in cmds))
        got = [r.read_reply() for _ in cmds]
        assert got == ["OK", "OK", "OK", "db3", "OK", "db0", "OK", "QUEUED", [1], "1",
                       "last"], got
    finally:
        r.close()
    assert master.client(db=3).get(k) == "db3"


def test_a_client_leaving_mid_pipeline_leaves_the_shared_link_intact(module_topology,
                                                                     module_proxy):
    master = module_topology.current_master()
    proxy = module_proxy
    other = proxy.connection()
    assert raw_command(other, "PING") == "PONG"
    ids = {x["id"] for x in master.client().client_list() if x["name"] == SHARED_NAME}
    k = uniq("leave")
    master.client().set(k, "v" * 1000)
    for _ in range(20):
        s = socket.create_connection((HOST, proxy.port), timeout=5)
        s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k.encode())
                           for _ in range(500)))
        s.close()  # gone with ~500 replies owed
    for i in range(50):
        assert raw_command(other, "GET", k) == "v" * 1000
    after = {x["id"] for x in master.client().client_list() if x["name"] == SHARED_NAME}
    assert ids <= after, "a shared link was dropped because a client left"
    other.disconnect()


def test_a_client_that_stops_reading_does_not_stall_the_others(module_topology, module_proxy):
    proxy = module_proxy
    k = uniq("big")
    proxy.client().set(k, "x" * 100_000)
    slow = socket.create_connection((HOST, proxy.port), timeout=5)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        # 3,000 replies of 100 KB = 300 MB owed, never read
        req = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k.encode())
        slow.sendall(req * 3000)
        fast = proxy.connection(socket_timeout=5)
        worst = 0.0
        for i in range(200):
            t0 = now()
            assert raw_command(fast, "SET", uniq(f"fast{i}"), "1") == "OK"
            worst = max(worst, now() - t0)
        assert worst < 1.0, f"a request waited {worst:.2f} s behind the slow reader"
        fast.disconnect()
    finally:
        slow.close()


def test_shared_link_killed_reads_resent_only_writers_closed(module_topology, module_proxy):
    master = module_topology.current_master()
    proxy = module_proxy
    k = uniq("kill")
    master.client().set(k, "here")
    stop = threading.Event()
    errors: list[str] = []
    reads = [0]

    def reader():
        c = proxy.connection()
        try:
            t_end = now() + 20
            while not stop.is_set() and now() < t_end:
                v = raw_command(c, "GET", k)
                if v != "here":
                    errors.append(repr(v))
                    return
                reads[0] += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            c.disconnect()
    threads = [threading.Thread(target=reader, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: reads[0] > 200, 10, 0.05, "readers to run")
        for _ in range(3):
            shared = [x["id"] for x in master.client().client_list() if x["name"] == SHARED_NAME]
            assert shared
            for i in shared:
                master.client().execute_command("CLIENT", "KILL", "ID", i)
            mark = reads[0]
            wait_until(lambda: reads[0] > mark + 100, 10, 0.05, "reads to go on")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == [], f"readers saw {errors[:3]}"


def test_apps_given_the_proxys_password_still_share(make_topology, make_proxy):
    """An app configured with the same REDIS_PASSWORD as the proxy sends AUTH on every
    connection: that changes nothing on Redis's side, so it must not cost a connection; a
    wrong password is still refused by Redis itself."""
    pw = "shared-pw-1"
    topo = make_topology(redis_password=pw)
    proxy = make_proxy(topo, ["--redis-password", pw])
    master = topo.current_master()
    conns = []
    try:
        _, before = proxy_links(master)
        for i in range(30):
            c = proxy.connection(password=pw)  # redis-py sends AUTH pw on connect
            assert raw_command(c, "SET", uniq(f"pw{i}"), "1") == "OK"
            conns.append(c)
        _, after = proxy_links(master)
        assert after - before <= 2, f"Redis went from {before} to {after} connections"
        bad = RawResp(proxy.port)
        err = bad.call("AUTH", "not-the-password")
        assert "WRONGPASS" in str(err), err
        bad.close()
    finally:
        for c in conns:
            c.disconnect()
