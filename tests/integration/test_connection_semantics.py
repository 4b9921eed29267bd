"""Connection semantics on shared links (issue 21, cases 1, 2, 3, 9, 10, 14 and the allow-list):
a command reaches a shared link only when the proxy knows it gets one reply, changes nothing of
the connection and does not depend on what the connection did before. Each case is compared
with the same bytes sent to Redis directly; where the proxy differs on purpose (a clear
refusal instead of a hijacked link) docs/architecture.md says why."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

import harness
from harness import HOST, RawResp, RespError, now, wait_until

uniq = harness.key_maker("connsem")

NOT_SUPPORTED = "is not supported through sentinel-proxy"

# Busy for `seconds` without writing (so SCRIPT KILL may kill it).
BUSY_SCRIPT = (
    "local t = redis.call('TIME') local s = tonumber(t[1]) + tonumber(t[2]) / 1e6 "
    "while true do local n = redis.call('TIME') "
    "if tonumber(n[1]) + tonumber(n[2]) / 1e6 - s > tonumber(ARGV[1]) then break end end "
    "return 'done'")


def direct(node, timeout: float = 10.0) -> RawResp:
    return RawResp(node.port, timeout=timeout)


def no_reply_within(conn: RawResp, seconds: float) -> bool:
    """True when nothing arrives on conn for `seconds` (the connection stays open)."""
    conn.sock.settimeout(seconds)
    try:
        data = conn.sock.recv(1 << 16)
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(10)
    conn.buf += data
    return False


# ---------------------------------------------------------------------------------------------
# Case 1: REPLCONF (and SYNC/PSYNC) from a client

def test_replconf_is_refused_and_other_clients_keep_their_replies(module_topology, module_proxy):
    master = module_topology.current_master()
    # Redis answers nothing to REPLCONF ACK from a client that is not a replica: through a
    # shared link that would leave every later reply one client off.
    d = direct(master)
    try:
        d.send(d.command("REPLCONF", "ACK", "0"))
        assert no_reply_within(d, 0.5), "Redis answered REPLCONF ACK (expected silence)"
        assert d.call("PING") == "PONG"
    finally:
        d.close()

    a, b, c = (RawResp(module_proxy.port, timeout=5) for _ in range(3))
    try:
        kb, kc = uniq("b"), uniq("c")
        assert b.call("SET", kb, "secret-of-b") == "OK"
        assert c.call("SET", kc, "secret-of-c") == "OK"
        for args in (("REPLCONF", "ACK", "0"), ("REPLCONF", "GETACK", "*"),
                     ("replconf", "listening-port", "6380"), ("SYNC",), ("PSYNC", "?", "-1")):
            r = a.call(*args)
            assert isinstance(r, RespError) and NOT_SUPPORTED in r, (args, r)
            # the others still get their own replies, in order
            assert b.call("GET", kb) == "secret-of-b"
            assert c.call("GET", kc) == "secret-of-c"
        # pipelined behind the refusal, A's own command is answered in order
        a.send(a.command("REPLCONF", "ACK", "0") + a.command("GET", kb))
        assert isinstance(a.read_reply(), RespError)
        assert a.read_reply() == "secret-of-b"
        assert a.call("PING") == "PONG"
    finally:
        for x in (a, b, c):
            x.close()


# ---------------------------------------------------------------------------------------------
# Case 2: SCRIPT DEBUG

def test_script_debug_is_refused_and_scripts_of_others_run_normally(module_topology,
                                                                   module_proxy):
    master = module_topology.current_master()
    a, b = RawResp(module_proxy.port, timeout=5), RawResp(module_proxy.port, timeout=5)
    try:
        for mode in ("YES", "SYNC", "NO"):
            r = a.call("SCRIPT", "DEBUG", mode)
            assert isinstance(r, RespError) and NOT_SUPPORTED in r, (mode, r)
            assert b.call("EVAL", "return 'plain'", "0") == "plain"
            assert a.call("EVAL", "return 'mine'", "0") == "mine"
        # inside MULTI it is queued on the transaction's own link and EXEC answers what
        # Redis answers directly
        d = direct(master)
        try:
            want = [d.call("MULTI"), d.call("SCRIPT", "DEBUG", "YES"), d.call("EXEC")]
        finally:
            d.close()
        got = [a.call("MULTI"), a.call("SCRIPT", "DEBUG", "YES"), a.call("EXEC")]
        assert got == want, (got, want)
        assert b.call("EVAL", "return 'plain'", "0") == "plain"
        assert a.call("EVAL", "return 'mine'", "0") == "mine"
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------------
# Allow-list: what the proxy does not know pins, and Redis answers it as directly

def test_unknown_command_gets_redis_own_answer_on_a_link_of_its_own(module_topology,
                                                                    module_proxy):
    master = module_topology.current_master()
    d = direct(master)
    p = RawResp(module_proxy.port, timeout=5)
    try:
        for args in (("NOSUCHCMD", "x"), ("CLIENT", "NOSUCHSUB")):
            want, got = d.call(*args), p.call(*args)
            assert isinstance(want, RespError) and got == want, (args, want, got)
        # the client now has a connection of its own (it stays: RESET gives it back)
        ids = {p.call("CLIENT", "ID") for _ in range(3)}
        assert len(ids) == 1
        q = RawResp(module_proxy.port, timeout=5)
        try:
            assert q.call("CLIENT", "ID") not in ids  # q is on the shared link
        finally:
            q.close()
        assert p.call("SET", uniq("u"), "1") == "OK"
    finally:
        d.close()
        p.close()


# ---------------------------------------------------------------------------------------------
# Case 3: WAIT counts this client's own writes

def test_wait_counts_the_clients_own_writes_made_over_a_shared_link(module_topology,
                                                                    module_proxy,
                                                                    record_figures):
    master = module_topology.current_master()
    replicas = module_topology.replicas_of(master)
    assert len(replicas) == 2
    module_topology.wait_replication(master)
    p = RawResp(module_proxy.port, timeout=10)
    d = direct(master)
    try:
        k = uniq("wait")
        # with the replicas up, a write is acknowledged by both, as directly
        up = RawResp(module_proxy.port, timeout=10)
        try:
            assert up.call("SET", k, "v0") == "OK"
            assert up.call("WAIT", "2", "5000") == 2
        finally:
            up.close()
        pids = [r.process.pid for r in replicas]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            assert d.call("SET", k + ":d", "v") == "OK"
            t0 = now()
            want = d.call("WAIT", "1", "1000")
            direct_s = now() - t0
            assert p.call("SET", k, "v1") == "OK"  # over the shared link
            t0 = now()
            got = p.call("WAIT", "1", "1000")  # pins: runs on a dedicated link
            proxy_s = now() - t0
            # again, now on the dedicated link: a second write, a second WAIT
            assert p.call("SET", k, "v2") == "OK"
            t0 = now()
            got2 = p.call("WAIT", "1", "1000")
            proxy2_s = now() - t0
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert want == 0 and direct_s >= 0.9, (want, direct_s)
        assert got == 0, f"the proxy said {got} replicas have a write no replica has"
        assert proxy_s >= 0.9, proxy_s
        assert got2 == 0 and proxy2_s >= 0.9, (got2, proxy2_s)
        # once they are back, the writes reach both (the count is of real acknowledgements)
        assert p.call("WAIT", "2", "10000") == 2
        record_figures("WAIT with both replicas stopped", {
            "direct: WAIT 1 1000": f"{want} after {direct_s:.2f}s",
            "proxy, write on a shared link: WAIT 1 1000": f"{got} after {proxy_s:.2f}s",
        })
    finally:
        p.close()
        d.close()
    module_topology.wait_replication(master)


def test_wait_whose_fence_is_refused_answers_an_error_not_a_count(module_topology,
                                                                   module_proxy):
    """A client that wrote over a shared link, then logged in as a user who may not run the
    fence (SWAPDB 0 0): its WAIT is answered with an error, never a count of the wrong
    connection's writes."""
    master = module_topology.current_master()
    user, pw = uniq("nofence").replace(":", "-"), "nofence-pw"
    admin = master.client()
    admin.execute_command("ACL", "SETUSER", user, "on", f">{pw}", "~*", "&*", "+@all",
                          "-swapdb")
    p = RawResp(module_proxy.port, timeout=10)
    try:
        assert p.call("SET", uniq("nofence"), "v") == "OK"  # over the shared link
        assert p.call("AUTH", user, pw) == "OK"  # pins: its own link, as that user
        r = p.call("WAIT", "0", "100")
        assert isinstance(r, RespError) and "cannot count the replicas" in r, r
        # the next WAIT needs no fence (its writes are on its own link now) and is Redis's
        assert p.call("SET", uniq("nofence"), "w") == "OK"
        assert p.call("WAIT", "2", "5000") == 2
    finally:
        p.close()
        admin.execute_command("ACL", "DELUSER", user)


