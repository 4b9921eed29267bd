"""Sentinel identity (issue 20): one sentinel is one sentinel however the proxy reaches it.

- A configured sentinel that is down when the proxy starts is the same sentinel the others
  list at that address (SENTINEL SENTINELS): 3 known, not 4, so the two live ones are a
  majority and the proxy serves at once (before: held for as long as the sentinel stayed
  down, "2 of 4 known sentinels answering, a majority is 3").
- A sentinel restarted with an empty configuration (a new run id, monitoring nothing, as
  a sentinel.conf on an emptyDir comes back) is the same sentinel restarted, and it is no
  vote for "no master": the proxy keeps serving and follows a failover the other two make
  (before: "sentinels disagree", every command held, the failover ignored)."""

from __future__ import annotations

import signal
import types
import uuid

import redis

import harness
from harness import HOST, MASTER_NAME, free_port, now, pool_status, readyz, wait_until


def write_lands_on(proxy, node, timeout: float) -> float:
    """Until a SET through the proxy is readable on `node` directly; returns the seconds."""
    c = proxy.client(socket_timeout=3)
    direct = node.client()
    t0 = now()

    def attempt():
        k = f"sid:{uuid.uuid4().hex[:10]}"
        c.set(k, "x")
        return direct.get(k) == "x"
    wait_until(attempt, timeout, 0.05, f"a write through the proxy to land on {node.name}")
    return now() - t0


def test_start_with_one_of_three_sentinels_down_serves(make_topology, make_proxy,
                                                       record_figures):
    topo = make_topology()
    master = topo.current_master()
    down = topo.sentinels[0]
    down.stop(signal.SIGKILL)
    admin = free_port()
    t0 = now()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"], writable=False)
    took = write_lands_on(proxy, master, timeout=5.0)  # the bound: serves within 5 s
    t_serve = now() - t0
    maj = pool_status(admin)["sentinel_majority"]
    ready = readyz(admin)
    record_figures("identity: start with 1 of 3 sentinels down", {
        "first write acknowledged after s (proxy start)": t_serve,
        "first write after the proxy answered PING s": took,
        "known sentinels": maj["known"], "readyz": ready[0],
    })
    assert maj["known"] == 3, maj
    assert maj["needed"] == 2, maj
    assert ready[0] == 200, ready


def restart_empty(sentinel: harness.Sentinel):
    """Restarts `sentinel` on its port with a configuration that monitors nothing: it
    comes back with a new run id (no `sentinel myid` line) and no masters."""
    old_id = sentinel.client(socket_timeout=2).execute_command("SENTINEL", "MYID")
    sentinel.stop(signal.SIGKILL)
    sentinel.conf.write_text(f"dir {sentinel.dir}\nlogfile {sentinel.dir / 'sentinel.log'}\n")
    sentinel.start()
    new_id = sentinel.client(socket_timeout=2).execute_command("SENTINEL", "MYID")
    assert new_id != old_id
    assert sentinel.client(socket_timeout=2).execute_command("SENTINEL", "MASTERS") == []
    return old_id, new_id


def failover_by(sentinel: harness.Sentinel, timeout: float = 30.0):
    """SENTINEL FAILOVER on this sentinel, retried while replicas are not ready yet."""
    def attempt():
        try:
            return sentinel.client(socket_timeout=2).execute_command(
                "SENTINEL", "FAILOVER", MASTER_NAME)
        except redis.ResponseError as exc:
            if "INPROG" in str(exc) or "NOGOODSLAVE" in str(exc):
                return False
            raise
    wait_until(attempt, timeout, 0.5, "SENTINEL FAILOVER to be accepted")


def test_sentinel_restarted_empty_keeps_serving_and_follows_failover(make_topology, make_proxy,
                                                                     record_figures):
    topo = make_topology()
    old = topo.current_master()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    wait_until(lambda: pool_status(admin)["sentinel_majority"]["known"] == 3, 15, 0.1,
               "the proxy to know the 3 sentinels")
    empty = topo.sentinels[2]
    restart_empty(empty)
    wait_until(lambda: next(s for s in pool_status(admin)["sentinels"]
                            if s["address"] == f"{HOST}:{empty.port}")["up"], 15, 0.1,
               "the proxy to reconnect to the restarted sentinel")

    # it keeps serving: several seconds of writes, none held for long, all on the master
    c = proxy.client(socket_timeout=3)
    k = f"sid:empty:{uuid.uuid4().hex[:8]}"
    t_end = now() + 4.0
    i = 0
    worst = 0.0
    while now() < t_end and i < 5000:
        t = now()
        assert c.set(f"{k}:{i}", str(i)) is True
        worst = max(worst, now() - t)
        i += 1
        harness.time.sleep(0.01)
    assert old.client().get(f"{k}:{i - 1}") == str(i - 1)
    st = pool_status(admin)
    assert st["master"] is not None and st["master"]["port"] == old.port, st
    assert st["sentinel_majority"]["known"] == 3, st["sentinel_majority"]
    assert readyz(admin)[0] == 200

    # the two others fail the master over: the proxy follows them
    t_fail = now()
    failover_by(topo.sentinels[0])
    new = topo.wait_for_switch(old.addr, timeout=30)
    took = write_lands_on(proxy, new, timeout=30)
    t_follow = now() - t_fail
    record_figures("identity: a sentinel restarted with an empty config", {
        "writes while it monitored nothing": i, "slowest write s": worst,
        "followed the failover of the other two after s": t_follow,
        "write landed on the new master after the switch s": took,
    })
    assert worst < 1.0, f"a write was held {worst:.2f} s"
    for j in range(20):
        assert c.set(f"{k}:after:{j}", "y") is True
    assert new.client().get(f"{k}:after:19") == "y"
