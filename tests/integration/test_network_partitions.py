"""Network partitions (issue 15 part 4), with every process in its own network namespace
(tests/integration/netns.py; needs root): the proxy must follow the sentinel majority, never
send a write to a node the majority no longer names, and keep serving while a minority of
sentinels is out of its reach.

What the proxy can guarantee, and what is asserted:
  - No write from the proxy is executed by a node after the majority stopped naming it. The
    evidence is read from both nodes before the partition heals (Sentinel then resyncs the
    old master and wipes it): no key of a proxy writer is on the old master and not on the
    new one.
  - The proxy holds writes from the first failover event it hears (+odown), a second before
    any sentinel names another master (+promoted-slave). So an acknowledged write is lost
    only if the old master took it alone before +odown: Sentinel's own window (the old master
    cut from its replicas; down-after-milliseconds plus the time to agree on +odown). In case
    (a) the replicas stay connected to the old master until one is promoted: nothing
    acknowledged through the proxy may be lost. In case (c) the old master is cut from its
    replicas too: every write it took alone must have been acknowledged before +odown (0.2 s
    of slack for event delivery), none after +promoted-slave, and exactly those are lost.
  - Redis's own window, measured beside it: a client writing straight to the old master is
    acknowledged for the whole partition, and all of that is lost at the heal."""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns  # noqa: E402
from harness import SentinelEvents, Writer, now, wait_until  # noqa: E402

SENTINELS = ["sentinel-0", "sentinel-1", "sentinel-2"]


def net_setup(tmp_path, proxy_args: list[str] = ()):
    reason = netns.why_unavailable()
    if reason:
        warnings.warn(f"NETWORK PARTITION TESTS NOT RUN: {reason}")  # in pytest's summary
        pytest.skip(f"NETWORK PARTITION TESTS NOT RUN: {reason} (needs root and netns)")
    setup = netns.NetSetup(tmp_path, proxy_args)
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def net(tmp_path):
    yield from net_setup(tmp_path)


def keys_with(client, prefix: str) -> set[str]:
    return set(client.scan_iter(match=f"{prefix}:*", count=1000))


def ack_time(stats, key: str) -> float | None:
    seq = int(key.rsplit(":", 1)[1])
    for t, first, n in stats.batches:
        if first <= seq < first + n:
            return t
    return None


def late_on_old(stats, split: list[str], t_new_named: float) -> list[str]:
    """Keys executed by the old master only whose ack came after a sentinel first named
    another master (+promoted-slave), or that were never acknowledged: misrouted writes."""
    return [k for k in split if (ack_time(stats, k) or float("inf")) >= t_new_named]


def lost_acked(stats, client) -> list[int]:
    missing, wrong = stats.verify_on(client, list(stats.acked_seqs()))
    assert not wrong, f"wrong values for {stats.prefix}: {wrong[:5]}"
    return missing


def test_master_partitioned_from_sentinels(net, record_figures):
    topo, lab, proxy = net.topo, net.lab, net.proxy
    old = topo.current_master()
    writers = [Writer(proxy.host, proxy.port, batch=5, interval=0.005, socket_timeout=15)
               .start() for _ in range(2)]
    # Redis's own window: a client that reaches the old master directly keeps writing there
    direct = Writer(old.host, old.port, batch=5, interval=0.005, socket_timeout=5).start()
    try:
        for w in writers + [direct]:
            w.wait_acks(100, timeout=20)
        t_part = now()
        lab.partition_groups([old.name], SENTINELS)
        new = topo.wait_for_switch(old.addr, timeout=40)
        t_sentinels = now()
        wait_until(lambda: net.proxy_master() == new.addr, 20, 0.05, "the proxy to switch")
        t_proxy = now()
        for w in writers:
            w.wait_acks(100, timeout=20)
        direct.wait_acks(100, timeout=20)  # the old master still takes writes from anyone
        assert old.role() == "master", "the old master should still be a master (split brain)"
    finally:
        stats = [w.stop() for w in writers]
        dstats = direct.stop()
    oc, nc = old.client(socket_timeout=10), new.client(socket_timeout=10)
    # before the heal: what each side of the split holds
    split = {st.prefix: sorted(keys_with(oc, st.prefix) - keys_with(nc, st.prefix))
             for st in stats}
    lost_before_heal = {st.prefix: lost_acked(st, nc) for st in stats}
    direct_split = keys_with(oc, dstats.prefix) - keys_with(nc, dstats.prefix)
    lab.heal_all()
    final = topo.wait_stable(60)
    assert final is new
    fc = final.client(socket_timeout=10)
    lost = {st.prefix: lost_acked(st, fc) for st in stats}
    direct_lost = lost_acked(dstats, fc)
    record_figures("partition: master cut from the sentinels", {
        "sentinels switched after s": t_sentinels - t_part,
        "proxy switched after s": t_proxy - t_part,
        "proxy writes acknowledged": sum(st.acked for st in stats),
        "proxy writes on the old master only (misrouted)": sum(len(v) for v in split.values()),
        "proxy acknowledged writes lost": sum(len(v) for v in lost.values()),
        "proxy client errors": sum(len(st.errors) for st in stats),
        "longest gap between proxy acks s": max(st.longest_gap() for st in stats),
        "direct writes acknowledged (no proxy)": dstats.acked,
        "direct writes on the old master only": len(direct_split),
        "direct acknowledged writes lost (Sentinel's window)": len(direct_lost),
    })
    assert all(not v for v in split.values()), f"proxy writes executed by the old master: {split}"
    assert all(not v for v in lost_before_heal.values()), lost_before_heal
    assert all(not v for v in lost.values()), f"acknowledged writes lost: {lost}"
    errors = [e for st in stats for e in st.errors if e[3] != "connection"]
    assert not errors, f"clients saw error replies: {errors[:5]}"
    # the comparison only means something if the old master really split
    assert direct_lost, "the direct writer lost nothing: the partition did not split the master"