# ---------------------------------------------------------------------------------------------
# Case 10: CLIENT UNBLOCK id ERROR by an operator

def blocked_ids(master) -> list[int]:
    return [int(c["id"]) for c in master.client().client_list() if c.get("cmd") == "blpop"]


def test_client_unblock_error_reaches_the_blocked_client_as_from_redis(module_topology,
                                                                       module_proxy):
    master = module_topology.current_master()
    op = master.client()
    # directly
    d = direct(master)
    try:
        d.send(d.command("BLPOP", uniq("empty-d"), "0"))
        wait_until(lambda: len(blocked_ids(master)) == 1, 5, 0.02, "the direct BLPOP to block")
        assert op.execute_command("CLIENT", "UNBLOCK", blocked_ids(master)[0], "ERROR") == 1
        want = d.read_reply()
    finally:
        d.close()
    assert isinstance(want, RespError) and want.startswith("UNBLOCKED"), want

    p = RawResp(module_proxy.port, timeout=3)
    operator = RawResp(module_proxy.port, timeout=5)
    try:
        p.send(p.command("BLPOP", uniq("empty-p"), "0"))
        wait_until(lambda: len(blocked_ids(master)) == 1, 5, 0.02, "the BLPOP to block")
        # the operator's CLIENT UNBLOCK through the proxy too
        assert operator.call("CLIENT", "UNBLOCK", str(blocked_ids(master)[0]), "ERROR") == 1
        t0 = now()
        got = p.read_reply()
        took = now() - t0
        assert got == want, (got, want)
        assert took < 2.0, took
        # the connection is still there and usable, as directly
        assert p.call("PING") == "PONG"
        assert p.call("BLPOP", uniq("empty-p"), "0.1") is None
    finally:
        p.close()
        operator.close()


