"""Connection state read from what Redis did, not guessed from what the client sent (issue 21,
cases 4 to 8), and what happens to each connection mode when the client's Redis connection is
replaced: replayed, or the client closed as Redis closes it (docs/architecture.md, "Replay or
close").

Every case is run against Redis directly and through the proxy with the same bytes; the
client's dedicated link is found on Redis by the name the client set (the proxy replays it
there) and killed with CLIENT KILL ID, as an operator or a failover would."""

from __future__ import annotations

import socket
import time

import pytest

import harness
from harness import RawResp, RespError, now, wait_until

uniq = harness.key_maker("modes")


def is_error(r, prefix: str) -> bool:
    return isinstance(r, RespError) and r.startswith(prefix)


def kill_named(master, name: str) -> int:
    """Kills every connection on `master` named `name`; how many there were."""
    ids = [c["id"] for c in master.client().client_list() if c.get("name") == name]
    for i in ids:
        master.client().execute_command("CLIENT", "KILL", "ID", i)
    return len(ids)


def kill_client_link(master, name: str):
    """Kills the dedicated link the proxy opened for the client named `name`, and waits for the
    proxy to have seen it go (the next link, if any, is opened by the next command)."""
    assert kill_named(master, name) == 1, [c for c in master.client().client_list()]
    wait_until(lambda: not any(c.get("name") == name for c in master.client().client_list()),
               5, 0.05, what="the killed link to leave Redis")
    # The proxy reads the EOF on its next loop turn. Should it not have yet, the tests' next
    # command is one the proxy may re-send on a new link (a read, WATCH, PING), never a write.
    time.sleep(0.3)


def closed_within(s: RawResp, seconds: float, output_ok: bool = False) -> bool:
    """True when the peer closes `s` within `seconds`; bytes before the close are an error
    unless `output_ok` (MONITOR's stream)."""
    deadline = now() + seconds
    while True:
        left = deadline - now()
        if left <= 0:
            return False
        s.sock.settimeout(left)
        try:
            data = s.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except ConnectionError:
            return True
        if not data:
            return True
        assert output_ok, f"unexpected bytes {data[:200]!r}"


def nothing_more(s: RawResp, seconds: float = 0.3) -> bool:
    """True when no reply arrives within `seconds` (none buffered either)."""
    s.sock.settimeout(seconds)
    try:
        data = s.sock.recv(1 << 16)
    except socket.timeout:
        return not s.buf
    finally:
        s.sock.settimeout(10)
    return False if data else not s.buf


def targets(module_topology, module_proxy):
    master = module_topology.current_master()
    return {"redis": master.port, "proxy": module_proxy.port}, master


# ---------------------------------------------------------------------------------------------
# Case 7: EXEC (or DISCARD) without MULTI is an error after which Redis keeps the WATCH.

@pytest.mark.parametrize("stray", ["EXEC", "DISCARD"])
@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_exec_without_multi_keeps_the_watch(where, stray, module_topology, module_proxy):
    ports, master = targets(module_topology, module_proxy)
    k = uniq("watch")
    other = master.client()
    other.set(k, "orig")
    s = RawResp(ports[where])
    try:
        assert s.call("WATCH", k) == "OK"
        assert is_error(s.call(stray), f"ERR {stray} without MULTI")
        # A read on the way (it went to a shared link, dropping the watching connection)
        assert s.call("GET", k) == "orig"
        other.set(k, "theirs")  # another client changes the watched key
        assert s.call("MULTI") == "OK"
        assert s.call("SET", k, "mine") == "QUEUED"
        assert s.call("EXEC") is None, "the transaction ran over a watched key's change"
        assert other.get(k) == "theirs"
        # the watch ended with that EXEC: the next transaction runs
        assert s.call("MULTI") == "OK"
        assert s.call("SET", k, "mine") == "QUEUED"
        assert s.call("EXEC") == ["OK"]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Case 8: a SELECT queued in MULTI changes the database only if EXEC's reply says it ran.

