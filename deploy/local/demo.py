"""The local failover demo: a Sentinel topology on loopback, the proxy in front of it, a client
writing through the proxy's one host:port, a planned failover (SENTINEL FAILOVER) and then an
unplanned one (kill -9 of the new master), and a short timeline showing what the client saw.

Run by deploy/local/demo (which installs and builds first). Everything it starts is stopped on
exit, on Ctrl-C and on SIGTERM; it gives up after about 85 s.

    /usr/bin/python3 deploy/local/demo.py [--proxy-bin PATH] [--keep-dir]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import (HOST, LogWatcher, Proxy, SentinelEvents, Topology, Writer, now,  # noqa: E402
                     stop_all_processes)

TIME_LIMIT_S = 85


class Interrupted(BaseException):  # not Exception: bounded waits swallow those
    pass


def _on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def say(t0: float, text: str):
    print(f"  t={now() - t0:6.2f}s  {text}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy-bin", default=os.environ.get("SP_PROXY_BIN",
                                                           str(ROOT / "build" / "sentinel-proxy")))
    ap.add_argument("--keep-dir", action="store_true", help="keep logs and data dirs")
    args = ap.parse_args()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, _on_signal)
    signal.alarm(TIME_LIMIT_S)

    workdir = Path(tempfile.mkdtemp(prefix="sentinel-proxy-demo-"))
    topo = proxy = writer = events = log = None
    ok = True
    try:
        print(f"sentinel-proxy demo (logs and data in {workdir})", flush=True)
        print("starting 1 master + 2 replicas + 3 sentinels on 127.0.0.1 ...", flush=True)
        topo = Topology(workdir).start(timeout=40)
        proxy = Proxy(workdir, topo.sentinel_ports, binary=args.proxy_bin)
        proxy.start(timeout=15)
        log = LogWatcher(proxy.log_path).start()
        proxy.wait_writable(timeout=20)
        events = SentinelEvents(topo.live_sentinels(), max_seconds=TIME_LIMIT_S).start()
        first = topo.current_master()
        print(f"proxy listening on {HOST}:{proxy.port}; master is {first.name} "
              f"(port {first.port})", flush=True)

        writer = Writer(HOST, proxy.port, max_seconds=TIME_LIMIT_S).start()
        t0 = writer.stats.started_at
        print("timeline (client writing pipelines of 10 SETs through the proxy):", flush=True)
        say(t0, "client started writing")
        writer.wait_acks(500, timeout=15)
        time.sleep(1.5)

        # --- planned failover
        t_planned = topo.planned_failover(timeout=20)
        say(t0, "planned failover triggered (SENTINEL FAILOVER mymaster)")
        second = topo.wait_for_switch(first.addr, timeout=20)
        say(t0, f"sentinels agree: new master is {second.name} (port {second.port})")
        writer.wait_acks(500, timeout=20)
        time.sleep(1.5)
        # every write acknowledged so far must be on the new master
        st = writer.stats
        acked_planned = list(st.acked_seqs())
        missing, wrong = st.verify_on(second.client(socket_timeout=10), acked_planned)
        planned_errors = len(st.errors)
        topo.wait_sentinels_ready(second.addr, replicas=1, timeout=25)

        # --- unplanned failover
        killed, t_kill = topo.kill_master()
        say(t0, f"kill -9 of the master {killed.name} (unplanned failover)")
        third = topo.wait_for_switch(killed.addr, timeout=25)
        say(t0, f"sentinels agree: new master is {third.name} (port {third.port})")
        writer.wait_acks(500, timeout=20)
        time.sleep(1.5)
        stats = writer.stop()
        writer = None
        events.stop()
        log.stop()

        # --- the timeline
        print("", flush=True)
        print("what happened:", flush=True)
        switch_times = [t for t, _, ch, _ in events.events if ch == "+switch-master"]
        for label, t_start in (("planned", t_planned), ("unplanned", t_kill)):
            t_sw = min((t for t in switch_times if t > t_start), default=None)
            verified = log.matching("master verified", after=t_start)
            end = t_kill if label == "planned" else stats.stopped_at
            gap = stats.longest_gap(start=max(t_start - 1.0, t0), end=end)
            print(f"  {label} failover triggered at t={t_start - t0:.2f}s", flush=True)
            if t_sw:
                print(f"    Sentinel +switch-master at t={t_sw - t0:.2f}s", flush=True)
            if verified:
                tv, line = verified[0]
                detail = line[line.find("master verified"):].strip().split(";")[0]
                print(f"    proxy: master verified at t={tv - t0:.2f}s  ({detail})", flush=True)
            else:
                print("    proxy: no 'master verified' line in its log", flush=True)
            first_ack = stats.first_ack_after(t_sw) if t_sw else None
            if first_ack:
                print(f"    first write acknowledged after +switch-master: "
                      f"t={first_ack - t0:.2f}s", flush=True)
            print(f"    longest gap between acknowledged writes: {gap * 1000:.0f} ms", flush=True)
        errors_by_type = stats.error_types()
        unplanned_kinds = {e[3] for e in stats.errors[planned_errors:]}
        print(f"  writes acknowledged: {stats.acked}", flush=True)
        print(f"  errors during the planned failover: {planned_errors}; acknowledged writes "
              f"missing on the new master: {len(missing) + len(wrong)}", flush=True)
        print(f"  errors during the unplanned failover: {len(stats.errors) - planned_errors}"
              f"{' ' + str(errors_by_type) if errors_by_type else ''}"
              f" (connection errors are expected there: writes in flight to the killed master)",
              flush=True)
        ok = planned_errors == 0 and not missing and not wrong and unplanned_kinds <= {"connection"}
        print("result: " + ("the client kept working" if ok else
                            "NOT as specified (see above; proxy log: " + str(proxy.log_path) + ")"),
              flush=True)
        return 0 if ok else 1
    except Interrupted as exc:
        ok = False
        reason = "time limit reached" if str(exc) == "SIGALRM" else f"interrupted ({exc})"
        print(f"\ndemo stopped: {reason}; cleaning up", file=sys.stderr, flush=True)
        if proxy is not None:
            print(f"proxy log tail:\n{proxy.log_tail(20)}", file=sys.stderr)
        return 130 if str(exc) != "SIGALRM" else 1
    except Exception as exc:  # noqa: BLE001 - report, then clean up
        ok = False
        print(f"\ndemo failed: {exc}", file=sys.stderr, flush=True)
        if proxy is not None:
            print(f"proxy log tail:\n{proxy.log_tail(30)}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # finish cleaning up even on a second Ctrl-C
        for x in (writer, events, log):
            try:
                if x is not None:
                    x.stop()
            except Exception:  # noqa: BLE001
                pass
        if proxy is not None:
            proxy.stop()
        if topo is not None:
            topo.stop()
        stop_all_processes()
        if args.keep_dir or not ok:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
