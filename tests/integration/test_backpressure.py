"""Backpressure: a client that pipelines 1,000 GETs of a 1 MiB value (1 GiB of replies) and
does not read must not make the proxy buffer it all: the proxy stops reading from Redis while
the client is not draining, so its memory stays bounded; other clients are unaffected; and
when the client finally reads, every byte arrives."""

from __future__ import annotations

import socket
import time

import harness


def _rss_mib(pid: int) -> int:
    return harness.rss_kib(pid) // 1024


def test_slow_reader_keeps_memory_bounded(module_proxy):
    proxy = module_proxy
    client = proxy.client(socket_timeout=20)
    value = "x" * (1 << 20)
    assert client.set("bp:big", value)
    slow = socket.create_connection(proxy.addr, timeout=30)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    n = 1000
    slow.sendall(b"*2\r\n$3\r\nGET\r\n$6\r\nbp:big\r\n" * n)
    peak = 0
    for _ in range(6):
        time.sleep(0.5)
        peak = max(peak, _rss_mib(proxy.process.pid))
    # 1 GiB of replies owed; the proxy holds a bounded window (32 MiB per direction plus
    # socket buffers), not the lot.
    assert peak < 256, f"proxy RSS grew to {peak} MiB"
    assert client.ping()
    expected = n * (len(b"$1048576\r\n") + (1 << 20) + 2)
    got = 0
    while got < expected:
        data = slow.recv(1 << 20)
        assert data, f"connection closed after {got} of {expected} bytes"
        got += len(data)
    assert got == expected
    slow.close()
