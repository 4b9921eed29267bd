"""Many sessions at once through a planned failover: 50 pipelined writers and 200 idle
connections. Every session must be held and released (none left behind on the old master),
with zero client-visible errors and zero acknowledged writes lost."""

from __future__ import annotations

import harness


def test_fifty_writers_and_idle_clients_ride_a_planned_failover(make_topology, make_proxy,
                                                                record_figures):
    topo = make_topology()
    proxy = make_proxy(topo)
    idle = [proxy.client(socket_timeout=20) for _ in range(200)]
    for c in idle:
        assert c.ping()
    writers = [harness.Writer(*proxy.addr, batch=5, interval=0.01, max_seconds=120).start()
               for _ in range(50)]
    try:
        for w in writers:
            w.wait_acks(20, timeout=30)
        old = topo.current_master()
        topo.planned_failover()
        new = topo.wait_for_switch(old.addr)
        for w in writers:
            w.wait_acks(50, timeout=40)
    finally:
        stats = [w.stop() for w in writers]

    errors = [e for s in stats for e in s.errors]
    assert not errors, errors[:5]
    client = new.client(socket_timeout=30)
    missing = 0
    acked = 0
    for s in stats:
        seqs = list(s.acked_seqs())
        acked += len(seqs)
        m, wrong = s.verify_on(client, seqs)
        missing += len(m)
        assert not wrong
    # The idle connections, opened before the failover, work on the new master.
    for i, c in enumerate(idle):
        assert c.set(f"many:idle:{i}", "x")
    assert new.client().get("many:idle:199") == "x"
    record_figures("many clients: 50 writers + 200 idle connections, planned failover", {
        "writes acknowledged": acked,
        "client-visible errors": len(errors),
        "acknowledged writes missing on the new master": missing,
        "longest gap over all writers (s)": max(s.longest_gap() for s in stats),
    })
    assert missing == 0
