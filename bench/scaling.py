#!/usr/bin/env python3
"""Worker scaling (issue 24): what 1 and N data-plane workers of sentinel-proxy sustain when the
proxy alone is the bottleneck, in requests/s and in requests per CPU-second of each worker.

The workload never reaches Redis: `SELECT 0` on a client in the default connection state is
answered by the proxy itself (proxy/session/local_answers.h), so Redis is idle and the only
processes that work are the proxy and the load generator. Each run checks that: Redis's
`INFO commandstats` calls of SELECT and the proxy's sentinel_proxy_backend_commands_total must
not grow by more than the load generator's own start-up commands.

Two load generators (shapes):
  blast  this file run with --blast: C connections per process, each keeping a window of W
         pipelined `SELECT 0` in flight (one send of the whole window, then counts the 5-byte
         `+OK` replies), so the generator spends a few ns per request and the proxy, which
         parses and answers every command, is the bottleneck;
  rb     redis-benchmark -c C -P 16 SELECT 0: a real client's pipelining, but redis-benchmark
         spends about as much CPU per request as the proxy, so on few cores it limits itself.

Per run: requests/s, the proxy's CPU seconds per thread (utime+stime from
/proc/PID/task/TID/stat; the control loop is the main thread, the workers are the threads
named sp-worker-<id>), requests per CPU-second of the workers, the generators' CPU
seconds (os.wait4), and the clients each worker held (/status). Proxies with 1..N workers run
side by side and are measured alternately, round by round; each run pins the proxy and the
generators with `taskset` (layout `pinned`: proxy on --proxy-cpus, generators on --gen-cpus)
or lets them share every CPU (layout `shared`).

    /usr/bin/python3 bench/scaling.py --proxy-bin build-bench/sentinel-proxy [--quick]
        [--threads 1,2] [--shapes blast,rb] [--layouts pinned,shared] [--rounds 3]
        [--proxy-cpus 1] [--gen-cpus 0] [--generators 1]

Writes bench/results/<date>-<host>-scaling.{md,json}. bench/run runs it after bench.py
(`--skip scaling` leaves it out, `--only scaling` runs it alone).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import platform
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
SELECT0 = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
OK = b"+OK\r\n"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# The blast generator (runs in its own process: python3 scaling.py --blast HOST:PORT ...)

def blast(host: str, port: int, connections: int, seconds: float, window: int) -> dict:
    """Sends SELECT 0 over `connections` sockets for `seconds`, each with at most `window`
    commands in flight, then waits for the replies still due and counts them all. Every
    connection goes as fast as its worker answers it (none waits for another), so workers
    holding unequal numbers of connections are all kept busy until the end."""
    chunk = SELECT0 * window
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(connections):
        s = socket.create_connection((host, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    # per connection: [still sending, commands in flight, bytes of reply not yet
    # counted as a whole reply, pending bytes to send (memoryview)]
    state = {s.fileno(): [True, 0, 0, memoryview(b"")] for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    errors = 0
    done = 0
    t0 = time.monotonic()
    stop_at = t0 + seconds

    def fill(fd):
        st = state[fd]
        if st[0] and time.monotonic() >= stop_at:
            st[0] = False
        if not st[3] and st[0] and st[1] <= window // 2:
            n = window - st[1]
            st[3] = memoryview(chunk)[:n * len(SELECT0)]
            st[1] += n

    for fd in state:
        fill(fd)
        sel.register(by_fd[fd], selectors.EVENT_READ | selectors.EVENT_WRITE)
    open_conns = connections
    deadline = stop_at + 60
    while open_conns and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=5):
            s = key.fileobj
            fd = key.fd
            st = state[fd]
            if ev & selectors.EVENT_WRITE and st[3]:
                try:
                    sent = s.send(st[3])
                    st[3] = st[3][sent:]
                except BlockingIOError:
                    pass
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 18)
                except BlockingIOError:
                    data = None
                if data is not None:
                    if not data:
                        raise ConnectionError("the proxy closed a connection")
                    errors += data.count(b"-")  # an error reply starts with '-'; +OK has none
                    st[2] += len(data)
                    replies = st[2] // len(OK)
                    st[2] -= replies * len(OK)
                    st[1] -= replies
                    done += replies
            fill(fd)
            if not st[0] and not st[1] and not st[3]:
                sel.unregister(s)
                open_conns -= 1
            else:
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if st[3] else 0)
                if key.events != want:
                    sel.modify(s, want)
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    return {"requests": done, "seconds": elapsed, "errors": errors}


# ---------------------------------------------------------------------------------------------
# /proc readings

def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """{tid: (comm, utime+stime seconds)} of every thread of pid."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return out


