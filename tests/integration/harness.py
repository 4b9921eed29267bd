"""Real-process harness for sentinel-proxy's integration tests and the local demo.

Starts redis-server, redis-sentinel and the proxy on 127.0.0.1 with free ports, each in its own
directory, and stops every process it started by PID (fixtures, atexit, and a parent-death signal
so nothing outlives the test run). Every wait is bounded in time; every loop in count or time.
Also holds the client-side instruments the tests and the demo share: a pipelined Writer that
records every acknowledged key, a ROLE watcher and a Sentinel event recorder for timelines.

Uses Debian's redis-py (python3-redis, 4.3): run with /usr/bin/python3.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

HOST = "127.0.0.1"
MASTER_NAME = "mymaster"
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_SENTINEL = "/usr/bin/redis-sentinel"
# build/sentinel-proxy of this checkout (/work/main/build/sentinel-proxy on a developer machine)
DEFAULT_PROXY_BIN = str(Path(__file__).resolve().parents[2] / "build" / "sentinel-proxy")


def proxy_bin() -> str:
    return os.environ.get("SP_PROXY_BIN") or DEFAULT_PROXY_BIN


def now() -> float:
    return time.monotonic()


class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Calls predicate until it returns a truthy value (returned) or timeout seconds pass.

    Exceptions from predicate count as 'not yet'; the last one is reported on timeout."""
    deadline = now() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_exc = exc
        if now() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Ports and processes

_handed_out_ports: set[int] = set()
_port_lock = threading.Lock()
# ctest -j runs suites side by side: a port is also claimed across processes, by an flock on
# one file per port held until this process exits (the kernel drops it however it exits, so
# a crashed run never leaks a claim). The directory only ever holds empty files.
PORT_CLAIM_DIR = Path(os.environ.get("SP_PORT_CLAIM_DIR", "/tmp/sentinel-proxy-test-ports"))
_port_claims: dict[int, int] = {}  # port -> the open, locked descriptor


def _claim_across_processes(port: int) -> bool:
    """True if no other live test process holds `port` (and now this one does)."""
    try:
        PORT_CLAIM_DIR.mkdir(parents=True)
        os.chmod(PORT_CLAIM_DIR, 0o1777)  # shared by every user's test runs, like /tmp
    except FileExistsError:
        pass
    fd = os.open(PORT_CLAIM_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _port_claims[port] = fd  # never closed: the claim lasts as long as this process
    return True


def key_maker(prefix: str):
    """key_maker("basic")("k") -> "basic:k:<8 random hex>": keys unique per test run."""
    def make(name: str) -> str:
        return f"{prefix}:{name}:{uuid.uuid4().hex[:8]}"
    return make


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (VmRSS of /proc/PID/status; 0 if absent)."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """Peak resident set size of a process so far, in KiB (VmHWM; 0 if absent)."""
    return _status_kib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def free_port() -> int:
    """A free TCP port on 127.0.0.1, below the kernel's ephemeral range (so an outgoing
    connection cannot take it between this check and the server's bind), never handed out
    twice by this process nor to two test processes running at once."""
    low, high = 20000, 32000
    for _ in range(500):
        port = random.randrange(low, high)
        with _port_lock:
            if port in _handed_out_ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            finally:
                s.close()
            if not _claim_across_processes(port):
                continue
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("no free port found in 500 tries")


# ---------------------------------------------------------------------------------------------
# The proxy's admin endpoint

def admin_get(port: int, path: str, timeout: float = 3.0) -> tuple[int, str]:
    """(HTTP status, body without surrounding whitespace) of GET http://127.0.0.1:port/path;
    an error status (503 from /readyz) is returned like any other."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


def metric_value(text: str, name: str) -> float:
    """The sum of `name` over its label sets in a Prometheus text exposition (0 if absent)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)", line)
        if m:
            total += float(m.group(2))
    return total


def metric_sample(text: str, name: str, **labels) -> float | None:
    """The value of the first sample `name{...}` whose labels include `labels` (None: none)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def readyz(port: int, timeout: float = 3.0) -> tuple[int, str]:
    """(status, reason) of /readyz: 200 "ready", or 503 and why not."""
    return admin_get(port, "/readyz", timeout)


def pool_status(port: int, timeout: float = 5.0) -> dict:
    """The first (or only) pool of the admin endpoint's /status."""
    status, body = admin_get(port, "/status", timeout)
    assert status == 200, (status, body)
    return json.loads(body)["pools"][0]


_libc = None


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the Python process dies (PR_SET_PDEATHSIG)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass
    os.setpgrp()  # Ctrl-C in a terminal goes to us, and we stop the children ourselves


_live: dict[int, "ManagedProcess"] = {}
_live_lock = threading.Lock()


class ManagedProcess:
    """One child process, started with output to a log file and stopped by its PID."""

    def __init__(self, argv: list[str], log_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None):
        self.argv = argv
        self.log_path = log_path
        self.cwd = cwd
        self.env = env  # None: inherit ours
        self.proc: subprocess.Popen | None = None

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, env=self.env, preexec_fn=_die_with_parent, close_fds=True)
        finally:
            log.close()
        with _live_lock:
            _live[self.proc.pid] = self
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0):
        """Sends sig to our PID and reaps it; escalates to SIGKILL after timeout."""
        if self.proc is None:
            return
        proc = self.proc
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        with _live_lock:
            _live.pop(proc.pid, None)

    def log_tail(self, lines: int = 60) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError as exc:
            return f"<no log at {self.log_path}: {exc}>"
        text = data.decode("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])


def stop_all_processes():
    """Stops every process this harness started and that still runs (atexit, signal handlers)."""
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        try:
            p.stop(signal.SIGKILL, timeout=5)
        except Exception:  # noqa: BLE001
            pass


atexit.register(stop_all_processes)


# ---------------------------------------------------------------------------------------------
# Redis and Sentinel nodes

@dataclass
class TlsFiles:
    """Certificates made with `openssl` for a TLS topology: a CA, a server certificate for
    127.0.0.1/localhost (Redis, Sentinel and the proxy's client side all use it), a client
    certificate, and a CA + certificate that nobody trusts."""
    dir: Path
    ca: Path = None
    cert: Path = None
    key: Path = None
    client_cert: Path = None
    client_key: Path = None
    other_ca_cert: Path = None
    other_ca_key: Path = None

    @staticmethod
    def create(root: Path) -> "TlsFiles":
        d = Path(root) / "tls"
        d.mkdir(parents=True, exist_ok=True)
        f = TlsFiles(d)

        def run(*args):
            subprocess.run(["openssl", *args], check=True, cwd=d, capture_output=True,
                           timeout=60)

        def ca(name):
            run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt")

        def leaf(name, ca_name, ext):
            run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr")
            (d / f"{name}.ext").write_text(ext + "\n")
            run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.crt", "-CAkey",
                f"{ca_name}.key", "-CAcreateserial", "-days", "30", "-extfile", f"{name}.ext",
                "-out", f"{name}.crt")

        ca("ca")
        ca("other-ca")
        leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth,clientAuth")
        leaf("client", "ca", "extendedKeyUsage=clientAuth")
        leaf("stranger", "other-ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth,clientAuth")
        f.ca, f.cert, f.key = d / "ca.crt", d / "server.crt", d / "server.key"
        f.client_cert, f.client_key = d / "client.crt", d / "client.key"
        f.other_ca_cert, f.other_ca_key = d / "stranger.crt", d / "stranger.key"
        return f

    def client_kw(self, cert: bool = False) -> dict:
        kw = {"ssl": True, "ssl_ca_certs": str(self.ca)}
        if cert:
            kw.update(ssl_certfile=str(self.client_cert), ssl_keyfile=str(self.client_key))
        return kw

    def server_conf(self) -> list[str]:
        """redis.conf / sentinel.conf lines: TLS only, replication and Sentinel links too."""
        return [f"tls-cert-file {self.cert}", f"tls-key-file {self.key}",
                f"tls-ca-cert-file {self.ca}", "tls-auth-clients no", "tls-replication yes"]