def test_proxy_partitioned_from_sentinel_minority(net, record_figures):
    topo, lab, proxy = net.topo, net.lab, net.proxy
    cut = topo.sentinels[2]
    w = Writer(proxy.host, proxy.port, batch=5, interval=0.005).start()
    try:
        w.wait_acks(100, timeout=20)
        t0 = now()
        lab.partition("proxy", cut.name)

        def cut_seen():
            st = net.status()
            entry = [s for s in st["sentinels"] if s["address"] == f"{cut.host}:{cut.port}"]
            return entry and not entry[0]["up"] and st["master"] is not None and st
        st = wait_until(cut_seen, 20, 0.2, "/status to show the cut sentinel down")
        t_seen = now()
        maj = st["sentinel_majority"]
        assert maj["answering"] >= maj["needed"] and maj["known"] == 3, maj
        w.wait_acks(200, timeout=20)
        # a planned failover while the proxy hears only 2 of 3 sentinels: it still follows
        old = topo.current_master()
        topo.planned_failover()
        new = topo.wait_for_switch(old.addr, timeout=30)
        wait_until(lambda: net.proxy_master() == new.addr, 20, 0.05, "the proxy to switch")
        t_switch = now()
        w.wait_acks(200, timeout=20)
        st = net.status()
        assert st["sentinel_majority"]["answering"] == 2, st["sentinel_majority"]
        lab.heal("proxy", cut.name)
        wait_until(lambda: net.status()["sentinel_majority"]["answering"] == 3, 20, 0.2,
                   "the cut sentinel to answer again")
    finally:
        stats = w.stop()
    final = topo.wait_stable(60)
    lost = lost_acked(stats, final.client(socket_timeout=10))
    record_figures("partition: proxy cut from 1 of 3 sentinels", {
        "cut seen in /status after s": t_seen - t0,
        "planned failover followed after s": t_switch - t0,
        "writes acknowledged": stats.acked, "client errors": len(stats.errors),
        "longest gap between acks s": stats.longest_gap(), "acknowledged writes lost": len(lost),
    })
    assert not lost
    assert not [e for e in stats.errors if e[3] != "connection"], stats.errors[:5]
    # no hold beyond bounds: the proxy never stopped for the cut sentinel (only the switch)
    assert stats.longest_gap() < 5.0, f"writes stalled {stats.longest_gap():.1f} s"


