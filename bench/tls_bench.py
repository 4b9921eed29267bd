#!/usr/bin/env python3
"""TLS throughput (issue 13): redis-benchmark GET/SET through sentinel-proxy with TLS on both
sides, as a ratio to redis-benchmark straight to a TLS Redis (`--tls --cacert`), next to the
same ratio in plaintext. Each side runs on its own 1 master + 1 sentinel topology on
127.0.0.1 (certificates made with openssl); targets are alternated round by round. Writes
bench/results/<date>-<host>-tls.{md,json}; run by bench/run after bench.py."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import HOST, Proxy, TlsFiles, Topology, stop_all_processes  # noqa: E402

REDIS_BENCHMARK = "/usr/bin/redis-benchmark"


def bench(port: int, tls: TlsFiles | None, clients: int, pipeline: int, requests: int):
    argv = [REDIS_BENCHMARK, "-h", HOST, "-p", str(port), "-t", "get,set", "-n", str(requests),
            "-c", str(clients), "-r", "100000", "-P", str(pipeline), "--csv"]
    if tls:
        argv += ["--tls", "--cacert", str(tls.ca), "--cert", str(tls.client_cert),
                 "--key", str(tls.client_key)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    rows = {r["test"]: float(r["rps"]) for r in csv.DictReader(io.StringIO(out.stdout))
            if r.get("rps")}
    if "SET" not in rows or "GET" not in rows:
        raise RuntimeError(f"redis-benchmark failed: {(out.stderr or out.stdout)[-300:]}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy-bin", required=True)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-tls-bench-"))
    files = TlsFiles.create(root)
    topos, proxies = [], []
    try:
        plain = Topology(root / "plain", replicas=0, sentinels=1, quorum=1).start()
        topos.append(plain)
        tls = Topology(root / "tls", replicas=0, sentinels=1, quorum=1, tls=files).start()
        topos.append(tls)
        p_plain = Proxy(root / "pp", plain.sentinel_ports, binary=args.proxy_bin,
                        extra_args=["--log-level", "warn"]).start()
        proxies.append(p_plain)
        p_tls = Proxy(root / "pt", tls.sentinel_ports, binary=args.proxy_bin, tls=files,
                      extra_args=["--log-level", "warn"]).start()
        proxies.append(p_tls)
        p_plain.wait_writable(30)
        p_tls.wait_writable(30)
        targets = {
            "plaintext direct": (plain.nodes[0].port, None),
            "plaintext sentinel-proxy": (p_plain.port, None),
            "TLS direct": (tls.nodes[0].port, files),
            "TLS sentinel-proxy": (p_tls.tls_port, files),
        }
        scenarios = [(50, 1), (50, 16)]
        results: dict = {}
        for r in range(args.rounds):
            for clients, pipeline in scenarios:
                for name, (port, f) in targets.items():
                    rows = bench(port, f, clients, pipeline, args.requests)
                    for op, rps in rows.items():
                        results.setdefault((clients, pipeline, op, name), []).append(rps)
                    print(f"round {r + 1} c={clients} P={pipeline} {name}: "
                          f"SET {rows['SET']:.0f} GET {rows['GET']:.0f} rps", flush=True)
        lines = ["# sentinel-proxy TLS throughput", "",
                 f"{datetime.datetime.now().isoformat(timespec='seconds')} on {socket.gethostname()}, "
                 f"redis-benchmark -n {args.requests} -r 100000, median of {args.rounds} rounds "
                 "(targets alternated); TLS: `--tls --cacert --cert --key`, TLS 1.3, proxy "
                 "with TLS to clients, Redis and Sentinel.", "",
                 "| clients | pipeline | op | direct plaintext rps | proxy plaintext rps | "
                 "plaintext ratio | direct TLS rps | proxy TLS rps | TLS ratio |",
                 "|---|---|---|---|---|---|---|---|---|"]
        table = []
        for clients, pipeline in scenarios:
            for op in ("SET", "GET"):
                m = {n: statistics.median(results[(clients, pipeline, op, n)]) for n in targets}
                row = {"clients": clients, "pipeline": pipeline, "op": op, **m,
                       "plaintext ratio": m["plaintext sentinel-proxy"] / m["plaintext direct"],
                       "TLS ratio": m["TLS sentinel-proxy"] / m["TLS direct"]}
                table.append(row)
                lines.append(f"| {clients} | {pipeline} | {op} | {m['plaintext direct']:.0f} | "
                             f"{m['plaintext sentinel-proxy']:.0f} | {row['plaintext ratio']:.2f} | "
                             f"{m['TLS direct']:.0f} | {m['TLS sentinel-proxy']:.0f} | "
                             f"{row['TLS ratio']:.2f} |")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.date.today().isoformat()}-{socket.gethostname()}-tls"
        (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
        (out / f"{stem}.json").write_text(json.dumps(table, indent=1))
        print("\n".join(lines))
    finally:
        for p in proxies:
            p.stop()
        for t in topos:
            t.stop()
        stop_all_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
