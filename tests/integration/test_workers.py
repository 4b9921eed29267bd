"""Data-plane workers (issue 24): `--threads N` runs N libuv loops, each on its own thread with
its own listener (SO_REUSEPORT), sessions and shared links, next to a control loop (Sentinel,
replica monitor, admin, signals) that publishes every topology snapshot to every worker.

Where the kernel puts a connection is its choice (the SO_REUSEPORT hash of the 4-tuple), so
the tests never guess: `open_on_every_worker` opens connections one at a time and attributes
each to the worker whose `clients` count in /status went up, until every worker holds the
number a test needs. Real redis-server / redis-sentinel on 127.0.0.1, free ports, bounded
waits, processes stopped by PID; the cgroup test removes its cgroup even on failure."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

import harness
from harness import (HOST, RawResp, RespError, Writer, free_port, now, proxy_bin, raw_command,
                     wait_until)


def status(admin: int) -> dict:
    code, body = harness.admin_get(admin, "/status")
    assert code == 200, (code, body)
    return json.loads(body)


def worker_clients(admin: int) -> dict[int, int]:
    """{worker id: clients} from /status's top-level "workers"."""
    return {w["id"]: w["clients"] for w in status(admin)["workers"]}


def metrics(admin: int) -> str:
    code, body = harness.admin_get(admin, "/metrics")
    assert code == 200, (code, body)
    return body


metric = harness.metric_sample  # the label-aware reader of /metrics samples


def workers_line(proxy: harness.Proxy, timeout: float = 10.0) -> str:
    """The start-up log line `workers: N data-plane loop(s) (why)`."""
    def find():
        lines = harness.proxy_log_lines(proxy, "data-plane loop")
        return lines[0] if lines else None
    return wait_until(find, timeout, 0.05, "the 'workers: N data-plane loop(s)' log line")


def logged_workers(line: str) -> int:
    m = re.search(r"workers: (\d+) data-plane loop", line)
    assert m, line
    return int(m.group(1))


def open_on_every_worker(admin: int, open_one, per_worker: int, workers: int = 2,
                         limit: int = 64, timeout: float = 5.0) -> dict[int, list]:
    """Calls open_one() (which returns once its connection has been answered, so its session
    exists) one connection at a time and attributes each to the worker whose clients count
    in /status rose by one, until each of `workers` workers holds `per_worker` of them.
    Nothing else may connect or disconnect meanwhile. Returns {worker id: [what open_one
    returned, ...]} with every connection opened (the caller closes them)."""
    by_worker: dict[int, list] = {}
    counts = worker_clients(admin)
    assert len(counts) == workers, counts
    for _ in range(limit):
        conn = open_one()
        total = sum(counts.values()) + 1
        after = wait_until(lambda: (lambda c: c if sum(c.values()) == total else None)(
            worker_clients(admin)), timeout, 0.02, f"/status to count {total} clients")
        rose = [w for w in after if after[w] == counts.get(w, 0) + 1]
        assert len(rose) == 1, (counts, after)
        by_worker.setdefault(rose[0], []).append(conn)
        counts = after
        if len(by_worker) == workers and all(len(v) >= per_worker for v in by_worker.values()):
            return by_worker
    raise AssertionError(f"{limit} connections did not give every worker {per_worker}: "
                         f"{ {w: len(v) for w, v in by_worker.items()} }")


def admin_proxy(make_proxy, topo, *extra, **kw):
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", *extra], **kw)
    return proxy, admin


def wait_no_clients(admin: int, timeout: float = 10.0):
    """Until /status counts no client (the harness's start-up connection has gone)."""
    wait_until(lambda: sum(worker_clients(admin).values()) == 0, timeout, 0.05,
               "no clients in /status")


# ---------------------------------------------------------------------------------------------
# max_clients holds across the workers, even when both accept at the same moment

