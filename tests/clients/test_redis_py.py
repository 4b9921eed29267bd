"""redis-py (Debian's 4.3) pub/sub subscriber and kombu-style BRPOP consumer through the proxy
across failovers (issue 4, scenarios 3 and 4). Both run during the same failover; a planned
and then an unplanned one, on one topology.

Pub/sub: one PubSub subscribed to a channel and a pattern, read with get_message() in a loop
(the test never resubscribes; redis-py may reconnect and resubscribe by itself, as it does for
an application); numbered messages are published through the proxy. After the failover, messages
on both the channel and the pattern must keep arriving, and the subscribed-mode health check
(`PING redis-py-health-check`, health_check_interval=1, during a quiet spell) and an explicit
PING inside the subscription must be answered correctly.

BRPOP: kombu's pattern, one long-lived connection sending `BRPOP q1 q2 q3 1` and reading the
reply, reconnecting (on the same Connection object) only after a connection error; a producer
LPUSHes numbered items. After the failover items keep being consumed; none is consumed twice;
no error reply (READONLY/UNBLOCKED would make kombu's worker exit)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest
import redis

from conftest import longest_gap, proxy_errors
from harness import HOST, BackgroundLoop, ClientLoop, error_kind, now, stop_all, wait_until

MAX_SECONDS = 150


class Subscriber(BackgroundLoop):
    name = "subscriber"
    error_chars = 160
    error_pause = 0.05   # recorded; the loop just goes on

    def __init__(self, port: int, channel: str, pattern: str):
        super().__init__(0.0, MAX_SECONDS)
        self.client = redis.Redis(host=HOST, port=port, socket_timeout=10,
                                  socket_connect_timeout=2, health_check_interval=1,
                                  decode_responses=True)
        self.p = self.client.pubsub()
        self.p.subscribe(channel)
        self.p.psubscribe(pattern)
        self.received: list[tuple[float, str, str]] = []  # (t, type, data)
        self.other: list[tuple[float, object]] = []        # anything unexpected
        self.pongs: list[tuple[float, str]] = []
        self.health_checks_sent = 0
        self._ping_requests: list[str] = []

    def ping(self, token: str):
        self._ping_requests.append(token)

    def step(self, i: int):
        while self._ping_requests:
            self.p.ping(self._ping_requests.pop(0))
        conn = self.p.connection
        if conn is not None and conn.health_check_interval \
                and time.time() > conn.next_health_check:
            self.health_checks_sent += 1   # get_message() sends one now
        m = self.p.get_message(timeout=0.2)
        if m is None:
            return
        t = now()
        if m["type"] in ("message", "pmessage"):
            self.received.append((t, m["type"], m["data"]))
        elif m["type"] == "pong":
            self.pongs.append((t, m["data"]))
        elif m["type"] in ("subscribe", "psubscribe"):
            self.other.append((t, (m["type"], m["channel"])))
        else:
            self.other.append((t, m))

    def close(self):
        try:
            self.p.close()
        finally:
            self.client.close()


def proxy_client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=10, socket_connect_timeout=2,
                       decode_responses=True)


class Publisher(ClientLoop):
    name = "publisher"
    error_chars = 160

    def __init__(self, port: int, channel: str, pattern_channel: str):
        super().__init__(proxy_client(port), 0.02, MAX_SECONDS)
        self.channels = [channel, pattern_channel]
        self.published: list[tuple[float, str, int]] = []  # (t, data, receivers)

    def step(self, i: int):
        ch = self.channels[i % 2]
        data = f"{ch}#{i}"
        n = self.client.publish(ch, data)
        self.published.append((now(), data, n))


class Producer(ClientLoop):
    name = "producer"
    error_chars = 160
    error_pause = 0.05

    def __init__(self, port: int, queues: list[str]):
        super().__init__(proxy_client(port), 0.01, MAX_SECONDS)
        self.queues = queues
        self.pushed: list[tuple[float, str]] = []

    def step(self, i: int):
        item = f"item-{i}"
        self.client.lpush(self.queues[i % len(self.queues)], item)
        self.pushed.append((now(), item))


class Consumer(BackgroundLoop):
    """kombu's _brpop_start/_brpop_read: send BRPOP on the one connection, read its reply."""

    name = "brpop-consumer"
    error_chars = 160
    error_pause = 0.1

    def __init__(self, port: int, queues: list[str]):
        super().__init__(0.0, MAX_SECONDS)
        self.client = redis.Redis(host=HOST, port=port, socket_connect_timeout=2,
                                  decode_responses=True)
        self.conn = self.client.connection_pool.get_connection("BRPOP")
        self.queues = queues
        self.consumed: list[tuple[float, str]] = []
        self.nils = 0

    def error_record(self, exc: BaseException) -> tuple:
        record = (*super().error_record(exc), error_kind(exc))
        self.conn.disconnect()   # kombu resets the connection; the next send reconnects
        return record

    def step(self, i: int):
        self.conn.send_command("BRPOP", *self.queues, 1)
        reply = self.client.parse_response(self.conn, "BRPOP")
        if reply is None:
            self.nils += 1
        else:
            self.consumed.append((now(), reply[1]))

    def close(self):
        self.client.connection_pool.release(self.conn)
        self.client.close()