@pytest.mark.parametrize("tx,db_after", [
    (("MULTI", ("SELECT", "1"), "DISCARD"), 0),
    (("MULTI", ("SELECT", "1"), "EXEC"), 1),
    (("MULTI", ("SELECT", "99"), "EXEC"), 0),  # the element is an error: nothing changed
    (("MULTI", ("SELECT", "1"), ("SET",), "EXEC"), 0),  # EXECABORT
])
@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_select_queued_in_multi_counts_only_if_it_ran(where, tx, db_after, module_topology,
                                                      module_proxy):
    ports, master = targets(module_topology, module_proxy)
    k = uniq("db")
    name = uniq("c8")
    db0 = master.client()
    db1 = harness._client(master.port, db=1)
    db0.set(k, "zero")
    db1.set(k, "one")
    s = RawResp(ports[where])
    try:
        assert s.call("CLIENT", "SETNAME", name) == "OK"
        for cmd in tx:
            s.call(*((cmd,) if isinstance(cmd, str) else cmd))
        expected = "zero" if db_after == 0 else "one"
        assert s.call("GET", k) == expected
        if where == "proxy":
            # the client's link is replaced (a client back in db 0 is on a shared link and
            # may have none left): the proxy replays only what ran
            if kill_named(master, name):
                time.sleep(0.3)
        # WATCH needs a connection of the client's own: through the proxy a new link, told
        # the client's state first
        assert s.call("WATCH", k) == "OK"
        assert s.call("GET", k) == expected
        k2 = uniq("db-write")
        assert s.call("SET", k2, "w") == "OK"
        assert (db0 if db_after == 0 else db1).get(k2) == "w"
        assert (db1 if db_after == 0 else db0).get(k2) is None
        assert s.call("UNWATCH") == "OK"
        assert s.call("GET", k) == expected
    finally:
        s.close()


@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_subscribe_queued_in_multi_runs_with_exec(where, module_topology, module_proxy):
    """SUBSCRIBE inside MULTI answers +QUEUED (the proxy waited for a confirmation that never
    came, and the client hung) and subscribes when EXEC runs it."""
    ports, master = targets(module_topology, module_proxy)
    ch = uniq("txch")
    s = RawResp(ports[where], timeout=5)
    try:
        assert s.call("MULTI") == "OK"
        assert s.call("SUBSCRIBE", ch) == "QUEUED"
        assert s.call("EXEC") == [["subscribe", ch, 1]]
        wait_until(lambda: master.client().publish(ch, "hi") == 1, 5, 0.05,
                   what="the subscription to reach Redis")
        assert s.read_reply() == ["message", ch, "hi"]
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Case 5: CLIENT REPLY SKIP / OFF: the proxy never expects a reply Redis does not send, and a
# replaced link never brings back replies the client was not to see.

@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_client_reply_skip_then_lost_link(where, module_topology, module_proxy):
    ports, master = targets(module_topology, module_proxy)
    kx, ky, kz = uniq("x"), uniq("y"), uniq("z")
    name = uniq("c5")
    c = master.client()
    c.mset({kx: "x", ky: "y", kz: "z"})
    s = RawResp(ports[where])
    try:
        assert s.call("CLIENT", "SETNAME", name) == "OK"
        s.send(s.command("CLIENT", "REPLY", "SKIP") + s.command("GET", kx) + s.command("GET", ky))
        assert s.read_reply() == "y"  # SKIP and GET x answer nothing
        assert nothing_more(s)
        if where == "proxy":
            kill_client_link(master, name)
        assert s.call("GET", kz) == "z"
        assert nothing_more(s)
    finally:
        s.close()


@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_client_reply_off_then_lost_link(where, module_topology, module_proxy):
    ports, master = targets(module_topology, module_proxy)
    k = uniq("off")
    name = uniq("c5off")
    s = RawResp(ports[where])
    try:
        assert s.call("CLIENT", "SETNAME", name) == "OK"
        s.send(s.command("CLIENT", "REPLY", "OFF") + s.command("SET", k, "1") +
               s.command("GET", k) + s.command("PING"))
        assert nothing_more(s, 0.5)
        wait_until(lambda: master.client().get(k) == "1", 5, 0.05, what="the SET")
        if where == "proxy":
            kill_client_link(master, name)
        s.send(s.command("GET", k) + s.command("PING"))
        assert nothing_more(s, 0.5)
        assert s.call("CLIENT", "REPLY", "ON") == "OK"
        assert s.call("GET", k) == "1"
        assert nothing_more(s)
    finally:
        s.close()


