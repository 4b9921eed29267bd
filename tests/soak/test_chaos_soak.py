"""Chaos soak (issue 15 part 4): writers on shared links, transactions and read-your-writes
readers run through the proxy while a seeded random mix of faults hits the topology:
planned failovers, kill -9 of the master (restarted later), a frozen sentinel, CLIENT KILL
of every client connection on the master (shared links included), and, as root with network
namespaces (tests/integration/netns.py), network partitions: the master cut from every
sentinel (a split brain: it stays a writable master), the proxy cut from one of the three
sentinels, 200 ms of latency on the master. Without namespaces the soak says so loudly and runs the other faults. Bounded by
SP_SOAK_SECONDS (default 120 in CI; run longer by hand, e.g. SP_SOAK_SECONDS=1800).

It checks what the proxy promises: clients see only connection errors (never READONLY or
a made-up error); every write acknowledged outside the instant of a kill is on the final
master; no read through the proxy returns a value older than the client's own last write;
every transaction acknowledged counts exactly once; the proxy's memory stays bounded; and
every worker is writing again at the end."""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import harness  # noqa: E402
import netns  # noqa: E402
from harness import Proxy, Topology, Writer, now, rss_mib, wait_until  # noqa: E402

SOAK_SECONDS = float(os.environ.get("SP_SOAK_SECONDS", "120"))
SEED = int(os.environ.get("SP_SOAK_SEED", str(random.randrange(1 << 30))))


class Worker(threading.Thread):
    """A loop of one kind of check through the proxy; errors recorded, never raised."""

    def __init__(self, host: str, port: int, kind: str, deadline: float):
        super().__init__(daemon=True)
        self.host, self.port, self.kind, self.deadline = host, port, kind, deadline
        self.stop_ev = threading.Event()
        self.errors: list[tuple[float, str, str]] = []
        self.stale: list[str] = []
        self.ok = 0
        self.last_ok = 0.0
        self.tx_acked = 0
        self.key = f"soak:{kind}:{uuid.uuid4().hex[:8]}"

    def run(self):
        r = redis.Redis(host=self.host, port=self.port, socket_timeout=15, socket_connect_timeout=5,
                        decode_responses=True)
        i = 0
        while not self.stop_ev.is_set() and now() < self.deadline:
            i += 1
            try:
                if self.kind == "ryw":
                    v = f"{i}"
                    r.set(self.key, v)
                    got = r.get(self.key)
                    if got != v:
                        self.stale.append(f"wrote {v}, read {got}")
                elif self.kind == "tx":
                    with r.pipeline(transaction=True) as p:
                        p.incr(self.key)
                        p.get(self.key)
                        p.execute()
                    self.tx_acked += 1
                self.ok += 1
                self.last_ok = now()
            except Exception as exc:  # noqa: BLE001
                self.errors.append((now(), type(exc).__name__, str(exc)[:120]))
                self.stop_ev.wait(0.05)
            self.stop_ev.wait(0.005)
        r.close()


