"""The sentinel majority rule (issue 10, defect 1): a switch, and the very first
verification, need a majority of ALL known sentinels (configured + learned, one sentinel
counted once by its run id), never just of those that answer. A fourth, rogue sentinel
that monitors another Redis under the same master name must never be able to move writes
there, and a minority of answering sentinels keeps the last verified master while it
answers ROLE master."""

from __future__ import annotations

import os
import signal
import socket
import threading
import types

import pytest

import harness
from harness import HOST, MASTER_NAME, RedisNode, Sentinel, free_port, now, pool_status, wait_until

uniq = harness.key_maker("maj")


@pytest.fixture
def rogue(tmp_path):
    """A standalone Redis and a lone sentinel monitoring it as MASTER_NAME."""
    node = RedisNode(tmp_path / "rogue", "rogue-redis")
    sent = None
    try:
        node.start()
        sent = Sentinel(tmp_path / "rogue", "rogue-sentinel", node.port, quorum=1)
        sent.start()
        wait_until(lambda: sent.master_addr() == node.addr, 15, 0.1, "the rogue sentinel")
        yield types.SimpleNamespace(node=node, sentinel=sent)
    finally:
        for p in (sent, node):
            if p is not None:
                p.stop(signal.SIGKILL)


def proxy_for(make_proxy, sentinel_ports, writable=True):
    admin = free_port()
    proxy = make_proxy(types.SimpleNamespace(sentinel_ports=list(sentinel_ports)),
                       ["--admin-listen", f"{HOST}:{admin}"], writable=writable)
    return proxy, admin


def freeze(procs):
    for p in procs:
        os.kill(p.process.pid, signal.SIGSTOP)


def thaw(procs):
    for p in procs:
        try:
            os.kill(p.process.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_lone_rogue_sentinel_cannot_move_writes(make_topology, make_proxy, rogue):
    topo = make_topology()
    master = topo.current_master()
    proxy, admin = proxy_for(make_proxy, topo.sentinel_ports + [rogue.sentinel.port])
    wait_until(lambda: pool_status(admin)["sentinel_majority"]["known"] == 4, 15, 0.2,
               "the proxy to know 4 sentinels")
    assert pool_status(admin)["master"]["port"] == master.port

    c = proxy.client(socket_timeout=15)
    keys = []
    freeze(topo.sentinels)
    try:
        t_end = now() + 7.0
        notes = []
        while now() < t_end and len(keys) < 20:
            k = uniq(f"w{len(keys)}")
            assert c.set(k, "1") is True  # acknowledged: kept on the real master
            keys.append(k)
            notes.append(pool_status(admin)["sentinel_majority"]["note"])
            harness.time.sleep(1.0)
    finally:
        thaw(topo.sentinels)
    assert len(keys) >= 6
    # every acknowledged write is on the real master, none on the rogue's Redis
    assert [master.client().get(k) for k in keys] == ["1"] * len(keys)
    assert rogue.node.client().dbsize() == 0, "writes reached the rogue sentinel's Redis"
    # the proxy said it was holding on without a majority
    assert any(n and "without a sentinel majority" in n for n in notes), notes
    assert "no sentinel majority" in proxy.log_text()
    # once the majority is back, the note goes and writes still land on the real master
    wait_until(lambda: pool_status(admin)["sentinel_majority"]["note"] is None, 20, 0.2,
               "the majority to be back")
    k = uniq("after")
    assert c.set(k, "2") is True
    assert master.client().get(k) == "2"
    assert rogue.node.client().dbsize() == 0


def test_startup_with_rogue_and_unreachable_sentinel_verifies_nothing(make_proxy, rogue):
    unreachable = free_port()  # a real sentinel that is down: nothing listens there
    proxy, admin = proxy_for(make_proxy, [unreachable, rogue.sentinel.port], writable=False)
    t_end = now() + 4.0
    while now() < t_end:
        st = pool_status(admin)
        assert st["master"] is None, f"verified {st['master']} with {st['sentinel_majority']}"
        harness.time.sleep(0.2)
    assert "majority" in st["hold_reason"], st["hold_reason"]
    assert st["sentinel_majority"]["known"] == 2
    assert st["sentinel_majority"]["needed"] == 2
    c = proxy.client(socket_timeout=1.5)
    with pytest.raises(Exception):  # held (no master), never answered by the rogue
        c.set(uniq("x"), "1")
    assert rogue.node.client().dbsize() == 0


class RoundRobinForwarder:
    """One TCP address in front of several sentinels, each new connection to the next one:
    what a Kubernetes Service (one VIP for all sentinel pods) does. Bounded: stop() ends it."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.port = free_port()
        self.sock = socket.create_server((HOST, self.port))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.n = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept(self):
        while not self.stopping.is_set():
            try:
                down, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            target = self.ports[self.n % len(self.ports)]
            self.n += 1
            try:
                up = socket.create_connection((HOST, target), timeout=2)
            except OSError:
                down.close()
                continue
            up.settimeout(None)  # quiet connections (event subscriptions) stay open
            down.settimeout(None)
            self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while not self.stopping.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)


def test_sentinels_behind_one_address_count_once(make_topology, make_proxy):
    topo = make_topology()
    master = topo.current_master()
    fwd = RoundRobinForwarder(topo.sentinel_ports).start()
    try:
        proxy, admin = proxy_for(make_proxy, [fwd.port])
        # the Service address and the three sentinels it leads to are three sentinels
        wait_until(lambda: pool_status(admin)["sentinel_majority"]["answering"] == 3 and
                   len(pool_status(admin)["sentinels"]) == 4, 20, 0.2,
                   "the proxy to learn the sentinels behind the address")
        st = pool_status(admin)
        assert st["sentinel_majority"]["known"] == 3, st["sentinel_majority"]
        ids = [s["run_id"] for s in st["sentinels"]]
        assert None not in ids and len(set(ids)) == 3, st["sentinels"]
        # the Service address is a link of its own, not a 4th sentinel
        assert len(ids) == 4, st["sentinels"]

        c = proxy.client(socket_timeout=15)
        freeze(topo.sentinels[1:])
        try:
            # one sentinel answering, reached under two addresses, is still one of three
            wait_until(lambda: pool_status(admin)["sentinel_majority"]["note"] is not None, 15, 0.2,
                       "the proxy to notice it lost the sentinel majority")
            seen = []

            def one_of_three():
                seen.append(pool_status(admin)["sentinel_majority"])
                return seen[-1]["answering"] == 1
            wait_until(one_of_three, 15, 0.2, "1 of 3 known sentinels answering")
            # never more than three: the address in front and the sentinel it reaches are one
            assert {m["known"] for m in seen} == {3}, seen
            k = uniq("svc")
            assert c.set(k, "1") is True
            assert master.client().get(k) == "1"
        finally:
            thaw(topo.sentinels[1:])
        wait_until(lambda: pool_status(admin)["sentinel_majority"]["note"] is None, 20, 0.2,
                   "the majority to be back")
        assert pool_status(admin)["sentinel_majority"]["known"] == 3
    finally:
        fwd.stop()
