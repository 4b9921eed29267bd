"""proxy.close_subscribers_on_failover: instead of re-subscribing subscribers on the new master
(the default, which loses no message published through the proxy), the proxy closes
subscribed clients as soon as a failover starts, so clients with their own recovery path
(Celery's result consumer: MGET the results, then SUBSCRIBE again) run it. Clients that are not
subscribed are unaffected."""

from __future__ import annotations

import time

import pytest

import harness


def test_subscribers_closed_at_failover_others_unaffected(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo, extra_args=["--close-subscribers-on-failover"])
    sub = harness.RawResp(proxy.port, timeout=30)
    reply = sub.call("SUBSCRIBE", "cs:chan")
    assert reply[0] in (b"subscribe", "subscribe"), reply
    plain = proxy.client(socket_timeout=20)
    assert plain.set("cs:before", "1")

    old = topo.current_master()
    topo.planned_failover()
    # The subscriber's connection is closed by the proxy (no error reply is made up).
    t0 = time.monotonic()
    with pytest.raises(ConnectionError):
        sub.read_reply()
    assert time.monotonic() - t0 < 25
    topo.wait_for_switch(old.addr)
    # A client that was not subscribed keeps its connection and works on the new master.
    assert plain.set("cs:after", "2")
    assert topo.current_master().client().get("cs:after") == "2"
    # A new subscription through the proxy works on the new master.
    again = harness.RawResp(proxy.port, timeout=30)
    again.call("SUBSCRIBE", "cs:chan")
    assert proxy.client().publish("cs:chan", "hello") == 1