def _answer(sock) -> bytes:
    """The first line the proxy sends on `sock` after a PING (b"" if it closed first)."""
    data = b""
    deadline = now() + 10
    while b"\r\n" not in data and now() < deadline:
        try:
            chunk = sock.recv(256)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_max_clients_holds_when_both_workers_accept_at_once(make_topology, make_proxy):
    """The proxy is stopped (SIGSTOP) while 3 x max_clients connections queue on both
    workers' sockets, then continued: both workers accept their queues at the same moment.
    Exactly max_clients clients are served (PONG) and the rest get Redis's "max number of
    clients reached", in every round. Before seats were taken with one atomic step, each
    worker compared the shared count with max_clients and added to it afterwards, so both
    could pass the check for the last seat and the proxy served more than max_clients."""
    limit = 20
    topo = make_topology(replicas=0)
    proxy, admin = admin_proxy(make_proxy, topo, "--threads", "2", "--max-clients", str(limit))
    wait_no_clients(admin)
    pid = proxy.process.proc.pid
    for round_no in range(6):
        socks = []
        try:
            os.kill(pid, signal.SIGSTOP)
            try:
                for _ in range(3 * limit):
                    socks.append(socket.create_connection(proxy.addr, timeout=10))
            finally:
                os.kill(pid, signal.SIGCONT)
            for s in socks:
                s.sendall(b"PING\r\n")
            answers = [_answer(s) for s in socks]
        finally:
            for s in socks:
                s.close()
        served = answers.count(b"+PONG")
        refused = answers.count(b"-ERR max number of clients reached")
        assert (served, refused) == (limit, 2 * limit), (round_no, served, refused, answers)
        wait_no_clients(admin)
    # Every refusal was counted.
    text = metrics(admin)
    assert (metric(text, "sentinel_proxy_client_connections_rejected_total") or 0) >= 12 * limit

# ---------------------------------------------------------------------------------------------
# Two workers share the clients; /metrics sums over them

