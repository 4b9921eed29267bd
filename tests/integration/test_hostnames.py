"""Sentinels given by host name (`localhost:PORT`, resolved by the proxy asynchronously):
the proxy finds the master and follows a planned failover exactly as with IP addresses."""

from __future__ import annotations

import socket
import time

import pytest
import redis

import harness
from harness import HOST, Writer, raw_command, wait_until


uniq = harness.key_maker("host")


@pytest.fixture
def localhost_ok():
    addrs = {ai[4][0] for ai in socket.getaddrinfo("localhost", None, socket.AF_INET)}
    if HOST not in addrs:
        pytest.skip(f"localhost does not resolve to {HOST} here ({addrs})")


def test_sentinels_by_host_name_and_planned_failover(localhost_ok, make_topology, make_proxy,
                                                     record_figures):
    topo = make_topology()
    proxy = make_proxy(topo, sentinel_host="localhost")
    assert all(f"localhost:{p}" in proxy.argv for p in topo.sentinel_ports), proxy.argv
    assert not any(a.startswith(f"{HOST}:") and a != f"{HOST}:{proxy.port}"
                   for a in proxy.argv), proxy.argv

    old = topo.current_master()
    k = uniq("before")
    assert proxy.client().set(k, "1") is True
    assert old.client().get(k) == "1"

    db2 = proxy.connection()
    try:
        assert raw_command(db2, "SELECT", "2") == "OK"
        writer = Writer(HOST, proxy.port).start()
        try:
            writer.wait_acks(300, timeout=30)
            topo.planned_failover()
            new = topo.wait_for_switch(old.addr, timeout=30)
            writer.wait_acks(1000, timeout=40)
        finally:
            stats = writer.stop()
        assert new is not old
        assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"
        k2 = uniq("after")
        assert raw_command(db2, "SET", k2, "2") == "OK"
    finally:
        db2.disconnect()
    assert new.client(db=2).get(k2) == "2"

    seqs = list(stats.acked_seqs())
    c = new.client(socket_timeout=10)
    wait_until(lambda: stats.verify_on(c, seqs[-200:]) == ([], []), 15, 0.2,
               "the last acknowledged writes to be on the new master")
    missing, wrong = stats.verify_on(c, seqs)
    assert (len(missing), len(wrong)) == (0, 0), (missing[:10], wrong[:10])
    record_figures("sentinels by host name, planned failover", {
        "acknowledged writes": stats.acked,
        "errors": len(stats.errors),
        "longest gap (s)": stats.longest_gap(),
    })


def test_unresolvable_sentinel_name_does_not_block_the_others(localhost_ok, make_topology,
                                                              make_proxy):
    """One configured sentinel name does not resolve: the proxy logs it, keeps trying, and
    follows the master (and a planned failover) through the sentinels that do."""
    topo = make_topology()
    bad = "no-such-sentinel.invalid:26379"
    proxy = make_proxy(topo, ["--sentinel", bad], sentinel_host="localhost")
    old = topo.current_master()
    k = uniq("bad-name")
    assert proxy.client().set(k, "1") is True
    assert old.client().get(k) == "1"
    assert proxy.alive()
    assert any("no-such-sentinel.invalid" in line for line in proxy.log_text().splitlines()), \
        "the unresolvable sentinel is never mentioned in the log"

    topo.planned_failover()
    new = topo.wait_for_switch(old.addr, timeout=30)
    k2 = uniq("after")
    c = proxy.client(socket_timeout=15)
    wait_until(lambda: c.set(k2, "2"), 20, 0.1, "a SET through the proxy after the failover")
    assert new.client().get(k2) == "2"


def test_restarted_sentinel_is_reconnected_by_name(localhost_ok, make_topology, make_proxy):
    """A sentinel restarted on the same port is reconnected (its name resolved again) and
    its events are followed: the failover is then triggered on that very sentinel."""
    topo = make_topology()
    proxy = make_proxy(topo, sentinel_host="localhost")
    s0 = topo.sentinels[0]
    needle = f"sentinel localhost:{s0.port} connected"
    assert len([ln for ln in proxy.log_text().splitlines() if needle in ln]) == 1
    s0.stop()
    s0.start()
    wait_until(lambda: len([ln for ln in proxy.log_text().splitlines() if needle in ln]) >= 2,
               20, 0.1, f"the proxy to log '{needle}' again")
    old = topo.current_master()
    topo.wait_sentinels_ready(old.addr, timeout=30)
    writer = Writer(HOST, proxy.port).start()
    try:
        writer.wait_acks(300, timeout=30)
        for attempt in range(40):  # bounded: NOGOODSLAVE/INPROG while it catches up
            try:
                s0.client(socket_timeout=2).execute_command("SENTINEL", "FAILOVER", "mymaster")
                break
            except redis.ResponseError as exc:
                if attempt == 39 or not any(x in str(exc) for x in ("NOGOODSLAVE", "INPROG")):
                    raise
                time.sleep(0.5)
        new = topo.wait_for_switch(old.addr, timeout=30)
        writer.wait_acks(500, timeout=40)
    finally:
        stats = writer.stop()
    assert stats.errors == [], f"client-visible errors: {stats.errors[:5]}"
    k = uniq("after-restart")
    assert proxy.client().set(k, "x") is True
    assert new.client().get(k) == "x"