@dataclass
class Run:
    fo: object
    sub: Subscriber
    pub: Publisher
    prod: Producer
    cons: Consumer
    t_begin: float
    t_end: float
    quiet_from: float
    quiet_to: float
    probe_token: str


def _run(kind, proxy, failovers) -> Run:
    failovers.settle()
    tag = uuid.uuid4().hex[:8]
    channel, pattern, pchan = f"news.{tag}", f"pat.{tag}.*", f"pat.{tag}.x"
    queues = [f"q{tag}", f"q{tag}\x06\x163", f"q{tag}\x06\x166"]
    sub = Subscriber(proxy.port, channel, pattern).start()
    cons = Consumer(proxy.port, queues).start()
    pub = Publisher(proxy.port, channel, pchan)
    prod = Producer(proxy.port, queues)
    started = [sub, cons]
    try:
        wait_until(lambda: len(sub.other) >= 2, 20, 0.05, "subscribe + psubscribe confirmations")
        pub.start()
        started.append(pub)
        prod.start()
        started.append(prod)
        t_begin = now()
        wait_until(lambda: len(sub.received) >= 50 and len(cons.consumed) >= 50, 30, 0.05,
                   "messages and items flowing before the failover")
        fo = failovers.run(kind)
        wait_until(lambda: sum(1 for t, *_ in sub.received if t > fo.t_verified + 1) >= 50
                   and sum(1 for t, _ in cons.consumed if t > fo.t_verified + 1) >= 50,
                   60, 0.05, "messages and items flowing again after the failover")
        # A quiet spell: no publications, so the subscribed health check fires; then an
        # explicit PING inside the subscription.
        pub.paused.set()
        quiet_from = now()
        hc_before = sub.health_checks_sent
        wait_until(lambda: sub.health_checks_sent >= hc_before + 2, 15, 0.05,
                   "two subscribed health checks during the quiet spell")
        token = f"probe-{tag}"
        sub.ping(token)
        wait_until(lambda: any(d == token for _, d in sub.pongs), 10, 0.05,
                   "the PING inside the subscription to be answered")
        time.sleep(0.5)
        quiet_to = now()
        pub.paused.clear()
        wait_until(lambda: sum(1 for t, *_ in sub.received if t > quiet_to) >= 20, 20, 0.05,
                   "messages after the quiet spell")
        prod.stop()
        started.remove(prod)
        pushed = {x for _, x in prod.pushed}
        # Drain: until every acknowledged push is consumed, or nothing came for 3 s.
        t_prod_stop = now()

        def drained():
            if pushed <= {x for _, x in cons.consumed}:
                return True
            last = cons.consumed[-1][0] if cons.consumed else t_prod_stop
            return now() - max(last, t_prod_stop) > 3
        wait_until(drained, 25, 0.1, "the consumer to drain the queues")
        t_end = now()
        return Run(fo, sub, pub, prod, cons, t_begin, t_end, quiet_from, quiet_to, token)
    finally:
        stop_all(started)


@pytest.fixture(scope="module")
def runs(module_proxy, failovers):
    cache: dict[str, Run] = {}

    def get(kind: str) -> Run:
        if kind not in cache:
            cache[kind] = _run(kind, module_proxy, failovers)
        return cache[kind]
    return get