def test_chaos_soak():
    rng = random.Random(SEED)
    print(f"soak seed {SEED}, {SOAK_SECONDS:.0f} s", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="sp-soak-"))
    log_args = ["--log-level", os.environ.get("SP_SOAK_LOG", "info")]
    no_netns = ("SP_SOAK_NO_NETNS is set" if os.environ.get("SP_SOAK_NO_NETNS")
                else netns.why_unavailable())
    net = None
    if no_netns:
        print("\n" + "!" * 78 + f"\n!! NETWORK FAULTS NOT RUN: {no_netns}.\n!! This soak covers "
              "kills, freezes and failovers only; run it as root with network\n!! namespaces "
              "for partitions.\n" + "!" * 78, file=sys.stderr)
        # stderr is captured when the test passes: a warning reaches pytest's summary (ctest)
        warnings.warn(f"NETWORK FAULTS NOT RUN in the chaos soak: {no_netns}")
        topo = Topology(root)
        topo.start()
        proxy = Proxy(root, topo.sentinel_ports, log_args)
    else:
        net = netns.NetSetup(root, log_args)  # starts the topology and the proxy
        topo, proxy = net.topo, net.proxy
    writers, workers, faults = [], [], []
    frozen: list = []
    split_keys: list[str] = []  # proxy writes executed by a cut-off old master only
    window = {"proxy": 0, "direct": 0, "direct_lost": 0}  # see partition_master()
    try:
        if not net:
            proxy.start()
        proxy.wait_writable(30)
        t_end = now() + SOAK_SECONDS
        writers = [Writer(proxy.host, proxy.port, batch=10, interval=0.005,
                          max_seconds=SOAK_SECONDS + 120).start() for _ in range(4)]
        workers = [Worker(proxy.host, proxy.port, k, t_end + 120)
                   for k in ("ryw", "ryw", "tx", "tx")]
        for w in workers:
            w.start()
        peak_rss = 0.0
        killed: list[harness.RedisNode] = []
        # Faults stop 20 s before the end: a planned failover's old master is converted to a
        # replica only ~10 s after the switch, and the final checks need the settled topology.
        while True:
            harness.time.sleep(rng.uniform(6, 12))
            if now() > t_end - 20:
                break
            peak_rss = max(peak_rss, rss_mib(proxy.process.pid))
            for node in killed:  # bring killed masters back as replicas
                if not node.alive():
                    node.restart()
            killed = [n for n in killed if not n.alive()]
            kinds = ["planned", "kill", "sentinel_freeze", "client_kill", "replica_kill",
                     "sentinel_kill"]
            if net:
                kinds += ["partition_master", "partition_proxy", "latency"]
            fault = rng.choice(kinds)
            t = now()
            try:
                if fault == "planned":
                    topo.wait_stable(40)
                    topo.planned_failover()
                elif fault == "kill":
                    topo.wait_stable(40)
                    node, t = topo.kill_master()
                    killed.append(node)
                elif fault == "sentinel_freeze":
                    s = rng.choice(topo.live_sentinels())
                    os.kill(s.process.pid, signal.SIGSTOP)
                    frozen.append(s)
                    harness.time.sleep(4)
                    os.kill(s.process.pid, signal.SIGCONT)
                    frozen.remove(s)
                elif fault == "replica_kill":  # kill -9 of a replica, restarted 4 s later
                    topo.wait_stable(40)
                    r = rng.choice(topo.replicas_of(topo.current_master()))
                    r.stop(signal.SIGKILL)
                    harness.time.sleep(4)
                    r.restart()
                elif fault == "sentinel_kill":  # kill -9 of a sentinel, restarted 4 s later
                    s = rng.choice(topo.live_sentinels())
                    s.stop(signal.SIGKILL)
                    harness.time.sleep(4)
                    s.start()
                elif fault == "partition_master":
                    topo.wait_stable(40)
                    split_keys += partition_master(net, writers, window)
                elif fault == "partition_proxy":
                    s = rng.choice(topo.sentinels)
                    net.lab.partition("proxy", s.name)
                    harness.time.sleep(5)
                    net.lab.heal("proxy", s.name)
                elif fault == "latency":  # 200 ms on all the master sends, for 4 s
                    m = topo.current_master()
                    net.lab.delay(m.name, 200)
                    try:
                        harness.time.sleep(4)
                    finally:
                        net.lab.undelay(m.name)
                else:
                    topo.current_master().client().execute_command("CLIENT", "KILL", "TYPE",
                                                                   "normal")
            except Exception as exc:  # noqa: BLE001 - a fault that could not be applied
                fault += f" (not applied: {type(exc).__name__}: {str(exc)[:80]})"
            faults.append((t, fault))
            print(f"  t={t - (t_end - SOAK_SECONDS):6.1f}s {fault}", file=sys.stderr)
        for node in killed:
            if not node.alive():
                node.restart()
        topo.wait_stable(60)
        # every worker writes again once the faults stop
        mark = now()
        for w in writers:
            w.wait_acks(50, timeout=30)
        wait_until(lambda: all(w.last_ok > mark for w in workers), 30, 0.1,
                   "every worker to succeed again")
    finally:
        stats = [w.stop() for w in writers]
        for w in workers:
            w.stop_ev.set()
        for w in workers:
            w.join(20)
        for s in frozen:
            os.kill(s.process.pid, signal.SIGCONT)
        proxy_log = "\n".join(l for l in proxy.log_text().splitlines() if "sentinel event" not in l and "debug" not in l)[-6000:]
        if net:
            net.lab.heal_all()
        proxy.stop()
        rc = proxy.process.proc.returncode if proxy.process else None
    try:
        kills = [t for t, f in faults if f == "kill"]
        # the final master, once the sentinels agree and every other node replicates it
        master = topo.wait_stable(60)
        harness.time.sleep(1.0)
        assert topo.wait_stable(60) is master, "the topology was still moving"
        c = master.client(socket_timeout=15)
        lost_outside_kills = []
        times_all: dict = {}
        acked = 0
        for st in stats:
            seqs = list(st.acked_seqs())
            acked += len(seqs)
            missing, wrong = st.verify_on(c, seqs)
            assert not wrong, f"wrong values: {[st.key(s) for s in wrong[:5]]}"
            times = {}
            for t_ack, first, n in st.batches:
                for s in range(first, first + n):
                    times[s] = t_ack
            # a write acknowledged just before a kill may be lost to async replication
            times_all.update(times)
            lost_outside_kills += [s for s in missing
                                   if not any(k - 1.0 <= times[s] <= k + 0.5 for k in kills)]
        errors = [e for st in stats for e in st.errors] + [e for w in workers for e in w.errors]
        response_errors = [e for st in stats for e in st.errors if e[3] != "connection"]
        response_errors += [e for w in workers for e in w.errors
                            if e[1] not in ("ConnectionError", "TimeoutError")]
        stale = [s for w in workers for s in w.stale]
        # transactions: the counter equals the acknowledged EXECs, or exceeds them by those
        # whose EXEC ran but whose reply was lost with the connection (unknown outcome)
        tx_problems = []
        for w in workers:
            if w.kind != "tx":
                continue
            value = int(c.get(w.key) or 0)
            unknown = len(w.errors)
            # never run twice (an EXEC is never re-sent); never lost unless a kill -9 lost
            # it to asynchronous replication
            if value > w.tx_acked + unknown or (not kills and value < w.tx_acked):
                tx_problems.append((w.key, value, w.tx_acked, unknown))
        print(harness.format_figures("chaos soak", {
            "seed": SEED, "seconds": SOAK_SECONDS, "faults": len(faults),
            "fault kinds": ", ".join(sorted({f.split(' ')[0] for _, f in faults})),
            "network faults": "yes" if net else f"NOT RUN ({no_netns})",
            "partitions": sum(1 for _, f in faults if f.startswith("partition")),
            "proxy writes on a cut-off old master (misrouted)": len(split_keys),
            "proxy writes a cut-off master took before it was abandoned (kept)":
                window["proxy"],
            "direct writes to it in that time, without the proxy": window["direct"],
            "direct writes it took alone, lost at the heal (Sentinel's window)":
                window["direct_lost"],
            "acknowledged writes": acked, "client errors (all connection errors)": len(errors),
            "lost outside a kill": len(lost_outside_kills), "stale reads": len(stale),
            "proxy peak RSS MiB": round(peak_rss, 1)}), file=sys.stderr)
        assert rc == 0, f"proxy exit status {rc}\n{proxy_log}"
        assert not response_errors, f"clients saw error replies: {response_errors[:5]}"
        assert not stale, f"stale reads: {stale[:5]}"
        t0 = faults[0][0] if faults else 0
        lost_times = sorted(times_all[s] - t0 for s in lost_outside_kills)
        assert not lost_outside_kills, (
            f"{len(lost_outside_kills)} acknowledged writes lost, acknowledged between "
            f"{lost_times[0]:.2f} and {lost_times[-1]:.2f} s after the first fault; faults at "
            f"{[(round(t - t0, 2), f) for t, f in faults]}\n{proxy_log}")
        assert not tx_problems, f"transactions counted wrongly: {tx_problems}"
        assert not split_keys, f"proxy writes executed by a cut-off old master: {split_keys[:5]}"
        # ASan's shadow memory and quarantine make RSS meaningless in a sanitized build
        if os.environ.get("SP_SANITIZED") != "1":
            assert peak_rss < 200, f"proxy RSS reached {peak_rss:.0f} MiB"
    finally:
        if net:
            net.stop()
        else:
            topo.stop()