def test_client_reply_queued_in_multi_applies_after_exec(module_topology, module_proxy):
    """Redis 7.0 runs CLIENT REPLY OFF|SKIP inside EXEC and cuts EXEC's own reply short (an
    array with fewer elements than it announced); the proxy answers the whole EXEC and applies
    the mode after it (docs/architecture.md, "Replay or close")."""
    k = uniq("txreply")
    s = RawResp(module_proxy.port)
    try:
        assert s.call("MULTI") == "OK"
        assert s.call("CLIENT", "REPLY", "SKIP") == "QUEUED"
        assert s.call("SET", k, "v") == "QUEUED"
        assert s.call("EXEC") == ["OK", "OK"]
        s.send(s.command("GET", k) + s.command("PING"))  # GET's reply skipped
        assert s.read_reply() == "PONG"
        assert s.call("MULTI") == "OK"
        assert s.call("CLIENT", "REPLY", "OFF") == "QUEUED"
        assert s.call("EXEC") == ["OK"]
        s.send(s.command("GET", k))
        assert nothing_more(s, 0.5)
        assert s.call("CLIENT", "REPLY", "ON") == "OK"
        assert s.call("GET", k) == "v"
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Case 6: CLIENT REPLY OFF and a bulk load past a million commands.

BULK = 1_200_000  # past the proxy's 1,048,576 reply slots per client


@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_client_reply_off_bulk_load(where, module_topology, module_proxy, record_figures):
    ports, master = targets(module_topology, module_proxy)
    k = uniq("bulk")
    name = uniq("c6")
    incr = b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k.encode())
    payload = incr * BULK
    s = RawResp(ports[where], timeout=60)
    try:
        assert s.call("CLIENT", "SETNAME", name) == "OK"
        t0 = now()
        s.send(s.command("CLIENT", "REPLY", "OFF"))
        s.send(payload)
        s.send(s.command("CLIENT", "REPLY", "ON"))
        assert s.read_reply() == "OK"  # the first bytes the client gets back
        took = now() - t0
        assert s.call("GET", k) == str(BULK)
        assert nothing_more(s)
        record_figures(f"CLIENT REPLY OFF + {BULK} INCR ({where})", {"seconds": round(took, 2)})
        assert took < 60
    finally:
        s.close()
    # the client left: so does everything the proxy kept for it on Redis
    wait_until(lambda: not any(c.get("name") == name for c in master.client().client_list()),
               10, 0.1, what="the client's link to close after the client left")


# ---------------------------------------------------------------------------------------------
# Case 4: CLIENT TRACKING, MONITOR and CLIENT ID belong to one connection.

@pytest.mark.parametrize("mode", [
    ("CLIENT", "TRACKING", "on"),
    ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "modes:"),
    ("CLIENT", "TRACKING", "on", "OPTIN"),
    ("MONITOR",),
    ("CLIENT", "ID"),
])
@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_link_bound_mode_closes_the_client_with_its_link(where, mode, module_topology,
                                                         module_proxy):
    ports, master = targets(module_topology, module_proxy)
    name = uniq("c4")
    s = RawResp(ports[where])
    try:
        assert s.call("HELLO", "3", "SETNAME", name)["proto"] == 3
        r = s.call(*mode)
        assert r == "OK" or isinstance(r, int), r
        if mode[0] != "MONITOR":
            assert s.call("GET", uniq("t")) is None
        # killed as a failover (or an operator) kills it: Redis closes the client; so does
        # the proxy, rather than carry on without the mode on a new link
        assert kill_named(master, name) == 1
        assert closed_within(s, 5, output_ok=mode[0] == "MONITOR"), \
            f"{' '.join(mode)}: the client stayed connected"
    finally:
        s.close()


def test_tracking_state_survives_as_long_as_the_link(module_topology, module_proxy):
    """Without a lost link, tracking through the proxy is tracking: the client sees its
    invalidation (RESP3 push) and CLIENT TRACKINGINFO says on."""
    master = module_topology.current_master()
    k = uniq("inval")
    master.client().set(k, "v1")
    s = RawResp(module_proxy.port)
    try:
        assert s.call("HELLO", "3")["proto"] == 3
        assert s.call("CLIENT", "TRACKING", "on") == "OK"
        assert s.call("GET", k) == "v1"
        master.client().set(k, "v2")
        push = s.read_reply()
        assert push == ["invalidate", [k]], push
        info = s.call("CLIENT", "TRACKINGINFO")
        assert "on" in info["flags"], info
    finally:
        s.close()