def _pubsub_checks(kind, r: Run, record_figures):
    fo, sub, pub = r.fo, r.sub, r.pub
    got = {d for _, _, d in sub.received}
    sent_after = [(t, d) for t, d, _ in pub.published if t > fo.t_verified + 1]
    missing = [d for _, d, _ in pub.published if d not in got]
    missing_after_verify = [d for t, d in sent_after if d not in got]
    zero_receivers = [(t, d) for t, d, n in pub.published if n < 1]
    after = [x for x in sub.received if x[0] > fo.t_start]
    msg_times = [t for t, *_ in sub.received]
    figures = {
        **fo.figures(),
        "published / received": f"{len(pub.published)} / {len(sub.received)}",
        "messages lost (published, never received)": len(missing),
        "publications that reached no subscriber": len(zero_receivers),
        "subscriber errors (get_message raised)": len(sub.errors),
        "subscriber error samples": [f"+{t - fo.t_start:.2f}s {n}: {m}"
                                     for t, n, m in sub.errors[:4]] or "none",
        "publisher errors": len(pub.errors),
        "publisher error samples": [f"+{t - fo.t_start:.2f}s {n}: {m}"
                                    for t, n, m in pub.errors[:4]] or "none",
        "longest gap between received messages (s)":
            longest_gap(msg_times, r.t_begin, fo.t_verified + 2),
        "(re)subscribe confirmations": len([o for o in sub.other if isinstance(o[1], tuple)]),
        "health checks sent / unexpected messages": f"{sub.health_checks_sent} / "
            f"{[o for o in sub.other if not isinstance(o[1], tuple)][:3] or 'none'}",
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"redis-py pub/sub, {kind} failover", figures)
    assert any(tp == "message" for _, tp, _ in after), "no channel message after the failover"
    assert any(tp == "pmessage" for _, tp, _ in after), "no pattern message after the failover"
    assert not missing_after_verify, (f"{len(missing_after_verify)} messages published >1 s after "
                                      f"the proxy verified the new master never arrived: "
                                      f"{missing_after_verify[:5]}")
    unexpected = [o for o in sub.other if not isinstance(o[1], tuple)]
    assert not unexpected, f"unexpected subscription replies: {unexpected[:5]}"
    assert r.sub.p.health_check_response_counter == 0, "a health-check PING went unanswered"
    assert any(d == r.probe_token for _, d in sub.pongs)
    late_errors = [e for e in sub.errors if e[0] > r.quiet_from]
    assert not late_errors, f"subscriber errors during/after the health-check phase: {late_errors}"


def _brpop_checks(kind, r: Run, record_figures):
    fo, prod, cons = r.fo, r.prod, r.cons
    consumed = [x for _, x in cons.consumed]
    seen, dups = set(), []
    for x in consumed:
        if x in seen:
            dups.append(x)
        seen.add(x)
    pushed = [(t, x) for t, x in prod.pushed]
    missing = [(t, x) for t, x in pushed if x not in seen]
    missing_after_verify = [x for t, x in missing if t > fo.t_verified]
    response_errors = [e for e in cons.errors if e[3] == "response"]
    figures = {
        **fo.figures(),
        "pushed (acknowledged) / consumed": f"{len(pushed)} / {len(consumed)}",
        "consumed twice": len(dups),
        "acknowledged pushes never consumed": len(missing),
        "   of which pushed before the failover started": sum(1 for t, _ in missing
                                                              if t < fo.t_start),
        "consumer errors": len(cons.errors),
        "consumer error samples": [f"+{t - fo.t_start:.2f}s {n}: {m}"
                                   for t, n, m, _ in cons.errors[:4]] or "none",
        "producer errors": len(prod.errors),
        "producer error samples": [f"+{t - fo.t_start:.2f}s {n}: {m}"
                                   for t, n, m in prod.errors[:4]] or "none",
        "BRPOP nil replies (1 s timeouts)": cons.nils,
        "longest gap between consumed items (s)":
            longest_gap([t for t, _ in cons.consumed], r.t_begin, fo.t_verified + 2),
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"redis-py BRPOP consumer (kombu pattern), {kind} failover", figures)
    assert not response_errors, f"error replies (kombu would exit): {response_errors[:5]}"
    assert not dups, f"{len(dups)} items consumed twice: {dups[:10]}"
    assert sum(1 for t, _ in cons.consumed if t > fo.t_verified) > 0
    assert not missing_after_verify, (f"{len(missing_after_verify)} items pushed after the proxy "
                                      f"verified the new master never consumed: "
                                      f"{missing_after_verify[:5]}")
    return missing


def test_planned_pubsub(runs, record_figures):
    _pubsub_checks("planned", runs("planned"), record_figures)


def test_planned_brpop(runs, record_figures):
    missing = _brpop_checks("planned", runs("planned"), record_figures)
    assert not missing, f"planned failover lost {len(missing)} acknowledged pushes: {missing[:5]}"


def test_unplanned_pubsub(runs, record_figures):
    _pubsub_checks("unplanned", runs("unplanned"), record_figures)


def test_unplanned_brpop(runs, record_figures):
    _brpop_checks("unplanned", runs("unplanned"), record_figures)