def test_two_workers_share_the_clients_and_metrics_sum(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy, admin = admin_proxy(make_proxy, topo, "--threads", "2")
    line = workers_line(proxy)
    assert logged_workers(line) == 2 and "proxy.threads = 2" in line, line
    wait_no_clients(admin)
    assert sorted(worker_clients(admin)) == [0, 1]

    before = metrics(admin)
    forwarded_before = metric(before, "sentinel_proxy_commands_total", outcome="forwarded") or 0
    tag = uuid.uuid4().hex[:8]
    conns = []
    try:
        for i in range(40):
            c = proxy.connection(socket_timeout=10)
            conns.append(c)
            assert raw_command(c, "SET", f"wk:{tag}:{i}", str(i)) == "OK"
        counts = wait_until(lambda: (lambda c: c if sum(c.values()) == 40 else None)(
            worker_clients(admin)), 10, 0.05, "/status to count the 40 clients")
        assert counts[0] > 0 and counts[1] > 0, counts

        # Each worker's gauge equals its /status count; the process-wide series are sums.
        def metrics_agree():
            text = metrics(admin)
            per_worker = {w: metric(text, "sentinel_proxy_worker_clients", worker=str(w))
                          for w in (0, 1)}
            forwarded = metric(text, "sentinel_proxy_commands_total", outcome="forwarded")
            active = metric(text, "sentinel_proxy_client_connections_active")
            if per_worker == {0: counts[0], 1: counts[1]} and active == 40 \
                    and forwarded == forwarded_before + 40:
                return text
            raise AssertionError(f"per worker {per_worker} (status {counts}), active {active}, "
                                 f"forwarded {forwarded} (before {forwarded_before})")
        wait_until(metrics_agree, 10, 0.1, "/metrics to agree with /status")
        master = topo.current_master().client()
        assert master.get(f"wk:{tag}:39") == "39"
    finally:
        for c in conns:
            c.disconnect()
    wait_until(lambda: worker_clients(admin) == {0: 0, 1: 0}, 10, 0.05,
               "both workers to count their clients gone")


def test_log_lines_name_the_worker_that_logs(make_topology, make_proxy, tmp_path):
    """Each worker logs its own `listening on` (and `sessions released`, `command table
    refreshed`) line: with several workers the lines say which worker logs, as text
    "(worker N)" at the end, and in JSON a "worker" field; the control loop's lines do not."""
    topo = make_topology(replicas=0)
    proxy, _ = admin_proxy(make_proxy, topo, "--threads", "2")
    listening = wait_until(lambda: (lambda ls: ls if len(ls) == 2 else None)(
        harness.proxy_log_lines(proxy, "listening on")), 10, 0.05, "two 'listening on' lines")
    assert sorted(l.rsplit(" (worker ", 1)[1] for l in listening) == ["0)", "1)"], listening
    assert " (worker " not in workers_line(proxy)  # the control loop's

    conf = tmp_path / "json.toml"
    conf.write_text('[log]\nformat = "json"\n')
    proxy = make_proxy(topo, ["--threads", "2", "--config", str(conf)])

    def records():
        return [json.loads(l) for l in proxy.log_text().splitlines() if l.strip()]
    listening = wait_until(lambda: (lambda rs: rs if len(rs) == 2 else None)(
        [r for r in records() if r["msg"].startswith("listening on")]), 10, 0.05,
        "two JSON 'listening on' records")
    assert sorted(r["worker"] for r in listening) == [0, 1], listening
    assert all(" (worker " not in r["msg"] for r in listening)
    control = next(r for r in records() if "data-plane loop" in r["msg"])
    assert "worker" not in control, control


def test_threads_1_is_one_worker(make_topology, make_proxy):
    topo = make_topology(replicas=1)
    proxy, admin = admin_proxy(make_proxy, topo, "--threads", "1")
    line = workers_line(proxy)
    assert logged_workers(line) == 1 and "proxy.threads = 1" in line, line
    # One worker logs as the single loop did: no worker named.
    assert not any(" (worker " in l for l in proxy.log_text().splitlines())
    c = proxy.connection()
    try:
        assert raw_command(c, "PING") == "PONG"
        wait_until(lambda: worker_clients(admin) == {0: 1}, 10, 0.05,
                   "/status to show one worker with one client")
        text = metrics(admin)
        assert metric(text, "sentinel_proxy_worker_clients", worker="0") == 1
        assert metric(text, "sentinel_proxy_worker_clients", worker="1") is None
    finally:
        c.disconnect()


# ---------------------------------------------------------------------------------------------
# A planned failover under --threads 2: writers and subscribers on both workers

def test_planned_failover_with_writers_and_subscribers_on_both_workers(
        make_topology, make_proxy, record_figures):
    topo = make_topology()
    proxy, admin = admin_proxy(make_proxy, topo, "--threads", "2")
    wait_no_clients(admin)
    tag = uuid.uuid4().hex[:8]
    channel = f"wk:{tag}:ch"
    writers: list[Writer] = []
    subs = []
    try:
        def open_writer():
            w = Writer(HOST, proxy.port, batch=5, interval=0.005).start()
            writers.append(w)
            w.wait_acks(20, timeout=20)
            return w
        writer_workers = open_on_every_worker(admin, open_writer, per_worker=4)

        def open_subscriber():
            p = proxy.client(socket_timeout=15).pubsub()
            subs.append(p)
            p.subscribe(channel)
            # The confirmation: the subscription is in place behind the proxy.
            wait_until(lambda: (lambda m: m and m["type"] == "subscribe")(
                p.get_message(timeout=0.1)), 10, 0.01, "the subscribe confirmation")
            return p
        sub_workers = open_on_every_worker(admin, open_subscriber, per_worker=3)

        def everyone_receives(payload: str, timeout: float = 15.0):
            pub = proxy.client()
            try:
                pub.publish(channel, payload)
            finally:
                pub.close()
            missing = []
            for p in subs:
                deadline = now() + timeout
                got = False
                while not got and now() < deadline:
                    m = p.get_message(timeout=0.5)
                    got = bool(m and m["type"] == "message" and m["data"] == payload)
                if not got:
                    missing.append(p)
            return missing

        assert everyone_receives("before") == []
        old = topo.current_master()
        t0 = topo.planned_failover()
        new = topo.wait_for_switch(old.addr, timeout=40)
        t_switch = now()
        # Every writer, on either worker, gets writes acknowledged after the switch.
        for w in writers:
            w.wait_acks(200, timeout=40)
        stats = [w.stop() for w in writers]
        writers.clear()

        client = new.client(socket_timeout=15)
        lost, wrong, errors, after_switch = 0, 0, [], []
        for st in stats:
            missing, bad = st.verify_on(client, st.acked_seqs())
            lost += len(missing)
            wrong += len(bad)
            errors += st.errors
            later = list(st.acked_seqs(after=t_switch))
            after_switch.append(len(later))
            # Acknowledged after the switch, so written to the new master.
            assert later and not st.verify_on(client, later)[0], st.prefix
        missing_subs = everyone_receives("after")
        record_figures("planned failover under --threads 2", {
            "writers per worker": {w: len(v) for w, v in writer_workers.items()},
            "subscribers per worker": {w: len(v) for w, v in sub_workers.items()},
            "writes acknowledged": sum(st.acked for st in stats),
            "acknowledged writes lost on the new master": lost,
            "client-visible errors": len(errors),
            "trigger -> sentinels switched (s)": t_switch - t0,
            "least writes acknowledged after the switch by one writer": min(after_switch),
            "subscribers without the message published after the failover": len(missing_subs),
        })
        assert lost == 0 and wrong == 0
        assert errors == [], errors[:5]
        assert missing_subs == [], f"{len(missing_subs)} of {len(subs)} subscribers missed it"
    finally:
        for w in writers:
            w.stop()
        for p in subs:
            p.close()


# ---------------------------------------------------------------------------------------------
# SIGHUP and SIGTERM reach every worker

def test_sighup_reaches_every_worker(make_topology, make_proxy, tmp_path):
    topo = make_topology(replicas=1)
    conf = tmp_path / "proxy.toml"
    conf.write_text('[client]\npassword = "old-secret"\n')
    proxy, admin = admin_proxy(make_proxy, topo, "--threads", "2", "--config", str(conf),
                               client_password="old-secret")
    wait_no_clients(admin)
    conf.write_text('[client]\npassword = "new-secret"\n')
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: harness.proxy_log_lines(proxy, "configuration reloaded from"), 10, 0.05,
               "the reload line")
    reload_line = harness.proxy_log_lines(proxy, "configuration reloaded from")[-1]
    assert "client.password" in reload_line, reload_line

    opened = []
    try:
        # Raw sockets: redis-py disconnects on an authentication error, and the refused
        # connections must stay open to be counted on their worker.
        def refused_old():
            c = RawResp(proxy.port)
            opened.append(c)
            reply = c.call("AUTH", "old-secret")
            assert isinstance(reply, RespError), reply
            reply = c.call("GET", "wk:any")
            assert isinstance(reply, RespError) and reply.startswith("NOAUTH"), reply
            return c
        open_on_every_worker(admin, refused_old, per_worker=2)

        def accepted_new():
            c = RawResp(proxy.port)
            opened.append(c)
            assert c.call("AUTH", "new-secret") == "OK"
            assert c.call("SET", "wk:reload", "1") == "OK"
            return c
        open_on_every_worker(admin, accepted_new, per_worker=2)
    finally:
        for c in opened:
            c.close()


