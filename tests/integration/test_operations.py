"""Operating the proxy (issue 5): the admin endpoints (/livez /readyz /metrics /status),
metrics across a real failover, SIGHUP reload with clients connected, SIGTERM drain with a
blocked BRPOP and a pipeline in flight, two pools in one process, HELLO/PING with no master
and the client limit. Real processes on 127.0.0.1, free ports, bounded waits, stop by PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

import harness
from harness import HOST, free_port, now, raw_command, wait_until


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


metric = harness.metric_sample  # the label-aware reader of /metrics samples


def metric_lines(text: str, *prefixes: str) -> str:
    return "\n".join(l for l in text.splitlines()
                     if not l.startswith("#") and l.startswith(prefixes))


class StandaloneProxy:
    """A proxy started without waiting for a writable master (the no-master cases)."""

    def __init__(self, root: Path, sentinel_ports, extra_args):
        self.proxy = harness.Proxy(root, sentinel_ports, list(extra_args))

    def __enter__(self):
        self.proxy.start()
        return self.proxy

    def __exit__(self, *exc):
        self.proxy.stop()


def start_admin_proxy(make_proxy, topo, *extra):
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", *extra])
    return proxy, admin


# ---------------------------------------------------------------------------------------------

def test_endpoints(make_topology, make_proxy):
    topo = make_topology()
    proxy, admin = start_admin_proxy(make_proxy, topo)
    master = topo.current_master()

    status, _, body = http_get(admin, "/livez")
    assert (status, body) == (200, "ok\n")

    wait_until(lambda: http_get(admin, "/readyz")[0] == 200, 10, 0.1, "/readyz 200")
    assert http_get(admin, "/readyz")[2] == "ready\n"

    c = proxy.client()
    for i in range(20):
        c.set(f"ops:{i}", i)
        assert c.get(f"ops:{i}") == str(i)
    status, ctype, text = http_get(admin, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    for name in ["sentinel_proxy_client_connections_active",
                 "sentinel_proxy_client_connections_total",
                 "sentinel_proxy_client_connections_rejected_total",
                 "sentinel_proxy_commands_total", "sentinel_proxy_commands_routed_total",
                 "sentinel_proxy_hold_wait_seconds_bucket",
                 "sentinel_proxy_backend_latency_seconds_bucket",
                 "sentinel_proxy_client_bytes_total", "sentinel_proxy_failovers_total",
                 "sentinel_proxy_last_master_switch_timestamp_seconds",
                 "sentinel_proxy_master_info",
                 "sentinel_proxy_sentinel_up", "sentinel_proxy_sentinel_links",
                 "sentinel_proxy_replicas_eligible", "sentinel_proxy_build_info"]:
        assert f"\n{name}" in text, name
    assert metric(text, "sentinel_proxy_master_info", pool="default", master_name="mymaster",
                  host=master.addr[0], port=str(master.port)) == 1
    assert metric(text, "sentinel_proxy_commands_total", outcome="forwarded") >= 40
    assert metric(text, "sentinel_proxy_backend_latency_seconds_count") >= 40
    assert metric(text, "sentinel_proxy_client_bytes_total", direction="in") > 0
    assert metric(text, "sentinel_proxy_client_bytes_total", direction="out") > 0
    assert metric(text, "sentinel_proxy_client_connections_active") >= 1
    assert metric(text, "sentinel_proxy_sentinel_links", state="up") == 3
    for port in topo.sentinel_ports:
        assert metric(text, "sentinel_proxy_sentinel_up", sentinel=f"{HOST}:{port}") == 1
    assert metric(text, "sentinel_proxy_replicas_eligible") == 2

    status, ctype, body = http_get(admin, "/status")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(body)
    assert doc["draining"] is False
    (pool,) = doc["pools"]
    assert pool["name"] == "default" and pool["master_name"] == "mymaster"
    assert pool["master"] == {"host": master.addr[0], "port": master.port}
    assert pool["accepting"] is True and pool["verified_at"] and pool["hold_reason"] is None
    assert len(pool["replicas"]) == 2
    assert {s["address"] for s in pool["sentinels"]} >= {f"{HOST}:{p}" for p in topo.sentinel_ports}
    assert all(s["up"] for s in pool["sentinels"])
    assert pool["last_switch"]["seconds_ago"] >= 0

    assert http_get(admin, "/nope")[0] == 404
    # Not GET: 405; a broken request line: 400.
    with socket.create_connection((HOST, admin), timeout=5) as s:
        s.sendall(b"POST /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")
    with socket.create_connection((HOST, admin), timeout=5) as s:
        s.sendall(b"garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_no_master_readyz_hello_ping_and_client_limit(make_topology, tmp_path):
    """With a master name no sentinel knows: /livez stays 200, /readyz is 503 with a reason,
    PING/HELLO/QUIT are answered locally; past max_clients Redis's error."""
    topo = make_topology(replicas=0)
    admin = free_port()
    with StandaloneProxy(tmp_path, topo.sentinel_ports,
                         ["--master", "nosuchmaster", "--admin-listen", f"{HOST}:{admin}",
                          "--max-clients", "3"]) as proxy:
        assert http_get(admin, "/livez") == (200, "text/plain; charset=utf-8", "ok\n")
        status, _, reason = http_get(admin, "/readyz")
        assert status == 503
        assert reason.count("\n") == 1 and "no verified master" in reason and "nosuchmaster" in reason
        assert metric(http_get(admin, "/metrics")[2], "sentinel_proxy_master_verified") == 0

        c = proxy.connection()
        assert raw_command(c, "PING") == "PONG"
        hello = raw_command(c, "HELLO", "2")
        assert isinstance(hello, list) and len(hello) == 14
        fields = dict(zip(hello[::2], hello[1::2]))
        assert fields["server"] == "redis" and fields["proto"] == 2 and fields["role"] == "master"
        assert fields["mode"] == "standalone" and fields["modules"] == [] and "version" in fields
        err = raw_command(c, "HELLO", "4")
        assert isinstance(err, redis.ResponseError) and "NOPROTO" in str(err)
        c.disconnect()

        # RESP3: a map ("%7"), and the session now speaks RESP3 (PING still answered).
        with socket.create_connection(proxy.addr, timeout=5) as s:
            s.sendall(b"HELLO 3\r\n")
            data = b""
            deadline = now() + 5
            while data.count(b"\r\n") < 16 and now() < deadline:
                data += s.recv(4096)
            assert data.startswith(b"%7\r\n") and b"proto\r\n:3\r\n" in data
            s.sendall(b"PING\r\nQUIT\r\n")
            rest = b""
            while now() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            assert rest == b"+PONG\r\n+OK\r\n"

        held = [proxy.connection() for _ in range(3)]
        # Each held client answered first, so the proxy has taken it: with several workers
        # (SO_REUSEPORT) connections the kernel queued are taken by different loops in no
        # set order, and `extra` could be taken before a held one.
        for h in held:
            assert raw_command(h, "PING") == "PONG"
        extra = proxy.connection()
        try:
            reply = raw_command(extra, "PING")
        except redis.ConnectionError as exc:  # redis-py raises this error text as ConnectionError
            reply = exc
        assert "max number of clients reached" in str(reply)
        text = http_get(admin, "/metrics")[2]
        assert metric(text, "sentinel_proxy_client_connections_rejected_total") >= 1
        for c in held + [extra]:
            c.disconnect()


