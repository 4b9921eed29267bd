"""Network namespaces for partition and latency tests (issue 15 part 4), as root.

Layout (every name starts with `spn-<pid>-`, so a run's leftovers are recognisable):

    spn-<pid>-br        a bridge `br0`; one port per namespace below, no address
    spn-<pid>-ctl       the test process itself (its threads and clients), 10.213.S.2
    spn-<pid>-proxy     the proxy, 10.213.S.3 (it listens there; clients come over the bridge)
    spn-<pid>-redis-N   one redis-server each, 10.213.S.(10 + N)
    spn-<pid>-sentinel-N  one redis-sentinel each, 10.213.S.(30 + N)

Each namespace has one veth `eth0` whose peer is a port of br0 in the bridge namespace.
Addresses exist only inside these namespaces (10.213.S.0/24, S = pid % 250; the host never
gets one), so the host's routes and interfaces are untouched. The test thread enters the
ctl namespace with setns(2) (network namespaces are per thread; threads and processes it
starts afterwards inherit it) and leaves it at the end; servers and the proxy are started
with `ip netns exec`, so their PIDs are those of redis-server / sentinel-proxy themselves.
ctl is never partitioned: the test always sees every node as it is.

Faults, as this kernel allows (6.x here: iptables/nf_tables yes; tc netem, flower and the
gact drop action are not built in):
  - partition(a, b): in a's namespace `iptables -I INPUT -s <b> -j DROP`, and the converse
    in b's. Packets leave the sender and vanish (an INPUT drop is silent; an OUTPUT drop
    would fail the sender's send with EPERM, which is not what a partition looks like).
    Existing TCP connections stall, new connects time out. heal(a, b) deletes both rules.
  - link_down(a) / link_up(a): `ip link set eth0 down` in a's namespace (a cut cable).
  - delay(a, ms): everything a sends is delayed by ms: `tc qdisc replace dev eth0 root netem
    delay <ms>ms` where sch_netem exists (Lab.netem_available); otherwise (as here) an
    `iptables -I OUTPUT -o eth0 -j NFQUEUE --queue-bypass` rule in a's namespace and
    netns_delay.py there, which accepts each queued packet ms later, in order.

Cleanup: Lab is a context manager (so an exception or Ctrl-C cleans up), an atexit hook
runs the same cleanup, and Lab() first removes namespaces `spn-<pid>-*` whose pid no longer runs (a crashed
or killed run: its processes died with it through PR_SET_PDEATHSIG)."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import subprocess
import threading

PREFIX = "spn-"
CLONE_NEWNET = 0x40000000
IP = shutil.which("ip") or "/usr/sbin/ip"
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"
TC = shutil.which("tc") or "/usr/sbin/tc"

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class NetemUnavailable(RuntimeError):  # neither netem nor the NFQUEUE delayer works
    pass


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    out = _run(IP, "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_stale() -> list[str]:
    """Deletes namespaces of earlier runs whose process is gone; returns their names."""
    removed = []
    for name in list_namespaces():
        if not name.startswith(PREFIX):
            continue
        try:
            pid = int(name[len(PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            _run(IP, "netns", "del", name, check=False)
            removed.append(name)
    return removed


def why_unavailable() -> str | None:
    """None when this process can build the lab (root, ip, iptables, veth, bridge, setns);
    otherwise the reason, for the caller to print loudly."""
    if os.geteuid() != 0:
        return "not root"
    for tool in (IP, IPTABLES):
        if not os.access(tool, os.X_OK):
            return f"{tool} missing"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        _run(IP, "netns", "add", probe)
        _run(IP, "netns", "exec", probe, IP, "link", "add", "br0", "type", "bridge")
        _run(IP, "netns", "exec", probe, IP, "link", "add", "eth0", "type", "veth", "peer",
             "name", "p0")
        _run(IP, "netns", "exec", probe, IPTABLES, "-I", "INPUT", "-s", "10.213.0.9", "-j",
             "DROP")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"network namespaces not usable here: {exc}"
    finally:
        _run(IP, "netns", "del", probe, check=False)
    return None


class Lab:
    """The namespaces of one test run; see the module docstring."""

    def __init__(self):
        remove_stale()
        self.run_id = f"{PREFIX}{os.getpid()}"
        self.subnet = f"10.213.{os.getpid() % 250}"
        self.bridge_ns = f"{self.run_id}-br"
        self.hosts: dict[str, str] = {}    # role name -> address
        self._next = {"ctl": 2, "proxy": 3, "redis": 10, "sentinel": 30, "other": 50}
        self._partitions: set[frozenset] = set()
        self._delays: dict[str, int] = {}
        self._saved_ns: int | None = None
        self._entered_thread: int | None = None
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)
        try:
            _run(IP, "netns", "add", self.bridge_ns)
            self._in(self.bridge_ns, IP, "link", "add", "br0", "type", "bridge")
            self._in(self.bridge_ns, IP, "link", "set", "br0", "up")
            self.add("ctl")
            self.add("proxy")
        except BaseException:
            self.close()
            raise
        self.netem_available = self._probe_netem()

    # -- building
    def ns(self, name: str) -> str:
        return f"{self.run_id}-{name}"

    def _in(self, ns: str, *argv: str, check: bool = True):
        return _run(IP, "netns", "exec", ns, *argv, check=check)

    def add(self, name: str) -> str:
        """A namespace for `name` with its eth0 on the bridge; returns its address."""
        kind = name.split("-")[0] if name.split("-")[0] in self._next else "other"
        index = name.rsplit("-", 1)[-1]
        octet = self._next[kind] + (int(index) if index.isdigit() else 0)
        if kind in ("ctl", "proxy", "other"):
            self._next[kind] += 1 if kind == "other" else 0
        addr = f"{self.subnet}.{octet}"
        if addr in self.hosts.values():
            raise ValueError(f"{name}: address {addr} taken")
        ns = self.ns(name)
        port = f"v{len(self.hosts)}"  # bridge-side name, unique inside the bridge namespace
        _run(IP, "netns", "add", ns)
        self._in(ns, IP, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                 "netns", self.bridge_ns)
        self._in(self.bridge_ns, IP, "link", "set", port, "master", "br0", "up")
        self._in(ns, IP, "addr", "add", f"{addr}/24", "dev", "eth0")
        self._in(ns, IP, "link", "set", "eth0", "up")
        self._in(ns, IP, "link", "set", "lo", "up")
        self.hosts[name] = addr
        return addr

    def placement(self, name: str) -> dict:
        """harness.Topology(placement=lab.placement): each process in its own namespace."""
        if name not in self.hosts:
            self.add(name)
        return {"host": self.hosts[name], "wrapper": self.wrapper(name)}

    def wrapper(self, name: str) -> list[str]:
        return [IP, "netns", "exec", self.ns(name)]

    def enter_ctl(self):
        """Moves the calling thread (and what it starts from now on) into the ctl namespace."""
        self._saved_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._entered_thread = threading.get_ident()
        fd = os.open(f"/run/netns/{self.ns('ctl')}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the ctl namespace failed")
        finally:
            os.close(fd)

    def leave_ctl(self):
        if self._saved_ns is None or threading.get_ident() != self._entered_thread:
            return
        _libc.setns(self._saved_ns, CLONE_NEWNET)
        os.close(self._saved_ns)
        self._saved_ns = None

    # -- faults
    def _drop(self, op: str, at: str, source: str):
        self._in(self.ns(at), IPTABLES, op, "INPUT", "-s", self.hosts[source], "-j", "DROP")

    def partition(self, a: str, b: str):
        """a and b stop hearing each other (both directions); idempotent."""
        pair = frozenset((a, b))
        with self._lock:
            if pair in self._partitions:
                return
            self._drop("-I", a, b)
            self._drop("-I", b, a)
            self._partitions.add(pair)

    def heal(self, a: str, b: str):
        pair = frozenset((a, b))
        with self._lock:
            if pair not in self._partitions:
                return
            self._drop("-D", a, b)
            self._drop("-D", b, a)
            self._partitions.discard(pair)

    def partition_groups(self, side_a: list[str], side_b: list[str]):
        for a in side_a:
            for b in side_b:
                self.partition(a, b)

    def heal_all(self):
        for pair in list(self._partitions):
            self.heal(*sorted(pair))
        for name in list(self._delays):
            self.undelay(name)

    def partitions(self) -> list[tuple[str, str]]:
        return sorted(tuple(sorted(p)) for p in self._partitions)

    def link_down(self, name: str):
        self._in(self.ns(name), IP, "link", "set", "eth0", "down")

    def link_up(self, name: str):
        self._in(self.ns(name), IP, "link", "set", "eth0", "up")

    def _probe_netem(self) -> bool:
        p = self._in(self.ns("ctl"), TC, "qdisc", "add", "dev", "lo", "root", "netem",
                     "delay", "1ms", check=False)
        if p.returncode == 0:
            self._in(self.ns("ctl"), TC, "qdisc", "del", "dev", "lo", "root", check=False)
        return p.returncode == 0

    def _nfqueue_rule(self, inbound: bool, peer: str | None) -> list[str]:
        chain = ["INPUT", "-i", "eth0"] if inbound else ["OUTPUT", "-o", "eth0"]
        if peer:
            chain += ["-s" if inbound else "-d", self.hosts[peer]]
        return [*chain, "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass"]

    def delay(self, name: str, ms: int, inbound: bool = False, peer: str | None = None):
        """Everything `name` sends on eth0 (or, inbound=True, receives), optionally only to
        or from `peer`, is delayed by ms (see the module docstring). inbound and peer need
        the NFQUEUE delayer; netem, where it exists, serves the plain case."""
        self.undelay(name)
        if self.netem_available and not inbound and not peer:
            self._in(self.ns(name), TC, "qdisc", "replace", "dev", "eth0", "root", "netem",
                     "delay", f"{ms}ms")
            self._delays[name] = None
            return
        import harness
        import sys
        from pathlib import Path
        script = str(Path(__file__).resolve().parent / "netns_delay.py")
        log = Path(f"/tmp/{self.run_id}-{name}-delay.log")
        proc = harness.ManagedProcess([*self.wrapper(name), sys.executable, script, "0",
                                       str(ms)], log).start()
        self._delays[name] = (proc, self._nfqueue_rule(inbound, peer))
        harness.wait_until(lambda: "ready" in log.read_text() or not proc.alive(), 10, 0.02,
                           "the NFQUEUE delayer to bind")
        if not proc.alive():
            raise NetemUnavailable(f"NFQUEUE delayer failed: {log.read_text()[-500:]}")
        self._in(self.ns(name), IPTABLES, "-I", *self._delays[name][1])

    def undelay(self, name: str):
        if name not in self._delays:
            return
        held = self._delays.pop(name)
        if held is None:
            self._in(self.ns(name), TC, "qdisc", "del", "dev", "eth0", "root", check=False)
            return
        proc, rule = held
        self._in(self.ns(name), IPTABLES, "-D", *rule, check=False)
        alive = proc.alive()
        proc.stop()
        if not alive:  # it died while delaying: the delay silently stopped
            raise NetemUnavailable(f"the NFQUEUE delayer of {name} died: "
                                   f"{proc.log_tail(20)}")
        try:
            proc.log_path.unlink()
        except OSError:
            pass

    # -- cleanup
    def close(self):
        """Leaves ctl and deletes every namespace of this run (their veths go with them).
        Processes started in them must be stopped first (the caller's topology.stop())."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.leave_ctl()
        for name in list(self._delays):  # the NFQUEUE delayers, by PID
            try:
                self.undelay(name)
            except Exception:  # noqa: BLE001
                pass
        for name in list_namespaces():
            if name.startswith(self.run_id + "-"):
                _run(IP, "netns", "del", name, check=False)
        atexit.unregister(self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# A harness topology and proxy inside a Lab (shared by the partition tests and the soak)

class NetSetup:
    """Lab + harness.Topology (1 master, 2 replicas, 3 sentinels, each in its namespace) +
    the proxy in the proxy namespace with its admin port; the test thread is in ctl.
    stop() stops the proxy and the servers by PID, then removes the namespaces."""

    def __init__(self, root, proxy_args: list[str] = ()):
        import harness  # the harness imports nothing from here; imported late on purpose
        self.harness = harness
        self.lab = Lab()
        self.topo = None
        self.proxy = None
        try:
            self.lab.enter_ctl()
            self.topo = harness.Topology(root, placement=self.lab.placement)
            self.topo.start()
            self.admin = harness.free_port()
            host = self.lab.hosts["proxy"]
            self.proxy = harness.Proxy(
                root, [], host=host, sentinel_addrs=[s.addr for s in self.topo.sentinels],
                wrapper=self.lab.wrapper("proxy"),
                extra_args=["--admin-listen", f"{host}:{self.admin}", *proxy_args])
            self.proxy.start()
            self.proxy.wait_writable(30)
        except BaseException:
            self.stop()
            raise

    def status(self) -> dict:
        import json
        import urllib.request
        url = f"http://{self.proxy.host}:{self.admin}/status"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read().decode())["pools"][0]

    def metric(self, name: str, **labels) -> float:
        """One sample of the proxy's /metrics (KeyError when absent)."""
        import urllib.request
        url = f"http://{self.proxy.host}:{self.admin}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    return float(line.rsplit(" ", 1)[1])
        raise KeyError(f"{name}{labels} not in /metrics")

    def proxy_master(self):
        m = self.status()["master"]
        return (m["host"], m["port"]) if m else None

    def stop(self):
        try:
            self.lab.heal_all()
        except Exception:  # noqa: BLE001
            pass
        try:
            if self.proxy:
                self.proxy.stop()
        finally:
            try:
                if self.topo:
                    self.topo.stop()
            finally:
                self.lab.close()
