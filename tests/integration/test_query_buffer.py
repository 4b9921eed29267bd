"""limits.query_buffer_limit (issue 15), Redis's client-query-buffer-limit: a client may have
only so many bytes in the proxy that are not yet framed into a command or not yet forwarded.
A command bigger than that closes its client with a clear error (and a warning in the log),
the others go on, and a deep pipeline of small commands is paused, not closed."""

from __future__ import annotations

import select

import harness
from harness import RawResp, RespError, now, raw_command

uniq = harness.key_maker("qbuf")

LIMIT = 2 << 20  # the smallest limits.query_buffer_limit is 1 MiB


def limited_proxy(make_proxy, topo):
    # Streaming off: big values are held whole here, as commands that cannot stream are
    # (inside MULTI, during a hold...); test_streaming.py covers the streamed path.
    return make_proxy(topo, extra_env={"SENTINEL_PROXY_LIMITS_QUERY_BUFFER_LIMIT": str(LIMIT),
                                       "SENTINEL_PROXY_LIMITS_STREAM_BULK_LEN": "0"})


def test_a_command_past_the_limit_closes_only_its_client(module_topology, make_proxy,
                                                         record_figures):
    proxy = limited_proxy(make_proxy, module_topology)
    master = module_topology.current_master().client()

    # a bystander in the middle of a big command of its own (1.5 MiB, under the limit)
    bystander = RawResp(proxy.port, timeout=10)
    k_ok = uniq("fits")
    body = b"v" * (3 << 19)
    bystander.send(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(k_ok), k_ok.encode(),
                                                               len(body)))
    bystander.send(body[: 1 << 20])

    # a 32 MiB value: the proxy gives up after about LIMIT bytes
    big = RawResp(proxy.port, timeout=10)
    k_big = uniq("big")
    size = 32 << 20
    big.send(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(k_big), k_big.encode(), size))
    chunk = b"y" * (256 << 10)
    sent = 0
    t_end = now() + 30
    answered = False
    try:
        while sent < size and now() < t_end:
            big.send(chunk)
            sent += len(chunk)
            if select.select([big.sock], [], [], 0)[0]:
                answered = True
                break
    except OSError:
        pass
    assert answered or sent < size, f"the whole {size} bytes were taken"
    reply = big.read_reply()
    assert isinstance(reply, RespError), reply
    assert str(reply).startswith(
        "ERR Protocol error: closing client that reached max query buffer length"), reply
    assert big.wait_closed(5), "the client past the limit was not closed"
    big.close()
    # it stopped near the limit (socket buffers aside), not after the whole value
    assert sent <= 12 << 20, f"{sent} bytes sent before the error"
    record_figures("query buffer limit 2 MiB", {
        "sent of a 32 MiB SET before the error (MiB)": f"{sent / (1 << 20):.2f}"})
    assert master.exists(k_big) == 0
    assert "closing client that reached max query buffer length" in proxy.log_text()

    # the bystander finishes its command and is answered
    bystander.send(body[1 << 20:] + b"\r\n")
    assert bystander.read_reply() == "OK"
    assert master.strlen(k_ok) == len(body)
    assert bystander.call("PING") == "PONG"
    bystander.close()
    c = proxy.connection()
    assert raw_command(c, "PING") == "PONG"
    c.disconnect()


def test_a_deep_pipeline_of_small_commands_is_paused_not_closed(module_topology, make_proxy):
    proxy = limited_proxy(make_proxy, module_topology)
    r = RawResp(proxy.port, timeout=20)
    key = uniq("pipe")
    value = b"p" * 1000
    n = 3000  # about 3 MiB of commands in one go, past the 2 MiB limit
    one = r.command("RPUSH", key, value)
    r.send(one * n)
    for i in range(n):
        assert r.read_reply() == i + 1, f"reply {i}"
    assert r.call("LLEN", key) == n
    r.close()
    assert "max query buffer length" not in proxy.log_text()