def test_metrics_across_failover(make_topology, make_proxy, record_figures, tmp_path):
    topo = make_topology()
    proxy, admin = start_admin_proxy(make_proxy, topo)
    old = topo.current_master()
    wait_until(lambda: http_get(admin, "/readyz")[0] == 200, 10, 0.1, "/readyz 200")
    before = http_get(admin, "/metrics")[2]
    assert metric(before, "sentinel_proxy_failovers_total") == 0

    writer = harness.Writer(HOST, proxy.port, batch=5, interval=0.005).start()
    time.sleep(0.5)
    topo.planned_failover()
    new = topo.wait_for_switch(old.addr)
    wait_until(lambda: metric(http_get(admin, "/metrics")[2], "sentinel_proxy_master_info",
                              port=str(new.port)) == 1, 20, 0.1, "master_info to name the new master")
    time.sleep(1.5)
    stats = writer.stop()
    after = http_get(admin, "/metrics")[2]

    excerpt = ("--- before ---\n" + metric_lines(before, *EXCERPT) +
               "\n--- after ---\n" + metric_lines(after, *EXCERPT) + "\n")
    (tmp_path / "metrics-across-failover.txt").write_text(excerpt)
    if os.environ.get("SP_METRICS_SAMPLE"):
        Path(os.environ["SP_METRICS_SAMPLE"]).write_text(excerpt)

    assert metric(after, "sentinel_proxy_failovers_total") == 1
    assert metric(after, "sentinel_proxy_master_info", port=str(old.port)) is None
    assert metric(after, "sentinel_proxy_master_info", host=new.addr[0], port=str(new.port)) == 1
    # The switch moved the timestamp forward, and it was recent (was: seconds since < 20).
    assert metric(after, "sentinel_proxy_last_master_switch_timestamp_seconds") > \
        metric(before, "sentinel_proxy_last_master_switch_timestamp_seconds")
    assert time.time() - metric(after, "sentinel_proxy_last_master_switch_timestamp_seconds") < 20
    assert metric(after, "sentinel_proxy_commands_total", outcome="forwarded") > \
        metric(before, "sentinel_proxy_commands_total", outcome="forwarded")
    assert metric(after, "sentinel_proxy_commands_routed_total", route="master") > \
        metric(before, "sentinel_proxy_commands_routed_total", route="master")
    # The writer's session held its commands during the switch, or was re-sent after READONLY.
    moved = (metric(after, "sentinel_proxy_commands_total", outcome="held")
             - metric(before, "sentinel_proxy_commands_total", outcome="held")
             + metric(after, "sentinel_proxy_commands_total", outcome="resent")
             - metric(before, "sentinel_proxy_commands_total", outcome="resent"))
    assert moved >= 1
    assert metric(after, "sentinel_proxy_hold_wait_seconds_count") >= \
        metric(before, "sentinel_proxy_hold_wait_seconds_count")
    assert metric(after, "sentinel_proxy_client_bytes_total", direction="in") > \
        metric(before, "sentinel_proxy_client_bytes_total", direction="in")
    assert metric(after, "sentinel_proxy_master_verified") == 1
    assert not stats.errors, stats.errors[:5]
    wait_until(lambda: "failover timeline [mymaster]" in proxy.log_text(), 10, 0.1,
               "the failover timeline in the log")
    line = next(l for l in proxy.log_text().splitlines() if "failover timeline" in l)
    assert f"{old.addr[0]}:{old.port} -> {new.addr[0]}:{new.port}" in line
    assert "longest hold" in line
    record_figures("metrics across a planned failover", {
        "failovers_total": metric(after, "sentinel_proxy_failovers_total"),
        "held": metric(after, "sentinel_proxy_commands_total", outcome="held"),
        "resent": metric(after, "sentinel_proxy_commands_total", outcome="resent"),
        "hold_wait_count": metric(after, "sentinel_proxy_hold_wait_seconds_count"),
        "hold_wait_sum_s": metric(after, "sentinel_proxy_hold_wait_seconds_sum"),
    })


