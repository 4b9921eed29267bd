"""A TLS handshake burst must not stall connected clients or blind the proxy to Sentinel
(issue 24): the proxy bounds the handshake work of one loop turn, so N clients with client
certificates connecting at once delay new clients, not connected ones.

Before the bound, 2,000 such clients stalled an already-connected client 6.5-10.8 s here, half
the storm or more (every ClientHello read in one poll phase was handshaken in it), and the
proxy lost its Sentinel view in some storms; with it, 0.03-1.3 s under a load average of
12-19, 5-9 % of the storm. The box is 2 shared cores, so the assertion is on that fraction,
which does not depend on how loaded the box is: beyond what the master itself showed a
direct client meanwhile (the PING goes through to it), the stall must stay under a quarter
of the storm; and no Sentinel link may time out. Precise figures: bench/tls_storm.py,
bench/README.md."""
from __future__ import annotations

import time

from harness import TlsFiles, free_port
from tls_storm import SENTINEL_VIEW_LOST, Prober, proxy_config, storm

CLIENTS = 2000
STORMS = 2
# Of the storm's duration (ClientHellos out to the last PONG).
ALLOWED_STALL_FRACTION = 0.25


def test_handshake_burst_does_not_stall_connected_clients_or_the_sentinel_view(
        make_topology, make_proxy, tmp_path, record_figures):
    files = TlsFiles.create(tmp_path)
    topo = make_topology(replicas=0, sentinels=3, quorum=2)
    tls_port = free_port()
    conf = proxy_config(tmp_path / "storm.toml", files, tls_port)
    # Debug logging of 2,000 connections would be load of its own.
    proxy = make_proxy(topo, ["--config", str(conf), "--log-level", "info"])
    master_port = topo.current_master().port
    for i in range(STORMS):
        log_from = len(proxy.log_text())
        prober = Prober(tls_port, files).start()
        direct = Prober(master_port, None).start()
        time.sleep(0.3)
        result = storm(tls_port, files, CLIENTS)
        time.sleep(0.3)
        probe, master_probe = prober.stop(), direct.stop()
        lost = [line for line in proxy.log_text()[log_from:].splitlines()
                if any(s in line for s in SENTINEL_VIEW_LOST)]
        record_figures(f"TLS storm {i + 1}: {CLIENTS} clients with certificates", {
            "connected": result["ok"], "failures": result["failures"],
            "storm_s": result["storm_s"], "slowest_handshake_s": result["slowest_ok_s"],
            "connected_client_worst_stall_s": probe["worst_s"],
            "connected_client_p99_s": probe["p99_s"],
            "master_direct_worst_s": master_probe["worst_s"],
            "worst_stall_after_hellos_s": probe["worst_at"] - result["started_at"],
            "worst_stall_while_clients_close": probe["worst_at"] >= result["closing_at"]})
        assert result["ok"] == CLIENTS, result
        assert probe["errors"] == 0, probe
        assert not lost, f"the proxy lost its Sentinel view during the storm: {lost[:3]}"
        allowed = master_probe["worst_s"] + ALLOWED_STALL_FRACTION * result["storm_s"]
        assert probe["worst_s"] < allowed, (
            f"a connected client stalled {probe['worst_s']:.2f} s during a "
            f"{result['storm_s']:.1f} s storm (the master itself {master_probe['worst_s']:.2f} s)")
        time.sleep(1)
