"""Sentinels going away: with one down the proxy still follows a planned failover; with all
down it keeps serving the last verified master."""

from __future__ import annotations

import signal
import uuid

from harness import now, raw_command, wait_until


def _write_lands_on(proxy, node, timeout: float):
    """Until a SET through the proxy is readable on `node` directly. Returns the seconds it
    took. Each try uses a new key, so a write that went elsewhere is never counted."""
    c = proxy.client(socket_timeout=15)
    direct = node.client()
    t0 = now()
    tries = [0]

    def attempt():
        tries[0] += 1
        k = f"sd:{uuid.uuid4().hex[:10]}"
        c.set(k, "x")
        return direct.get(k) == "x"
    wait_until(attempt, timeout, 0.1, f"a write through the proxy to land on {node.name}")
    return now() - t0


def test_one_sentinel_down_proxy_works_and_follows_failover(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo)
    old = topo.current_master()
    topo.sentinels[0].stop(signal.SIGKILL)

    c = proxy.client(socket_timeout=15)
    k = f"sd:one:{uuid.uuid4().hex[:8]}"
    for i in range(20):
        assert c.set(f"{k}:{i}", str(i)) is True
    assert old.client().get(f"{k}:19") == "19"

    idle = proxy.connection()
    assert raw_command(idle, "PING") == "PONG"

    topo.planned_failover()
    new = topo.wait_for_switch(old.addr, timeout=30)
    _write_lands_on(proxy, new, timeout=30)
    # and it stays there: several writes in a row, all on the new master
    for i in range(20):
        assert c.set(f"{k}:after:{i}", str(i)) is True
    assert [new.client().get(f"{k}:after:{i}") for i in range(20)] == [str(i) for i in range(20)]
    # the idle client opened before the failover notices nothing
    assert raw_command(idle, "SET", f"{k}:idle", "ok") == "OK"
    assert new.client().get(f"{k}:idle") == "ok"
    idle.disconnect()


def test_all_sentinels_down_keeps_serving_last_verified_master(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo)
    master = topo.current_master()
    c = proxy.client(socket_timeout=15)
    idle = proxy.connection()
    assert raw_command(idle, "PING") == "PONG"

    for s in topo.sentinels:
        s.stop(signal.SIGKILL)

    # keep using it for a while (longer than a few Sentinel polls), reads and writes
    k = f"sd:all:{uuid.uuid4().hex[:8]}"
    t_end = now() + 4.0
    i = 0
    while now() < t_end and i < 10000:
        assert c.set(f"{k}:{i}", str(i)) is True
        assert c.get(f"{k}:{i}") == str(i)
        i += 1
        if i % 10 == 0:
            # a brand-new connection too (its backend link is opened without any sentinel)
            fresh = proxy.client(socket_timeout=15)
            assert fresh.get(f"{k}:{i - 1}") == str(i - 1)
            fresh.close()
    assert i > 10
    direct = master.client()
    assert direct.get(f"{k}:0") == "0"
    assert direct.get(f"{k}:{i - 1}") == str(i - 1)
    assert raw_command(idle, "SET", f"{k}:idle", "ok") == "OK"
    assert direct.get(f"{k}:idle") == "ok"
    idle.disconnect()
    assert proxy.alive()


def test_all_sentinels_down_warns_periodically(make_topology, make_proxy):
    """Issue 20: while it follows a master no sentinel majority confirms, the proxy says so
    again and again (every 5 s), with how long and why, not once."""
    topo = make_topology()
    proxy = make_proxy(topo)
    master = topo.current_master()
    for s in topo.sentinels:
        s.stop(signal.SIGKILL)
    c = proxy.client(socket_timeout=15)
    k = f"sd:warn:{uuid.uuid4().hex[:8]}"
    t_end = now() + 12.0
    i = 0
    while now() < t_end and i < 100000:
        assert c.set(f"{k}:{i}", str(i)) is True
        i += 1
        harness_sleep(0.05)
    assert master.client().get(f"{k}:{i - 1}") == str(i - 1)
    warnings = [line for line in proxy.log_text().splitlines()
                if "no sentinel majority for " in line and "still sending commands" in line]
    assert len(warnings) >= 2, warnings
    assert "0 of 3 known sentinels answering" in warnings[-1], warnings[-1]
    assert "run id" in warnings[-1] and "replication id" in warnings[-1], warnings[-1]


def harness_sleep(seconds: float):
    import time
    time.sleep(seconds)


def _status(admin: int) -> dict:
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/status", timeout=5) as r:
        return json.loads(r.read().decode())["pools"][0]


def _kept_without_majority(proxy, admin, topo):
    for s in topo.sentinels:
        s.stop(signal.SIGKILL)
    c = proxy.client(socket_timeout=15)
    wait_until(lambda: (_status(admin)["sentinel_majority"]["note"] or "").startswith("kept")
               and c.set(f"sd:kept:{uuid.uuid4().hex[:6]}", "1"), 15, 0.1,
               "the proxy to keep the master without a sentinel majority")


def test_all_sentinels_down_second_master_holds(make_topology, make_proxy, record_figures):
    """Issue 20: while the master is kept without a majority, another node that answers
    ROLE master (here a replica promoted by hand) means two masters: hold, and use neither
    until a sentinel majority names one (before: writes went on to the old master)."""
    import pytest
    import redis
    from harness import HOST, free_port
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    master = topo.current_master()
    replica = topo.replicas_of(master)[0]
    _kept_without_majority(proxy, admin, topo)
    replica.client().execute_command("REPLICAOF", "NO", "ONE")
    t0 = now()
    reason = wait_until(lambda: "two masters" in (_status(admin)["hold_reason"] or "")
                        and _status(admin)["hold_reason"], 5, 0.01, "a hold on two masters")
    took = now() - t0
    k = f"sd:two:{uuid.uuid4().hex[:8]}"
    c = proxy.client(socket_timeout=2)
    with pytest.raises(redis.RedisError):
        c.set(k, "x")
    assert master.client().get(k) is None and replica.client().get(k) is None
    record_figures("all sentinels down: a second master appears", {
        "hold after s": took, "reason": reason})
    assert replica.name in reason or str(replica.port) in reason, reason


def test_all_sentinels_down_restarted_master_is_not_trusted(make_topology, make_proxy):
    """Issue 20: without a majority a master is kept only while it is the same server: a
    restart (new run id, here with an empty data set) makes it new, so the proxy holds
    (before: it wrote to the restarted, empty master 0.08 s after it came back)."""
    import pytest
    import redis
    from harness import HOST, free_port
    topo = make_topology()
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    master = topo.current_master()
    _kept_without_majority(proxy, admin, topo)
    master.stop(signal.SIGKILL)
    master.restart()
    assert master.role() == "master"
    wait_until(lambda: "not the server a sentinel majority confirmed"
               in (_status(admin)["hold_reason"] or ""), 10, 0.05,
               "a hold on the restarted master")
    c = proxy.client(socket_timeout=2)
    k = f"sd:restart:{uuid.uuid4().hex[:8]}"
    with pytest.raises(redis.RedisError):
        c.set(k, "x")
    harness_sleep(1.0)
    assert master.client().dbsize() == 0, "a write reached the restarted, empty master"