def keys_only_on(a, b, prefix: str) -> set[str]:
    return set(a.scan_iter(match=f"{prefix}:*", count=1000)) - set(
        b.scan_iter(match=f"{prefix}:*", count=1000))


def partition_master(net, writers: list[Writer], window: dict) -> list[str]:
    """Cuts the master from every sentinel (its replicas and the proxy still reach it) until
    the sentinels have promoted a replica and the proxy follows, then reads both sides of
    the split before healing. Returns the proxy writers' keys on the old master and not on
    the new one (executed there after the promotion: misrouted). Adds to `window` the proxy
    writes acknowledged between the cut and the proxy's switch (taken by the partitioned
    master before it was abandoned) and, for comparison, what a client writing straight to
    the old master got acknowledged in the same time and 1 s more, and lost."""
    topo, lab = net.topo, net.lab
    old = topo.current_master()
    names = [s.name for s in topo.sentinels]
    direct = Writer(old.host, old.port, batch=10, interval=0.005, socket_timeout=5).start()
    direct.wait_acks(10, timeout=10)
    t_cut = now()
    lab.partition_groups([old.name], names)
    try:
        new = topo.wait_for_switch(old.addr, timeout=40)
        wait_until(lambda: net.proxy_master() == new.addr, 20, 0.05, "the proxy to switch")
        t_switch = now()
        harness.time.sleep(1.0)  # the old master keeps taking writes from whoever reaches it
        dstats = direct.stop()
        oc, nc = old.client(socket_timeout=10), new.client(socket_timeout=10)
        split = []
        for w in writers:
            split += sorted(keys_only_on(oc, nc, w.prefix))
            window["proxy"] += sum(n for t, _, n in list(w.stats.batches)
                                   if t_cut <= t <= t_switch)
        window["direct"] += sum(n for t, _, n in dstats.batches if t >= t_cut)
        window["direct_lost"] += len(keys_only_on(oc, nc, dstats.prefix))
        return split
    finally:
        direct.stop()
        for n in names:
            lab.heal(old.name, n)