def _client_defaults(kw: dict, password: str | None, tls_kw: dict | None) -> dict:
    """kw plus the password and TLS settings a client of a server needs, where kw has none."""
    if password:
        kw.setdefault("password", password)
    for k, v in (tls_kw or {}).items():
        kw.setdefault(k, v)
    return kw


def _client(port: int, host: str = HOST, **kw) -> redis.Redis:
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("socket_connect_timeout", 2)
    kw.setdefault("decode_responses", True)
    return redis.Redis(host=host, port=port, **kw)


class _ServerProcess:
    """What RedisNode and Sentinel share: a process in its own dir answering PING on
    HOST:self.port, its log file `dir / log_name`, and clients that authenticate with
    `self.auth_password` when it is set."""

    log_name = "server.log"
    auth_password: str | None = None
    # Where the process listens and what runs in front of it: 127.0.0.1 and nothing by
    # default; tests/integration/netns.py places nodes in network namespaces
    # (host = the namespace's address, wrapper = ["ip", "netns", "exec", <namespace>]).
    host: str = HOST
    wrapper: tuple = ()
    tls: TlsFiles | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _launch(self, argv: list[str], timeout: float):
        self.process = ManagedProcess([*self.wrapper, *argv], self.dir / "stdout.log",
                                      cwd=self.dir).start()

        def up():
            if not self.process.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            return self.client(socket_timeout=1).ping()
        wait_until(up, timeout, 0.05, f"{self.name} (port {self.port}) to answer PING")
        return self

    def stop(self, sig: int = signal.SIGTERM):
        if self.process:
            self.process.stop(sig)

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    def client(self, **kw) -> redis.Redis:
        kw = _client_defaults(kw, self.auth_password, self.tls and self.tls.client_kw())
        return _client(self.port, self.host, **kw)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.dir / self.log_name).read_text(errors="replace")
                             .splitlines()[-lines:])
        except OSError:
            return "<no log>"


