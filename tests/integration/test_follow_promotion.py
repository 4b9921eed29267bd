"""failover.follow_promotion (issue 25): the hold ends on the replica the leader sentinel
promotes, tens of milliseconds after the promotion, instead of at the sentinels' switch.

Two proxies follow one topology at once, one with --follow-promotion and one without, each
under its own ~500 writes/s load with a 1 s client timeout: every failover measures both
paths side by side. Checked on every run: no error and no acknowledged write lost with the
option on, and its longest pause; the figures of both are recorded. A failover that aborts
after the selection (the selected replica cannot be promoted) must leave the proxy on the
old master, having written to no other."""

from __future__ import annotations

import re
import signal
import time

import pytest

from harness import HOST, Writer, now, proxy_log_lines, wait_until

RUNS = 3
# ~500 writes/s: pipelines of 5 SETs every 10 ms; a client that waits 1 s at most.
WRITER_KW = dict(batch=5, interval=0.01, socket_timeout=1.0)


def _start_writers(*proxies):
    return [Writer(HOST, p.port, **WRITER_KW).start() for p in proxies]


def _figures(stats, t0, master):
    missing, wrong = stats.verify_on(master.client(socket_timeout=15), stats.acked_seqs())
    return {
        "errors": len(stats.errors),
        "acked lost": len(missing) + len(wrong),
        "longest pause (s)": round(stats.longest_gap(start=t0 - 1.0), 3),
        "writes acked": stats.acked,
    }


def _early_lines(proxy):
    return proxy_log_lines(proxy, "released to it after")


def _proxy_hold_ms(lines):
    """The proxy's own hold figures from its early-release log lines."""
    return [int(m.group(1)) for m in (re.search(r"after (\d+) ms", ln) for ln in lines) if m]


def _failover_runs(topo, on, off, kind, trigger, record_figures):
    """RUNS failovers, each under both proxies' loads; `trigger` starts one and returns
    (old master, time). Returns [(figures on, figures off)] per run."""
    results = []
    for run in range(RUNS):
        topo.wait_stable()
        early_before = len(_early_lines(on))
        writers = _start_writers(on, off)
        try:
            for w in writers:
                w.wait_acks(500, timeout=30)
            old, t0 = trigger()
            new = topo.wait_for_switch(old.addr, timeout=40)
            for w in writers:
                w.wait_acks(1000, timeout=40)
        finally:
            s_on, s_off = (w.stop() for w in writers)
        # Checked on the master at the end: on a loaded machine Sentinel may fail the new
        # one over again within the run (seen once: +odown of the new master).
        final = topo.current_master()
        f_on, f_off = _figures(s_on, t0, final), _figures(s_off, t0, final)
        if final is not new:
            f_on["note"] = f_off["note"] = f"a second failover within the run: {final.name}"
        # The proxy's own account of the hold, to tell its pause from the client's.
        f_on["proxy hold (ms)"] = _proxy_hold_ms(_early_lines(on)[early_before:])
        results.append((f_on, f_off))
        record_figures(f"{kind} failover run {run + 1}: follow_promotion on", f_on)
        record_figures(f"{kind} failover run {run + 1}: follow_promotion off", f_off)
        if kind == "unplanned":
            topo.restart_node(old)
            topo.wait_rejoined(old)
    return results


@pytest.fixture
def pair(make_topology, make_proxy):
    topo = make_topology()
    on = make_proxy(topo, ["--follow-promotion", "--log-level", "debug"])
    off = make_proxy(topo)
    return topo, on, off


def test_planned_failover_follows_the_promotion(pair, record_figures):
    topo, on, off = pair

    def planned():
        old = topo.current_master()
        return old, topo.planned_failover()
    results = _failover_runs(topo, on, off, "planned", planned, record_figures)
    windows = proxy_log_lines(on, "after the proxy followed its promotion")
    record_figures("planned failover: early releases", {
        "count": len(_early_lines(on)),
        "majority confirmations": " | ".join(w[-70:] for w in windows)})
    for f_on, f_off in results:
        assert f_on["errors"] == 0, results
        assert f_on["acked lost"] == 0, results
        assert f_off["acked lost"] == 0, results
        # Every planned failover ended early, and the proxy held for at most 0.35 s (the
        # issue's target); the client's pause adds the machine's scheduling, so it is bound
        # by its 1 s timeout (0 errors above) and by the path without the option.
        assert f_on["proxy hold (ms)"] and max(f_on["proxy hold (ms)"]) <= 350, results
        assert f_on["longest pause (s)"] < min(1.0, f_off["longest pause (s)"]), results
    # The proxy without the option never released early.
    assert not _early_lines(off)


def test_unplanned_failover_follows_the_promotion(pair, record_figures):
    topo, on, off = pair
    results = _failover_runs(topo, on, off, "unplanned", topo.kill_master, record_figures)
    for f_on, f_off in results:
        assert f_on["acked lost"] == 0, results
        assert f_off["acked lost"] == 0, results
        # Measured 1.37-1.44 s on (target 1.5 s) and 2.28-2.35 s off on a shared 2-core
        # machine: bound generously, but the early path must save most of Sentinel's ~0.9 s.
        assert f_on["proxy hold (ms)"], results
        assert f_on["longest pause (s)"] <= 2.0, results
        assert f_on["longest pause (s)"] < f_off["longest pause (s)"] - 0.5, results


