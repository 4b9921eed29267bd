"""Real client libraries through real failovers: shared fixtures.

Reuses tests/integration's harness (processes, topology, proxy, waits) and its conftest
(fixtures, log tails on failure, figures in the terminal summary) instead of copying them.
Each test file shares one topology and one proxy (`module_topology`, `module_proxy`) and runs a
planned failover (SENTINEL FAILOVER) and then an unplanned one (kill -9 of the master) with
`run_failover`, which also reads the proxy's log to learn when the proxy verified the new master.
Node.js clients are installed from package-lock.json into tests/clients/node_modules."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from harness import LogWatcher, RedisNode, now, wait_until  # noqa: E402

# The integration suite's conftest, loaded under another name: its fixtures and hooks become
# ours (pytest collects fixtures and hooks from this module's attributes).
_spec = importlib.util.spec_from_file_location("sp_integration_conftest",
                                               INTEGRATION / "conftest.py")
_itc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_itc)
pytest_runtest_makereport = _itc.pytest_runtest_makereport
pytest_terminal_summary = _itc.pytest_terminal_summary
record_figures = _itc.record_figures
module_topology = _itc.module_topology
module_proxy = _itc.module_proxy

NODE = "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
MONO_TO_WALL = time.time() - time.monotonic()


def wall(t_mono: float) -> float:
    """A monotonic instant as Unix time in seconds (to compare with Node's Date.now())."""
    return t_mono + MONO_TO_WALL


def mono(t_wall: float) -> float:
    return t_wall - MONO_TO_WALL


@dataclass
class Failover:
    kind: str                 # "planned" or "unplanned"
    old: RedisNode
    new: RedisNode
    t_start: float            # SENTINEL FAILOVER accepted / SIGKILL sent (monotonic)
    t_switch: float           # a sentinel quorum names the new master and it answers ROLE master
    t_verified: float         # the proxy logged "master verified <new>"
    proxy_lines: list         # the proxy's log lines (monotonic time seen, text) since t_start

    def figures(self) -> dict:
        return {
            "failover": f"{self.kind}: {self.old.name} -> {self.new.name}",
            "failover start -> sentinels switched (s)": self.t_switch - self.t_start,
            "failover start -> proxy verified new master (s)": self.t_verified - self.t_start,
            "proxy log lines from failover start to verification": sum(
                1 for t, _ in self.proxy_lines if t <= self.t_verified),
        }


class FailoverDriver:
    """Runs failovers on the module's topology and times them against the proxy's log."""

    def __init__(self, topo: harness.Topology, proxy: harness.Proxy):
        self.topo, self.proxy = topo, proxy
        self.log = LogWatcher(proxy.log_path, interval=0.02, max_seconds=560).start()
        self.killed: list[RedisNode] = []

    def settle(self, timeout: float = 60):
        """Until the topology is settled (every live node replicating from a quorum-agreed
        master, every sentinel seeing it all): call before starting a scenario's load, so the
        failover starts right when run() is called."""
        self.topo.wait_stable(timeout=timeout)

    def run(self, kind: str) -> Failover:
        """Triggers the failover and returns once the proxy has verified the new master."""
        assert kind in ("planned", "unplanned")
        old = self.topo.current_master()
        if kind == "planned":
            t0 = self.topo.planned_failover(timeout=30)
        else:
            old, t0 = self.topo.kill_master()
            self.killed.append(old)
        new = self.topo.wait_for_switch(old.addr, timeout=60)
        t_switch = now()
        needle = f"master verified {new.addr[0]}:{new.port}"
        try:
            found = wait_until(lambda: self.log.matching(needle, after=t0 - 0.1), 30, 0.05,
                               f"the proxy to log '{needle}'")
        except harness.WaitTimeout as exc:
            raise harness.WaitTimeout(f"{exc}\n--- proxy log tail ---\n"
                                      f"{self.proxy.log_tail(60)}") from None
        t_verified = found[0][0]
        lines = [(t, s) for t, s in self.log.lines if t >= t0 - 0.1]
        return Failover(kind, old, new, t0, t_switch, t_verified, lines)

    def stop(self):
        self.log.stop()
        # A killed master stays down: the module's topology is torn down right after.


@pytest.fixture(scope="module")
def failovers(module_topology, module_proxy):
    driver = FailoverDriver(module_topology, module_proxy)
    yield driver
    driver.stop()


def proxy_errors(failover: Failover) -> list[str]:
    """The proxy's warning/error lines during a failover, for the report."""
    return [s for _, s in failover.proxy_lines
            if any(f" {lvl} " in s for lvl in ("warning", "error", "critical"))]


def longest_gap(times: list[float], start: float, end: float) -> float:
    """Longest stretch in [start, end] without one of `times`."""
    pts = [start] + sorted(t for t in times if start < t < end) + [end]
    return max((b - a for a, b in zip(pts, pts[1:])), default=0.0)


# ---------------------------------------------------------------------------------------------
# Node.js clients

_npm_lock = threading.Lock()


def ensure_node_modules() -> Path:
    """`npm ci` into tests/clients/node_modules unless it already holds what the lock names."""
    mods = HERE / "node_modules"
    with _npm_lock:
        marker = mods / ".package-lock.json"
        lock = HERE / "package-lock.json"
        if (mods / "redis").is_dir() and (mods / "ioredis").is_dir() and marker.is_file() \
                and marker.stat().st_mtime >= lock.stat().st_mtime:
            return mods
        env = dict(os.environ, npm_config_audit="false", npm_config_fund="false",
                   npm_config_update_notifier="false")
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=HERE, env=env,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"npm ci failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                               f"{r.stderr[-3000:]}")
    return mods


@pytest.fixture(scope="session")
def node_modules():
    return ensure_node_modules()


class NodeScript:
    """A Node.js scenario script: started with arguments, stopped by creating its stop file (and
    by PID if it does not exit), printing one JSON object per line on stdout, each timestamped
    by the script with Date.now() (ms). Lines are read in a thread as they come."""

    def __init__(self, script: str, args: list[str], workdir: Path, name: str):
        self.script = HERE / script
        self.stop_file = workdir / f"{name}.stop"
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.argv = [NODE, str(self.script), *args, str(self.stop_file)]
        self.events: list[dict] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self):
        self.stop_file.unlink(missing_ok=True)
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=HERE,
                                         preexec_fn=harness._die_with_parent)
        finally:
            err.close()
        self._reader = threading.Thread(target=self._read, daemon=True, name=self.script.name)
        self._reader.start()
        return self

    def _read(self):
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                ev = {"ev": "garbage", "line": raw.decode("utf-8", "replace")[:300]}
            ev.setdefault("t", time.time() * 1000)
            ev["mono"] = mono(ev["t"] / 1000.0)
            self.events.append(ev)

    def count(self, ev: str, after: float = 0.0, **match) -> int:
        return sum(1 for e in list(self.events)
                   if e.get("ev") == ev and e["mono"] > after
                   and all(e.get(k) == v for k, v in match.items()))

    def wait_for(self, ev: str, n: int = 1, timeout: float = 30, after: float = 0.0, **match):
        def check():
            if self.proc.poll() is not None and self.count(ev, after, **match) < n:
                raise RuntimeError(f"{self.script.name} exited with {self.proc.returncode}: "
                                   f"{self.stderr_tail()}")
            return self.count(ev, after, **match) >= n
        wait_until(check, timeout, 0.05, f"{n} '{ev}' {match or ''} events from {self.script.name}")

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None:
            return -1
        self.stop_file.write_text("stop\n")
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._reader:
            self._reader.join(10)
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# ------------------------------------------------------------ the suites with replica reads
# ctest runs the Celery and Django suites a second time with SP_PROXY_EXTRA_ARGS="--read-from
# prefer-replica" (tests/CMakeLists.txt); those runs also check that reads reached replicas.
def _read_from(args: list[str]) -> str:
    """The value of the last --read-from in args ("master" when absent)."""
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--read-from"]
    return values[-1] if values else "master"


REPLICA_READS = _read_from(shlex.split(os.environ.get("SP_PROXY_EXTRA_ARGS", ""))) != "master"


def routed_to_replicas(proxy) -> int:
    """sentinel_proxy_commands_routed_total{route="replica"} from the proxy's /metrics."""
    import urllib.request
    url = f"http://{harness.HOST}:{proxy.admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("sentinel_proxy_commands_routed_total{") and \
                    'route="replica"' in line:
                return int(float(line.rsplit(" ", 1)[1]))
    return 0


def wait_replica_eligible(proxy, timeout: float = 40.0):
    """Until the proxy's /status lists a read replica as eligible: after a failover the
    remaining replica resyncs with the new master (sometimes after a second failover), and
    until then every prefer-replica read goes to the master."""
    import json
    import urllib.request
    url = f"http://{harness.HOST}:{proxy.admin_port}/status"

    def eligible():
        with urllib.request.urlopen(url, timeout=5) as r:
            pool = json.loads(r.read().decode())["pools"][0]
        return [x["address"] for x in pool.get("read_replicas", []) if x["eligible"]]
    return harness.wait_until(eligible, timeout, 0.1, "a read replica eligible at the proxy")