def test_sigterm_drain_waits_for_every_worker(make_topology, tmp_path):
    """An in-flight BLPOP (1.5 s) pipelined with a SET and a GET on connections of both
    workers: after SIGTERM every one is answered in full before the process exits 0."""
    topo = make_topology(replicas=1)
    admin = free_port()
    proxy = harness.Proxy(tmp_path, topo.sentinel_ports,
                          ["--threads", "2", "--drain-timeout-ms", "6000",
                           "--admin-listen", f"{HOST}:{admin}"])
    conns = []
    try:
        proxy.start()
        proxy.wait_writable()
        wait_no_clients(admin)

        def pinged():
            c = proxy.connection(socket_timeout=15)
            conns.append(c)
            assert raw_command(c, "PING") == "PONG"
            return c
        by_worker = open_on_every_worker(admin, pinged, per_worker=2)
        tag = uuid.uuid4().hex[:8]
        for i, c in enumerate(conns):
            c.send_packed_command(c.pack_commands(
                [("BLPOP", f"wk:{tag}:empty:{i}", "1.5"), ("SET", f"wk:{tag}:{i}", str(i)),
                 ("GET", f"wk:{tag}:{i}")]))
        time.sleep(0.3)
        t0 = now()
        os.kill(proxy.process.pid, signal.SIGTERM)
        answered = {}
        for i, c in enumerate(conns):
            replies = []
            try:
                for _ in range(3):
                    replies.append(c.read_response())
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                replies.append(exc)
            answered[i] = replies
        t_last = now()
        proxy.process.proc.wait(timeout=15)
        t_exit = now()
        worker_of = {id(c): w for w, cs in by_worker.items() for c in cs}
        wrong = {f"connection {i} (worker {worker_of[id(conns[i])]})": r
                 for i, r in answered.items() if r != [None, "OK", str(i)]}
        assert not wrong, wrong
        assert proxy.process.proc.returncode == 0
        # The BLPOPs ran out 1.5 s after they were sent: the drain waited for them.
        assert t_last - t0 >= 0.9, t_last - t0
        assert t_exit - t0 < 6, t_exit - t0
        assert "stopped" in proxy.log_text()
    finally:
        for c in conns:
            c.disconnect()
        proxy.stop()


