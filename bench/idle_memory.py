"""Idle memory per client of sentinel-proxy alone (issue 11 target: <= 1 KiB per client at
10,000 clients, <= 4 connections on the master), without the rest of bench/run.

Starts a local topology (1 master, 2 replicas, 3 sentinels on 127.0.0.1) and the proxy, opens
N clients (default 10,000; RLIMIT_NOFILE raised to the hard limit, N capped at half of it, as the
proxy keeps room for a backend descriptor per client) that each
send one PING and wait, and prints the proxy's VmRSS delta per client and the master's extra
connections. Every process is stopped by PID; the run gives up after --time-limit seconds.

    /usr/bin/python3 bench/idle_memory.py --proxy-bin build/sentinel-proxy [--clients 10000]
        [--tls server|mutual]

--tls server: the clients connect to a TLS listen address instead (TLS 1.3, certificates made
with openssl); --tls mutual: with client certificates too (tls.verify_clients). The PING is
sent once the handshake is done, so the figure is an idle TLS client's cost (issue 24).
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import connection_cost  # noqa: E402
from harness import HOST, Proxy, TlsFiles, Topology, free_port, stop_all_processes  # noqa: E402


def tls_clients(workdir: Path, mutual: bool):
    """A connect function for TLS clients and the proxy flags for their listen address."""
    files = TlsFiles.create(workdir)
    port = free_port()
    conf = workdir / "tls-listen.toml"
    conf.write_text(f'[tls]\nlisten = ["{HOST}:{port}"]\ncert_file = "{files.cert}"\n'
                    f'key_file = "{files.key}"\nca_file = "{files.ca}"\n'
                    f'verify_clients = {"true" if mutual else "false"}\nmax_handshakes = 100000\n')
    ctx = ssl.create_default_context(cafile=str(files.ca))
    if mutual:
        ctx.load_cert_chain(str(files.client_cert), str(files.client_key))

    def connect():
        raw = socket.create_connection((HOST, port), timeout=15)
        return ctx.wrap_socket(raw, server_hostname="localhost")
    return connect, ["--config", str(conf)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy-bin", required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--time-limit", type=float, default=180)
    ap.add_argument("--proxy-arg", action="append", default=[])
    ap.add_argument("--tls", choices=["none", "server", "mutual"], default="none")
    args = ap.parse_args()
    t_end = time.monotonic() + args.time_limit
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # The proxy keeps room for a backend fd per client: it accepts about hard / 2 clients.
    count = max(1, min(args.clients, hard // 2 - 100))
    workdir = Path(tempfile.mkdtemp(prefix="sentinel-proxy-idle-"))
    try:
        topo = Topology(workdir)
        for n in topo.nodes:
            with open(n.conf, "a") as f:
                f.write(f"maxclients {max(1000, hard - 64)}\n")
        topo.start(timeout=45)
        master = topo.current_master()
        connect, port_args = None, []
        if args.tls != "none":
            connect, port_args = tls_clients(workdir, args.tls == "mutual")
        sp = Proxy(workdir, topo.sentinel_ports, binary=args.proxy_bin,
                   extra_args=[*args.proxy_arg, *port_args])
        sp.argv[sp.argv.index("--log-level") + 1] = "warn"
        sp.start(timeout=15)
        sp.wait_writable(timeout=20)
        out = connection_cost("sentinel-proxy", sp.process.pid, sp.port, count,
                              deadline=t_end - 10, master_port=master.port, connect=connect)
        out["tls"] = args.tls
        out["master_conns_extra"] = (out.get("master_conns_with_clients", 0)
                                     - out["master_conns_before"])
        print(json.dumps(out, indent=1))
        print(f"{out['connections']} clients: {out['per_conn_ping_kib']:.2f} KiB/client after "
              f"PING, {out.get('per_conn_get_kib', float('nan')):.2f} KiB/client after GET, "
              f"master connections +{out['master_conns_extra']}")
        return 0
    finally:
        stop_all_processes()


if __name__ == "__main__":
    sys.exit(main())
