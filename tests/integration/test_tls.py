"""TLS on both sides (issue 13): redis-server and redis-sentinel serve TLS only (`port 0`,
`tls-port`, `tls-replication yes`) with certificates this test makes with `openssl`; the
proxy reaches them over TLS and clients reach the proxy over TLS (redis-py ssl=True), with
client certificates required (mTLS). Failovers under a TLS write load lose nothing; bad
peers are refused, logged with the reason, and get no made-up reply."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
import redis

import conftest
from harness import HOST, TlsFiles, Writer, now, wait_until


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return TlsFiles.create(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_topology(tmp_path_factory, tls_files):
    topo = conftest._start_topology(tmp_path_factory.mktemp("topo"), tls=tls_files)
    yield topo
    conftest._stop_topology(topo)


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory, tls_topology, tls_files):
    proxy = conftest._start_proxy(tmp_path_factory.mktemp("proxy"), tls_topology, tls=tls_files,
                                  tls_extra="verify_clients = true")
    yield proxy
    conftest._stop_proxy(proxy)


def log_text(proxy) -> str:
    return proxy.log_path.read_text(errors="replace")


def test_topology_is_tls_only(tls_topology):
    # Nothing answers in plaintext: the nodes really are TLS-only.
    plain = redis.Redis(host=HOST, port=tls_topology.nodes[0].port, socket_timeout=2,
                        socket_connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()


def test_commands_pubsub_multi_over_tls(tls_proxy):
    c = tls_proxy.client()
    assert c.set("tls:k", "v") is True
    assert c.get("tls:k") == "v"
    big = "x" * 300_000  # many TLS records each way
    assert c.set("tls:big", big) is True
    assert c.get("tls:big") == big
    with c.pipeline(transaction=True) as p:
        p.incr("tls:n")
        p.incr("tls:n")
        assert p.execute()[-1] >= 2
    sub = tls_proxy.client(socket_timeout=10).pubsub(ignore_subscribe_messages=True)
    sub.subscribe("tls:ch")
    wait_until(lambda: c.pubsub_numsub("tls:ch")[0][1] == 1, 10, 0.05, "the subscription")
    assert c.publish("tls:ch", "hello") == 1
    got = None
    deadline = now() + 10
    while got is None and now() < deadline:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            got = m["data"]
    assert got == "hello"
    sub.close()


def test_plaintext_port_still_plaintext(tls_proxy):
    # Both on separate addresses: the plaintext listen address serves plaintext clients.
    plain = redis.Redis(host=HOST, port=tls_proxy.port, socket_timeout=5, decode_responses=True)
    assert plain.set("tls:plain", "1") is True


def _tls_socket(port: int, ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    raw = socket.create_connection((HOST, port), timeout=5)
    return ctx.wrap_socket(raw)


def test_mtls_refuses_client_without_certificate(tls_proxy, tls_files):
    c = redis.Redis(host=HOST, port=tls_proxy.tls_port, socket_timeout=5, **tls_files.client_kw())
    with pytest.raises(redis.ConnectionError):
        c.ping()
    wait_until(lambda: "peer did not return a certificate" in log_text(tls_proxy), 5, 0.1,
               "the refusal to be logged with its reason")
    assert tls_proxy.client().ping() is True  # others unaffected


def test_client_certificate_from_unknown_ca(tls_proxy, tls_files):
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        s = _tls_socket(tls_proxy.tls_port, tls_files.ca, tls_files.other_ca_cert,
                        tls_files.other_ca_key)
        s.sendall(b"PING\r\n")
        assert not s.recv(100)
    wait_until(lambda: "certificate verification failed" in log_text(tls_proxy), 5, 0.1,
               "the unknown CA to be logged")
    assert tls_proxy.client().ping() is True


def test_plaintext_client_on_tls_port(tls_proxy):
    s = socket.create_connection((HOST, tls_proxy.tls_port), timeout=5)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    # No RESP reply was made up: at most a TLS alert record (content type 21).
    assert not data.startswith((b"+", b"-", b"$", b"*", b":")), data[:40]
    wait_until(lambda: "plaintext client on a TLS port" in log_text(tls_proxy), 5, 0.1,
               "the plaintext client to be logged")
    lines = [l for l in log_text(tls_proxy).splitlines() if "plaintext client on a TLS port" in l]
    assert len(lines) == 1, lines
    assert tls_proxy.client().ping() is True


def test_bad_server_certificate_on_backend(tmp_path, tls_topology, tls_files):
    # The proxy trusts only the other CA on the Redis side: every master it is told about
    # fails verification, is logged with the reason, and nothing is served from it.
    proxy = conftest._start_proxy(tmp_path, tls_topology, tls=tls_files, writable=False)
    try:
        proxy.config_path.write_text(proxy.config_path.read_text().replace(
            f'[redis_tls]\nenabled = true\nca_file = "{tls_files.ca}"',
            f'[redis_tls]\nenabled = true\nca_file = "{tls_files.other_ca_cert}"'))
        proxy.stop()
        proxy.start()
        wait_until(lambda: "tls redis" in log_text(proxy) and
                   "certificate verification failed" in log_text(proxy), 15, 0.2,
                   "the backend certificate failure to be logged")
        c = proxy.client(socket_timeout=3)
        with pytest.raises(redis.RedisError):
            c.set("tls:never", "1")
    finally:
        conftest._stop_proxy(proxy)


def _failover_under_load(topo, proxy, tls_files, planned: bool, record_figures, name):
    writer = Writer(HOST, proxy.tls_port,
                    ssl_kw=tls_files.client_kw(cert=True)).start()
    try:
        writer.wait_acks(300, timeout=30)
        old = topo.current_master()
        if planned:
            topo.planned_failover()
        else:
            topo.kill_master()
        topo.wait_for_switch(old.addr, timeout=40)
        t_switch = now()
        writer.wait_acks(500, timeout=40)
        time.sleep(0.3)
    finally:
        st = writer.stop()
    new = topo.current_master()
    seqs = list(st.acked_seqs())
    missing, wrong = st.verify_on(new.client(socket_timeout=15), seqs)
    record_figures(name, {"writes acknowledged": st.acked, "errors": len(st.errors),
                          "lost": len(missing), "wrong": len(wrong),
                          "longest gap s": round(st.longest_gap(), 3)})
    late = set(st.acked_seqs(after=t_switch))
    return st, missing, wrong, old, [m for m in missing if m in late]


def test_planned_failover_over_tls(tls_topology, tls_proxy, tls_files, record_figures):
    st, missing, wrong, _, _ = _failover_under_load(tls_topology, tls_proxy, tls_files, True,
                                                 record_figures, "TLS planned failover")
    assert not st.errors, st.errors[:5]
    assert not missing and not wrong


def test_unplanned_failover_over_tls(tls_topology, tls_proxy, tls_files, record_figures):
    st, missing, wrong, killed, lost_after = _failover_under_load(tls_topology, tls_proxy, tls_files, False,
                                                      record_figures, "TLS unplanned failover")
    # Killing the master can cost writes it acknowledged but had not replicated (Redis's
    # asynchronous replication); the proxy must neither make up errors nor lose the rest.
    bad = [e for e in st.errors if e[3] != "connection"]
    assert not bad, bad[:5]
    assert not wrong and not lost_after
    tls_topology.restart_node(killed)
