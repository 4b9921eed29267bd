"""TLS on both sides (issue 13): redis-server and redis-sentinel serve TLS only (`port 0`,
`tls-port`, `tls-replication yes`) with certificates this test makes with `openssl`; the
proxy reaches them over TLS and clients reach the proxy over TLS (redis-py ssl=True), with
client certificates required (mTLS). Failovers under a TLS write load lose nothing; bad
peers are refused, logged with the reason, and get no made-up reply."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request

import pytest
import redis

import conftest
from harness import HOST, TlsFiles, Writer, free_port, now, wait_until


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


def test_blocking_command_over_tls(tls_proxy):
    # BLPOP pins its client to a dedicated TLS link; a push from another client wakes it.
    waiter = tls_proxy.client(socket_timeout=15)
    pusher = tls_proxy.client()
    pusher.delete("tls:q")
    got = {}

    def pop():
        got["v"] = waiter.blpop("tls:q", timeout=10)

    t = threading.Thread(target=pop, daemon=True)
    t.start()
    time.sleep(0.5)
    assert t.is_alive(), "BLPOP returned before anything was pushed"
    pusher.rpush("tls:q", "job-1")
    t.join(10)
    assert got.get("v") == ("tls:q", "job-1")


def test_replica_reads_over_tls(tmp_path, tls_topology, tls_files):
    # Replica reads over TLS: the proxy measures the TLS replicas (INFO over TLS links) and
    # sends reads to them; the values are the ones written.
    admin = free_port()
    proxy = conftest._start_proxy(tmp_path, tls_topology, tls=tls_files, name="rr-proxy",
                                  extra_args=["--read-from", "prefer-replica",
                                              "--admin-listen", f"{HOST}:{admin}"])
    try:
        def eligible():
            with urllib.request.urlopen(f"http://{HOST}:{admin}/status", timeout=5) as r:
                pool = json.loads(r.read())["pools"][0]
            return [x["address"] for x in pool["read_replicas"] if x["eligible"]]
        wait_until(lambda: len(eligible()) >= 1, 30, 0.2, "a TLS replica eligible")
        master = tls_topology.current_master()
        replicas = tls_topology.replicas_of(master)

        def replica_gets():
            return sum(int(n.client().info("commandstats").get("cmdstat_get", {})
                           .get("calls", 0)) for n in replicas)
        values = {f"tls:rr:{i}": f"v{i}" for i in range(50)}
        proxy.client().mset(values)
        time.sleep(1.0)
        before = replica_gets()
        reader = proxy.client()  # a client that never wrote: no read-your-writes fence
        for k, v in values.items():
            assert reader.get(k) == v
        assert replica_gets() - before >= 25, "reads over TLS did not reach the replicas"
    finally:
        conftest._stop_proxy(proxy)


def test_blocked_client_that_leaves_is_freed_in_redis_at_once_over_tls(tls_proxy, tls_topology):
    # As test_client_eof's job test, with the link to Redis over TLS: the client's EOF reaches
    # Redis as a close_notify and a FIN right behind its BLPOP, so Redis frees the BLPOP and a
    # job pushed after the client left stays in the list (before, the proxy left it blocked
    # for a second and the job went to nobody).
    master = tls_topology.current_master().client()

    def blocked() -> int:
        return sum(1 for c in master.client_list() if c.get("cmd") == "blpop")
    before = blocked()
    q = f"tls:jobs:{time.monotonic_ns()}"
    s = socket.create_connection((HOST, tls_proxy.port), timeout=10)
    try:
        s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(q), q.encode()))
        wait_until(lambda: blocked() == before + 1, 10, 0.01, "the BLPOP to block in Redis")
    finally:
        s.close()
    time.sleep(0.3)
    master.rpush(q, "job")
    time.sleep(0.2)
    assert master.lrange(q, 0, -1) == ["job"]
    assert blocked() == before


def test_blocking_command_then_eof_answers_as_redis_does_over_tls(tls_proxy, tls_topology,
                                                                   tls_files):
    # The same pipelines, each followed by the end of the client's input, straight to Redis
    # (over TLS) and through the proxy (whose link to Redis is TLS and gets a close_notify
    # and a FIN right behind the blocking command): a BLPOP served at once is answered and
    # what followed it runs; a blocked one is freed and nothing after it runs.
    master = tls_topology.current_master()
    direct = master.client()

    def cmd(*args: str) -> bytes:
        return b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)

    def plain_half_close(payload: bytes) -> bytes:
        s = socket.create_connection((HOST, tls_proxy.port), timeout=15)
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got, deadline = b"", now() + 15
            while True:
                assert now() < deadline, f"no close within 15 s; read {got[-60:]!r}"
                data = s.recv(1 << 16)
                if not data:
                    return got
                got += data
        finally:
            s.close()

    for via in ("redis", "proxy"):
        q = f"tls:eof:{via}:{time.monotonic_ns()}"
        served = cmd("BLPOP", q, "0") + cmd("PING") + cmd("SET", q + ":after", "1")
        blocked = cmd("SELECT", "1") + cmd("BLPOP", q + ":empty", "0") + cmd("PING")
        direct.rpush(q, "job")
        if via == "redis":
            got_served = tls_half_close(master.port, tls_files, served, False)
            got_blocked = tls_half_close(master.port, tls_files, blocked, False)
        else:
            got_served, got_blocked = plain_half_close(served), plain_half_close(blocked)
        assert got_served == b"*2\r\n$%d\r\n%s\r\n$3\r\njob\r\n+PONG\r\n+OK\r\n" % (
            len(q), q.encode()), (via, got_served)
        assert direct.get(q + ":after") == "1", via
        assert got_blocked == b"+OK\r\n", (via, got_blocked)


def _tls_socket(port: int, ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    raw = socket.create_connection((HOST, port), timeout=5)
    return ctx.wrap_socket(raw)


@pytest.mark.parametrize("version,tickets", [("1.3", True), ("1.2", True), ("1.2", False)])
def test_session_resumption(tls_proxy, tls_files, version, tickets):
    # Sessions resume by ticket, TLS 1.3 and 1.2 alike, client certificate included (the
    # ticket carries it). A 1.2 client that offers no ticket gets a full handshake: the
    # proxy keeps no server-side session cache (docs/tls.md, idle memory).
    ctx = ssl.create_default_context(cafile=str(tls_files.ca))
    ctx.load_cert_chain(str(tls_files.client_cert), str(tls_files.client_key))
    ctx.minimum_version = ctx.maximum_version = (
        ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET

    def connect(session=None):
        raw = socket.create_connection((HOST, tls_proxy.tls_port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname=HOST, session=session) as s:
            assert s.version() == f"TLSv{version}"
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert s.recv(100) == b"+PONG\r\n"  # TLS 1.3 tickets are read on the way
            return s.session_reused, s.session

    reused, session = connect()
    assert not reused
    for _ in range(2):
        reused, _ = connect(session)
        assert reused is tickets


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
    # Every replica attached first (the module's topology has just been failed over): a kill
    # then costs only what the master had not yet sent to its replicas.
    topo.wait_stable(40)
    writer = Writer(HOST, proxy.tls_port,
                    ssl_kw=tls_files.client_kw(cert=True)).start()
    try:
        writer.wait_acks(300, timeout=30)
        old = topo.current_master()
        t_event = now()
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
    # Lost although acknowledged more than 1 s before the kill (or the planned switch).
    early = set(st.acked_seqs(before=t_event - 1.0))
    return st, missing, wrong, old, [m for m in missing if m in late or m in early]


def test_planned_failover_over_tls(tls_topology, tls_proxy, tls_files, record_figures):
    st, missing, wrong, _, _ = _failover_under_load(tls_topology, tls_proxy, tls_files, True,
                                                 record_figures, "TLS planned failover")
    assert not st.errors, st.errors[:5]
    assert not missing and not wrong


def test_unplanned_failover_over_tls(tls_topology, tls_proxy, tls_files, record_figures):
    st, missing, wrong, killed, lost_after = _failover_under_load(tls_topology, tls_proxy, tls_files, False,
                                                      record_figures, "TLS unplanned failover")
    # Killing the master can cost writes it acknowledged but had not replicated (Redis's
    # asynchronous replication: those of the last second before the kill); the proxy must
    # neither make up errors nor lose any other write.
    bad = [e for e in st.errors if e[3] != "connection"]
    assert not bad, bad[:5]
    assert not wrong and not lost_after
    tls_topology.restart_node(killed)


def _peer_cn(port: int, files) -> str:
    s = _tls_socket(port, files.ca, files.client_cert, files.client_key)
    try:
        subject = dict(x[0] for x in s.getpeercert()["subject"])
        return subject["commonName"]
    finally:
        s.close()


def test_metrics_and_sighup_reload(tmp_path, tls_topology, tls_files):
    import dataclasses
    import shutil
    import signal
    import subprocess
    import urllib.request
    from harness import free_port

    # Own copies of the served certificate and key, so the test can replace them.
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(tls_files.cert, own / "server.crt")
    shutil.copy(tls_files.key, own / "server.key")
    files = dataclasses.replace(tls_files, cert=own / "server.crt", key=own / "server.key")
    admin = free_port()
    proxy = conftest._start_proxy(tmp_path / "p", tls_topology, ["--admin-listen",
                                                                f"{HOST}:{admin}"], tls=files)
    try:
        kept = proxy.client(single_connection_client=True)
        assert kept.set("tls:reload", "1") is True
        assert _peer_cn(proxy.tls_port, files) == "server"

        # A new certificate (same CA, CN server2): new handshakes get it, the open one stays.
        d = tls_files.dir
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=server2", "-keyout", str(own / "new.key"), "-out",
                        str(own / "new.csr")], check=True, capture_output=True, timeout=60)
        subprocess.run(["openssl", "x509", "-req", "-in", str(own / "new.csr"), "-CA",
                        str(d / "ca.crt"), "-CAkey", str(d / "ca.key"), "-CAcreateserial",
                        "-days", "30", "-extfile", str(d / "server.ext"), "-out",
                        str(own / "new.crt")], check=True, capture_output=True, timeout=60)
        shutil.copy(own / "new.crt", files.cert)
        shutil.copy(own / "new.key", files.key)
        proxy.process.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _peer_cn(proxy.tls_port, files) == "server2", 10, 0.1,
                   "new handshakes to use the reloaded certificate")
        assert kept.get("tls:reload") == "1"  # the established connection survived

        # A bad key: the old (server2) certificate stays, and the log says why.
        files.key.write_text("not a key\n")
        proxy.process.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "TLS certificate/key not reloaded" in log_text(proxy), 10, 0.1,
                   "the failed reload to be logged")
        assert _peer_cn(proxy.tls_port, files) == "server2"
        assert kept.get("tls:reload") == "1"

        with urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        import re
        ok = re.search(r'^sentinel_proxy_tls_handshakes_total\{side="client",outcome="ok"\} '
                       r'(\d+)$', text, re.M)
        assert ok and int(ok.group(1)) >= 4, text[-3000:]
        redis_ok = re.search(r'^sentinel_proxy_tls_handshakes_total\{side="redis",outcome="ok"\}'
                             r' (\d+)$', text, re.M)
        assert redis_ok and int(redis_ok.group(1)) >= 1
        count = re.search(r'^sentinel_proxy_tls_handshake_duration_seconds_count\{side="client"\}'
                          r' (\d+)$', text, re.M)
        assert count and int(count.group(1)) == int(ok.group(1))
        expiry = re.search(r'^sentinel_proxy_tls_certificate_expiry_timestamp_seconds'
                           r'\{side="client"\} (\d+)$', text, re.M)
        assert expiry and 20 * 86400 < int(expiry.group(1)) - time.time() < 31 * 86400
    finally:
        conftest._stop_proxy(proxy)


def test_bad_config_exits_2(tmp_path, tls_files):
    from harness import proxy_bin
    bad = tmp_path / "bad.toml"
    for body, want in [
        (f'[tls]\nlisten = ["{HOST}:1"]\ncert_file = "/nonexistent.crt"\n'
         f'key_file = "{tls_files.key}"\n', "tls.cert_file: /nonexistent.crt"),
        (f'[tls]\nlisten = ["{HOST}:1"]\ncert_file = "{tls_files.cert}"\n'
         f'key_file = "{tls_files.client_key}"\n', "does not match"),
        (f'[redis_tls]\nenabled = true\nca_file = "{tmp_path}/missing-ca.crt"\n',
         "redis_tls.ca_file"),
    ]:
        bad.write_text(body)
        import subprocess
        r = subprocess.run([proxy_bin(), "--config", str(bad), "--sentinel", f"{HOST}:1",
                            "--master", "m"], capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (body, r.stderr)
        assert want in r.stderr, r.stderr


def test_expired_server_certificate_on_backend(tmp_path, tls_files):
    import dataclasses
    import subprocess
    from harness import RedisNode, Sentinel

    d = tls_files.dir
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=expired",
                    "-keyout", str(tmp_path / "expired.key"), "-out", str(tmp_path / "e.csr")],
                   check=True, capture_output=True, timeout=60)
    # -days -1: notAfter is yesterday.
    subprocess.run(["openssl", "x509", "-req", "-in", str(tmp_path / "e.csr"), "-CA",
                    str(d / "ca.crt"), "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days",
                    "-1", "-extfile", str(d / "server.ext"), "-out",
                    str(tmp_path / "expired.crt")], check=True, capture_output=True, timeout=60)

    @dataclasses.dataclass
    class Unverified(TlsFiles):
        def client_kw(self, cert: bool = False) -> dict:
            return {"ssl": True, "ssl_cert_reqs": "none"}  # the harness's own health checks

    expired = Unverified(**{**dataclasses.asdict(tls_files), "cert": tmp_path / "expired.crt",
                            "key": tmp_path / "expired.key"})
    node = RedisNode(tmp_path, "expired-redis", tls=expired).start()
    sentinel = Sentinel(tmp_path, "s", node.port, quorum=1, tls=tls_files).start()
    proxy = None
    try:
        proxy = conftest._start_proxy(tmp_path / "p", _OneSentinel(sentinel), tls=tls_files,
                                      writable=False)
        wait_until(lambda: "certificate verification failed: certificate has expired"
                   in log_text(proxy), 20, 0.2, "the expired backend certificate to be logged")
        line = next(l for l in log_text(proxy).splitlines() if "certificate has expired" in l)
        assert "tls redis" in line and f":{node.port}" in line, line
        with pytest.raises(redis.RedisError):
            proxy.client(socket_timeout=3).set("tls:expired", "1")
    finally:
        if proxy:
            conftest._stop_proxy(proxy)
        sentinel.stop()
        node.stop()


class _OneSentinel:
    def __init__(self, sentinel):
        self.sentinel_ports = [sentinel.port]


def tls_half_close(port: int, tls_files, payload: bytes, close_notify: bool,
                   timeout: float = 10.0) -> bytes:
    """Sends `payload` over TLS, then ends its input (a close_notify and the socket's
    SHUT_WR, or SHUT_WR alone) and reads the decrypted replies until the server closes."""
    ctx = ssl.create_default_context(cafile=str(tls_files.ca))
    ctx.load_cert_chain(str(tls_files.client_cert), str(tls_files.client_key))
    sock = socket.create_connection((HOST, port), timeout=timeout)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=HOST)

    def pump_out():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def pump_in() -> bool:
        data = sock.recv(1 << 16)
        if not data:
            incoming.write_eof()
            return False
        incoming.write(data)
        return True

    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump_out()
                if not pump_in():
                    raise ConnectionError("closed during the handshake")
        pump_out()
        tls.write(payload)
        if close_notify:
            try:
                tls.unwrap()
            except ssl.SSLWantReadError:
                pass  # ours is sent; the server's comes after its replies
        pump_out()
        sock.shutdown(socket.SHUT_WR)
        got = b""
        deadline = now() + timeout
        open_ = True
        while True:
            # Until the server ends the connection: one that keeps it open fails here. (The
            # b"" of a close_notify used to be read as data until the deadline: 10 s a call.)
            assert now() < deadline, f"no close within {timeout} s; read {got[-60:]!r}"
            try:
                data = tls.read(1 << 16)
                if not data:
                    break  # the server's close_notify: read() returns b"", it raises nothing
                got += data
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                break  # close_notify, a bare EOF, or an alert: the end either way
            if not open_:
                break
            try:
                open_ = pump_in()
            except ConnectionResetError:
                break
        return got
    finally:
        sock.close()


@pytest.mark.parametrize("close_notify", [True, False])
def test_half_closed_tls_client_gets_every_reply(tls_proxy, tls_topology, tls_files,
                                                 close_notify):
    # Issue 21, case 11 over TLS: the end of a client's input (close_notify, or the socket's
    # EOF alone) lets every command it sent run and every reply reach it, as from Redis.
    master = tls_topology.current_master()
    for r in range(5):
        k = f"tls:eof:{close_notify}:{r}:{time.monotonic_ns()}"

        def pipeline(prefix):
            cmds = [["SET", f"{prefix}{k}", "v"], ["GET", f"{prefix}{k}"], ["INCR", f"{prefix}n{k}"],
                    ["SELECT", "1"], ["SET", f"{prefix}{k}", "db1"], ["GET", f"{prefix}{k}"]]
            return b"".join(b"*%d\r\n" % len(c) + b"".join(
                b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in c) for c in cmds)
        want = tls_half_close(master.port, tls_files, pipeline("d:"), close_notify)
        got = tls_half_close(tls_proxy.tls_port, tls_files, pipeline("p:"), close_notify)
        assert want == b"+OK\r\n$1\r\nv\r\n:1\r\n+OK\r\n+OK\r\n$3\r\ndb1\r\n", want
        assert got == want
        assert master.client(db=1).get(f"p:{k}") == "db1"