# ---------------------------------------------------------------------------------------------
# Case 14: SCRIPT KILL and FUNCTION KILL while a shared link waits behind a busy script

def set_down_after(topo, ms: int):
    for s in topo.live_sentinels():
        s.client().execute_command("SENTINEL", "SET", harness.MASTER_NAME,
                                   "down-after-milliseconds", str(ms))


@pytest.fixture
def busy_threshold(module_topology):
    """A master that answers -BUSY 300 ms into a script. Sentinel would take those -BUSY
    replies for a master down after 1 s and send SCRIPT KILL itself (or fail it over): it is
    told to wait 60 s for the test's duration."""
    master = module_topology.current_master()
    set_down_after(module_topology, 60000)
    c = master.client()
    old = c.config_get("busy-reply-threshold")["busy-reply-threshold"]
    c.config_set("busy-reply-threshold", "300")
    yield master

    def restored():
        # a test that failed may leave its script running: kill it, then restore
        for kill in (("SCRIPT", "KILL"), ("FUNCTION", "KILL")):
            try:
                c.execute_command(*kill)
            except Exception:
                pass
        try:
            return c.config_set("busy-reply-threshold", old)
        except Exception:
            return False
    wait_until(restored, 15, 0.2, "busy-reply-threshold restored")

    def pinged_since_busy() -> bool:
        # Sentinel counts down-after from its last valid PING reply, and a busy master
        # answers -BUSY: back at 1 s before a fresh reply, the sentinels marked the master
        # down at once and began a failover that held the next test's commands (ctest -j3).
        return all(int(s.master_state()["last-ok-ping-reply"]) < 500 and
                   "s_down" not in s.master_state()["flags"]
                   for s in module_topology.live_sentinels())
    wait_until(pinged_since_busy, 15, 0.1, "every sentinel to get a PING reply again")
    set_down_after(module_topology, 1000)


def test_script_kill_reaches_redis_while_a_shared_link_runs_a_busy_script(busy_threshold,
                                                                          module_proxy,
                                                                          record_figures):
    master = busy_threshold
    k = uniq("busy")
    assert master.client().set(k, "v") is True
    runner = RawResp(module_proxy.port, timeout=20)
    pinned = RawResp(module_proxy.port, timeout=20)
    killer = RawResp(module_proxy.port, timeout=20)
    d = direct(master, timeout=20)
    try:
        assert pinned.call("SELECT", "0") == "OK" and pinned.call("SELECT", "1") == "OK"
        runner.send(runner.command("EVAL", BUSY_SCRIPT, "0", "10"))
        # Redis answers others -BUSY once the script is past the threshold
        wait_until(lambda: isinstance(d.call("GET", k), RespError), 5, 0.1,
                   "Redis to answer -BUSY")
        busy = d.call("GET", k)
        assert busy.startswith("BUSY"), busy
        # past a round of the proxy's own checks (ROLE every second): a busy master
        # answers them -BUSY too, and is still the master
        time.sleep(1.5)
        # a client on a link of its own gets -BUSY as from Redis
        got = pinned.call("GET", k)
        assert isinstance(got, RespError) and got.startswith("BUSY"), got
        t0 = now()
        killed = killer.call("SCRIPT", "KILL")
        kill_s = now() - t0
        assert killed == "OK", killed
        assert kill_s < 2.0, f"SCRIPT KILL took {kill_s:.2f}s"
        r = runner.read_reply()
        assert isinstance(r, RespError) and "killed" in r.lower(), r
        assert now() - t0 < 3.0
        # everyone goes on
        assert runner.call("GET", k) == "v"
        assert killer.call("GET", k) == "v"
        assert d.call("SCRIPT", "KILL").startswith("NOTBUSY")
        record_figures("SCRIPT KILL behind a busy script on a shared link", {
            "SCRIPT KILL answered after (s)": round(kill_s, 3)})
    finally:
        for x in (runner, pinned, killer, d):
            x.close()