class RedisNode(_ServerProcess):
    """A redis-server on 127.0.0.1 with its own dir and config file (so Sentinel's CONFIG
    REWRITE works, and a restart comes back with what Sentinel last wrote there)."""

    def __init__(self, root: Path, name: str, port: int | None = None,
                 replicaof: int | None = None, extra: dict[str, str] | None = None,
                 password: str | None = None, host: str = HOST, wrapper: tuple = (),
                 master_host: str = HOST, tls: TlsFiles | None = None):
        """password: optional `requirepass` and `masterauth` of this node; client() then
        authenticates with it (default None: no password, as before). host/wrapper: see
        _ServerProcess; master_host: the address of `replicaof`. tls: serve TLS only
        (`port 0`, `tls-port`), replicating over TLS."""
        self.name = name
        self.host, self.wrapper = host, tuple(wrapper)
        self.tls = tls
        self.password = self.auth_password = password
        self.port = port or free_port()
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "redis.conf"
        lines = [
            *([f"port 0", f"tls-port {self.port}", *tls.server_conf()] if tls
              else [f"port {self.port}"]), f"bind {self.host}", f"dir {self.dir}", 'save ""',
            "appendonly no", "daemonize no", f"logfile {self.dir / 'redis.log'}",
        ]
        if host != HOST:  # a namespace address: its clients come from other namespaces
            lines.append("protected-mode no")
        if replicaof:
            lines.append(f"replicaof {master_host} {replicaof}")
        if password:
            lines += [f"requirepass {password}", f"masterauth {password}"]
        for k, v in (extra or {}).items():
            lines.append(f"{k} {v}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: ManagedProcess | None = None

    log_name = "redis.log"

    def start(self, timeout: float = 15.0):
        return self._launch([REDIS_SERVER, str(self.conf)], timeout)

    restart = start  # same port, same dir, same (possibly Sentinel-rewritten) config

    def role(self) -> str:
        """'master', 'slave', or 'down'."""
        try:
            return self.client(socket_timeout=1).execute_command("ROLE")[0]
        except redis.RedisError:
            return "down"


class Sentinel(_ServerProcess):
    """A redis-sentinel on 127.0.0.1 with a writable config file monitoring mymaster."""

    def __init__(self, root: Path, name: str, master_port: int, quorum: int = 2,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 10000,
                 auth_pass: str | None = None, requirepass: str | None = None,
                 host: str = HOST, wrapper: tuple = (), master_host: str = HOST,
                 tls: TlsFiles | None = None):
        """auth_pass: optional `sentinel auth-pass` (the Redis nodes' password); requirepass:
        optional password of the sentinel itself (client() then authenticates with it; the
        sentinels use it with each other too). Both default to None: as before.
        host/wrapper: see _ServerProcess; master_host: the monitored master's address."""
        self.name = name
        self.host, self.wrapper = host, tuple(wrapper)
        self.tls = tls
        self.requirepass = self.auth_password = requirepass
        self.port = free_port()
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text("\n".join([
            f"dir {self.dir}",
            f"logfile {self.dir / 'sentinel.log'}",
            f"sentinel monitor {MASTER_NAME} {master_host} {master_port} {quorum}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
            *([f"sentinel auth-pass {MASTER_NAME} {auth_pass}"] if auth_pass else []),
            *([f"requirepass {requirepass}"] if requirepass else []),
            *(["protected-mode no"] if host != HOST else []),
            *(tls.server_conf() if tls else []),
        ]) + "\n")
        self.process: ManagedProcess | None = None

    log_name = "sentinel.log"

    def start(self, timeout: float = 15.0):
        ports = (["--port", "0", "--tls-port", str(self.port)] if self.tls
                 else ["--port", str(self.port)])
        return self._launch([REDIS_SENTINEL, str(self.conf), *ports, "--bind", self.host],
                            timeout)

    def master_addr(self) -> tuple[str, int] | None:
        try:
            r = self.client(socket_timeout=1).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        except redis.RedisError:
            return None
        return (r[0], int(r[1])) if r else None

    def master_state(self) -> dict:
        raw = self.client(socket_timeout=1).execute_command("SENTINEL", "MASTER", MASTER_NAME)
        return dict(zip(raw[::2], raw[1::2]))

    def replicas_state(self) -> list[dict]:
        raw = self.client(socket_timeout=1).execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
        return [dict(zip(r[::2], r[1::2])) for r in raw]


class Topology:
    """1 master + N replicas (redis-server) + M sentinels on 127.0.0.1.

    A failover changes which node is master: always ask (current_master()), never assume."""

    def __init__(self, root: Path, replicas: int = 2, sentinels: int = 3, quorum: int = 2,
                 replica_extra: dict[str, str] | None = None, redis_password: str | None = None,
                 sentinel_password: str | None = None, placement=None,
                 tls: TlsFiles | None = None, down_after_ms: int = 1000):
        """redis_password: requirepass + masterauth on every node and `sentinel auth-pass` on
        every sentinel; sentinel_password: requirepass of the sentinels themselves. Both
        default to None (no passwords anywhere, as before). placement: optional
        callable(name) -> dict(host=..., wrapper=...) putting each process somewhere else
        than 127.0.0.1 (tests/integration/netns.py: one network namespace per process).
        down_after_ms: the sentinels' down-after-milliseconds (default 1000)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.quorum = quorum
        self.tls = tls  # a TLS-only topology: every node and sentinel (see TlsFiles)
        place = placement or (lambda name: {})
        master = RedisNode(self.root, "redis-0", password=redis_password, tls=tls,
                           **place("redis-0"))
        self.nodes = [master] + [
            RedisNode(self.root, f"redis-{i + 1}", replicaof=master.port, extra=replica_extra,
                      password=redis_password, master_host=master.host, tls=tls,
                      **place(f"redis-{i + 1}"))
            for i in range(replicas)]
        self.sentinels = [Sentinel(self.root, f"sentinel-{i}", master.port, quorum,
                                   down_after_ms=down_after_ms, auth_pass=redis_password, requirepass=sentinel_password,
                                   master_host=master.host, tls=tls, **place(f"sentinel-{i}"))
                          for i in range(sentinels)]
        self.initial_master = master

    # -- lifecycle
    def start(self, timeout: float = 45.0):
        try:
            for n in self.nodes:
                n.start()
            self.wait_replication(self.initial_master, timeout=20)
            for s in self.sentinels:
                s.start()
            self.wait_sentinels_ready(self.initial_master.addr, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for s in self.sentinels:
            try:
                s.stop(signal.SIGKILL)
            except Exception:  # noqa: BLE001
                pass
        for n in self.nodes:
            try:
                n.stop(signal.SIGKILL)
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- lookups
    @property
    def sentinel_ports(self) -> list[int]:
        return [s.port for s in self.sentinels]

    def node_at(self, addr) -> RedisNode:
        for n in self.nodes:
            if n.addr == tuple(addr) or n.port == addr[1]:
                return n
        raise KeyError(addr)

    def live_sentinels(self) -> list[Sentinel]:
        return [s for s in self.sentinels if s.alive()]

    def sentinel_views(self) -> dict[int, tuple[str, int] | None]:
        return {s.port: s.master_addr() for s in self.live_sentinels()}

    def agreed_master(self) -> tuple[str, int] | None:
        """The address at least `quorum` live sentinels name, or None."""
        counts: dict = {}
        for addr in self.sentinel_views().values():
            if addr:
                counts[addr] = counts.get(addr, 0) + 1
        for addr, c in counts.items():
            if c >= self.quorum:
                return addr
        return None

    def current_master(self, timeout: float = 20.0) -> RedisNode:
        """The node a sentinel quorum names and that answers ROLE as master."""
        def check():
            addr = self.agreed_master()
            if addr and self.node_at(addr).role() == "master":
                return self.node_at(addr)
            return None
        return wait_until(check, timeout, 0.1, "a sentinel quorum to agree on a live master")

    def replicas_of(self, master: RedisNode) -> list[RedisNode]:
        return [n for n in self.nodes if n is not master]

    # -- waits
    def wait_replication(self, master: RedisNode, count: int | None = None, timeout: float = 20.0):
        """Until master has `count` online replicas whose links are up."""
        if count is None:
            count = sum(1 for n in self.nodes if n is not master and n.alive())

        def check():
            info = master.client(socket_timeout=1).info("replication")
            if info.get("role") != "master":
                return False
            online = [v for k, v in info.items()
                      if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"]
            return len(online) >= count
        wait_until(check, timeout, 0.1, f"{master.name} to have {count} online replicas")

    def wait_sentinels_ready(self, master_addr, replicas: int | None = None,
                             timeout: float = 45.0):
        """Until every live sentinel names master_addr, sees `replicas` healthy replicas and
        every other live sentinel."""
        if replicas is None:
            replicas = len(self.nodes) - 1
        others = len(self.live_sentinels()) - 1

        def check():
            for s in self.live_sentinels():
                if s.master_addr() != tuple(master_addr):
                    return False
                st = s.master_state()
                if int(st["num-other-sentinels"]) < others:
                    return False
                good = [r for r in s.replicas_state()
                        if not any(f in r["flags"] for f in ("s_down", "o_down", "disconnected"))
                        and r.get("master-link-status") == "ok"]
                if len(good) < replicas:
                    return False
            return True
        wait_until(check, timeout, 0.2,
                   f"every sentinel to see master {master_addr}, {replicas} replicas, "
                   f"{others} other sentinels")

    def wait_stable(self, timeout: float = 40.0) -> RedisNode:
        """After a failover or restart: a quorum-agreed master, every other live node its
        replica with the link up, and every live sentinel seeing all of it."""
        deadline = now() + timeout
        master = self.current_master(timeout=max(1.0, deadline - now()))
        live_replicas = [n for n in self.nodes if n is not master and n.alive()]

        def replicas_attached():
            for n in live_replicas:
                info = n.client(socket_timeout=1).info("replication")
                if info.get("role") != "slave" or info.get("master_port") != master.port \
                        or info.get("master_link_status") != "up":
                    return False
            return True
        wait_until(replicas_attached, max(1.0, deadline - now()), 0.2,
                   f"live nodes to replicate from {master.name}")
        self.wait_sentinels_ready(master.addr, replicas=len(live_replicas),
                                  timeout=max(1.0, deadline - now()))
        return master

    def wait_for_switch(self, old_addr, timeout: float = 30.0) -> RedisNode:
        """Until a sentinel quorum names a master other than old_addr and it answers ROLE
        master. Returns the new master node."""
        def check():
            addr = self.agreed_master()
            if addr and addr != tuple(old_addr) and self.node_at(addr).role() == "master":
                return self.node_at(addr)
            return None
        return wait_until(check, timeout, 0.05, f"sentinels to switch away from {old_addr}")

    # -- failovers
    def planned_failover(self, timeout: float = 30.0) -> float:
        """SENTINEL FAILOVER mymaster on a live sentinel, retried while it answers INPROG or
        NOGOODSLAVE (replicas still syncing). Returns the monotonic time it was accepted."""
        deadline = now() + timeout
        last = None
        attempt = 0
        while now() < deadline and attempt < 100:
            attempt += 1
            s = self.live_sentinels()[attempt % len(self.live_sentinels())]
            t = now()
            try:
                s.client(socket_timeout=2).execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
                return t
            except redis.ResponseError as exc:
                last = exc
                if "INPROG" in str(exc) or "NOGOODSLAVE" in str(exc):
                    time.sleep(0.5)
                    continue
                raise
            except redis.ConnectionError as exc:
                last = exc
                time.sleep(0.2)
        raise WaitTimeout(f"SENTINEL FAILOVER not accepted within {timeout}s: {last!r}")

    def kill_master(self) -> tuple[RedisNode, float]:
        """SIGKILL of the current master. Returns (node, monotonic time of the kill)."""
        master = self.current_master()
        t = now()
        master.stop(signal.SIGKILL)
        return master, t

    def restart_node(self, node: RedisNode) -> RedisNode:
        """Restarts a stopped node on its port/dir; Sentinel later converts it to a replica."""
        return node.restart()

    def wait_rejoined(self, node: RedisNode, timeout: float = 40.0):
        """Until node is a replica of the current master with its link up."""
        def check():
            master = self.current_master(timeout=2)
            info = node.client(socket_timeout=1).info("replication")
            return (info.get("role") == "slave" and info.get("master_port") == master.port
                    and info.get("master_link_status") == "up")
        wait_until(check, timeout, 0.2, f"{node.name} to rejoin as a replica")

    def log_tails(self, lines: int = 15) -> str:
        parts = []
        for x in self.nodes + self.sentinels:
            parts.append(f"--- {x.name} (port {x.port}) ---\n{x.log_tail(lines)}")
        return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The proxy

# Lines that only a sanitizer writes (ASan, LSan, UBSan); see Proxy.check_sanitizer_reports.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                      "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def env_threads_args(extra_args) -> list[str]:
    """["--threads", N] when SP_PROXY_THREADS=N is set and extra_args name no --threads of
    their own: tests/run runs a subset of the suites with every proxy on 2 data-plane workers
    (issue 24) without touching the suites. A test that sets proxy.threads in a config file
    it passes with --config is overridden by the flag, as an operator's flag would."""
    threads = os.environ.get("SP_PROXY_THREADS", "").strip()
    if not threads or any(a == "--threads" or str(a).startswith("--threads=")
                          for a in extra_args):
        return []
    return ["--threads", threads]


class Proxy:
    """The sentinel-proxy binary under test, logging to a file in its own dir."""

    def __init__(self, root: Path, sentinel_ports: list[int], extra_args: list[str] = (),
                 binary: str | None = None, port: int | None = None, name: str = "proxy",
                 sentinel_host: str = HOST, client_password: str | None = None,
                 extra_env: dict[str, str] | None = None, wrapper: list[str] = (),
                 host: str = HOST, sentinel_addrs: list[tuple[str, int]] | None = None,
                 tls: TlsFiles | None = None, tls_extra: str = "", env_threads: bool = True):
        """sentinel_host: how the proxy is told the sentinels' host (default 127.0.0.1; e.g.
        "localhost" to make it resolve a host name). client_password: the proxy's
        --client-password, if the test passes one in extra_args; client() and connection()
        then authenticate with it by default (default None: no AUTH, as before).
        extra_env: variables added to the inherited environment. wrapper: argv run in front
        of the binary (e.g. ["prlimit", "--nofile=64:64", "--"]). host: the listen address
        (default 127.0.0.1); sentinel_addrs: (host, port) of each sentinel, instead of
        sentinel_host + sentinel_ports (sentinels in network namespaces).
        env_threads: honour SP_PROXY_THREADS (see env_threads_args); False for a test of the
        default worker count itself."""
        self.host = host
        self.client_password = client_password
        self.env = {**os.environ, **extra_env} if extra_env else None
        self.binary = binary or proxy_bin()
        self.port = port or free_port()
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "proxy.log"
        argv = [self.binary, "--listen", f"{host}:{self.port}"]
        for h, p in sentinel_addrs or [(sentinel_host, p) for p in sentinel_ports]:
            argv += ["--sentinel", f"{h}:{p}"]
        argv += ["--master", MASTER_NAME, "--log-level", "debug", *extra_args]
        argv += env_threads_args(extra_args) if env_threads else []
        self.tls = tls
        self.tls_port = None
        if tls:
            # TLS to Redis and Sentinel, and a TLS listen address next to the plaintext one;
            # client() uses the TLS one.
            self.tls_port = free_port()
            self.config_path = self.dir / "tls.toml"
            self.config_path.write_text(
                f'[tls]\nlisten = ["{host}:{self.tls_port}"]\ncert_file = "{tls.cert}"\n'
                f'key_file = "{tls.key}"\nca_file = "{tls.ca}"\n{tls_extra}\n'
                f'[redis_tls]\nenabled = true\nca_file = "{tls.ca}"\n'
                f'[sentinel_tls]\nenabled = true\nca_file = "{tls.ca}"\n')
            argv += ["--config", str(self.config_path)]
        self.argv = [*wrapper, *argv]
        self.process: ManagedProcess | None = None
        self._sanitizer_scanned = 0  # log bytes already checked for sanitizer reports

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def start(self, timeout: float = 15.0):
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise FileNotFoundError(f"proxy binary not found or not executable: {self.binary} "
                                    "(set SP_PROXY_BIN)")
        self.process = ManagedProcess(self.argv, self.log_path, cwd=self.dir, env=self.env).start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0):
        """Until the proxy accepts a connection and answers PING (it does so with no master)."""
        def check():
            if not self.process.alive():
                raise RuntimeError(f"proxy exited with {self.process.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            return self.client(socket_timeout=1, socket_connect_timeout=1).ping()
        try:
            wait_until(check, timeout, 0.05, "the proxy to answer PING")
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n--- proxy log tail ---\n{self.log_tail()}") from None

    def wait_writable(self, timeout: float = 20.0):
        """Until a SET through the proxy succeeds (it has verified a master)."""
        key = f"sp:ready:{uuid.uuid4().hex}"
        c = self.client(socket_timeout=3)
        try:
            wait_until(lambda: c.set(key, "1"), timeout, 0.1, "a SET through the proxy")
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n--- proxy log tail ---\n{self.log_tail()}") from None
        finally:
            c.close()

    def stop(self, sig: int = signal.SIGTERM):
        """Stops the proxy by PID, then fails (AssertionError) if its log holds a sanitizer
        report: after the exit, so LeakSanitizer's exit-time report is in."""
        if self.process:
            self.process.stop(sig)
            self.check_sanitizer_reports()

    def check_sanitizer_reports(self):
        """Raises AssertionError when the log (written since the last check) holds an
        AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report. Checked in every
        build (the patterns never occur otherwise); tests/run-sanitized runs the ASan build."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._sanitizer_scanned)
                data = f.read()
        except OSError:
            return
        self._sanitizer_scanned += len(data)
        text = data.decode("utf-8", "replace")
        found = [line for line in text.splitlines()
                 if any(p in line for p in SANITIZER_PATTERNS)]
        if found:
            first = text.find(found[0])
            raise AssertionError(
                f"sanitizer report in {self.log_path}:\n" + text[max(0, first - 200):][:6000])

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    def client(self, **kw) -> redis.Redis:
        kw = _client_defaults(kw, self.client_password, self.tls and self.tls.client_kw(cert=True))
        return _client(self.tls_port if self.tls else self.port, self.host, **kw)

    def answers_ping(self) -> bool:
        """Running, and answers PING (with its own reply) on a new connection."""
        if not self.alive():
            return False
        conn = self.connection(socket_timeout=5)
        try:
            return raw_command(conn, "PING") == "PONG"
        finally:
            conn.disconnect()

    def connection(self, **kw) -> redis.Connection:
        """One raw connection that never reconnects behind the test's back (redis.Redis does
        on an idle pooled connection, which would hide a proxy closing it)."""
        kw.setdefault("socket_timeout", 15)
        kw.setdefault("socket_connect_timeout", 2)
        kw.setdefault("decode_responses", True)
        if self.client_password:
            kw.setdefault("password", self.client_password)
        c = redis.Connection(host=self.host, port=self.port, **kw)
        c.connect()
        return c

    def log_tail(self, lines: int = 60) -> str:
        if self.process:
            return self.process.log_tail(lines)
        return "<proxy not started>"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def raw_command(conn: redis.Connection, *args):
    """Sends one command on a raw connection and returns its reply (errors are returned as
    exception objects rather than raised, so tests can assert on them)."""
    conn.send_command(*args)
    try:
        return conn.read_response()
    except redis.ResponseError as exc:
        return exc


# ---------------------------------------------------------------------------------------------
# Client-side instruments

def error_kind(exc: BaseException) -> str:
    """'connection' for what every client treats as retryable (redis-py's ConnectionError and
    TimeoutError, including BusyLoadingError), 'response' for an error reply (ResponseError:
    READONLY, a made-up -ERR...), 'other' for anything else."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return "connection"
    if isinstance(exc, redis.ResponseError):
        return "response"
    return "other"