EXCERPT = ("sentinel_proxy_failovers_total", "sentinel_proxy_master_info",
           "sentinel_proxy_master_verified",
           "sentinel_proxy_last_master_switch_timestamp_seconds",
           "sentinel_proxy_commands_total", "sentinel_proxy_commands_routed_total",
           "sentinel_proxy_hold_wait_seconds_count", "sentinel_proxy_hold_wait_seconds_sum",
           "sentinel_proxy_backend_latency_seconds_count",
           "sentinel_proxy_client_connections_active",
           "sentinel_proxy_client_bytes_total", "sentinel_proxy_sentinel_links",
           "sentinel_proxy_replicas_eligible", "sentinel_proxy_clients_closed_total")


def test_sighup_reload_keeps_clients(make_topology, make_proxy, tmp_path):
    topo = make_topology()
    conf = tmp_path / "proxy.toml"
    conf.write_text('[timeouts]\nhold_window_ms = 10000\n[routing]\nread_from = "master"\n')
    proxy, admin = start_admin_proxy(make_proxy, topo, "--config", str(conf))
    conns = [proxy.connection() for _ in range(5)]
    for i, c in enumerate(conns):
        assert raw_command(c, "SET", f"reload:{i}", "before") == "OK"
    sub = proxy.client().pubsub()
    sub.subscribe("reload-chan")
    wait_until(lambda: sub.get_message(timeout=0.1), 5, 0.05, "subscribe confirmation")

    def status():
        return json.loads(http_get(admin, "/status")[2])["pools"][0]

    assert status()["read_from"] == "master"
    # A good file: routing and timeouts change, everyone stays connected.
    conf.write_text('[timeouts]\nhold_window_ms = 4000\ncommand_ms = 30000\n'
                    '[routing]\nread_from = "replica-preferred"\n'
                    '[sentinel]\npoll_interval_ms = 500\n')
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: status()["read_from"] == "prefer-replica", 10, 0.1, "reload applied")
    assert "configuration reloaded from" in proxy.log_text()
    for i, c in enumerate(conns):
        assert raw_command(c, "GET", f"reload:{i}") == "before"
        assert raw_command(c, "SET", f"reload:{i}", "after") == "OK"
    assert proxy.client().publish("reload-chan", "hi") == 1
    msg = wait_until(lambda: sub.get_message(timeout=0.1), 5, 0.05, "message after reload")
    assert msg["data"] == "hi"

    # A bad file: reported, the running configuration kept, clients untouched.
    conf.write_text('[timeouts]\nhold_window_ms = "soon"\n')
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: "reload failed, keeping the running configuration" in proxy.log_text(),
               10, 0.1, "the reload error in the log")
    assert "hold_window_ms" in proxy.log_text().split("reload failed")[-1].splitlines()[0]
    assert status()["read_from"] == "prefer-replica"
    for i, c in enumerate(conns):
        assert raw_command(c, "GET", f"reload:{i}") == "after"
    assert proxy.alive()
    assert metric(http_get(admin, "/metrics")[2],
                  "sentinel_proxy_client_connections_active") >= 6
    sub.close()
    for c in conns:
        c.disconnect()


