"""A TLS handshake storm against the proxy, and a connected client timing its PINGs meanwhile
(issue 24): what test_tls_storm.py asserts and bench/tls_storm.py measures.

Both sides run in their own processes so that neither the storm's Python nor the prober's
shares a GIL with the other or with pytest:
- `Prober`: one TLS client (with a client certificate), connected before the storm, sending
  PING every few ms and recording each round trip; its worst round trip is the stall a
  connected client saw.
- `storm()`: N TLS clients with client certificates from a few worker processes (asyncio):
  their TCP connections are made first, then every ClientHello goes out at once, and each
  client sends one PING once its handshake is done; returns how many succeeded, the failures
  by reason, and the slowest ClientHello-to-PONG time.

Run as a script, this file is the worker (`storm` / `probe` sub-commands).
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
PING = b"*1\r\n$4\r\nPING\r\n"


def client_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


# ---------------------------------------------------------------------------------------------
# Workers (run in their own processes)

async def _connect(port: int, timeout: float):
    try:
        return await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__


async def _handshake(conn, ctx: ssl.SSLContext, timeout: float, results: list, held: list):
    t0 = time.monotonic()
    if isinstance(conn, str):
        results.append(("connect: " + conn, 0.0))
        return
    reader, writer = conn
    try:
        await asyncio.wait_for(writer.start_tls(ctx, server_hostname="localhost"), timeout)
        writer.write(PING)
        reply = await asyncio.wait_for(reader.readline(),
                                       max(0.1, timeout - (time.monotonic() - t0)))
        if reply != b"+PONG\r\n":
            results.append(("bad reply " + repr(reply[:40]), time.monotonic() - t0))
            writer.close()
            return
        results.append(("ok", time.monotonic() - t0))
        held.append(writer)
    except asyncio.TimeoutError:
        results.append(("timeout", time.monotonic() - t0))
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
        results.append((type(exc).__name__ + ": " + str(exc)[:80], time.monotonic() - t0))


async def _storm_worker(port: int, ca: str, cert: str, key: str, count: int, timeout: float):
    """TCP connections first, then (on "go") every ClientHello at once: the proxy gets the
    whole burst's handshakes readable together, as when clients elsewhere reconnect."""
    ctx = client_context(ca, cert, key)
    loop = asyncio.get_running_loop()
    conns = []
    for i in range(0, count, 100):  # under the listen backlog
        conns += await asyncio.gather(*(_connect(port, timeout)
                                        for _ in range(min(100, count - i))))
    print("connected", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    results: list = []
    held: list = []
    tasks = [asyncio.create_task(_handshake(c, ctx, timeout, results, held)) for c in conns]
    await asyncio.gather(*tasks)
    ok = [t for r, t in results if r == "ok"]
    failures: dict = {}
    for r, _ in results:
        if r != "ok":
            failures[r] = failures.get(r, 0) + 1
    print(json.dumps({"ok": len(ok), "failures": failures,
                      "slowest_ok_s": max(ok) if ok else None}), flush=True)
    # Held open until the parent says so: the connections stay while the storm is judged.
    await loop.run_in_executor(None, sys.stdin.read)
    for w in held:
        w.close()


def _probe_worker(port: int, ca: str, cert: str, key: str, interval: float):
    raw = socket.create_connection((HOST, port), timeout=30)
    # ca "-": plaintext, e.g. straight to the master, to tell the proxy's stalls from the box's.
    s = raw if ca == "-" else client_context(ca, cert, key).wrap_socket(
        raw, server_hostname="localhost")
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    rtts: list[tuple[float, float]] = []
    errors = 0
    s.sendall(PING)
    assert s.recv(64) == b"+PONG\r\n"
    print("ready", flush=True)
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            s.sendall(PING)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    raise OSError("closed")
                data += chunk
        except OSError:
            errors += 1
            break
        rtts.append((t0, time.monotonic() - t0))
        time.sleep(interval)
    worst = max(rtts, key=lambda x: x[1]) if rtts else (0, 0)
    print(json.dumps({"pings": len(rtts), "errors": errors, "worst_s": worst[1],
                      "worst_at": worst[0],
                      "p99_s": sorted(r for _, r in rtts)[int(len(rtts) * 0.99)] if rtts else 0}),
          flush=True)


# ---------------------------------------------------------------------------------------------
# Parent side

def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


class Prober:
    """The connected client: start() returns once it is connected; stop() returns its
    figures (worst_s: the worst PING round trip, seconds)."""

    def __init__(self, port: int, files, interval: float = 0.005):
        """files None: a plaintext client."""
        self.args = ["probe", str(port), *([str(files.ca), str(files.client_cert),
                                            str(files.client_key)] if files else ["-"] * 3),
                     str(interval)]
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.proc = _spawn(self.args)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError(f"prober did not connect: {line!r}")
        return self

    def stop(self) -> dict:
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def storm(port: int, files, clients: int, workers: int = 4, timeout: float = 60,
          hold: float = 0.5) -> dict:
    """N clients with certificates connecting at once; returns once all are done (connected
    or failed), after holding the connections `hold` seconds."""
    per = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
    procs = [_spawn(["storm", str(port), str(files.ca), str(files.client_cert),
                     str(files.client_key), str(n), str(timeout)]) for n in per if n]
    results = []
    try:
        for p in procs:
            if p.stdout.readline().strip() != "connected":
                raise RuntimeError("a storm worker could not connect")
        t0 = time.monotonic()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            line = p.stdout.readline()
            results.append(json.loads(line) if line else {"ok": 0, "failures": {"worker died": 1},
                                                           "slowest_ok_s": None})
        done = time.monotonic()
        elapsed = done - t0
        time.sleep(hold)
        closing = time.monotonic()
    finally:
        for p in procs:
            try:
                p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    failures: dict = {}
    for r in results:
        for k, v in r["failures"].items():
            failures[k] = failures.get(k, 0) + v
    slowest = [r["slowest_ok_s"] for r in results if r["slowest_ok_s"] is not None]
    return {"clients": clients, "ok": sum(r["ok"] for r in results), "failures": failures,
            "slowest_ok_s": max(slowest) if slowest else None, "storm_s": elapsed,
            # time.monotonic() of the ClientHellos and of the clients' closing (the prober's
            # worst_at is on the same clock)
            "started_at": t0, "closing_at": closing}


def proxy_config(path: Path, files, tls_port: int, max_handshakes: int = 5000) -> Path:
    """The proxy's [tls] section for a storm: client certificates required, and room for
    every client of the storm in its handshake at once (the handshake bound is what is
    measured, not tls.max_handshakes' refusals)."""
    path.write_text(f'[tls]\nlisten = ["{HOST}:{tls_port}"]\ncert_file = "{files.cert}"\n'
                    f'key_file = "{files.key}"\nca_file = "{files.ca}"\nverify_clients = true\n'
                    f'max_handshakes = {max_handshakes}\nhandshake_timeout_ms = 60000\n')
    return path


SENTINEL_VIEW_LOST = ("no sentinel majority", "unreachable")


def main() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    kind, port, ca, cert, key = sys.argv[1:6]
    if kind == "storm":
        asyncio.run(_storm_worker(int(port), ca, cert, key, int(sys.argv[6]),
                                  float(sys.argv[7])))
    else:
        _probe_worker(int(port), ca, cert, key, float(sys.argv[6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
