"""SENTINEL FAILOVER under load, through the proxy: no client may notice (issue 3, outcomes 1, 5,
6, 9 and the blocking-pop and SELECT rules).

One module-scoped scenario prepares every kind of client before the failover (idle connection,
subscriber, BRPOP consumer, open MULTI, WATCH, SELECT 5), runs a continuous pipelined write
load, triggers the failover and waits for the switch; each test then checks one client's fate.
A failover changes the master: every check reads the current master from Sentinel."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest
import redis

from harness import (BackgroundLoop, ClientLoop, RoleWatcher, SentinelEvents, now, raw_command,
                     start_failover_instruments, stop_all, wait_until)


class Publisher(ClientLoop):
    """Publishes numbered messages through the proxy every `interval` s, in a thread."""

    name = "publisher"

    def __init__(self, proxy, channel: str, interval: float = 0.02, max_seconds: float = 120):
        super().__init__(proxy.client(socket_timeout=15), interval, max_seconds)
        self.channel = channel
        self.published: list[str] = []

    def step(self, i: int):
        msg = f"during-{i}"
        self.client.publish(self.channel, msg)
        self.published.append(msg)


class QueueProducer(ClientLoop):
    """LPUSHes numbered items round-robin onto several lists through the proxy."""

    name = "producer"

    def __init__(self, proxy, queues: list[str], interval: float = 0.01, max_seconds: float = 120):
        super().__init__(proxy.client(socket_timeout=15), interval, max_seconds)
        self.queues = queues
        self.pushed: list[str] = []

    def step(self, i: int):
        item = f"item-{i}"
        self.client.lpush(self.queues[i % len(self.queues)], item)
        self.pushed.append(item)


class BrpopConsumer(BackgroundLoop):
    """kombu's pattern: BRPOP q1 q2 q3 1 in a loop on one long-lived connection. Any error
    ends it (a real worker would have seen it)."""

    name = "brpop"
    stop_on_error = True

    def __init__(self, proxy, queues: list[str], max_seconds: float = 120):
        super().__init__(0.0, max_seconds)
        # one connection, used only by this thread
        self.client = proxy.client(socket_timeout=20, single_connection_client=True)
        self.queues = queues
        self.consumed: list[str] = []
        self.last_pop = now()

    def step(self, i: int):
        r = self.client.brpop(self.queues, timeout=1)
        if r is not None:
            self.consumed.append(r[1])
            self.last_pop = now()

    def close(self):
        self.client.close()


@dataclass
class Scenario:
    topo: object
    proxy: object
    old_master: object
    new_master: object
    t_trigger: float
    t_switch_seen: float
    writer_stats: object
    events: SentinelEvents
    roles: RoleWatcher
    keys: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)


def _drain_subscribe_confirmations(p, want: int, timeout: float = 10):
    deadline = now() + timeout
    while now() < deadline:
        if len(p.channels) + len(p.patterns) >= want and not p.pending_unsubscribe_channels:
            # read pending confirmations so they do not mix with messages later
            while p.get_message(timeout=0.05):
                pass
            return
        p.get_message(timeout=0.1)


@pytest.fixture(scope="module")
def scenario(module_topology, module_proxy):
    topo, proxy = module_topology, module_proxy
    old = topo.current_master()
    tag = uuid.uuid4().hex[:8]
    keys = {
        "idle": f"pf:{tag}:idle", "multi": f"pf:{tag}:multi", "multi_counter": f"pf:{tag}:mc",
        "watch": f"pf:{tag}:watch", "db5_before": f"pf:{tag}:db5:before",
        "db5_after": f"pf:{tag}:db5:after", "channel": f"pf:{tag}:ch",
        "pattern": f"pf:{tag}:pat.*", "pattern_channel": f"pf:{tag}:pat.x",
        "queues": [f"pf:{tag}:q{i}" for i in range(3)],
    }
    clients: dict = {}
    started = []
    try:
        # --- clients that exist before the failover
        idle = proxy.connection()
        clients["idle"] = idle
        assert raw_command(idle, "SET", keys["idle"], "before") == "OK"

        db5 = proxy.connection()
        clients["db5"] = db5
        assert raw_command(db5, "SELECT", "5") == "OK"
        assert raw_command(db5, "SET", keys["db5_before"], "five") == "OK"

        multi = proxy.connection()
        clients["multi"] = multi
        assert raw_command(multi, "MULTI") == "OK"
        assert raw_command(multi, "SET", keys["multi"], "from-multi") == "QUEUED"
        assert raw_command(multi, "INCR", keys["multi_counter"]) == "QUEUED"

        watch_client = proxy.client(socket_timeout=15)
        watch_client.set(keys["watch"], "initial")
        pipe = watch_client.pipeline()
        pipe.watch(keys["watch"])
        assert pipe.get(keys["watch"]) == "initial"
        pipe.multi()
        pipe.set(keys["watch"], "from-watch")
        clients["watch_pipe"] = pipe
        clients["watch_client"] = watch_client
        # the same, by hand, with MULTI / SET / EXEC later sent one at a time
        watch_raw = proxy.connection()
        clients["watch_raw"] = watch_raw
        assert raw_command(watch_raw, "WATCH", keys["watch"] + ":raw") == "OK"

        sub = proxy.client(socket_timeout=15).pubsub(ignore_subscribe_messages=True)
        sub.subscribe(keys["channel"])
        sub.psubscribe(keys["pattern"])
        _drain_subscribe_confirmations(sub, 2)
        pub = proxy.client()
        assert pub.publish(keys["channel"], "pre") == 1
        m = None
        deadline = now() + 10
        while m is None and now() < deadline:
            m = sub.get_message(timeout=0.5)
        assert m and m["data"] == "pre", m
        clients["sub"] = sub

        consumer = BrpopConsumer(proxy, keys["queues"]).start()
        started.append(consumer)
        clients["consumer"] = consumer
        producer = QueueProducer(proxy, keys["queues"]).start()
        started.append(producer)
        clients["producer"] = producer
        publisher = Publisher(proxy, keys["channel"]).start()
        started.append(publisher)
        clients["publisher"] = publisher

        events, roles, writer = start_failover_instruments(topo, proxy.port, started)

        # --- the failover
        t_trigger = topo.planned_failover()
        new = topo.wait_for_switch(old.addr, timeout=30)
        t_switch_seen = now()
        # the load goes on until plenty of writes are acknowledged after the switch
        writer.wait_acks(1000, timeout=40)
        time.sleep(1.0)
        stats = writer.stop()
        started.remove(writer)
        publisher.stop()
        producer.stop()
        # let the consumer drain the queues (on the new master), bounded
        qclient = new.client()
        wait_until(lambda: sum(qclient.llen(q) for q in keys["queues"]) == 0, 20, 0.1,
                   "the BRPOP consumer to drain the queues")
        wait_until(lambda: now() - consumer.last_pop > 1.5, 10, 0.1, "the consumer to go idle")
        consumer.stop()
        yield Scenario(topo, proxy, old, new, t_trigger, t_switch_seen, stats, events, roles,
                       keys, clients)
    finally:
        stop_all(started)
        for name in ("idle", "db5", "multi", "watch_raw"):
            if name in clients:
                clients[name].disconnect()
        if "sub" in clients:
            clients["sub"].close()


def test_write_load_no_errors_no_lost_writes(scenario, record_figures):
    st = scenario.writer_stats
    new = scenario.new_master
    t0 = scenario.t_trigger
    t_switch = scenario.events.first("+switch-master", after=t0)
    t_promoted = scenario.roles.first(new.name, "master", after=t0)
    first_after_switch = st.first_ack_after(t_switch) if t_switch else None
    missing, wrong = st.verify_on(new.client(socket_timeout=15), st.acked_seqs())
    figures = {
        "writes acknowledged": st.acked,
        "client-visible errors": len(st.errors),
        "acknowledged writes missing on the new master": len(missing),
        "acknowledged writes with a wrong value": len(wrong),
        "longest gap between acknowledged writes (s)": st.longest_gap(),
        "trigger -> replica promoted (ROLE) (s)": (t_promoted - t0) if t_promoted else "n/a",
        "trigger -> +switch-master (s)": (t_switch - t0) if t_switch else "n/a",
        "trigger -> first write acknowledged after +switch-master (s)":
            (first_after_switch - t0) if first_after_switch else "n/a",
        "+switch-master -> first write acknowledged after it (s)":
            (first_after_switch - t_switch) if first_after_switch else "n/a",
    }
    record_figures("planned failover (SENTINEL FAILOVER) under pipelined write load", figures)
    assert st.errors == [], f"client-visible errors: {st.error_types()} first: {st.errors[:3]}"
    assert st.acked >= 1500
    assert not missing, (f"{len(missing)} acknowledged writes lost on the new master, e.g. "
                         f"{[st.key(s) for s in missing[:5]]}")
    assert not wrong
    # writes resumed after the switch
    assert first_after_switch is not None


def test_idle_client_gets_no_error(scenario):
    idle = scenario.clients["idle"]
    k = scenario.keys["idle"]
    assert raw_command(idle, "GET", k) == "before"
    assert raw_command(idle, "SET", k, "after") == "OK"
    assert scenario.topo.current_master().client().get(k) == "after"


def test_subscriber_keeps_receiving_and_health_check_ping(scenario, record_figures):
    sub = scenario.clients["sub"]
    keys = scenario.keys
    publisher = scenario.clients["publisher"]
    pub = scenario.proxy.client()
    assert publisher.errors == [], f"PUBLISH through the proxy failed: {publisher.errors[:3]}"
    n_channel = pub.publish(keys["channel"], "post-channel")
    n_pattern = pub.publish(keys["pattern_channel"], "post-pattern")
    received = []
    deadline = now() + 15
    got_channel = got_pattern = False
    while not (got_channel and got_pattern) and now() < deadline and len(received) < 100000:
        m = sub.get_message(timeout=0.5)
        if not m:
            continue
        received.append(m)
        if m["type"] == "message" and m["data"] == "post-channel":
            got_channel = True
        if m["type"] == "pmessage" and m["data"] == "post-pattern" \
                and m["pattern"] == keys["pattern"]:
            got_pattern = True
    during = {m["data"] for m in received if m["type"] == "message"
              and str(m["data"]).startswith("during-")}
    lost = [x for x in publisher.published if x not in during]
    record_figures("planned failover: subscriber", {
        "messages published through the proxy during the failover": len(publisher.published),
        "of those received by the subscriber": len(during),
        "lost (published, acknowledged, never delivered)": len(lost),
    })
    master = scenario.topo.current_master().client()
    where = (f"PUBLISH reached {n_channel} (channel) and {n_pattern} (pattern) subscribers; on "
             f"the new master PUBSUB CHANNELS={master.pubsub_channels(keys['channel'])} "
             f"SHARDCHANNELS={master.execute_command('PUBSUB', 'SHARDCHANNELS', keys['channel'])} "
             f"NUMPAT={master.pubsub_numpat()}")
    assert got_channel, f"subscriber got no channel message published after the failover: {where}"
    assert got_pattern, f"subscriber got no pattern message published after the failover: {where}"
    # redis-py's health check in subscribed mode: PING -> ["pong", <arg>]
    sub.ping()
    sub.ping("after-failover")
    pongs = []
    deadline = now() + 10
    while len(pongs) < 2 and now() < deadline:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "pong":
            pongs.append(m["data"])
    assert pongs == ["", "after-failover"]
    # still subscribed to both after all that
    assert pub.publish(keys["channel"], "last") == 1


def test_brpop_consumer_keeps_consuming(scenario):
    consumer = scenario.clients["consumer"]
    producer = scenario.clients["producer"]
    assert consumer.errors == [], f"BRPOP consumer got an error: {consumer.errors}"
    assert producer.errors == [], f"LPUSH through the proxy failed: {producer.errors[:3]}"
    dups = {x for x in consumer.consumed if consumer.consumed.count(x) > 1}
    assert not dups, f"items consumed twice: {sorted(dups)[:10]}"
    lost = set(producer.pushed) - set(consumer.consumed)
    assert not lost, f"{len(lost)} pushed items never consumed, e.g. {sorted(lost)[:10]}"
    assert set(consumer.consumed) <= set(producer.pushed)
    assert len(producer.pushed) > 50


def test_multi_before_failover_exec_after(scenario):
    multi = scenario.clients["multi"]
    assert raw_command(multi, "EXEC") == ["OK", 1]
    master = scenario.topo.current_master().client()
    assert master.get(scenario.keys["multi"]) == "from-multi"
    assert master.get(scenario.keys["multi_counter"]) == "1"


def test_watch_before_failover_exec_after_is_nil_then_retry_succeeds(scenario):
    pipe = scenario.clients["watch_pipe"]
    key = scenario.keys["watch"]
    raw = scenario.clients["watch_raw"]
    # one command at a time: MULTI, SET, EXEC -> nil
    raw_replies = [raw_command(raw, "MULTI"), raw_command(raw, "SET", key + ":raw", "x"),
                   raw_command(raw, "EXEC")]
    # redis-py: MULTI, SET, EXEC in one write -> nil -> WatchError("Watched variable changed.")
    try:
        pipe_result = pipe.execute()
    except redis.WatchError as exc:
        pipe_result = exc
    pipe.reset()
    assert raw_replies == ["OK", "QUEUED", None], (
        f"WATCH before the failover, MULTI/SET/EXEC sent one at a time after it: {raw_replies}")
    assert isinstance(pipe_result, redis.WatchError), (
        "WATCH before the failover, MULTI+SET+EXEC sent in one write after it (redis-py's "
        f"pipeline): EXEC ran the transaction ({pipe_result!r}) instead of answering nil; the "
        "WATCH died with the old master's link")
    # a nil EXEC, not a connection that was cut (redis-py also raises WatchError then)
    assert "Watched variable changed" in str(pipe_result), repr(pipe_result)
    assert pipe_result.__cause__ is None, repr(pipe_result.__cause__)
    client = scenario.clients["watch_client"]
    for _ in range(5):
        with client.pipeline() as p:
            try:
                p.watch(key)
                p.get(key)
                p.multi()
                p.set(key, "from-retry")
                assert p.execute() == [True]
                break
            except redis.WatchError:
                continue
    assert scenario.topo.current_master().client().get(key) == "from-retry"


def test_selected_db_is_kept(scenario):
    db5 = scenario.clients["db5"]
    keys = scenario.keys
    assert raw_command(db5, "SET", keys["db5_after"], "five-after") == "OK"
    assert raw_command(db5, "GET", keys["db5_before"]) == "five"
    master = scenario.topo.current_master()
    assert master.client(db=5).get(keys["db5_after"]) == "five-after"
    assert master.client(db=5).get(keys["db5_before"]) == "five"
    assert master.client(db=0).get(keys["db5_after"]) is None