def test_sigterm_drain(make_topology, tmp_path):
    """SIGTERM: idle clients are closed at once, a pipeline in flight is answered, a BRPOP
    blocked past the drain time is closed at the deadline; new connections are refused and
    the process exits 0 within the drain time."""
    topo = make_topology(replicas=1)
    admin = free_port()
    proxy = harness.Proxy(tmp_path, topo.sentinel_ports,
                          ["--drain-timeout-ms", "2000", "--admin-listen", f"{HOST}:{admin}"])
    try:
        proxy.start()
        proxy.wait_writable()
        idle = proxy.connection(socket_timeout=10)
        assert raw_command(idle, "PING") == "PONG"
        blocked = proxy.connection(socket_timeout=10)
        blocked.send_command("BRPOP", "drain:never", "0")
        pipeline = proxy.connection(socket_timeout=10)
        # BLPOP with a 1 s timeout: still in flight when SIGTERM arrives, done within the drain.
        pipeline.send_packed_command(pipeline.pack_commands(
            [("BLPOP", "drain:empty", "1"), ("SET", "drain:after", "1"), ("GET", "drain:after")]))
        time.sleep(0.3)
        t0 = now()
        os.kill(proxy.process.pid, signal.SIGTERM)

        # Idle: closed right away.
        idle._sock.settimeout(2)
        assert idle._sock.recv(10) == b""
        t_idle = now() - t0
        # Readiness goes away while draining; a new connection is refused.
        with pytest.raises(OSError):
            socket.create_connection(proxy.addr, timeout=1).recv(1)  # refused or closed
        # The pipeline is answered in full.
        assert pipeline.read_response() is None
        assert pipeline.read_response() == "OK"
        assert pipeline.read_response() == "1"
        # The BRPOP is closed at the deadline, cleanly (EOF, no made-up reply).
        with pytest.raises(redis.ConnectionError):
            blocked.read_response()
        t_blocked = now() - t0
        proxy.process.proc.wait(timeout=10)
        elapsed = now() - t0
        assert proxy.process.proc.returncode == 0
        assert t_idle < 0.5
        assert 1.8 <= t_blocked < 3.5, t_blocked
        assert elapsed < 4
        log = proxy.log_text()
        assert "draining" in log and "drain timeout (2000 ms): closing 1 connection" in log
        assert "stopped" in log
    finally:
        proxy.stop()