@dataclass
class WriterStats:
    prefix: str
    started_at: float
    stopped_at: float
    batches: list = field(default_factory=list)   # (t_ack, first_seq, n) per acknowledged batch
    errors: list = field(default_factory=list)    # (t, type name, message, error_kind())
    attempts: int = 0

    @property
    def acked(self) -> int:
        return sum(n for _, _, n in self.batches)

    def key(self, seq: int) -> str:
        return f"{self.prefix}:{seq}"

    @staticmethod
    def value(seq: int) -> str:
        return f"v{seq}"

    def acked_seqs(self, after: float | None = None, before: float | None = None):
        for t, first, n in self.batches:
            if (after is None or t > after) and (before is None or t <= before):
                yield from range(first, first + n)

    def ack_times(self) -> list[float]:
        return [t for t, _, _ in self.batches]

    def longest_gap(self, start: float | None = None, end: float | None = None) -> float:
        """Longest time without an acknowledged write, between start and end (defaults: the
        writer's own start and stop)."""
        start = self.started_at if start is None else start
        end = self.stopped_at if end is None else end
        points = [start] + [t for t in self.ack_times() if start < t < end] + [end]
        return max((b - a for a, b in zip(points, points[1:])), default=0.0)

    def first_ack_after(self, t: float) -> float | None:
        for ta in self.ack_times():
            if ta > t:
                return ta
        return None

    def error_types(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, name, _, _ in self.errors:
            out[name] = out.get(name, 0) + 1
        return out

    def verify_on(self, client: redis.Redis, seqs, chunk: int = 1000):
        """Reads the given acknowledged keys straight from a node. Returns (missing, wrong)
        lists of seqs."""
        seqs = list(seqs)
        missing, wrong = [], []
        for i in range(0, len(seqs), chunk):
            part = seqs[i:i + chunk]
            values = client.mget([self.key(s) for s in part])
            for s, v in zip(part, values):
                if v is None:
                    missing.append(s)
                elif v != self.value(s):
                    wrong.append(s)
        return missing, wrong


class BackgroundLoop:
    """A daemon thread calling `step(i)` (i = 0, 1, 2, ...) every `interval` s until stop() or
    `max_seconds`. An exception from step() is recorded in `self.errors` as (t, type name,
    message) (the message cut to `error_chars` if set; `error_record()` may add more), then the
    loop waits `error_pause` (if set) and goes on, or ends if `stop_on_error`. While `paused` is
    set, step() is not called and the loop polls every `pause_poll` s. Subclasses set `name`,
    may prepare per-thread state in `setup()`, narrow the loop with `running()` and release
    resources in `close()` (called by stop() after the join)."""

    name = "background-loop"
    error_chars: int | None = None
    error_pause: float = 0.0
    stop_on_error = False
    pause_poll = 0.05

    def __init__(self, interval: float = 0.0, max_seconds: float = 300.0,
                 join_timeout: float = 20.0):
        self.interval = interval
        self.max_seconds = max_seconds
        self.join_timeout = join_timeout
        self.errors: list[tuple] = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)

    def start(self):
        self._thread.start()
        return self

    def setup(self):
        """Runs in the thread before the first step."""

    def running(self) -> bool:
        return True

    def step(self, i: int):
        raise NotImplementedError

    def error_record(self, exc: BaseException) -> tuple:
        msg = str(exc)
        if self.error_chars is not None:
            msg = msg[:self.error_chars]
        return (now(), type(exc).__name__, msg)

    def _run(self):
        self.setup()
        deadline = now() + self.max_seconds
        i = 0
        while not self._stop.is_set() and now() < deadline and self.running():
            if self.paused.is_set():
                self._stop.wait(self.pause_poll)
                continue
            try:
                self.step(i)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                self.errors.append(self.error_record(exc))
                if self.stop_on_error:
                    return
                if self.error_pause:
                    self._stop.wait(self.error_pause)
            finally:
                i += 1
            if self.interval:
                self._stop.wait(self.interval)

    def close(self):
        """Runs in stop() after the thread has been joined."""

    def stop(self):
        self._stop.set()
        self._thread.join(self.join_timeout)
        self.close()
        return self