def test_minority_sentinel_names_old_master(net, record_figures):
    """sentinel-2 and the old master are cut from the rest but not from the proxy (nor from
    each other): the majority fails over, sentinel-2 keeps naming the old master, which stays
    a writable master. The proxy must follow the majority and send nothing to the old one."""
    topo, lab, proxy = net.topo, net.lab, net.proxy
    old = topo.current_master()
    lone = topo.sentinels[2]
    majority_side = ["sentinel-0", "sentinel-1"] + [n.name for n in topo.nodes if n is not old]
    events = SentinelEvents(topo.sentinels[:2]).start()
    w = Writer(proxy.host, proxy.port, batch=5, interval=0.005).start()
    try:
        w.wait_acks(100, timeout=20)
        t0 = now()
        lab.partition_groups([old.name, lone.name], majority_side)
        new = wait_until(lambda: topo.sentinels[0].master_addr() != old.addr
                         and topo.sentinels[1].master_addr() == topo.sentinels[0].master_addr()
                         and topo.node_at(topo.sentinels[0].master_addr()), 40, 0.05,
                         "the majority to fail over")
        wait_until(lambda: new.role() == "master", 20, 0.05, "the new master to be promoted")
        wait_until(lambda: net.proxy_master() == new.addr, 20, 0.05, "the proxy to switch")
        t_switch = now()
        w.wait_acks(200, timeout=20)
        st = net.status()
        views = {s["address"]: s["names_master"] for s in st["sentinels"]}
        lone_view = views[f"{lone.host}:{lone.port}"]
        assert lone.master_addr() == old.addr and old.role() == "master", \
            "the lone sentinel should still name the old, still writable, master"
        assert lone_view and (lone_view["host"], lone_view["port"]) == old.addr, views
        # stays on the majority's master for a while, with the minority still dissenting
        for _ in range(20):
            assert net.proxy_master() == new.addr
            time.sleep(0.1)
    finally:
        stats = w.stop()
        events.stop()
    t_odown = events.first("+odown", after=t0)
    t_promoted = events.first("+promoted-slave", after=t0)
    assert t_odown and t_promoted, events.events[-10:]
    oc, nc = old.client(socket_timeout=10), new.client(socket_timeout=10)
    split = sorted(keys_with(oc, stats.prefix) - keys_with(nc, stats.prefix))
    misrouted = late_on_old(stats, split, t_promoted)
    in_window = [ack_time(stats, k) for k in split if k not in misrouted]
    lab.heal_all()
    final = topo.wait_stable(60)
    lost = lost_acked(stats, final.client(socket_timeout=10))
    record_figures("partition: a minority sentinel names the old master", {
        "+odown after s": t_odown - t0, "+promoted-slave after s": t_promoted - t0,
        "proxy followed the majority after s": t_switch - t0,
        "writes acknowledged": stats.acked, "client errors": len(stats.errors),
        "writes the old master took in Sentinel's window (before +odown)": len(in_window),
        "last of them acknowledged, s before +odown":
            (t_odown - max(in_window)) if in_window else "-",
        "writes on the old master after +promoted-slave (misrouted)": len(misrouted),
        "acknowledged writes lost (all in the window)": len(lost),
    })
    assert not misrouted, f"proxy writes executed by the minority's master: {misrouted[:5]}"
    # the proxy stops writing at the first failover event (+odown), well before the promotion
    assert all(t < t_odown + 0.2 for t in in_window), (t_odown, max(in_window))
    # what was lost is exactly what the old master took alone, before anyone failed over
    assert len(lost) == len(split), (len(lost), len(split))
    assert not [e for e in stats.errors if e[3] != "connection"], stats.errors[:5]


def test_latency_on_master(net, record_figures):
    """200 ms on everything the master sends (tc netem, or the NFQUEUE delayer where netem
    is missing): commands through the proxy are slower but succeed, and the proxy's ROLE
    probes (1 s timeout) and sentinel rounds do not mistake the slow master for a failover."""
    topo, lab, proxy = net.topo, net.lab, net.proxy
    master = topo.current_master()
    c = proxy.client(socket_timeout=10)

    def rtts(n: int) -> list[float]:
        out = []
        for i in range(n):
            t = now()
            assert c.set(f"lat:{i}", "x") is True
            out.append(now() - t)
        return out
    base = rtts(20)
    held0 = net.metric("sentinel_proxy_commands_total", outcome="held")
    failovers0 = net.status()["failovers_seen"]
    lab.delay(master.name, 200)
    try:
        w = Writer(proxy.host, proxy.port, batch=5, interval=0.005).start()
        slow = rtts(20)
        time.sleep(6)  # several sentinel poll rounds and ROLE probes under the delay
        w.wait_acks(50, timeout=20)
        stats = w.stop()
        st = net.status()
        held = net.metric("sentinel_proxy_commands_total", outcome="held") - held0
    finally:
        lab.undelay(master.name)
    fast_again = rtts(20)
    record_figures("latency: 200 ms on the master", {
        "SET round trip before ms": 1000 * sorted(base)[10],
        "SET round trip under the delay ms (median)": 1000 * sorted(slow)[10],
        "SET round trip under the delay ms (max)": 1000 * max(slow),
        "SET round trip after ms": 1000 * sorted(fast_again)[10],
        "writes acknowledged under the delay": stats.acked,
        "client errors": len(stats.errors), "holds": held,
    })
    assert min(slow) >= 0.2, f"the delay did not apply: {min(slow):.3f} s"
    assert max(slow) < 1.0, f"a SET took {max(slow):.3f} s"
    assert not stats.errors, stats.errors[:5]
    assert st["master"] and (st["master"]["host"], st["master"]["port"]) == master.addr
    assert st["failovers_seen"] == failovers0, "the slow master was taken for a failover"
    assert held == 0, f"{held} holds under a 200 ms delay"
    assert topo.current_master() is master
    assert sorted(fast_again)[10] < 0.1


