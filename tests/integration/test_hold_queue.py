"""A bounded hold queue (issue 15): while no master is verified, a client holds at most
limits.max_held_per_client commands and the pool at most limits.max_held_total; past them
the proxy stops reading, so the hold costs bounded memory. Nothing accepted is dropped and
nothing is invented: when the master is back, every command is answered, in order.

The master is killed with -9 while both replicas have replica-priority 0, so Sentinel
cannot promote anything; then it is restarted on its port and verified again."""

from __future__ import annotations

import signal

import harness
from harness import HOST, RawResp, admin_get, free_port, metric_value, wait_until

uniq = harness.key_maker("heldq")

PER_CLIENT = 100
TOTAL = 150
PIPELINE = 400


def test_hold_queue_is_bounded_and_every_command_answered_in_order(make_topology, make_proxy,
                                                                   record_figures):
    topo = make_topology(replica_extra={"replica-priority": "0"})
    admin = free_port()
    proxy = make_proxy(topo, ["--hold-window-ms", "40000", "--admin-listen", f"{HOST}:{admin}"],
                       extra_env={"SENTINEL_PROXY_LIMITS_MAX_HELD_PER_CLIENT": str(PER_CLIENT),
                                  "SENTINEL_PROXY_LIMITS_MAX_HELD_TOTAL": str(TOTAL)})

    def metric(name: str) -> float:
        status, body = admin_get(admin, "/metrics")
        assert status == 200
        return metric_value(body, name)

    def held_total() -> float:
        """Commands held so far: sentinel_proxy_commands_total{outcome="held"}."""
        status, body = admin_get(admin, "/metrics")
        return sum(float(ln.split()[-1]) for ln in body.splitlines()
                   if ln.startswith('sentinel_proxy_commands_total{') and 'outcome="held"' in ln)

    master = topo.current_master()
    master.stop(signal.SIGKILL)
    wait_until(lambda: master.role() == "down", 5, 0.05, "the master to be gone")
    wait_until(lambda: metric("sentinel_proxy_master_verified") == 0, 20, 0.1,
               "the proxy to hold (no verified master)")

    # Held before the clients below send anything: the harness's start-up command when it
    # arrived before the proxy had verified its first master (seen with ctest -j: 151 held).
    held_before = held_total()
    keys = [uniq("a"), uniq("b"), uniq("c")]
    counts = [PIPELINE, PIPELINE, 1]
    clients = [RawResp(proxy.port, timeout=60) for _ in keys]
    try:
        # one client alone stops at its own bound
        clients[0].send(clients[0].command("INCR", keys[0]) * counts[0])
        wait_until(lambda: metric("sentinel_proxy_held_commands") == PER_CLIENT, 10, 0.05,
                   f"{PER_CLIENT} commands held")
        harness.time.sleep(0.5)
        assert metric("sentinel_proxy_held_commands") == PER_CLIENT
        # the others add up to the total, and then are not read either
        for c, k, n in zip(clients[1:], keys[1:], counts[1:]):
            c.send(c.command("INCR", k) * n)
        wait_until(lambda: metric("sentinel_proxy_held_commands") == TOTAL, 10, 0.05,
                   f"{TOTAL} commands held")
        harness.time.sleep(1.0)
        # still bounded: the rest waits unread in the sockets
        assert metric("sentinel_proxy_held_commands") == TOTAL
        # every command held in this hold counted once: the ones at the bound, no more
        held_counted = held_total() - held_before
        assert held_counted == TOTAL, (held_counted, held_before)
        assert metric("sentinel_proxy_master_verified") == 0

        topo.restart_node(master)
        wait_until(lambda: metric("sentinel_proxy_master_verified") == 1, 40, 0.1,
                   "the restarted master to be verified again")
        # every command answered, in order, none invented
        for c, n in zip(clients, counts):
            for i in range(n):
                assert c.read_reply() == i + 1
        assert metric("sentinel_proxy_held_commands") == 0
        m = master.client()
        assert [int(m.get(k)) for k in keys] == counts
        record_figures("bounded hold queue", {
            "pipelined while no master (commands)": sum(counts),
            f"held at most (max_held_total {TOTAL}, per client {PER_CLIENT})":
                int(held_counted),
            "held before it (make_proxy's SET, before the master was verified)":
                int(held_before),
            "answered in order after the master came back": sum(counts),
        })
    finally:
        for c in clients:
            c.close()


def test_clients_paused_at_the_bound_are_closed_at_the_hold_window(make_topology, make_proxy):
    """A client not read for the bound is still covered by the hold window: with no master
    it is closed (no reply made up), also one paused at the total that holds nothing."""
    hold_ms = 1500
    topo = make_topology(replica_extra={"replica-priority": "0"})
    admin = free_port()
    proxy = make_proxy(topo, ["--hold-window-ms", str(hold_ms),
                              "--admin-listen", f"{HOST}:{admin}"],
                       extra_env={"SENTINEL_PROXY_LIMITS_MAX_HELD_PER_CLIENT": "10",
                                  "SENTINEL_PROXY_LIMITS_MAX_HELD_TOTAL": "10"})

    def held() -> float:
        return metric_value(admin_get(admin, "/metrics")[1], "sentinel_proxy_held_commands")

    master = topo.current_master()
    master.stop(signal.SIGKILL)
    wait_until(lambda: metric_value(admin_get(admin, "/metrics")[1],
                                    "sentinel_proxy_master_verified") == 0, 20, 0.1,
               "the proxy to hold (no verified master)")
    full = RawResp(proxy.port, timeout=20)
    waiting = RawResp(proxy.port, timeout=20)
    try:
        full.send(full.command("INCR", uniq("full")) * 50)
        wait_until(lambda: held() == 10, 10, 0.05, "10 commands held")
        t0 = harness.now()
        waiting.send(waiting.command("INCR", uniq("waiting")))
        for c in (full, waiting):
            assert c.wait_closed(hold_ms / 1000 + 8), "a paused client was never closed"
            assert c.buf == b"", f"a reply was made up: {c.buf[:100]!r}"
        assert harness.now() - t0 >= 0.8 * hold_ms / 1000 - 0.5
        wait_until(lambda: held() == 0, 5, 0.1, "nothing held once they are closed")
        assert proxy.alive()
    finally:
        full.close()
        waiting.close()
