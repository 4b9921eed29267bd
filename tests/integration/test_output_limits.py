"""Client output-buffer limits by class (issue 15), Redis's client-output-buffer-limit: a
subscriber that stops reading is closed at the pub/sub hard limit, or once it has stayed at
the soft limit for longer than its time (and not before), while a subscriber that reads on
the same channel gets every message; a normal client with a hard limit is closed at it."""

from __future__ import annotations

import contextlib
import socket
import threading

import harness
from harness import HOST, RawResp, now, raw_command, wait_until

uniq = harness.key_maker("olimit")

MSG = b"m" * (64 << 10)


def limits_env(**kw) -> dict[str, str]:
    return {f"SENTINEL_PROXY_LIMITS_{k.upper()}": str(v) for k, v in kw.items()}


def stalled_socket(port: int) -> socket.socket:
    """A connection that will not read: a tiny receive buffer, set before connecting, keeps
    the kernel from absorbing much of what the proxy writes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((HOST, port))
    return s


def stalled_subscriber(port: int, channel: str) -> socket.socket:
    s = stalled_socket(port)
    s.sendall(RawResp.command(None, "SUBSCRIBE", channel))
    return s


class Reader(threading.Thread):
    """A subscriber that reads every message as it comes, counting them."""

    def __init__(self, port: int, channel: str):
        super().__init__(daemon=True)
        self.conn = RawResp(port, timeout=20)
        assert self.conn.call("SUBSCRIBE", channel) == ["subscribe", channel, 1]
        self.count = 0
        self.bad = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                m = self.conn.read_reply()
            except OSError as exc:
                self.bad = repr(exc)
                return
            if m and m[0] == "message" and len(m[2]) == len(MSG):
                self.count += 1
            else:
                self.bad = repr(m)[:200]
                return


def subscribers(master, channel: str) -> int:
    return master.pubsub_numsub(channel)[0][1]


def publish_in_step(master, channel, reader: Reader, n: int, until=None) -> int:
    """Publishes up to n messages, never more than 4 ahead of the reader (so only the
    stalled subscriber's output grows); stops early when until() holds."""
    sent = 0
    t_end = now() + 60
    while sent < n and now() < t_end:
        if until and until():
            break
        master.publish(channel, MSG)
        sent += 1
        wait_until(lambda: reader.count >= sent - 4 or reader.bad, 10, 0.001, "the reader")
        assert reader.bad is None, reader.bad
    return sent


@contextlib.contextmanager
def reader_and_stalled(proxy, master, channel):
    """A reading and a stalled subscriber on `channel`, both confirmed by Redis; closed
    afterwards whatever happens."""
    reader = Reader(proxy.port, channel)
    reader.start()
    slow = stalled_subscriber(proxy.port, channel)
    try:
        wait_until(lambda: subscribers(master, channel) == 2, 10, 0.05, "both subscribed")
        yield reader
    finally:
        reader.stop.set()
        reader.conn.close()
        slow.close()


def test_stalled_subscriber_closed_at_the_hard_limit(module_topology, make_proxy,
                                                     record_figures):
    proxy = make_proxy(module_topology, extra_env=limits_env(
        output_pubsub_hard=4 << 20, output_pubsub_soft=0, output_pubsub_soft_seconds=0))
    master = module_topology.current_master().client()
    ch = uniq("hard")
    with reader_and_stalled(proxy, master, ch) as reader:
        # 64 KiB messages until the stalled one is gone (at most 64 MiB)
        sent = publish_in_step(master, ch, reader, 1024, until=lambda: subscribers(master, ch) < 2)
        assert subscribers(master, ch) == 1, f"still subscribed after {sent} messages"
        published_mib = sent * len(MSG) / (1 << 20)
        # 4 MiB in the proxy plus what the sockets absorbed, not the default 32 MiB
        assert published_mib < 24, f"{published_mib:.1f} MiB published before the close"
        record_figures("pub/sub hard limit 4 MiB", {
            "published before the stalled subscriber was closed (MiB)": f"{published_mib:.1f}"})
        assert "closed for overcoming of output buffer limits" in proxy.log_text()
        assert "limits.output_pubsub_hard 4194304" in proxy.log_text()
        # the reader got everything, and still gets messages
        more = publish_in_step(master, ch, reader, 8)
        wait_until(lambda: reader.count == sent + more, 10, 0.01, "every message read")
        c = proxy.connection()
        assert raw_command(c, "PING") == "PONG"
        c.disconnect()


def test_stalled_subscriber_closed_after_the_soft_time_not_before(module_topology, make_proxy,
                                                                  record_figures):
    soft_s = 3
    proxy = make_proxy(module_topology, extra_env=limits_env(
        output_pubsub_hard=0, output_pubsub_soft=1 << 20, output_pubsub_soft_seconds=soft_s))
    master = module_topology.current_master().client()
    ch = uniq("soft")
    with reader_and_stalled(proxy, master, ch) as reader:
        t_start = now()
        # 12 MiB: well past the 1 MiB soft limit whatever the sockets absorb, then quiet,
        # so only the proxy's output sweep can close the stalled subscriber.
        sent = publish_in_step(master, ch, reader, 192)
        t_burst = now()
        assert t_burst - t_start < soft_s - 1, f"the burst took {t_burst - t_start:.2f} s"
        t_closed = None
        while now() < t_burst + soft_s + 5:
            if subscribers(master, ch) < 2:
                t_closed = now()
                break
            harness.time.sleep(0.05)
        assert t_closed is not None, "the stalled subscriber was never closed"
        # not before the soft time (it cannot have crossed the limit before t_start) ...
        assert t_closed - t_start >= soft_s, f"closed after {t_closed - t_start:.2f} s"
        # ... and soon after it (the sweep runs every 250 ms)
        assert t_closed - t_burst <= soft_s + 1.5, f"closed {t_closed - t_burst:.2f} s late"
        record_figures(f"pub/sub soft limit 1 MiB for {soft_s} s", {
            "burst of 12 MiB took (s)": f"{t_burst - t_start:.2f}",
            "closed after the burst began (s)": f"{t_closed - t_start:.2f}"})
        log = proxy.log_text()
        assert f"limits.output_pubsub_soft 1048576 for {soft_s} s" in log
        wait_until(lambda: reader.count == sent, 10, 0.01, "every message read")
        assert publish_in_step(master, ch, reader, 4) == 4
        wait_until(lambda: reader.count == sent + 4, 10, 0.01, "the reader still reading")


def test_normal_client_closed_at_its_hard_limit(module_topology, make_proxy):
    proxy = make_proxy(module_topology, extra_env=limits_env(output_normal_hard=2 << 20))
    key = uniq("big")
    value = b"v" * (256 << 10)
    assert module_topology.current_master().client().set(key, value)
    bystander = proxy.connection()
    s = stalled_socket(proxy.port)
    try:
        # 100 GETs (25 MiB of replies) and no reading
        s.sendall(RawResp.command(None, "GET", key) * 100)
        wait_until(lambda: "limits.output_normal_hard 2097152" in proxy.log_text(), 15, 0.05,
                   "the proxy to close the client at its hard limit")
        got = 0
        s.settimeout(5)
        try:
            while True:
                data = s.recv(1 << 20)
                if not data:
                    break
                got += len(data)
        except ConnectionResetError:
            pass
        assert got < 100 * len(value), "every reply arrived: the client was not closed"
        assert raw_command(bystander, "GET", key) == value.decode()
    finally:
        s.close()
        bystander.disconnect()