@pytest.mark.parametrize("where", ["redis", "proxy"])
def test_client_id_names_the_clients_own_connection_for_redirect(where, module_topology,
                                                                 module_proxy):
    """RESP2 tracking with REDIRECT: the id a client reads with CLIENT ID is the connection
    that receives the invalidations, so they arrive."""
    ports, master = targets(module_topology, module_proxy)
    k = uniq("redir")
    master.client().set(k, "v1")
    sub = RawResp(ports[where])
    reader = RawResp(ports[where])
    try:
        name = uniq("c4id")
        assert sub.call("CLIENT", "SETNAME", name) == "OK"
        sub_id = sub.call("CLIENT", "ID")
        assert isinstance(sub_id, int)
        listed = [c for c in master.client().client_list() if c["id"] == str(sub_id)]
        assert listed and listed[0]["name"] == name, (sub_id, listed)
        assert sub.call("SUBSCRIBE", "__redis__:invalidate") == \
            ["subscribe", "__redis__:invalidate", 1]
        assert reader.call("CLIENT", "TRACKING", "on", "REDIRECT", sub_id) == "OK"
        assert reader.call("GET", k) == "v1"
        master.client().set(k, "v2")
        msg = sub.read_reply()
        assert msg == ["message", "__redis__:invalidate", [k]], msg
    finally:
        sub.close()
        reader.close()


# ---------------------------------------------------------------------------------------------
# CLIENT NO-EVICT: a connection flag, kept off the shared links and replayed on a new link.

def test_no_evict_is_replayed_and_never_set_on_a_shared_link(module_topology, module_proxy):
    master = module_topology.current_master()
    name = uniq("noev")
    s = RawResp(module_proxy.port)
    try:
        assert s.call("CLIENT", "SETNAME", name) == "OK"
        assert s.call("CLIENT", "NO-EVICT", "on") == "OK"
        clients = master.client().client_list()
        assert not any("e" in c["flags"] for c in clients
                       if c.get("name") == "sentinel-proxy-shared"), clients
        mine = [c for c in clients if c.get("name") == name]
        assert len(mine) == 1 and "e" in mine[0]["flags"], mine
        kill_client_link(master, name)
        assert s.call("PING") == "PONG"
        mine = [c for c in master.client().client_list() if c.get("name") == name]
        assert len(mine) == 1 and "e" in mine[0]["flags"], mine
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# The same modes across a planned failover (the client's link replaced by one to the new master).

def test_modes_across_a_planned_failover(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo)
    old = topo.current_master()
    kx, ky, kz, kt, kd = uniq("fx"), uniq("fy"), uniq("fz"), uniq("ft"), uniq("fd")
    old.client().mset({kx: "x", ky: "y", kz: "z", kt: "t"})
    track, mon, skip, plain = (RawResp(proxy.port) for _ in range(4))
    try:
        assert track.call("HELLO", "3")["proto"] == 3
        assert track.call("CLIENT", "TRACKING", "on") == "OK"
        assert track.call("GET", kt) == "t"
        assert mon.call("MONITOR") == "OK"
        skip.send(skip.command("CLIENT", "REPLY", "SKIP") + skip.command("GET", kx) +
                  skip.command("GET", ky))
        assert skip.read_reply() == "y"
        assert plain.call("SELECT", "2") == "OK"
        assert plain.call("SET", kd, "two") == "OK"
        topo.wait_replication(old)
        topo.planned_failover()
        new = topo.wait_for_switch(old.addr)
        # the pinned client in db 2 carries on at the new master, in db 2
        wait_until(lambda: plain.call("GET", kd) == "two", 30, 0.2,
                   what="the db 2 client to read from the new master")
        assert new.client(db=2).get(kd) == "two"
        # the reply mode is the proxy's: GET z answers z, never x or y
        assert skip.call("GET", kz) == "z"
        assert nothing_more(skip)
        # tracking and MONITOR cannot move to the new master: closed, as Redis closes them
        assert closed_within(track, 20), "the tracking client stayed connected"
        assert closed_within(mon, 20, output_ok=True), "the MONITOR client stayed connected"
    finally:
        for s in (track, mon, skip, plain):
            s.close()