def stop_all(started: list):
    """Stops what a fixture started, last first, ignoring failures (fixture cleanup)."""
    for x in reversed(started):
        try:
            x.stop()
        except Exception:  # noqa: BLE001
            pass


class Writer:
    """A background thread writing through one host:port with redis-py pipelines of `batch`
    SETs (keys unique per run), recording every acknowledged key, every error (type + time)
    and hence the gaps between acknowledged writes. After an error it waits `error_pause`
    and goes on with fresh keys (the errored batch's outcome is unknown, so it is not counted
    as acknowledged)."""

    def __init__(self, host: str, port: int, batch: int = 10, interval: float = 0.002,
                 socket_timeout: float = 15.0, error_pause: float = 0.05, prefix: str | None = None,
                 max_seconds: float = 300.0, password: str | None = None,
                 ssl_kw: dict | None = None):
        self.host, self.port = host, port
        self.ssl_kw = ssl_kw or {}  # e.g. TlsFiles.client_kw(): the load goes over TLS
        self.password = password  # optional AUTH on connect (default None: none, as before)
        self.batch = batch
        self.interval = interval
        self.socket_timeout = socket_timeout
        self.error_pause = error_pause
        self.max_seconds = max_seconds
        self.prefix = prefix or f"w:{uuid.uuid4().hex[:10]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = WriterStats(self.prefix, 0.0, 0.0)
        self._lock = threading.Lock()

    def start(self):
        self.stats.started_at = now()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        r = redis.Redis(host=self.host, port=self.port, socket_timeout=self.socket_timeout,
                        socket_connect_timeout=5, decode_responses=True, password=self.password,
                        **self.ssl_kw)
        seq = 0
        deadline = now() + self.max_seconds
        try:
            while not self._stop.is_set() and now() < deadline:
                first = seq
                seq += self.batch
                self.stats.attempts += 1
                try:
                    with r.pipeline(transaction=False) as p:
                        for s in range(first, first + self.batch):
                            p.set(f"{self.prefix}:{s}", f"v{s}")
                        result = p.execute()
                    t = now()
                    if all(x is True for x in result):
                        with self._lock:
                            self.stats.batches.append((t, first, self.batch))
                    else:
                        with self._lock:
                            self.stats.errors.append((t, "UnexpectedReply", repr(result)[:200],
                                                      "reply"))
                except Exception as exc:  # noqa: BLE001 - every failure is recorded
                    with self._lock:
                        self.stats.errors.append((now(), type(exc).__name__, str(exc)[:200],
                                                  error_kind(exc)))
                    self._stop.wait(self.error_pause)
                    continue
                if self.interval:
                    self._stop.wait(self.interval)
        finally:
            r.close()

    def acked_so_far(self) -> int:
        with self._lock:
            return sum(n for _, _, n in self.stats.batches)

    def last_ack(self) -> float | None:
        with self._lock:
            return self.stats.batches[-1][0] if self.stats.batches else None

    def wait_acks(self, count: int, timeout: float = 20.0):
        """Until at least `count` more writes than now are acknowledged."""
        target = self.acked_so_far() + count
        wait_until(lambda: self.acked_so_far() >= target, timeout, 0.02,
                   f"{count} more acknowledged writes")

    def stop(self, timeout: float = 30.0) -> WriterStats:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise WaitTimeout("writer thread did not stop")
        self.stats.stopped_at = now()
        return self.stats