def test_function_kill_reaches_redis_while_a_shared_link_runs_a_busy_function(busy_threshold,
                                                                              module_proxy):
    master = busy_threshold
    lib = ("#!lua name=connsem_busy\n"
           "redis.register_function{function_name='connsem_busy', flags={'no-writes'}, "
           "callback=function(keys, args) " + BUSY_SCRIPT.replace("ARGV[1]", "args[1]") +
           " end}")
    master.client().execute_command("FUNCTION", "LOAD", "REPLACE", lib)
    runner = RawResp(module_proxy.port, timeout=20)
    killer = RawResp(module_proxy.port, timeout=20)
    d = direct(master, timeout=20)
    try:
        runner.send(runner.command("FCALL", "connsem_busy", "0", "10"))
        wait_until(lambda: isinstance(d.call("PING"), RespError), 5, 0.1,
                   "Redis to answer -BUSY")
        time.sleep(1.5)  # past a round of the proxy's ROLE checks, as above
        t0 = now()
        killed = killer.call("FUNCTION", "KILL")
        kill_s = now() - t0
        assert killed == "OK", killed
        assert kill_s < 2.0, kill_s
        r = runner.read_reply()
        assert isinstance(r, RespError) and "killed" in r.lower(), r
        assert runner.call("PING") == "PONG"
    finally:
        for x in (runner, killer, d):
            x.close()
        wait_until(lambda: delete_function(master, "connsem_busy"), 15, 0.2,
                   "the busy function deleted")


def delete_function(master, name: str) -> bool:
    c = master.client()
    try:
        c.execute_command("FUNCTION", "KILL")
    except Exception:
        pass
    try:
        c.execute_command("FUNCTION", "DELETE", name)
        return True
    except Exception as exc:
        return "BUSY" not in str(exc)


# ---------------------------------------------------------------------------------------------
# Case 9: HELLO 3 AUTH with a wrong password while no master is verified

REDIS_PW = "connsem-redis-pw"


def test_hello_auth_with_a_wrong_password_during_a_hold_gets_wrongpass(make_topology,
                                                                       make_proxy):
    topo = make_topology(redis_password=REDIS_PW, replica_extra={"replica-priority": "0"})
    proxy = make_proxy(topo, ["--redis-password", REDIS_PW, "--hold-window-ms", "30000"])
    master = topo.current_master()
    d = direct(master)
    try:
        want = d.call("HELLO", "3", "AUTH", "default", "wrongpass")
    finally:
        d.close()
    assert isinstance(want, RespError) and want.startswith("WRONGPASS"), want

    # A hold without a failover: Sentinel is slow to judge (no +odown, whose failover the
    # proxy waits out), the proxy sees the master's connection die at once.
    set_down_after(topo, 60000)
    master.stop(signal.SIGKILL)
    wait_until(lambda: "holding commands" in proxy.log_text(), 10, 0.05,
               "the proxy to hold commands")
    c = RawResp(proxy.port, timeout=30)
    ok = RawResp(proxy.port, timeout=30)
    try:
        c.send(c.command("HELLO", "3", "AUTH", "default", "wrongpass"))
        ok.send(ok.command("HELLO", "3", "AUTH", "default", REDIS_PW))
        # held: no verified master can check the password
        assert no_reply_within(c, 1.0), f"answered during the hold: {c.read_reply()!r}"
        master.restart()
        got = c.read_reply()
        assert got == want, got
        # the right password is accepted once the master checked it
        hello = ok.read_reply()
        assert isinstance(hello, dict) and hello.get("proto") == 3, hello
        assert ok.call("SET", uniq("hello-ok"), "1") == "OK"
        # the refused HELLO changed nothing: still RESP2, as with Redis
        assert c.call("ECHO", "x") == "x" and c.first_byte is not None
        c.send(c.command("PING"))
        assert c.first_byte() == b"+"
        assert c.read_reply() == "PONG"
    finally:
        c.close()
        ok.close()
