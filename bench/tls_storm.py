#!/usr/bin/env python3
"""TLS handshake storms (issue 24): a connected TLS client's worst PING stall while N clients
with client certificates (tls.verify_clients) connect at once, and whether the proxy kept its
Sentinel view meanwhile ("no sentinel majority" / "unreachable" in its log), over several
storms. 1 master + 3 sentinels (quorum 2) on 127.0.0.1, plaintext; the proxy's clients on
TLS. The storm and the prober run in their own processes (tests/integration/tls_storm.py).

    /usr/bin/python3 bench/tls_storm.py --proxy-bin build/sentinel-proxy [--clients 2000]
        [--storms 3] [--out bench/results/<date>-<host>-tls-storm.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import Proxy, TlsFiles, Topology, free_port, stop_all_processes  # noqa: E402
from tls_storm import SENTINEL_VIEW_LOST, Prober, proxy_config, storm  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy-bin", required=True)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--storms", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    root = Path(tempfile.mkdtemp(prefix="sp-tls-storm-"))
    files = TlsFiles.create(root)
    rows = []
    try:
        topo = Topology(root / "topo", replicas=0, sentinels=3, quorum=2).start()
        tls_port = free_port()
        sp = Proxy(root / "proxy", topo.sentinel_ports, binary=args.proxy_bin,
                   extra_args=["--config", str(proxy_config(root / "storm.toml", files,
                                                            tls_port))])
        sp.argv[sp.argv.index("--log-level") + 1] = "info"
        sp.start()
        sp.wait_writable(30)
        for i in range(args.storms):
            log_from = len(sp.log_text())
            prober = Prober(tls_port, files).start()
            direct = Prober(topo.current_master().port, None).start()
            time.sleep(0.5)
            result = storm(tls_port, files, args.clients, workers=args.workers)
            time.sleep(0.5)
            probe = prober.stop()
            master_probe = direct.stop()
            log = sp.log_text()[log_from:]
            lost = [line for line in log.splitlines() if any(s in line for s in SENTINEL_VIEW_LOST)]
            row = {"storm": i + 1, **result, "connected_worst_stall_s": probe["worst_s"],
                   "connected_p99_s": probe["p99_s"], "pings": probe["pings"],
                   "master_direct_worst_s": master_probe["worst_s"],
                   # when the worst stall began: seconds after the ClientHellos went out, and
                   # whether it was while the storm's clients were closing
                   "worst_after_start_s": probe["worst_at"] - result["started_at"],
                   "worst_during_close": probe["worst_at"] >= result["closing_at"],
                   "probe_errors": probe["errors"], "sentinel_view_lost": bool(lost),
                   "sentinel_lines": lost[:4]}
            rows.append(row)
            print(json.dumps(row), flush=True)
            time.sleep(3)  # the storm's connections close; the next starts from quiet
        summary = {"label": args.label, "date": datetime.datetime.now().isoformat("T", "seconds"),
                   "host": socket.gethostname(), "clients": args.clients,
                   "worst_stall_s": max(r["connected_worst_stall_s"] for r in rows),
                   "storms_with_view_lost": sum(r["sentinel_view_lost"] for r in rows),
                   "storms": rows}
        print(json.dumps({k: v for k, v in summary.items() if k != "storms"}))
        if args.out:
            Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    finally:
        stop_all_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