def machine_busy() -> float:
    """CPU seconds every CPU of the machine spent busy (all but idle and iowait), including
    steal (a VM's host lending the core elsewhere), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / _CLK_TCK  # user nice system idle iowait irq softirq steal


def parse_cpus(spec: str) -> list[int]:
    cpus = []
    for part in filter(None, spec.split(",")):
        a, _, b = part.partition("-")
        cpus += list(range(int(a), int(b or a) + 1))
    return cpus


# ---------------------------------------------------------------------------------------------
# The proxy's admin endpoint and Redis

def http_get(port: int, path: str) -> str:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def metric_sum(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)", line)
        if m and label in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def redis_select_calls(port: int) -> int:
    import redis
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        return int(r.info("commandstats").get("cmdstat_select", {}).get("calls", 0))
    finally:
        r.close()


# ---------------------------------------------------------------------------------------------
# One measured run

class Generator:
    """One load generator process, its output in a temp file; CPU from os.wait4."""

    def __init__(self, argv: list[str], cpus: str | None):
        self.argv = (["taskset", "-c", cpus] if cpus else []) + argv
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def wait(self, timeout: float) -> tuple[int, float, str]:
        """(exit code, CPU seconds, output). Kills it after timeout."""
        end = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > end:
                self.proc.kill()
                pid, status, ru = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.out.seek(0)
        return self.proc.returncode, ru.ru_utime + ru.ru_stime, self.out.read().decode(
            errors="replace")


def run_once(cfg: dict, proxy: dict, shape: dict, layout: str, master_port: int,
             all_cpus: str) -> dict:
    pid = proxy["pid"]
    proxy_cpus = cfg["proxy_cpus"] if layout == "pinned" else all_cpus
    gen_cpus = cfg["gen_cpus"] if layout == "pinned" else None
    subprocess.run(["taskset", "-a", "-p", "-c", proxy_cpus, str(pid)], check=True,
                   capture_output=True)
    n_gen = cfg["generators"]
    if shape["name"] == "blast":
        argv = [sys.executable, str(Path(__file__).resolve()), "--blast",
                f"127.0.0.1:{proxy['port']}", "--connections", str(shape["clients"]),
                "--seconds", str(shape["seconds"]), "--window", str(shape["pipeline"])]
    else:
        per_gen = shape["requests"] // n_gen
        argv = [REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(proxy["port"]), "-c",
                str(shape["clients"]), "-P", str(shape["pipeline"]), "-n", str(per_gen),
                "--csv", "SELECT", "0"]
    metrics0 = http_get(proxy["admin"], "/metrics")
    sel0 = redis_select_calls(master_port)
    cpu0 = thread_cpu(pid)
    busy0 = machine_busy()
    t0 = time.monotonic()
    gens = [Generator(argv, gen_cpus) for _ in range(n_gen)]
    # The clients each worker held: /status read every 0.2 s while the generators run; the
    # reading with the most clients is kept (the generators connect first, then send).
    clients_seen: list = []
    finished = threading.Event()

    def sample():
        while not finished.wait(0.2):
            try:
                st = json.loads(http_get(proxy["admin"], "/status"))
                seen = [w.get("clients") or 0 for w in st.get("workers", [])]
                if not clients_seen or sum(seen) > sum(clients_seen):
                    clients_seen[:] = seen
            except Exception:  # noqa: BLE001 - the figure is optional
                pass
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = [g.wait(timeout=300) for g in gens]
    wall = time.monotonic() - t0
    cpu1 = thread_cpu(pid)
    busy1 = machine_busy()
    finished.set()
    sampler.join(timeout=10)
    metrics1 = http_get(proxy["admin"], "/metrics")
    sel1 = redis_select_calls(master_port)

    rec = {"threads": proxy["threads"], "label": proxy["label"], "shape": shape["name"],
           "layout": layout,
           "proxy_cpus": proxy_cpus, "gen_cpus": gen_cpus or all_cpus, "generators": n_gen}
    requests, seconds, errors = 0, 0.0, 0
    for code, _cpu, out in results:
        if code != 0:
            raise RuntimeError(f"generator exited {code}: {out[-400:]}")
        if shape["name"] == "blast":
            r = json.loads(out.strip().splitlines()[-1])
            requests += r["requests"]
            seconds = max(seconds, r["seconds"])
            errors += r["errors"]
        else:
            row = next(csv.DictReader(io.StringIO(out[out.index('"test"'):])))
            requests += per_gen
            seconds = max(seconds, per_gen / float(row["rps"]))
    if errors or not requests:
        raise RuntimeError(f"{errors} error replies, {requests} answered")
    threads = []
    for tid, (comm, c1) in sorted(cpu1.items()):
        c0 = cpu0.get(tid, (comm, 0.0))[1]
        threads.append({"tid": tid, "comm": comm, "main": tid == pid, "cpu_s": c1 - c0})
    proxy_cpu = sum(t["cpu_s"] for t in threads)
    # Workers: the threads named sp-worker-<id> (proxy/worker/worker.cpp). The main thread
    # runs the control loop; in a build before the workers it runs the data plane too, and
    # is then the one worker. Other threads are libuv's threadpool (DNS), idle here.
    workers = sorted((t for t in threads if t["comm"].startswith("sp-worker-")),
                     key=lambda t: int(t["comm"].rsplit("-", 1)[1]))
    workers = workers or [t for t in threads if t["main"]]
    for t in threads:
        t["role"] = (t["comm"] if t in workers and not t["main"] else "worker (main thread)"
                     if t in workers else "control" if t["main"] else "other")
    worker_cpu = sum(t["cpu_s"] for t in workers)
    rec.update({
        "requests": requests, "seconds": seconds, "wall_s": wall, "rps": requests / seconds,
        "proxy_cpu_s": proxy_cpu, "worker_cpu_s": [t["cpu_s"] for t in workers],
        "control_cpu_s": next((t["cpu_s"] for t in threads if t["main"] and t not in workers),
                              0.0),
        "threads_seen": threads,
        "proxy_cpu_per_M": proxy_cpu / requests * 1e6,
        "req_per_proxy_cpu_s": requests / proxy_cpu if proxy_cpu else None,
        "req_per_worker_cpu_s": requests / worker_cpu if worker_cpu else None,
        # of one core, over the generator's own elapsed time
        "proxy_util": proxy_cpu / seconds,
        "worker_util": [t["cpu_s"] / seconds for t in workers],
        "gen_cpu_s": sum(c for _, c, _ in results),
        "gen_util": sum(c for _, c, _ in results) / seconds,
        "gen_cpu_per_M": sum(c for _, c, _ in results) / requests * 1e6,
        # what else ran meanwhile (other jobs, Redis, the kernel's softirq work not charged to
        # a thread), in cores: the machine's busy CPU-s less the proxy's and the generators'
        "others_util": max(0.0, (busy1 - busy0) - proxy_cpu
                           - sum(c for _, c, _ in results)) / wall,
        "worker_clients": clients_seen or None,
        "backend_commands": metric_sum(metrics1, "sentinel_proxy_backend_commands_total")
        - metric_sum(metrics0, "sentinel_proxy_backend_commands_total"),
        "forwarded": metric_sum(metrics1, "sentinel_proxy_commands_total", 'forwarded')
        - metric_sum(metrics0, "sentinel_proxy_commands_total", 'forwarded'),
        "redis_select_calls": sel1 - sel0,
    })
    # redis-benchmark sends CONFIG GET save / appendonly first: a few forwarded commands
    # per generator; anything near the request count means the workload reached Redis.
    if rec["backend_commands"] > 10 * n_gen or rec["redis_select_calls"] > 0:
        raise RuntimeError(f"the workload reached Redis: {rec['backend_commands']} backend "
                           f"commands, {rec['redis_select_calls']} SELECT calls on the master")
    return rec


# ---------------------------------------------------------------------------------------------

def supports_threads(binary: str) -> bool:
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return "--threads" in out.stdout + out.stderr


def machine_info(binary: str) -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": socket.gethostname(), "nproc": os.cpu_count(),
            "cpus_allowed": len(os.sched_getaffinity(0)), "cpu": cpu,
            "kernel": platform.release(), "proxy_bin": binary, "tree_rev": rev}


def median_of(recs: list[dict], key: str):
    vals = [r[key] for r in recs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def write_report(out: Path, stem: str, info: dict, params: dict, runs: list[dict],
                 notes: list[str], load: tuple[float, float]) -> Path:
    L = ["# sentinel-proxy worker scaling (issue 24)", "",
         f"{info['date']} on `{info['host']}`: {info['nproc']} CPUs ({info['cpu']}), "
         f"kernel {info['kernel']}, tree {info['tree_rev']}, binary `{info['proxy_bin']}`. "
         f"Load average {load[0]:.2f} at the start, {load[1]:.2f} at the end.", "",
         "Workload: `SELECT 0`, answered by the proxy itself (never reaches Redis: checked per "
         "run with the master's `INFO commandstats` and the proxy's "
         "`sentinel_proxy_backend_commands_total`). Shapes: "
         + "; ".join(f"`{s['name']}` {s['desc']}" for s in params["shapes"]) + ". "
         f"Layouts: `pinned` = proxy on CPU(s) {params['proxy_cpus']}, generator(s) on "
         f"{params['gen_cpus']} (taskset); `shared` = everything on every CPU. "
         f"{params['generators']} generator process(es); median of {params['rounds']} rounds, "
         "proxies with different worker counts alternated round by round"
         + (f"; `1 @REV`: the binary `{params['baseline_bin']}` (one loop, before the "
            "workers), alternated with them" if params.get("baseline_bin") else "") + ".", "",
         "Columns: req/s = requests / the generator's elapsed time; proxy CPU = utime+stime of "
         "all the proxy's threads during the run, per million requests; req per worker "
         "CPU-s = requests / CPU seconds of the worker threads (each worker's own "
         "requests/CPU-s when the clients are spread evenly: see the clients column); "
         "util = CPU seconds / elapsed seconds (1.00 = one core busy all the time); others "
         "util = what the rest of the machine used meanwhile (/proc/stat busy time, steal "
         "included, less the proxy and the generators), in cores.", "",
         f"| shape | layout | workers | req/s | x {params['x_base']} worker(s) | "
         "proxy CPU s per M req | "
         "req per worker CPU-s | worker util | control thread CPU s | generator util | "
         "generator CPU s per M req | others util | clients per worker | rounds |",
         "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|"]
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["shape"], r["layout"], r["label"]), []).append(r)
    summary = []
    for (shape, layout, threads), recs in groups.items():
        base = groups.get((shape, layout, params["x_base"]))
        rps = median_of(recs, "rps")
        base_rps = median_of(base, "rps") if base else None
        n_workers = max(len(r["worker_util"]) for r in recs)
        util = [statistics.median(r["worker_util"][i] for r in recs if len(r["worker_util"]) > i)
                for i in range(n_workers)]
        row = {"shape": shape, "layout": layout, "threads": threads, "rps": rps,
               "x_first": rps / base_rps if base_rps else None,
               "proxy_cpu_per_M": median_of(recs, "proxy_cpu_per_M"),
               "req_per_worker_cpu_s": median_of(recs, "req_per_worker_cpu_s"),
               "worker_util": util, "control_cpu_s": median_of(recs, "control_cpu_s"),
               "gen_util": median_of(recs, "gen_util"),
               "gen_cpu_per_M": median_of(recs, "gen_cpu_per_M"),
               "others_util": median_of(recs, "others_util"),
               "worker_clients": recs[-1]["worker_clients"], "rounds": len(recs)}
        summary.append(row)
        L.append(f"| {shape} | {layout} | {threads} | {rps:,.0f} | "
                 f"{row['x_first']:.2f} | {row['proxy_cpu_per_M']:.2f} | "
                 f"{row['req_per_worker_cpu_s']:,.0f} | "
                 f"{' + '.join(f'{u:.2f}' for u in util)} | {row['control_cpu_s']:.2f} | "
                 f"{row['gen_util']:.2f} | {row['gen_cpu_per_M']:.2f} | "
                 f"{row['others_util']:.2f} | "
                 f"{row['worker_clients'] or 'n/a'} | {len(recs)} |")
    L.append("")
    L.append("Every run (threads of the proxy: role, CPU seconds):")
    L.append("")
    L.append("| round | shape | layout | workers | requests | s | req/s | proxy CPU s | "
             "threads | generator CPU s | backend commands | SELECT on master |")
    L.append("|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in runs:
        th = ", ".join(f"{t['role']} {t['cpu_s']:.2f}" for t in r["threads_seen"]
                       if t["cpu_s"] > 0 or t["role"] != "other")
        L.append(f"| {r['round']} | {r['shape']} | {r['layout']} | {r['label']} | "
                 f"{r['requests']:,} | {r['seconds']:.2f} | {r['rps']:,.0f} | "
                 f"{r['proxy_cpu_s']:.2f} | {th} | {r['gen_cpu_s']:.2f} | "
                 f"{r['backend_commands']:.0f} | {r['redis_select_calls']} |")
    L.append("")
    if notes:
        L.append("## Notes")
        L.append("")
        L += [f"- {n}" for n in notes]
        L.append("")
    path = out / f"{stem}.md"
    path.write_text("\n".join(L))
    (out / f"{stem}.json").write_text(json.dumps(
        {"info": info, "params": params, "load": load, "summary": summary, "runs": runs,
         "notes": notes}, indent=1))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blast", metavar="HOST:PORT", help=argparse.SUPPRESS)
    ap.add_argument("--connections", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--window", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=2.0, help=argparse.SUPPRESS)
    ap.add_argument("--proxy-bin", default=str(ROOT / "build-bench" / "sentinel-proxy"))
    ap.add_argument("--threads", default="1,2", help="worker counts to compare (comma list)")
    ap.add_argument("--shapes", default="blast,rb", help="comma list of: blast, rb")
    ap.add_argument("--layouts", default="pinned,shared", help="comma list of: pinned, shared")
    ap.add_argument("--proxy-cpus", default=None,
                    help="CPUs of the proxy in the pinned layout (default: the last allowed one)")
    ap.add_argument("--gen-cpus", default=None,
                    help="CPUs of the generators in the pinned layout (default: the others)")
    ap.add_argument("--generators", type=int, default=1, help="load generator processes")
    ap.add_argument("--clients", type=int, default=0,
                    help="connections per generator (default: blast 32, rb 50)")
    ap.add_argument("--blast-seconds", type=float, default=2.0, help="seconds per blast run")
    ap.add_argument("--rb-requests", type=int, default=2_000_000,
                    help="requests per redis-benchmark run (all generators together)")
    ap.add_argument("--baseline-bin", default=None,
                    help="a second binary (e.g. the build before the workers) measured with "
                         "one loop, alternated with the others")
    ap.add_argument("--baseline-rev", default=None, help="git revision of --baseline-bin")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a tenth of the requests, 1 round")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    if args.blast:
        host, _, port = args.blast.rpartition(":")
        print(json.dumps(blast(host, int(port), args.connections, args.seconds, args.window)))
        return 0

    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from harness import Proxy, Topology, free_port, stop_all_processes  # noqa: E402

    allowed = sorted(os.sched_getaffinity(0))
    all_cpus = ",".join(map(str, allowed))
    proxy_cpus = args.proxy_cpus or str(allowed[-1])
    gen_cpus = args.gen_cpus or ",".join(
        str(c) for c in allowed if c not in parse_cpus(proxy_cpus)) or all_cpus
    binary = str(Path(args.proxy_bin).resolve())
    baseline = str(Path(args.baseline_bin).resolve()) if args.baseline_bin else None
    q = 0.1 if args.quick else 1.0
    rounds = 1 if args.quick else args.rounds
    thread_counts = [int(t) for t in args.threads.split(",")]
    notes = []
    if not supports_threads(binary):
        notes.append(f"{binary} has no --threads flag (a build before the workers): measured "
                     "with its one loop only, as `1` worker.")
        thread_counts = [1]
    shapes_all = {
        "blast": {"name": "blast", "clients": args.clients or 32, "pipeline": 1000,
                  "seconds": args.blast_seconds * (0.25 if args.quick else 1.0)},
        "rb": {"name": "rb", "clients": args.clients or 50, "pipeline": 16,
               "requests": int(args.rb_requests * q)},
    }
    for s in shapes_all.values():
        s["desc"] = (f"{s['clients']} connections per generator, {s['pipeline']} commands in "
                     f"flight each, {s['seconds']:g} s per run"
                     if s["name"] == "blast" else
                     f"redis-benchmark -c {s['clients']} -P {s['pipeline']} -n "
                     f"{s['requests']:,} SELECT 0")
    shapes = [shapes_all[s] for s in args.shapes.split(",")]
    layouts = args.layouts.split(",")
    cfg = {"proxy_cpus": proxy_cpus, "gen_cpus": gen_cpus, "generators": args.generators}
    info = machine_info(binary)
    load0 = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="sp-scaling-"))
    runs: list[dict] = []
    print(f"scaling: {info['nproc']} CPUs, load {load0:.2f}, workers {thread_counts}, "
          f"shapes {[s['name'] for s in shapes]}, layouts {layouts} (pinned: proxy on "
          f"{proxy_cpus}, generators on {gen_cpus})", flush=True)
    try:
        topo = Topology(work / "topo", replicas=0, sentinels=1, quorum=1).start()
        master_port = topo.nodes[0].port
        proxies = []
        targets = [(str(t), t, binary) for t in thread_counts]
        if baseline:
            targets.append((f"1 @{args.baseline_rev or 'baseline'}", 1, baseline))
        for label, t, b in targets:
            admin = free_port()
            extra = ["--admin-listen", f"127.0.0.1:{admin}"]
            if supports_threads(b):
                extra += ["--threads", str(t)]
            p = Proxy(work / f"proxy-{len(proxies)}", topo.sentinel_ports, binary=b,
                      extra_args=extra)
            p.argv[p.argv.index("--log-level") + 1] = "warn"
            p.start(timeout=20)
            p.wait_writable(30)
            proxies.append({"threads": t, "label": label, "port": p.port, "admin": admin,
                            "pid": p.process.pid, "proxy": p})
        for rnd in range(1, rounds + 1):
            for shape in shapes:
                for layout in layouts:
                    for proxy in proxies:
                        try:
                            rec = run_once(cfg, proxy, shape, layout, master_port, all_cpus)
                        except Exception as exc:  # noqa: BLE001 - report it, go on
                            notes.append(f"round {rnd} {shape['name']} {layout} "
                                         f"{proxy['label']} worker(s) failed: {exc}")
                            print(f"  FAILED: {exc}", flush=True)
                            continue
                        rec["round"] = rnd
                        runs.append(rec)
                        print(f"  r{rnd} {shape['name']:5} {layout:6} workers {proxy['label']}: "
                              f"{rec['rps']:>10,.0f} req/s  proxy {rec['proxy_cpu_per_M']:.2f} "
                              f"CPU-s/M  {rec['req_per_worker_cpu_s'] or 0:,.0f} req per worker "
                              f"CPU-s  util {['%.2f' % u for u in rec['worker_util']]}  "
                              f"generator util {rec['gen_util']:.2f}  others "
                              f"{rec['others_util']:.2f}  clients "
                              f"{rec['worker_clients']}", flush=True)
    finally:
        stop_all_processes()
    load1 = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.date.today().isoformat()}-{socket.gethostname()}-scaling"
    params = {"shapes": shapes, "layouts": layouts, "threads": thread_counts,
              "x_base": str(thread_counts[0]), "baseline_bin": baseline,
              "rounds": rounds, **cfg}
    path = write_report(out, stem, info, params, runs, notes, (load0, load1))
    print(path.read_text())
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