# ---------------------------------------------------------------------------------------------
# The default: the CPUs the process may use

def _own_cgroup_cpu_limit() -> float | None:
    """This process's own cgroup CPU quota in CPUs (v2 cpu.max or v1 cfs_quota_us), None
    without one: only to skip the affinity cases where a quota would cap the count."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        files = []
        if controllers == "":
            files = [Path("/sys/fs/cgroup") / path.lstrip("/") / "cpu.max",
                     Path("/sys/fs/cgroup/unified") / path.lstrip("/") / "cpu.max"]
        elif "cpu" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpu"):
                files.append(Path("/sys/fs/cgroup") / mount / path.lstrip("/") /
                             "cpu.cfs_quota_us")
        for f in files:
            try:
                text = f.read_text().split()
            except OSError:
                continue
            if f.name == "cpu.max" and text and text[0] != "max":
                return int(text[0]) / int(text[1])
            if f.name == "cpu.cfs_quota_us" and text and int(text[0]) > 0:
                period = int((f.parent / "cpu.cfs_period_us").read_text())
                return int(text[0]) / period
    return None


def _env_without_threads() -> dict[str, str]:
    """Our environment without SENTINEL_PROXY_PROXY_THREADS: the default is what is tested."""
    return {k: v for k, v in os.environ.items() if k != "SENTINEL_PROXY_PROXY_THREADS"}


def _dead_sentinel() -> list[int]:
    """A sentinel address nobody answers on: the proxy starts and answers PING without one."""
    return [free_port()]


@pytest.mark.parametrize("cpus, threads_args", [("0", []), ("0,1", []), ("0", ["--threads", "0"])])
def test_default_follows_the_affinity(tmp_path, cpus, threads_args):
    wanted = {int(c) for c in cpus.split(",")}
    if not wanted <= os.sched_getaffinity(0):
        pytest.skip(f"CPUs {cpus} are not all ours: {sorted(os.sched_getaffinity(0))}")
    limit = _own_cgroup_cpu_limit()
    if limit is not None and limit < len(wanted):
        pytest.skip(f"this test process's cgroup allows {limit} CPUs")
    admin = free_port()
    proxy = harness.Proxy(tmp_path, _dead_sentinel(),
                          ["--admin-listen", f"{HOST}:{admin}", *threads_args],
                          wrapper=["taskset", "-c", cpus], env_threads=False)
    proxy.env = _env_without_threads()
    try:
        proxy.start()
        line = workers_line(proxy)
        assert logged_workers(line) == len(wanted), line
        assert "auto" in line, line
        assert [w["id"] for w in status(admin)["workers"]] == list(range(len(wanted)))
    finally:
        proxy.stop()


def _cgroup_with_one_cpu():
    """(directory, file written, cgroup.procs) of a fresh child cgroup limited to one CPU:
    cgroup v2 (cpu.max "100000 100000") where the cpu controller is delegated at the root
    (/sys/fs/cgroup or a hybrid host's unified/), else cgroup v1's cpu controller
    (cpu.cfs_quota_us 100000 per cpu.cfs_period_us 100000). None with the reason if neither
    can be made."""
    name = f"sp-test-workers-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    reasons = []
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        try:
            if "cpu" not in (root / "cgroup.subtree_control").read_text().split():
                reasons.append(f"{root}: cpu controller not enabled in cgroup.subtree_control")
                continue
        except OSError as exc:
            reasons.append(f"{root}: not cgroup v2 ({exc.strerror})")
            continue
        d = root / name
        try:
            d.mkdir()
            (d / "cpu.max").write_text("100000 100000\n")
            return d, "cpu.max", None
        except OSError as exc:
            reasons.append(f"{d}: {exc}")
            _remove_cgroup(d)
    for mount in ("cpu,cpuacct", "cpu"):
        root = Path("/sys/fs/cgroup") / mount
        if not (root / "cpu.cfs_quota_us").exists():
            continue
        d = root / name
        try:
            d.mkdir()
            (d / "cpu.cfs_period_us").write_text("100000\n")
            (d / "cpu.cfs_quota_us").write_text("100000\n")
            return d, "cpu.cfs_quota_us", None
        except OSError as exc:
            reasons.append(f"{d}: {exc}")
            _remove_cgroup(d)
    return None, None, "; ".join(reasons) or "no cgroup v2 or v1 cpu controller mounted"


def _remove_cgroup(d: Path):
    """rmdir once no process is left in it (a cgroup's files cannot be unlinked; EBUSY while
    a process remains)."""
    if not d.exists():
        return
    deadline = now() + 10
    while True:
        try:
            d.rmdir()
            return
        except OSError:
            if now() >= deadline:
                raise
            time.sleep(0.05)


def test_default_follows_the_cgroup_quota(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("CGROUP QUOTA TEST NOT RUN: needs root to create a cgroup")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("CGROUP QUOTA TEST NOT RUN: one CPU only, the quota would change nothing")
    d, limit_file, reason = _cgroup_with_one_cpu()
    if d is None:
        pytest.skip(f"CGROUP QUOTA TEST NOT RUN: {reason}")
    admin = free_port()
    try:
        proxy = harness.Proxy(
            tmp_path, _dead_sentinel(), ["--admin-listen", f"{HOST}:{admin}"],
            wrapper=["sh", "-c", f'echo $$ > {d}/cgroup.procs && exec "$0" "$@"'],
            env_threads=False)
        proxy.env = _env_without_threads()
        try:
            proxy.start()
            assert f"/{d.name}" in Path(f"/proc/{proxy.process.pid}/cgroup").read_text()
            line = workers_line(proxy)
            assert logged_workers(line) == 1, line
            assert limit_file in line, line
            assert len(status(admin)["workers"]) == 1
        finally:
            proxy.stop()
    finally:
        _remove_cgroup(d)


# ---------------------------------------------------------------------------------------------
# Bad values: exit 2, naming proxy.threads

@pytest.mark.parametrize("how, value", [("flag", "-1"), ("flag", "x"), ("flag", "100000"),
                                        ("env", "x"), ("env", "-1"), ("toml", "-1"),
                                        ("toml", "100000"), ("toml", '"many"')])
def test_bad_threads_values_exit_2(tmp_path, how, value):
    argv = [proxy_bin(), "--sentinel", f"{HOST}:{free_port()}", "--master", "mymaster",
            "--listen", f"{HOST}:{free_port()}"]
    env = _env_without_threads()
    if how == "flag":
        argv += ["--threads", value]
    elif how == "env":
        env["SENTINEL_PROXY_PROXY_THREADS"] = value
    else:
        conf = tmp_path / "threads.toml"
        conf.write_text(f"[proxy]\nthreads = {value}\n")
        argv += ["--config", str(conf)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=env,
                       stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 2, (r.returncode, out[-2000:])
    assert "proxy.threads" in out, out[-2000:]
