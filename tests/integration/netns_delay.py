"""Delays packets by a fixed time through NFQUEUE, for kernels without tc netem.

Run inside a namespace (`ip netns exec NS python3 netns_delay.py QUEUE MS`) after
`iptables -I OUTPUT -o eth0 -j NFQUEUE --queue-num QUEUE --queue-bypass` there: the kernel
hands every outgoing packet's id to this process, which gives the ACCEPT verdict MS
milliseconds later, in arrival order (so TCP sees a longer RTT, no reordering). The raw
nfnetlink_queue protocol is spoken directly (no libnetfilter_queue binding in Debian's
python). Exits on SIGTERM; with --queue-bypass, packets flow undelayed once it is gone.
Prints "ready" on stdout once bound."""

from __future__ import annotations

import collections
import os
import signal
import socket
import struct
import sys
import threading
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2


def attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * ((4 - len(raw) % 4) % 4)


def message(msg_type: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                       NLM_F_REQUEST, seq, 0) + body


def packet_ids(data: bytes):
    """The packet ids in one recv() of NFQNL_MSG_PACKET messages."""
    off = 0
    while off + 16 <= len(data):
        length, msg_type = struct.unpack_from("=IH", data, off)
        if length < 16:
            return
        if msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20
            while a + 4 <= off + length:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if akind & 0x7fff == NFQA_PACKET_HDR:
                    yield struct.unpack_from("!I", data, a + 4)[0]
                a += (alen + 3) & ~3
        off += (length + 3) & ~3


def main():
    queue, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    # a burst that overflows the socket buffer must not end the delayer (recv's ENOBUFS)
    sock.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
    sock.bind((0, 0))
    sock.send(message(NFQNL_MSG_CONFIG, queue,
                      attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, 0))))
    sock.send(message(NFQNL_MSG_CONFIG, queue,
                      attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))))
    sock.send(message(NFQNL_MSG_CONFIG, queue, attr(NFQA_CFG_QUEUE_MAXLEN,
                                                    struct.pack("!I", 65536))))
    due: collections.deque = collections.deque()
    cond = threading.Condition()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: (stop.set(), os._exit(0)))

    def release():
        while not stop.is_set():
            with cond:
                while not due:
                    cond.wait(0.5)
                    if stop.is_set():
                        return
                t, pid = due[0]
            wait = t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with cond:
                due.popleft()
            sock.send(message(NFQNL_MSG_VERDICT, queue,
                              attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))))

    threading.Thread(target=release, daemon=True).start()
    print("ready", flush=True)
    while not stop.is_set():
        try:
            data = sock.recv(1 << 16)
        except OSError as exc:  # never leave: a gone delayer would silently stop delaying
            print(f"recv: {exc}", flush=True)
            continue
        t = time.monotonic() + delay
        with cond:
            for pid in packet_ids(data):
                due.append((t, pid))
            cond.notify()


if __name__ == "__main__":
    main()