def test_two_pools(make_topology, tmp_path):
    """A [[pool]] next to the default pool: a second master name monitored by the same three
    sentinels, served on its own port; one master exposed twice (master-only and replica
    reads) works too. /readyz waits for every pool."""
    topo = make_topology(replicas=1)
    second = harness.RedisNode(tmp_path, "celery-0").start()
    try:
        for s in topo.sentinels:
            c = s.client()
            c.execute_command("SENTINEL", "MONITOR", "celery", HOST, second.port, 2)
            c.execute_command("SENTINEL", "SET", "celery", "down-after-milliseconds", 1000)
        celery_port, again_port, admin = free_port(), free_port(), free_port()
        conf = tmp_path / "pools.toml"
        conf.write_text(
            f'[[pool]]\nname = "celery"\nmaster = "celery"\nlisten = ["{HOST}:{celery_port}"]\n'
            f'\n[[pool]]\nname = "cache-reads"\nmaster = "mymaster"\n'
            f'listen = "{HOST}:{again_port}"\nread_from = "replica-preferred"\n'
            f'sentinels = ["{HOST}:{topo.sentinel_ports[0]}", "{HOST}:{topo.sentinel_ports[1]}"]\n')
        proxy = harness.Proxy(tmp_path, topo.sentinel_ports,
                              ["--config", str(conf), "--admin-listen", f"{HOST}:{admin}"])
        try:
            proxy.start()
            proxy.wait_writable()
            wait_until(lambda: http_get(admin, "/readyz")[0] == 200, 30, 0.1, "every pool ready")
            a = proxy.client()
            b = redis.Redis(host=HOST, port=celery_port, socket_timeout=5, decode_responses=True)
            again = redis.Redis(host=HOST, port=again_port, socket_timeout=5,
                                decode_responses=True)
            wait_until(lambda: b.set("pool:celery", "c"), 20, 0.1, "a SET through pool celery")
            assert a.set("pool:default", "d")
            assert second.client().get("pool:celery") == "c"
            assert second.client().get("pool:default") is None
            assert topo.current_master().client().get("pool:default") == "d"
            # cache-reads reads from replicas now (issue 12): another client's write is
            # there within the lag bound, not necessarily at once (no read-your-writes
            # across clients).
            wait_until(lambda: again.get("pool:default") == "d", 5, 0.05,
                       "the write through pool cache-reads")

            doc = json.loads(http_get(admin, "/status")[2])
            pools = {p["name"]: p for p in doc["pools"]}
            assert set(pools) == {"default", "celery", "cache-reads"}
            assert pools["celery"]["master"] == {"host": HOST, "port": second.port}
            assert pools["cache-reads"]["read_from"] == "prefer-replica"  # the alias's name
            assert len(pools["cache-reads"]["sentinels"]) >= 2
            text = http_get(admin, "/metrics")[2]
            assert metric(text, "sentinel_proxy_master_info", pool="celery",
                          master_name="celery", port=str(second.port)) == 1
            assert metric(text, "sentinel_proxy_commands_total", pool="celery",
                          outcome="forwarded") >= 1

            # One pool losing its master holds that pool's commands but keeps the process
            # ready (issue 14): every pod sees the same loss, and going unready would take
            # all endpoints out together and refuse new connections. /status names it.
            second.stop(signal.SIGKILL)
            def celery_holding():
                doc = json.loads(http_get(admin, "/status")[2])
                pool = {p["name"]: p for p in doc["pools"]}["celery"]
                return pool["master"] is None and pool["hold_reason"]
            wait_until(celery_holding, 30, 0.2, "pool celery to hold")
            status, _, body = http_get(admin, "/readyz")
            assert (status, body) == (200, "ready\n")
            assert a.set("pool:default", "still")
        finally:
            proxy.stop()
        assert proxy.process.proc.returncode == 0
    finally:
        for s in topo.sentinels:
            try:
                s.client().execute_command("SENTINEL", "REMOVE", "celery")
            except redis.RedisError:
                pass
        second.stop(signal.SIGKILL)