class ClientLoop(BackgroundLoop):
    """A BackgroundLoop working through one redis-py client, closed when the loop stops."""

    def __init__(self, client: redis.Redis, interval: float = 0.0, max_seconds: float = 300.0):
        super().__init__(interval, max_seconds)
        self.client = client

    def close(self):
        self.client.close()


def failover_under_writes(topo: "Topology", port: int, before: int = 500, after: int = 500,
                          timeout: float = 40.0):
    """A Writer through 127.0.0.1:port, `before` acknowledged writes, SENTINEL FAILOVER, the
    sentinels' switch, `after` more. Returns (old master, new master, WriterStats)."""
    old = topo.current_master()
    writer = Writer(HOST, port).start()
    try:
        writer.wait_acks(before, timeout=30)
        topo.planned_failover()
        new = topo.wait_for_switch(old.addr, timeout=timeout)
        writer.wait_acks(after, timeout=timeout)
    finally:
        stats = writer.stop()
    return old, new, stats


def start_failover_instruments(topo: "Topology", port: int, started: list):
    """What a failover timeline records, started and appended to `started` (the caller stops
    them): the sentinels' events, every node's ROLE changes and a Writer through
    127.0.0.1:port, returned once the Writer has 500 acknowledged writes."""
    events = SentinelEvents(topo.live_sentinels()).start()
    started.append(events)
    roles = RoleWatcher(topo.nodes).start()
    started.append(roles)
    writer = Writer(HOST, port).start()
    started.append(writer)
    writer.wait_acks(500, timeout=30)
    return events, roles, writer