def test_failover_aborted_after_selection_writes_to_one_master(make_topology, make_proxy,
                                                                record_figures):
    # The replicas cannot run SLAVEOF (Sentinel's promotion command): the leader selects one,
    # its promotion fails, and the failover aborts when failover-timeout runs out.
    topo = make_topology(replica_extra={"rename-command": "SLAVEOF sentinel-proxy-no-slaveof"})
    proxy = make_proxy(topo, ["--follow-promotion", "--log-level", "debug"])
    old = topo.current_master()
    others = [n for n in topo.nodes if n is not old]
    w = Writer(HOST, proxy.port, batch=5, interval=0.01, socket_timeout=15.0).start()
    try:
        w.wait_acks(300, timeout=30)
        t0 = topo.planned_failover()
        followed = wait_until(lambda: proxy_log_lines(proxy, "following its promotion"), 60, 0.05,
                              "the proxy to follow the selected replica")
        verified_before = len(proxy_log_lines(proxy, "master verified"))
        aborted = wait_until(
            lambda: proxy_log_lines(proxy, "no longer following the promotion"), 90, 0.1,
            "the failover to abort and the proxy to stop following it")
        wait_until(lambda: len(proxy_log_lines(proxy, "master verified")) > verified_before, 30,
                   0.1, "the old master verified again")
        assert f"master verified {old.addr[0]}:{old.addr[1]}" in \
            proxy_log_lines(proxy, "master verified")[-1]
        w.wait_acks(300, timeout=30)
    finally:
        st = w.stop()
    missing, wrong = st.verify_on(old.client(socket_timeout=15), st.acked_seqs())
    written_elsewhere = sum(
        len([k for k in n.client(socket_timeout=5).scan_iter(match=f"{st.prefix}:*", count=1000)])
        for n in others if n.role() == "master")
    record_figures("failover aborted after the selection", {
        "followed": followed[-1][-160:], "fenced": aborted[-1][-160:],
        "errors": len(st.errors), "acked lost": len(missing) + len(wrong),
        "abort after (s)": round(now() - t0, 2),
    })
    assert old.role() == "master"
    assert all(n.role() == "slave" for n in others)
    assert not proxy_log_lines(proxy, "released to it after")
    assert missing == [] and wrong == []
    assert written_elsewhere == 0


def test_leader_killed_after_the_promotion_holds_again(make_topology, make_proxy,
                                                       record_figures):
    """The leader dies between the promotion and +switch-master: the proxy must hold again
    at once (its link to the leader drops) and write to one master only afterwards. The
    writes acknowledged on the promoted replica before that are the measured risk."""
    topo = make_topology()
    proxy = make_proxy(topo, ["--follow-promotion", "--log-level", "debug"])
    old = topo.current_master()
    w = Writer(HOST, proxy.port, batch=5, interval=0.01, socket_timeout=60.0).start()
    try:
        w.wait_acks(300, timeout=30)
        t0 = topo.planned_failover()
        released = wait_until(lambda: _early_lines(proxy), 60, 0.01, "the early release")
        t_release = now()
        leader_port = int(re.search(r"leader sentinel [^:]+:(\d+)",
                                    proxy_log_lines(proxy, "following its promotion")[-1])[1])
        leader = next(s for s in topo.sentinels if s.port == leader_port)
        time.sleep(0.3)  # writes acknowledged by the promoted replica: the risk, measured
        leader.stop(signal.SIGKILL)
        t_kill = now()
        fenced = wait_until(lambda: proxy_log_lines(proxy, "holding commands again"), 5, 0.01,
                            "the proxy to hold again")
        t_fenced = now()
        verified_before = len(proxy_log_lines(proxy, "master verified"))
        # The last moment the log was read without a new verification: a write acknowledged
        # before it was released before the proxy verified a master, i.e. while held. (The
        # moment the test notices the line is too late a bound on a busy machine: writes
        # released by the verification were acknowledged before it.)
        t_unverified = now()

        def verified_again() -> bool:
            nonlocal t_unverified
            t = now()
            if len(proxy_log_lines(proxy, "master verified")) > verified_before:
                return True
            t_unverified = t
            return False

        wait_until(verified_again, 60, 0.1, "a master verified again")
        t_verified = now()
        w.wait_acks(200, timeout=30)
    finally:
        st = w.stop()
    final = topo.node_at(topo.agreed_master())
    acked_window = list(st.acked_seqs(after=t_release, before=t_kill))
    lost_window, _ = st.verify_on(final.client(socket_timeout=15), acked_window)
    lost_before, _ = st.verify_on(final.client(socket_timeout=15), st.acked_seqs(before=t0))
    # The writer has one pipeline in flight at a time: the batch in flight when the proxy
    # held again may still be answered after the test saw the fence; any later one was sent
    # while held.
    after_fence = [b for b in st.batches if t_fenced < b[0] <= t_unverified]
    held_acks = [seq for _, first, n in after_fence[1:] for seq in range(first, first + n)]
    lost_after, _ = st.verify_on(final.client(socket_timeout=15),
                                 st.acked_seqs(after=t_verified))
    record_figures("leader killed after the promotion", {
        "released after trigger (s)": round(t_release - t0, 3),
        "fenced after the kill (s)": round(t_fenced - t_kill, 3),
        "verified again after the kill (s)": round(t_verified - t_kill, 2),
        "final master": "old" if final is old else final.name,
        "acked in the early window": len(acked_window),
        "of those lost": len(lost_window),
        "errors": len(st.errors),
        "released": released[-1][-90:], "fenced": fenced[-1][-90:],
    })
    assert t_fenced - t_kill < 2.0
    assert acked_window  # the early release did carry writes before the fence
    assert held_acks == []  # nothing acknowledged while held again
    assert lost_before == [] and lost_after == []
