"""sentinel-proxy benchmark driver: direct Redis, HAProxy (role:master health check), twemproxy
and sentinel-proxy side by side on one local Sentinel topology, on 127.0.0.1 only.

Run by bench/run (which installs packages and builds the proxy first). Measures
  1. throughput and latency (redis-benchmark GET/SET, targets alternated round by round),
  2. CPU seconds per million requests of each proxy process (and of the Redis master),
  3. resident memory per idle client connection of each proxy,
  4. failover behaviour (SENTINEL FAILOVER and kill -9 of the master) seen by a steady writer
     through sentinel-proxy, HAProxy and a Sentinel-aware redis-py client,
and writes bench/results/<date>-<host>.md (+ .json and PNG charts).

Every process started is stopped by PID on exit, exception, Ctrl-C or SIGTERM (harness.py's
ManagedProcess registry), and the whole run gives up after --time-limit seconds.

    /usr/bin/python3 bench/bench.py --proxy-bin build-bench/sentinel-proxy [--quick]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import redis  # noqa: E402
import redis.sentinel  # noqa: E402
from harness import (HOST, MASTER_NAME, ManagedProcess, Proxy, RoleWatcher, Topology,  # noqa: E402
                     free_port, now, stop_all_processes, wait_until)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"

TARGETS = ["direct", "haproxy", "twemproxy", "sentinel-proxy"]
PROXIES = ["haproxy", "twemproxy", "sentinel-proxy"]
# "follow-promotion": a second sentinel-proxy with failover.follow_promotion (issue 25), in
# the same failovers as the default one, so both release paths are side by side.
FOLLOW = "sentinel-proxy follow-promotion"
FAILOVER_TARGETS = ["sentinel-proxy", FOLLOW, "haproxy", "redis-py Sentinel"]


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# /proc readings

def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of pid (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


# ---------------------------------------------------------------------------------------------
# HAProxy and twemproxy

class HAProxy:
    """HAProxy in the common Sentinel recipe: tcp-check PING / info replication / role:master,
    check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions, long client/server timeouts."""

    def __init__(self, root: Path, nodes, maxconn: int):
        self.port = free_port()
        self.dir = Path(root) / "haproxy"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg = self.dir / "haproxy.cfg"
        servers = "\n".join(
            f"    server {n.name} {HOST}:{n.port} check inter 1s fall 2 rise 2 "
            f"on-marked-down shutdown-sessions" for n in nodes)
        self.cfg.write_text(f"""global
    maxconn {maxconn}

defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 3s
    timeout client 24h
    timeout server 24h
    timeout check 2s

frontend ft_redis
    bind {HOST}:{self.port}
    default_backend bk_redis