class RoleWatcher(BackgroundLoop):
    """Polls ROLE of the given nodes every `interval` and records each change as
    (t, node name, role), role being 'master', 'slave' or 'down'."""

    name = "role-watcher"

    def __init__(self, nodes: list[RedisNode], interval: float = 0.05, max_seconds: float = 300):
        super().__init__(interval, max_seconds, join_timeout=5)
        self.nodes = nodes
        self.changes: list[tuple[float, str, str]] = []
        self._last: dict[str, str] = {}

    def setup(self):
        self._clients = {n.name: n.client(socket_timeout=0.5, socket_connect_timeout=0.5)
                         for n in self.nodes}

    def step(self, i: int):
        for n in self.nodes:
            try:
                role = self._clients[n.name].execute_command("ROLE")[0]
            except redis.RedisError:
                role = "down"
            if self._last.get(n.name) != role:
                self._last[n.name] = role
                self.changes.append((now(), n.name, role))

    def first(self, name: str, role: str, after: float = 0.0) -> float | None:
        for t, n, r in list(self.changes):
            if n == name and r == role and t > after:
                return t
        return None


class SentinelEvents(BackgroundLoop):
    """Records every Sentinel event (PSUBSCRIBE *) of the given sentinels as
    (t, sentinel port, channel, data)."""

    name = "sentinel-events"

    def __init__(self, sentinels: list[Sentinel], max_seconds: float = 300):
        super().__init__(0.0, max_seconds, join_timeout=5)
        self.sentinels = sentinels
        self.events: list[tuple[float, int, str, str]] = []
        self._subs = []

    def start(self):
        for s in self.sentinels:
            p = s.client(socket_timeout=5).pubsub(ignore_subscribe_messages=True)
            p.psubscribe("*")
            self._subs.append((s.port, p))
        return super().start()

    def running(self) -> bool:
        return bool(self._subs)

    def step(self, i: int):
        for port, p in list(self._subs):
            try:
                m = p.get_message(timeout=0.02)
            except (redis.RedisError, OSError, ValueError):
                self._subs.remove((port, p))
                continue
            if m and m.get("type") == "pmessage":
                self.events.append((now(), port, m["channel"], m["data"]))

    def first(self, channel: str, after: float = 0.0) -> float | None:
        for t, _, ch, _ in list(self.events):
            if ch == channel and t > after:
                return t
        return None

    def close(self):
        for _, p in self._subs:
            try:
                p.close()
            except Exception:  # noqa: BLE001
                pass


