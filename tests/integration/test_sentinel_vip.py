"""One address in front of every sentinel, as the Spotahome redis-operator's `rfs-<name>`
Service gives (issue 14, examples): the proxy is configured with that one address only.
The round-robin TCP forwarder of test_sentinel_majority on 127.0.0.1 stands in for the Service's VIP in front of
3 real sentinels. The proxy must count each sentinel once (by run id, however many
addresses reach it: the VIP and the addresses it learns from SENTINEL SENTINELS), so the
majority is 2 of 3, not of 4, and a failover still goes through with no client error."""
from __future__ import annotations

import json
import urllib.request

import pytest

import harness
from harness import HOST, failover_under_writes, free_port, wait_until
# test_sentinel_majority checks the counting with a frozen sentinel; this file the failover.
from test_sentinel_majority import RoundRobinForwarder


def status(admin: int) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{admin}/status", timeout=3) as r:
        return json.loads(r.read())


@pytest.fixture
def vip(make_topology):
    topo = make_topology()
    fwd = RoundRobinForwarder(topo.sentinel_ports).start()
    yield topo, fwd
    fwd.stop()


def test_one_address_for_all_sentinels_counts_each_once(vip, tmp_path):
    topo, fwd = vip
    admin = free_port()
    proxy = harness.Proxy(tmp_path, [fwd.port], ["--admin-listen", f"{HOST}:{admin}"])
    try:
        proxy.start()
        proxy.wait_writable(timeout=30)
        run_ids = {s.client().execute_command("SENTINEL", "MYID")
                   for s in topo.sentinels}
        assert len(run_ids) == 3

        def counted_once():
            [pool] = status(admin)["pools"]
            ids = {s["run_id"] for s in pool["sentinels"] if s["run_id"]}
            m = pool["sentinel_majority"]
            return ids == run_ids and (m["known"], m["needed"]) == (3, 2) and pool
        pool = wait_until(counted_once, 20, 0.2, "3 sentinels known by run id, 2 needed")
        vip_links = [s for s in pool["sentinels"] if s["address"] == f"{HOST}:{fwd.port}"]
        assert len(vip_links) == 1 and vip_links[0]["configured"], pool["sentinels"]
        assert fwd.n >= 2  # the proxy's query and event links went through the VIP

        old, new, stats = failover_under_writes(topo, proxy.port)
        assert new.addr != old.addr
        assert stats.errors == [], stats.errors[:5]
        topo.wait_replication(new, timeout=20)
        missing, wrong = stats.verify_on(new.client(decode_responses=True), stats.acked_seqs())
        assert (missing, wrong) == ([], [])
        m = status(admin)["pools"][0]["sentinel_majority"]
        assert (m["known"], m["needed"]) == (3, 2), m
    finally:
        proxy.stop()


def test_every_sentinel_behind_the_address_is_linked_at_once(vip, tmp_path, record_figures):
    """Issue 20: the sentinel the Service address first lands on is listed only by the
    others, so it is learned from their own SENTINEL SENTINELS. That must be asked in the
    round right after they were learned (before: about 10 rounds later, ~10 s, during which
    a failover led by that sentinel was heard only at +switch-master)."""
    topo, fwd = vip
    admin = free_port()
    proxy = harness.Proxy(tmp_path, [fwd.port], ["--admin-listen", f"{HOST}:{admin}"])
    try:
        proxy.start()
        t0 = harness.now()

        def all_linked():
            [pool] = status(admin)["pools"]
            ports = {int(s["address"].rsplit(":", 1)[1]) for s in pool["sentinels"]
                     if s["up"] and not s["configured"]}
            return ports == set(topo.sentinel_ports)
        wait_until(all_linked, 4, 0.05, "a link of its own to each of the 3 sentinels")
        record_figures("sentinels behind one address", {
            "all 3 linked after proxy start s": harness.now() - t0})
    finally:
        proxy.stop()