backend bk_redis
    option tcp-check
    tcp-check connect
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
{servers}
""")
        self.process: ManagedProcess | None = None

    def start(self):
        self.process = ManagedProcess([HAPROXY, "-db", "-f", str(self.cfg)],
                                      self.dir / "haproxy.log", cwd=self.dir).start()
        return self

    @property
    def pid(self):
        return self.process.pid


class Twemproxy:
    """nutcracker with one pool holding one server: the master at start. It cannot follow
    Sentinel, so after a failover it keeps sending to the old master."""

    def __init__(self, root: Path, master_port: int):
        self.port = free_port()
        self.stats_port = free_port()
        self.dir = Path(root) / "twemproxy"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg = self.dir / "nutcracker.yml"
        self.cfg.write_text(f"""bench:
  listen: {HOST}:{self.port}
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - {HOST}:{master_port}:1
""")
        self.process: ManagedProcess | None = None

    def start(self):
        self.process = ManagedProcess(
            [NUTCRACKER, "-c", str(self.cfg), "-s", str(self.stats_port), "-a", HOST,
             "-v", "4", "-o", str(self.dir / "nutcracker.log")],
            self.dir / "stdout.log", cwd=self.dir).start()
        return self

    @property
    def pid(self):
        return self.process.pid


def wait_haproxy_settled(port: int, timeout: float = 30.0):
    """HAProxy starts every server UP and only marks replicas down after `fall 2` checks, so
    until then new sessions may land on a replica. Waits until 30 SETs in a row, each on a
    fresh connection (HAProxy balances per connection), succeed."""
    time.sleep(2.5)

    def thirty_in_a_row():
        for _ in range(30):
            c = redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2)
            try:
                if not c.set("bench:ready", "1"):
                    return False
            finally:
                c.close()
        return True
    wait_until(thirty_in_a_row, timeout, 0.5, "HAProxy to route only to the master")


def wait_set_works(port: int, timeout: float, what: str):
    def check():
        c = redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2)
        try:
            return c.set("bench:ready", "1")
        finally:
            c.close()
    wait_until(check, timeout, 0.1, f"a SET through {what}")


# ---------------------------------------------------------------------------------------------
# 1+2. Throughput, latency, CPU

def run_benchmark(port: int, clients: int, pipeline: int, requests: int, timeout: float):
    argv = [REDIS_BENCHMARK, "-h", HOST, "-p", str(port), "-t", "get,set", "-n", str(requests),
            "-c", str(clients), "-r", "100000", "-P", str(pipeline), "--csv", "--precision", "3"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    rows = {}
    for row in csv.DictReader(io.StringIO(out.stdout)):
        try:
            rows[row["test"]] = {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
                                 "p99": float(row["p99_latency_ms"])}
        except (KeyError, ValueError, TypeError):
            continue
    if "SET" not in rows or "GET" not in rows:
        return None, (out.stderr or out.stdout)[-300:]
    return rows, None


def throughput(ports: dict, pids: dict, master_pid: int, scenarios, rounds: int, deadline: float):
    """Returns {scenario: {target: [ {SET:{}, GET:{}, proxy_cpu_s, master_cpu_s, requests} ]}}."""
    results = {s["name"]: {t: [] for t in TARGETS} for s in scenarios}
    errors = []
    for sc in scenarios:
        for rnd in range(rounds):
            for target in TARGETS:
                if now() > deadline:
                    errors.append(f"{sc['name']} round {rnd + 1} {target}: skipped (time budget)")
                    continue
                pid = pids.get(target)
                c0 = cpu_seconds(pid) if pid else None
                m0 = cpu_seconds(master_pid)
                rows, err = run_benchmark(ports[target], sc["clients"], sc["pipeline"],
                                          sc["requests"], timeout=sc["timeout"])
                c1 = cpu_seconds(pid) if pid else None
                m1 = cpu_seconds(master_pid)
                if rows is None:
                    errors.append(f"{sc['name']} round {rnd + 1} {target}: {err.strip()}")
                    log(f"  {sc['name']:8} r{rnd + 1} {target:15} FAILED: {err.strip()[:120]}")
                    continue
                rec = dict(rows)
                rec["requests"] = 2 * sc["requests"]
                rec["proxy_cpu_s"] = (c1 - c0) if pid else None
                rec["master_cpu_s"] = m1 - m0
                results[sc["name"]][target].append(rec)
                log(f"  {sc['name']:8} r{rnd + 1} {target:15} SET {rows['SET']['rps']:>10.0f}/s "
                    f"GET {rows['GET']['rps']:>10.0f}/s  p99 SET {rows['SET']['p99']:.2f} ms")
    return results, errors


def summarize_throughput(results):
    """{scenario: {cmd: {target: {rps, p50, p99}}}} medians, plus CPU per million."""
    summary, cpu = {}, {}
    for sc, per_target in results.items():
        summary[sc] = {}
        cpu[sc] = {}
        for cmd in ("SET", "GET"):
            summary[sc][cmd] = {}
            for target, recs in per_target.items():
                if not recs:
                    continue
                summary[sc][cmd][target] = {
                    k: statistics.median(r[cmd][k] for r in recs) for k in ("rps", "p50", "p99")}
                summary[sc][cmd][target]["rounds"] = len(recs)
        for target, recs in per_target.items():
            if not recs:
                continue
            entry = {"master_cpu_per_M": statistics.median(
                r["master_cpu_s"] / r["requests"] * 1e6 for r in recs)}
            if recs[0]["proxy_cpu_s"] is not None:
                entry["proxy_cpu_per_M"] = statistics.median(
                    r["proxy_cpu_s"] / r["requests"] * 1e6 for r in recs)
            cpu[sc][target] = entry
    return summary, cpu


# ---------------------------------------------------------------------------------------------
# 3. Connection cost

def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    for _ in range(64):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by peer")
        data += chunk
        if data.endswith(b"\r\n") and (not data.startswith(b"$") or data.startswith(b"$-1")
                                       or data.count(b"\r\n") >= 2):
            return data
    raise ConnectionError("reply too long")


def _round_trip_all(socks, payload: bytes, batch: int):
    bad = 0
    for i in range(0, len(socks), batch):
        part = socks[i:i + batch]
        for s in part:
            s.sendall(payload)
        for s in part:
            reply = _read_reply(s)
            if reply.startswith(b"-"):
                bad += 1
    return bad


def _master_clients(master_port: int) -> int:
    r = redis.Redis(host=HOST, port=master_port, socket_timeout=5)
    try:
        return int(r.info("clients")["connected_clients"]) - 1  # not this one
    finally:
        r.close()


def connection_cost(name: str, pid: int, port: int, count: int, deadline: float,
                    master_port: int, connect=None):
    """RSS of pid before, with `count` idle connections that each sent PING, then a GET
    (which makes a proxy without shared links open a backend link per client), and after
    closing them; and how many connections the master had to hold for those clients.
    connect: makes one connection (default: plaintext TCP to port), e.g. a TLS client."""
    out = {"target": name, "connections": 0}
    time.sleep(0.5)
    out["rss_before_kib"] = rss_kib(pid)
    out["master_conns_before"] = _master_clients(master_port)
    socks = []
    batch = 250
    try:
        while len(socks) < count and now() < deadline:
            part = []
            for _ in range(min(batch, count - len(socks))):
                s = connect() if connect else socket.create_connection((HOST, port), timeout=15)
                part.append(s)
            socks.extend(part)
            _round_trip_all(part, b"*1\r\n$4\r\nPING\r\n", batch)
        out["connections"] = len(socks)
        time.sleep(1.0)
        out["rss_ping_kib"] = rss_kib(pid)
        out["ping_errors"] = 0
        if now() < deadline:
            out["get_errors"] = _round_trip_all(
                socks, b"*2\r\n$3\r\nGET\r\n$16\r\nbench:conn:absen\r\n", batch)
            time.sleep(1.0)
            out["rss_get_kib"] = rss_kib(pid)
            out["master_conns_with_clients"] = _master_clients(master_port)
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
    time.sleep(1.5)
    out["rss_after_close_kib"] = rss_kib(pid)
    n = max(out["connections"], 1)
    out["per_conn_ping_kib"] = (out["rss_ping_kib"] - out["rss_before_kib"]) / n
    if "rss_get_kib" in out:
        out["per_conn_get_kib"] = (out["rss_get_kib"] - out["rss_before_kib"]) / n
    return out


# ---------------------------------------------------------------------------------------------
# 4. Failover

class SteadyWriter:
    """A thread sending one SET (unique key) every `interval` through one client, recording the
    time of every acknowledged SET and every error. No retries: what the client sees is what an
    application without retry logic sees."""

    def __init__(self, name: str, make_client, interval: float = 0.002, max_seconds: float = 90):
        self.name = name
        self.make_client = make_client
        self.interval = interval
        self.max_seconds = max_seconds
        self.prefix = f"fo:{name.replace(' ', '_')}:{int(time.time() * 1000)}"
        self.acks: list[tuple[float, int]] = []
        self.errors: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{name}", daemon=True)
        self.started_at = self.stopped_at = 0.0

    def start(self):
        self.started_at = now()
        self._thread.start()
        return self

    def _run(self):
        r = self.make_client()
        seq = 0
        next_at = now()
        deadline = now() + self.max_seconds
        while not self._stop.is_set() and now() < deadline:
            seq += 1
            try:
                ok = r.set(f"{self.prefix}:{seq}", seq)
                t = now()
                if ok is True:
                    self.acks.append((t, seq))
                else:
                    self.errors.append((t, "UnexpectedReply", repr(ok)[:100]))
            except Exception as exc:  # noqa: BLE001 - every failure is what the client saw
                self.errors.append((now(), type(exc).__name__, str(exc)[:160]))
            next_at += self.interval
            delay = next_at - now()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = now()
        try:
            r.close()
        except Exception:  # noqa: BLE001
            pass

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        self.stopped_at = now()

    def longest_gap(self, start: float, end: float) -> float:
        points = [start] + [t for t, _ in self.acks if start < t < end] + [end]
        return max(b - a for a, b in zip(points, points[1:]))


def failover_trial(topo: Topology, kind: str, sp_port: int, ha_port: int, trial: int,
                   sentinel_ports: list[int], follow_port: int | None = None):
    master = topo.wait_stable(timeout=60)
    wait_set_works(sp_port, 20, "sentinel-proxy")
    if follow_port:
        wait_set_works(follow_port, 20, FOLLOW)
    wait_haproxy_settled(ha_port, 30)
    sentinel = redis.sentinel.Sentinel([(HOST, p) for p in sentinel_ports], socket_timeout=1,
                                       socket_connect_timeout=1)

    def sp_client():
        return redis.Redis(host=HOST, port=sp_port, socket_timeout=15, socket_connect_timeout=2)

    def ha_client():
        return redis.Redis(host=HOST, port=ha_port, socket_timeout=15, socket_connect_timeout=2)

    def follow_client():
        return redis.Redis(host=HOST, port=follow_port, socket_timeout=15,
                           socket_connect_timeout=2)

    def sentinel_client():
        return sentinel.master_for(MASTER_NAME, socket_timeout=15, socket_connect_timeout=2)

    watcher = RoleWatcher(topo.nodes, interval=0.02, max_seconds=90).start()
    writers = [SteadyWriter("sentinel-proxy", sp_client).start(),
               SteadyWriter("haproxy", ha_client).start(),
               SteadyWriter("redis-py Sentinel", sentinel_client).start()]
    if follow_port:
        writers.append(SteadyWriter(FOLLOW, follow_client).start())
    killed = None
    try:
        time.sleep(1.5)
        if kind == "planned":
            t_trig = topo.planned_failover(timeout=20)
        else:
            killed, t_trig = topo.kill_master()
        new = topo.wait_for_switch(master.addr, timeout=30)
        t_switch = now()
        # Until the old master is no longer a master (after SENTINEL FAILOVER, Sentinel only
        # demotes it several seconds after the switch) and every writer has written again
        # after that; bounded at 25 s. Then 2 more seconds of steady writing.
        t_old_gone = None
        deadline = now() + 25
        while now() < deadline:
            if t_old_gone is None and (kind == "kill" or master.role() != "master"):
                t_old_gone = now()
            if t_old_gone and all(w.acks and w.acks[-1][0] > max(t_switch, t_old_gone)
                                  for w in writers):
                break
            time.sleep(0.05)
        time.sleep(2.0)
    finally:
        for w in writers:
            w.stop()
        watcher.stop()
    t_promote = watcher.first(new.name, "master", after=t_trig - 0.05) or t_switch
    final = topo.current_master(timeout=20)
    fc = final.client(socket_timeout=10, decode_responses=True)
    rows = []
    for w in writers:
        present = set()
        seqs = [s for _, s in w.acks]
        for i in range(0, len(seqs), 1000):
            part = seqs[i:i + 1000]
            vals = fc.mget([f"{w.prefix}:{s}" for s in part])
            present.update(s for s, v in zip(part, vals) if v == str(s))
        lost = [(t, s) for t, s in w.acks if s not in present]
        stale = [(t, s) for t, s in lost if t > t_promote]
        first_new = next((t for t, s in w.acks if t > t_promote and s in present), None)
        etypes: dict[str, int] = {}
        for t, name, msg in w.errors:
            if t >= t_trig - 0.5:
                key = name + (" READONLY" if "READONLY" in msg else "")
                etypes[key] = etypes.get(key, 0) + 1
        rows.append({
            "target": w.name, "kind": kind, "trial": trial,
            "acked": len(w.acks), "attempts": len(w.acks) + len(w.errors),
            "errors": len(w.errors), "error_types": etypes,
            "longest_gap_s": w.longest_gap(w.started_at, w.stopped_at),
            "trigger_to_new_master_write_s": (first_new - t_trig) if first_new else None,
            "lost": len(lost), "accepted_by_stale_master": len(stale),
        })
    info = {"kind": kind, "trial": trial, "old_master": master.name, "new_master": new.name,
            "promote_after_trigger_s": t_promote - t_trig, "switch_seen_s": t_switch - t_trig,
            "old_master_gone_s": (t_old_gone - t_trig) if t_old_gone else None}
    if killed is not None:
        killed.restart()
    return rows, info


def summarize_failover(rows):
    out = {}
    for target in FAILOVER_TARGETS:
        for kind in ("planned", "kill"):
            rs = [r for r in rows if r["target"] == target and r["kind"] == kind]
            if not rs:
                continue
            firsts = [r["trigger_to_new_master_write_s"] for r in rs
                      if r["trigger_to_new_master_write_s"] is not None]
            out[(target, kind)] = {
                "trials": len(rs),
                "errors": [r["errors"] for r in rs],
                "gap": [r["longest_gap_s"] for r in rs],
                "first": firsts, "first_missing": len(rs) - len(firsts),
                "lost": [r["lost"] for r in rs],
                "stale": [r["accepted_by_stale_master"] for r in rs],
                "acked": sum(r["acked"] for r in rs),
            }
    return out


# ---------------------------------------------------------------------------------------------
# Report

def machine_info(proxy_rev: str | None) -> dict:
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception as exc:  # noqa: BLE001
            return f"? ({exc})"
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    rev = cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.date.today().isoformat(),
        "host": socket.gethostname(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "redis": cmd(["redis-server", "--version"]).split(" sha=")[0],
        "redis_benchmark": cmd([REDIS_BENCHMARK, "--version"]),
        "haproxy": cmd([HAPROXY, "-v"]).splitlines()[0] if cmd([HAPROXY, "-v"]) else "?",
        "nutcracker": (subprocess.run([NUTCRACKER, "--version"], capture_output=True, text=True,
                                      timeout=10).stderr.strip().splitlines() or ["?"])[0],
        "sentinel_proxy": (f"{proxy_rev} (clean export of the commit)" if proxy_rev else
                           rev + (" + uncommitted changes in the working tree" if dirty else "")),
        "redis_py": redis.__version__,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    }


def fmt(x, nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def write_charts(outdir: Path, stem: str, summary, fsum) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []

    def save(fig, name: str):
        fig.tight_layout()
        path = outdir / f"{stem}-{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)

    groups = [(sc, cmd) for sc in summary for cmd in ("SET", "GET")]
    colors = {"haproxy": "#1f77b4", "twemproxy": "#ff7f0e", "sentinel-proxy": "#2ca02c",
              "redis-py Sentinel": "#7f7f7f", FOLLOW: "#98df8a"}
    for metric, title, fname in (("rps", "Throughput as a ratio to direct Redis (higher is better)",
                                  "throughput"),
                                 ("p99", "p99 latency as a ratio to direct Redis (lower is better)",
                                  "latency-p99")):
        fig, ax = plt.subplots(figsize=(10, 4.5))
        width = 0.8 / len(PROXIES)
        for i, target in enumerate(PROXIES):
            vals = []
            for sc, cmd in groups:
                d = summary[sc][cmd]
                vals.append(ratio(d.get(target, {}).get(metric), d.get("direct", {}).get(metric))
                            or 0)
            xs = [g + (i - (len(PROXIES) - 1) / 2) * width for g in range(len(groups))]
            bars = ax.bar(xs, vals, width, label=target, color=colors.get(target))
            for x, v in zip(xs, vals):
                ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{sc}\n{cmd}" for sc, cmd in groups])
        ax.set_ylabel("ratio to direct Redis")
        ax.set_title(title)
        ax.legend()
        save(fig, fname)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    kinds = ["planned", "kill"]
    width = 0.8 / len(FAILOVER_TARGETS)
    for i, target in enumerate(FAILOVER_TARGETS):
        for k, kind in enumerate(kinds):
            d = fsum.get((target, kind))
            if not d:
                continue
            x = k + (i - (len(FAILOVER_TARGETS) - 1) / 2) * width
            med = statistics.median(d["gap"])
            ax.bar(x, med, width, color=colors.get(target), label=target if k == 0 else None)
            ax.scatter([x] * len(d["gap"]), d["gap"], color="black", s=10, zorder=3)
            lost = statistics.median(d["lost"])
            label = f"{med:.2f}" + (f"\nlost {lost:.0f}" if lost else "")
            ax.text(x, med, label, ha="center", va="bottom", fontsize=7,
                    color="red" if lost else "black")
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels(["SENTINEL FAILOVER", "kill -9 of the master"])
    ax.set_ylabel("longest gap between acknowledged writes (s)")
    ax.set_title("Failover: longest write gap per target (bar: median, dots: trials;\n"
                 "red: median acknowledged writes lost per trial)", fontsize=10)
    ax.legend()
    save(fig, "failover-gap")
    return files


def write_report(outdir: Path, stem: str, info, params, summary, cpu, conn, frows, finfo,
                 fsum, notes, charts, load) -> Path:
    L = []
    L.append(f"# sentinel-proxy benchmark, {info['date']} on {info['host']}")
    L.append("")
    L.append("Produced by `bench/run` (see bench/README.md for what each number means). "
             "Ratios are against direct Redis measured in the same run; absolute figures drift "
             "from run to run and machine to machine.")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    for k, label in (("date", "date"), ("host", "host"), ("nproc", "nproc"), ("cpu", "CPU"),
                     ("mem_gib", "memory (GiB)"), ("kernel", "kernel"), ("redis", "redis"),
                     ("redis_benchmark", "redis-benchmark"), ("haproxy", "haproxy"),
                     ("nutcracker", "nutcracker (twemproxy)"),
                     ("sentinel_proxy", "sentinel-proxy git rev"), ("redis_py", "redis-py"),
                     ("nofile", "open-files hard limit")):
        L.append(f"| {label} | {info[k]} |")
    L.append(f"| load average (1 min) at start / end | {load[0]} / {load[1]} |")
    L.append(f"| sentinel-proxy worker threads | "
             f"{params.get('proxy_threads') or 'default (one per CPU)'} |")
    L.append(f"| run time | {params['elapsed_s']:.0f} s |")
    L.append("")
    L.append("Everything ran on 127.0.0.1 on the same machine: 1 master + 2 replicas, 3 sentinels "
             "(down-after-milliseconds 1000), the four targets and the load generator share the "
             "CPUs, so the proxies compete with Redis and redis-benchmark for cores. "
             + params.get("noise_note", ""))
    L.append("")

    L.append("## Throughput and latency")
    L.append("")
    L.append(f"`redis-benchmark -t get,set -r 100000 -n N -c C [-P 16] --csv`, targets alternated "
             f"round by round ({', '.join(TARGETS)}), {params['rounds']} rounds; median of the "
             f"rounds. N: " + ", ".join(f"{s['name']} {s['requests']}"
                                        for s in params["scenarios"]) + ". "
             "Ratio columns are target / direct (ops/s: higher is better; latency: lower is better).")
    L.append("")
    L.append("| scenario | cmd | target | ops/s | x direct | p50 ms | x direct | p99 ms | x direct |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for sc in summary:
        for cmd in ("SET", "GET"):
            d = summary[sc][cmd]
            base = d.get("direct", {})
            for t in TARGETS:
                if t not in d:
                    L.append(f"| {sc} | {cmd} | {t} | failed | | | | | |")
                    continue
                v = d[t]
                L.append(f"| {sc} | {cmd} | {t} | {v['rps']:.0f} | "
                         f"{fmt(ratio(v['rps'], base.get('rps')))} | {v['p50']:.3f} | "
                         f"{fmt(ratio(v['p50'], base.get('p50')))} | {v['p99']:.3f} | "
                         f"{fmt(ratio(v['p99'], base.get('p99')))} |")
    L.append("")
    L.append("### CPU cost")
    L.append("")
    L.append("CPU seconds (utime+stime from /proc/PID/stat, all threads) per million requests "
             "(GET+SET) during the throughput runs, median of the rounds: the proxy process "
             "itself, and the Redis master behind it.")
    L.append("")
    L.append("| scenario | target | proxy CPU s / M req | master CPU s / M req |")
    L.append("|---|---|---:|---:|")
    for sc in cpu:
        for t in TARGETS:
            if t in cpu[sc]:
                c = cpu[sc][t]
                L.append(f"| {sc} | {t} | {fmt(c.get('proxy_cpu_per_M'))} | "
                         f"{fmt(c['master_cpu_per_M'])} |")
    L.append("")

    L.append("## Connection cost")
    L.append("")
    L.append(f"Resident memory (VmRSS) of each proxy process before and with "
             f"{params['conn_count']} idle client connections open (each sent one PING, then "
             f"one GET of a missing key; sentinel-proxy opens its per-client backend link "
             f"lazily, on the first command it forwards). {params['conn_note']}")
    L.append("")
    L.append("| proxy | connections | RSS before (MiB) | RSS after PING (MiB) | KiB/conn | "
             "RSS after GET (MiB) | KiB/conn | RSS after close (MiB) | "
             "connections on the master for them |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in conn:
        if "error" in c:
            L.append(f"| {c['target']} | failed: {c['error']} | | | | | | | |")
            continue
        extra = (c.get("master_conns_with_clients", 0) - c.get("master_conns_before", 0)
                 if "master_conns_with_clients" in c else None)
        L.append(f"| {c['target']} | {c['connections']} | {c['rss_before_kib'] / 1024:.1f} | "
                 f"{c['rss_ping_kib'] / 1024:.1f} | {c['per_conn_ping_kib']:.2f} | "
                 f"{fmt(c.get('rss_get_kib', 0) / 1024, 1)} | {fmt(c.get('per_conn_get_kib'))} | "
                 f"{c['rss_after_close_kib'] / 1024:.1f} | {fmt(extra, 0)} |")
    L.append("")

    L.append("## Failover")
    L.append("")
    L.append("Writers ran at the same time, each sending one SET with a unique key every "
             "2 ms without retries (socket timeout 15 s): through sentinel-proxy, through a "
             "second sentinel-proxy with `--follow-promotion` (issue 25: held commands released "
             "to the promoted replica once its offset covers the old master's, before "
             "Sentinel's +switch-master), through HAProxy, "
             "and with redis-py's Sentinel client (`Sentinel(...).master_for('mymaster')`, the "
             "reference). twemproxy is left out: it has no Sentinel support and keeps sending "
             "to the master it was configured with. Each trial: 1.5 s of writes, the trigger, "
             "until the sentinels agree on a new master, the old master is no longer a master "
             "and every writer has written again after that (bounded at 25 s), then 2 s more; "
             "the topology is healed between trials (killed "
             "master restarted, replicas in sync, sentinels agreeing, HAProxy checks settled).")
    L.append("")
    L.append("Per target and trigger, values of the individual trials (min / median / max where "
             "several): errors = failed SETs the client saw; gap = longest time between two "
             "acknowledged SETs; to new master = trigger to the first acknowledged SET that is "
             "on the new master; lost = acknowledged SETs missing on the final master; stale = "
             "of those, acknowledged after the new master was promoted (i.e. accepted by a node "
             "that was no longer master).")
    L.append("")
    L.append("| target | trigger | trials | errors | longest gap (s) | to new master (s) | "
             "acked | lost | stale |")
    L.append("|---|---|---:|---|---|---|---:|---|---|")

    def mmm(xs, nd=2):
        if not xs:
            return "n/a"
        if len(xs) == 1:
            return f"{xs[0]:.{nd}f}"
        return f"{min(xs):.{nd}f} / {statistics.median(xs):.{nd}f} / {max(xs):.{nd}f}"
    for (target, kind), d in fsum.items():
        first = mmm(d["first"]) + (f" ({d['first_missing']} none)" if d["first_missing"] else "")
        L.append(f"| {target} | {'SENTINEL FAILOVER' if kind == 'planned' else 'kill -9'} | "
                 f"{d['trials']} | {', '.join(map(str, d['errors']))} | {mmm(d['gap'])} | "
                 f"{first} | {d['acked']} | {', '.join(map(str, d['lost']))} | "
                 f"{', '.join(map(str, d['stale']))} |")
    L.append("")
    L.append("Trials (promotion time = when the new master first answered ROLE master, polled "
             "every 20 ms):")
    L.append("")
    L.append("| # | trigger | old -> new master | promoted after (s) | sentinels agreed after (s) "
             "| old master demoted/down after (s) | error types seen "
             "(sentinel-proxy; haproxy; redis-py Sentinel; follow-promotion) |")
    L.append("|---:|---|---|---:|---:|---:|---|")
    for fi in finfo:
        rs = [r for r in frows if r["trial"] == fi["trial"]]
        et = "; ".join(", ".join(f"{k} x{v}" for k, v in r["error_types"].items()) or "none"
                       for r in rs)
        L.append(f"| {fi['trial']} | {fi['kind']} | {fi['old_master']} -> {fi['new_master']} | "
                 f"{fi['promote_after_trigger_s']:.2f} | {fi['switch_seen_s']:.2f} | "
                 f"{fmt(fi['old_master_gone_s'])} | {et} |")
    L.append("")
    if notes:
        L.append("## Notes from this run")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
    L.append("## Charts")
    L.append("")
    for c in charts:
        L.append(f"![{c}]({c})")
        L.append("")
    path = outdir / f"{stem}.md"
    path.write_text("\n".join(L))
    return path


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy-bin", default=str(ROOT / "build-bench" / "sentinel-proxy"))
    ap.add_argument("--proxy-rev", default=None,
                    help="git revision the binary was built from (default: the working tree)")
    ap.add_argument("--proxy-threads", type=int, default=0,
                    help="run the measured sentinel-proxy with --threads N (0: its default, "
                         "one worker per CPU)")
    ap.add_argument("--baseline-bin", default=None,
                    help="a second sentinel-proxy binary (the revision before a change) measured "
                         "in the same run for throughput, CPU and connection cost")
    ap.add_argument("--baseline-rev", default=None, help="git revision of --baseline-bin")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--quick", action="store_true", help="small counts, 1 round, 1 trial each")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--skip", default="", help="comma list of: throughput,connections,failover")
    ap.add_argument("--time-limit", type=int, default=600, help="seconds for the whole driver")
    ap.add_argument("--keep-dir", action="store_true")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the charts of a results .json")
    args = ap.parse_args()
    if args.replot:
        raw = json.loads(Path(args.replot).read_text())
        stem = Path(args.replot).name[:-len(".json")]
        print(write_charts(Path(args.replot).parent, stem, raw["summary"],
                           summarize_failover(raw["failover_rows"])))
        return 0
    skip = set(filter(None, args.skip.split(",")))

    t_start = now()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, _on_signal)
    signal.alarm(args.time_limit)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # HAProxy and sentinel-proxy hold two descriptors per client (client + backend): stay
    # under the hard limit, which this user cannot raise.
    conn_count = min(args.connections, (hard - 300) // 2 // 100 * 100)
    conn_note = ""
    if conn_count < args.connections:
        conn_note = (f"Asked for {args.connections} but the open-files hard limit here is {hard} "
                     f"and HAProxy/sentinel-proxy need two descriptors per client, so "
                     f"{conn_count} were opened.")
    args.proxy_bin = str(Path(args.proxy_bin).resolve())
    base_name = None
    if args.baseline_bin:
        # Alternated round by round with the others, so a before/after comparison sees the
        # same machine load.
        base_name = f"sentinel-proxy@{args.baseline_rev or 'base'}"
        TARGETS.append(base_name)
        PROXIES.append(base_name)
    os.environ["SP_PROXY_BIN"] = args.proxy_bin

    rounds = 1 if args.quick else args.rounds
    trials = 1 if args.quick else args.trials
    q = 0.1 if args.quick else 1.0
    scenarios = [
        {"name": "c50", "clients": 50, "pipeline": 1, "requests": int(50000 * q), "timeout": 60},
        {"name": "c50-P16", "clients": 50, "pipeline": 16, "requests": int(300000 * q),
         "timeout": 60},
        {"name": "c1000", "clients": 1000, "pipeline": 1, "requests": int(40000 * q),
         "timeout": 90},
    ]
    if args.quick:
        conn_count = min(conn_count, 2000)

    info = machine_info(args.proxy_rev)
    load_start = os.getloadavg()[0]
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = f"{info['date']}-{info['host']}"
    workdir = Path(tempfile.mkdtemp(prefix="sentinel-proxy-bench-"))
    log(f"workdir {workdir}; {info['nproc']} CPUs ({info['cpu']}); load {load_start:.2f}")
    notes = []
    summary, cpu, conn, frows, finfo, fsum = {}, {}, [], [], [], {}
    ok = True
    try:
        topo = Topology(workdir)
        for n in topo.nodes:  # room for one backend connection per idle client of a proxy
            with open(n.conf, "a") as f:
                f.write(f"maxclients {hard - 64}\n")
        topo.start(timeout=45)
        master = topo.current_master()
        log(f"topology up: master {master.name} port {master.port}")
        ha = HAProxy(workdir, topo.nodes, maxconn=conn_count + 100).start()
        tw = Twemproxy(workdir, master.port).start()
        # --proxy-threads: the measured build's worker count (the baseline, which may predate
        # the flag, runs as it is).
        threads = ["--threads", str(args.proxy_threads)] if args.proxy_threads else []
        sp = Proxy(workdir, topo.sentinel_ports, extra_args=threads, binary=args.proxy_bin)
        sp.argv[sp.argv.index("--log-level") + 1] = "warn"
        sp.start(timeout=15)
        follow = None
        if "failover" not in skip:
            follow = Proxy(workdir / "follow", topo.sentinel_ports,
                           extra_args=["--follow-promotion", *threads],
                           binary=args.proxy_bin)
            follow.argv[follow.argv.index("--log-level") + 1] = "warn"
            follow.start(timeout=15)
        base = None
        if base_name:
            base = Proxy(workdir / "baseline", topo.sentinel_ports,
                         binary=str(Path(args.baseline_bin).resolve()))
            base.argv[base.argv.index("--log-level") + 1] = "warn"
            base.start(timeout=15)
        wait_haproxy_settled(ha.port, 30)
        wait_set_works(tw.port, 20, "twemproxy")
        sp.wait_writable(timeout=20)
        ports = {"direct": master.port, "haproxy": ha.port, "twemproxy": tw.port,
                 "sentinel-proxy": sp.port}
        pids = {"haproxy": ha.pid, "twemproxy": tw.pid, "sentinel-proxy": sp.process.pid}
        if base:
            base.wait_writable(timeout=20)
            ports[base_name] = base.port
            pids[base_name] = base.process.pid
        log(f"targets: {ports}")

        budget_end = t_start + args.time_limit
        if "throughput" not in skip:
            log("throughput and latency")
            res, errs = throughput(ports, pids, master.process.pid, scenarios, rounds,
                                   deadline=budget_end - 270)
            summary, cpu = summarize_throughput(res)
            notes += [f"throughput run failed or skipped: {e}" for e in errs]
            json.dump(res, open(workdir / "throughput.json", "w"), indent=1)

        if "connections" not in skip:
            log(f"connection cost ({conn_count} connections)")
            for name in PROXIES:
                try:
                    c = connection_cost(name, pids[name], ports[name], conn_count,
                                        deadline=min(now() + 120, budget_end - 150),
                                        master_port=master.port)
                    log(f"  {name}: {c}")
                except Exception as exc:  # noqa: BLE001 - report it, go on with the others
                    c = {"target": name, "error": f"{type(exc).__name__}: {exc}"[:200]}
                    log(f"  {name}: FAILED {c['error']}")
                conn.append(c)

        if "failover" not in skip:
            log("failover")
            kinds = ["planned", "kill"] * trials
            for i, kind in enumerate(kinds, 1):
                if now() > budget_end - 45:
                    notes.append(f"failover trials {i}..{len(kinds)} skipped (time budget)")
                    break
                try:
                    rows, fi = failover_trial(topo, kind, sp.port, ha.port, i, topo.sentinel_ports,
                                              follow.port if follow else None)
                except Exception as exc:  # noqa: BLE001
                    notes.append(f"failover trial {i} ({kind}) failed: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}")
                    log(f"  trial {i} {kind} FAILED: {exc}")
                    continue
                frows += rows
                finfo.append(fi)
                log(f"  trial {i} {kind}: {fi}")
                for r in rows:
                    log(f"    {r['target']:18} errors {r['errors']:4d} gap "
                        f"{r['longest_gap_s']:.3f}s first-new {fmt(r['trigger_to_new_master_write_s'], 3)}"
                        f" lost {r['lost']} stale {r['accepted_by_stale_master']} "
                        f"{r['error_types']}")
            fsum = summarize_failover(frows)
    except Interrupted as exc:
        ok = False
        notes.append(f"run interrupted ({exc}); partial results")
        log(f"interrupted: {exc}")
    except Exception as exc:  # noqa: BLE001
        ok = False
        notes.append(f"run failed: {type(exc).__name__}: {str(exc)[:400]}")
        log(f"FAILED: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        stop_all_processes()

    load_end = os.getloadavg()[0]
    elapsed = now() - t_start
    params = {"proxy_threads": args.proxy_threads, "rounds": rounds, "trials": trials, "scenarios": scenarios,
              "conn_count": conn_count, "conn_note": conn_note, "elapsed_s": elapsed,
              "noise_note": ("Other jobs were running on this machine during the run (load "
                             f"average {load_start:.1f} at start, {load_end:.1f} at end on "
                             f"{info['nproc']} CPUs): expect noise, especially in p99.")
              if max(load_start, load_end) > 1.0 else ""}
    charts = []
    try:
        if summary or fsum:
            charts = write_charts(outdir, stem, summary, fsum)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"charts failed: {exc}")
    raw = {"info": info, "params": params, "summary": {sc: v for sc, v in summary.items()},
           "cpu": cpu, "connections": conn, "failover_rows": frows, "failover_trials": finfo,
           "notes": notes, "load": [load_start, load_end]}
    (outdir / f"{stem}.json").write_text(json.dumps(raw, indent=1, default=str))
    report = write_report(outdir, stem, info, params, summary, cpu, conn, frows, finfo, fsum,
                          notes, charts, (f"{load_start:.2f}", f"{load_end:.2f}"))
    log(f"report: {report} ({elapsed:.0f} s)")
    if not args.keep_dir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"kept {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all_processes()