@pytest.fixture
def net_replica_reads(tmp_path):
    yield from net_setup(tmp_path, ["--read-from", "prefer-replica",
                                    "--max-replica-lag-ms", "100"])


# The proxy measures lag against the master's offsets sampled every 100 ms, so what it
# measures is a lower bound, up to 100 ms short (a replica 150 ms behind reads as 100 or
# 200 ms and flaps around a 100 ms bound): 300 ms is clearly past bound + sampling step.
DELAY_MS = int(os.environ.get("SP_REPLICA_DELAY_MS", "300"))


def test_latency_to_replica_takes_it_out_of_rotation(net_replica_reads, record_figures):
    """With replica reads on (max lag 100 ms), DELAY_MS on the replication stream into one
    replica (what it receives from the master; the proxy's reads and INFO reach it at once),
    so its data really is that far behind while writes flow: it leaves rotation as lagging and
    stays out, gets no reads, the other replica serves them, and it comes back once the
    delay is gone. (Delaying all it receives would not do: reads then arrive as late as
    the data, and see everything written before they were sent.)"""
    net = net_replica_reads
    topo, lab, proxy = net.topo, net.lab, net.proxy
    master = topo.current_master()
    slow, other = topo.replicas_of(master)

    def entry(node):
        for r in net.status()["read_replicas"]:
            if r["address"] == f"{node.host}:{node.port}":
                return r
        return None
    wait_until(lambda: entry(slow) and entry(slow)["eligible"] and entry(other)["eligible"],
               20, 0.1, "both replicas in rotation")
    c = proxy.client(socket_timeout=10)
    reader = proxy.client(socket_timeout=10)  # never writes: no read-your-writes fence
    w = Writer(proxy.host, proxy.port, batch=5, interval=0.005).start()
    lab.delay(slow.name, DELAY_MS, inbound=True, peer=master.name)
    try:
        t0 = now()
        out = wait_until(lambda: (e := entry(slow)) and not e["eligible"] and e, 20, 0.05,
                         "the delayed replica to leave rotation")
        t_out = now() - t0
        slow0, other0 = entry(slow)["reads"], entry(other)["reads"]
        samples = []
        for i in range(300):
            c.set(f"rr:{i}", str(i))
            assert c.get(f"rr:{i}") == str(i)  # read-your-writes holds throughout
            reader.get(f"rr:{max(0, i - 50)}")
            if i % 10 == 0:
                samples.append(entry(slow)["eligible"])
        slow_reads = entry(slow)["reads"] - slow0
        other_reads = entry(other)["reads"] - other0
    finally:
        lab.undelay(slow.name)
        stats = w.stop()
    t1 = now()
    wait_until(lambda: entry(slow)["eligible"], 20, 0.05, "the replica to come back")
    record_figures(f"latency: {DELAY_MS} ms into a replica, replica reads on", {
        "left rotation after s": t_out, "skip reason": out["skip_reason"],
        "measured lag ms when out": out["lag_ms"],
        "samples in rotation while delayed": f"{sum(samples)} of {len(samples)}",
        "reads served by the delayed replica meanwhile": slow_reads,
        "reads served by the other replica meanwhile": other_reads,
        "back in rotation after the delay ended s": now() - t1,
        "writer errors": len(stats.errors),
    })
    assert out["skip_reason"] == "lagging", out
    assert not any(samples), f"the lagging replica came back while delayed: {samples}"
    assert slow_reads == 0 and other_reads > 0
    assert not stats.errors, stats.errors[:5]
