"""Redis closing a subscriber's connection outside a failover (CLIENT KILL TYPE pubsub, as
an operator or a maxmemory policy does): the proxy closes that client too, as Redis would
have, instead of re-subscribing silently, so the client knows it may have missed messages
(Celery's result consumer then re-reads results and re-subscribes). Other clients are not
affected. At a failover subscribers still move silently (test_planned_failover)."""

from __future__ import annotations

import harness
from harness import RawResp

uniq = harness.key_maker("subkill")


def test_subscriber_killed_by_redis_is_closed_not_silently_resubscribed(module_topology,
                                                                          module_proxy):
    master = module_topology.current_master()
    proxy = module_proxy
    ch = uniq("ch")
    sub = RawResp(proxy.port)
    assert sub.call("SUBSCRIBE", ch) == ["subscribe", ch, 1]
    bystander = proxy.connection()
    k = uniq("k")
    assert harness.raw_command(bystander, "SET", k, "1") == "OK"

    killed = master.client().execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert killed >= 1
    # the client is told: the proxy closes its connection too
    assert sub.wait_closed(10), "the proxy re-subscribed silently instead of closing"
    # others carry on
    assert harness.raw_command(bystander, "GET", k) == "1"
    bystander.disconnect()
    sub.close()