def proxy_log_lines(proxy: Proxy, needle: str) -> list[str]:
    return [line for line in proxy.log_text().splitlines() if needle in line]


def format_figures(name: str, figures: dict) -> str:
    """One line per figure, under a marker a reader can grep for."""
    lines = [f"== sentinel-proxy figures: {name} =="]
    for k, v in figures.items():
        if isinstance(v, float):
            v = f"{v:.3f}"
        lines.append(f"   {k}: {v}")
    return "\n".join(lines)


class LogWatcher(BackgroundLoop):
    """Tails a log file in a thread and timestamps (monotonic) each new line as it appears, so
    a process's log lines can be put on the same timeline as client-side events whatever the
    log's own time format."""

    name = "log-watcher"

    def __init__(self, path: Path, interval: float = 0.05, max_seconds: float = 300):
        super().__init__(interval, max_seconds, join_timeout=5)
        self.path = Path(path)
        self.lines: list[tuple[float, str]] = []
        self._offset = 0
        self._partial = b""

    def step(self, i: int):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read(1 << 20)
                self._offset += len(data)
        except OSError:
            data = b""
        if data:
            t = now()
            chunks = (self._partial + data).split(b"\n")
            self._partial = chunks.pop()
            for c in chunks:
                self.lines.append((t, c.decode("utf-8", "replace")))

    def matching(self, needle: str, after: float = 0.0) -> list[tuple[float, str]]:
        return [(t, s) for t, s in list(self.lines) if needle in s and t > after]


# ---------------------------------------------------------------------------------------------
# A raw RESP socket (exact bytes in, parsed replies out: RESP3 types, protocol errors)

class RespError(str):
    """An error reply read by RawResp (its text without the leading '-')."""


class RawResp:
    """One plain TCP connection to host:port: sends exact bytes and parses replies (RESP2 and
    RESP3) itself, so a test sees precisely what the server wrote and when it closed. Every
    read is bounded by `timeout` seconds."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def command(self, *args) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def call(self, *args):
        self.send(self.command(*args))
        return self.read_reply()

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("connection closed by peer")
        self.buf += data

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def first_byte(self) -> bytes:
        """The type byte of the next reply, without consuming it."""
        while not self.buf:
            self._fill()
        return self.buf[:1]

    def read_reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+",):
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            return RespError(data.decode()) if t == b"!" else data.decode("utf-8", "replace")
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        if t in (b"%", b"|"):
            n = int(rest)
            return {self._key(self.read_reply()): self.read_reply() for _ in range(n)}
        if t == b"_":
            return None
        if t == b",":
            return float(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"(":
            return int(rest)
        raise ValueError(f"unknown reply type in {line!r}")

    @staticmethod
    def _key(k):
        return tuple(k) if isinstance(k, list) else k

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """True if the peer closes the connection within timeout (EOF or reset), once every
        byte still buffered has been read; False if it stays open that long."""
        deadline = now() + timeout
        while now() < deadline:
            self.sock.settimeout(max(0.05, min(1.0, deadline - now())))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True
            self.buf += data
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
