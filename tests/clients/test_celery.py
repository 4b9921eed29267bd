"""Celery through the proxy across failovers (issue 4, scenario 1).

A real worker process (`celery -A sp_celery_app worker`, prefork, 2 processes) consumes from
broker redis://PROXY/0 and stores results in redis://PROXY/1; the test process is the Celery
client. Per failover kind: a chord of 50 tasks is submitted, the failover happens while its
members run, then the chord callback must fire with every member's result, the worker must never
log "Unrecoverable error" and must still consume: a second chord submitted after the failover
completes too. The same worker rides through the planned and then the unplanned failover."""

from __future__ import annotations

import os
import re
import signal
import uuid
from pathlib import Path

import pytest

from conftest import (HERE, REPLICA_READS, longest_gap, mono, proxy_errors, routed_to_replicas,
                      wait_replica_eligible)
from harness import LogWatcher, ManagedProcess, now, wait_until

CHORD_SIZE = 50
TASK_DELAY = 0.2
LOG_LEVEL_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL)/")


@pytest.fixture(scope="module")
def celery_env(module_proxy, tmp_path_factory):
    os.environ["SP_PROXY_PORT"] = str(module_proxy.port)
    import sp_celery_app  # noqa: E402 - needs SP_PROXY_PORT
    workdir = tmp_path_factory.mktemp("celery")
    log_path = workdir / "worker.log"
    argv = ["/usr/bin/python3", "-m", "celery", "-A", "sp_celery_app", "worker",
            "--loglevel=INFO", "--concurrency=2", "--pool=prefork",
            f"--hostname=sp-{uuid.uuid4().hex[:6]}@%h"]
    # ManagedProcess: own log file, stopped by PID, dies with us (PR_SET_PDEATHSIG); cwd is
    # tests/clients so `-m celery` finds sp_celery_app; SP_PROXY_PORT is inherited.
    worker = ManagedProcess(argv, log_path, cwd=HERE).start()
    watcher = LogWatcher(log_path, interval=0.05, max_seconds=560).start()
    try:
        wait_until(lambda: watcher.matching("ready."), 60, 0.1, "the Celery worker to be ready")
        yield sp_celery_app.app, worker, watcher
    finally:
        # Pending AsyncResults UNSUBSCRIBE when collected: do it while the proxy still runs.
        import gc
        gc.collect()
        watcher.stop()
        children = _children(worker.pid)
        worker.stop(signal.SIGTERM, timeout=20)  # warm shutdown by PID, then SIGKILL
        for pid in children:  # the prefork pool's processes, if any outlived the worker
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _submit_chord(app, run: str):
    from celery import chord
    work = app.tasks["sp.work"]
    collect = app.tasks["sp.collect"]
    return chord(work.s(i, run, TASK_DELAY) for i in range(CHORD_SIZE))(collect.s(run))


def _check_chord(res, run: str, timeout: float) -> dict:
    t0 = now()
    out = res.get(timeout=timeout, interval=0.2)
    assert out["run"] == run
    got = sorted(r[0] for r in out["results"])
    assert got == list(range(CHORD_SIZE)), f"chord {run}: results {got}"
    # Every member's own result is stored too.
    for child in res.parent.results:
        assert child.get(timeout=30, interval=0.2)[0] in range(CHORD_SIZE)
    return {"value": out, "waited": now() - t0}


def _scenario(kind, celery_env, failovers, record_figures):
    app, worker, wlog = celery_env
    failovers.settle()
    t_begin = now()
    errors_client = []
    run1 = f"{kind}-1-{uuid.uuid4().hex[:6]}"
    res1 = _submit_chord(app, run1)
    # Let a few members finish so the failover lands while the chord runs.
    wait_until(lambda: len(wlog.matching("sp.work[", after=t_begin)) >= 6, 60, 0.05,
               "chord members to start finishing")
    fo = failovers.run(kind)
    try:
        c1 = _check_chord(res1, run1, timeout=150)
    except Exception as exc:  # noqa: BLE001
        errors_client.append(repr(exc))
        c1 = None
    # The worker must still consume: a second chord submitted after the failover completes.
    run2 = f"{kind}-2-{uuid.uuid4().hex[:6]}"
    t2 = now()
    try:
        res2 = _submit_chord(app, run2)
        c2 = _check_chord(res2, run2, timeout=120)
    except Exception as exc:  # noqa: BLE001
        errors_client.append(repr(exc))
        c2 = None
    t_end = now()
    # Remote control (kombu fanout: PSUBSCRIBE/PUBLISH on the broker) still reaches the worker.
    try:
        pong = app.control.ping(timeout=3)
    except Exception as exc:  # noqa: BLE001
        pong = []
        errors_client.append(f"control.ping: {exc!r}")

    log_lines = [s for _, s in wlog.lines]
    text = "\n".join(log_lines)
    worker_problems = [s for t, s in wlog.lines if t >= t_begin and LOG_LEVEL_RE.search(s)]
    finish_times = []
    if c1:
        finish_times = sorted(mono(r[1]) for r in c1["value"]["results"])
    during = sum(1 for t in finish_times if t > fo.t_start)
    figures = {
        **fo.figures(),
        "chord 1 members finished after the failover started": during,
        "longest gap between chord 1 member completions (s)":
            longest_gap(finish_times, finish_times[0], finish_times[-1]) if finish_times else "n/a",
        "failover start -> chord 1 callback result received (s)":
            (t2 - fo.t_start) if c1 else "n/a",
        "chord 2 (after failover) took (s)": (t_end - t2) if c2 else "n/a",
        "client-side errors": errors_client or "none",
        "worker answered control.ping after the failover": bool(pong),
        "worker WARNING/ERROR lines": len(worker_problems),
        "worker WARNING/ERROR samples": worker_problems[:6] or "none",
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"Celery, {kind} failover", figures)
    assert "Unrecoverable error" not in text, \
        "worker logged Unrecoverable error:\n" + "\n".join(log_lines[-60:])
    assert worker.alive(), "worker exited:\n" + "\n".join(log_lines[-60:])
    assert not errors_client, f"client-side errors: {errors_client}\n--- worker log ---\n" + \
        "\n".join(log_lines[-60:])
    assert c1 and c2
    assert pong, "the worker did not answer app.control.ping() after the failover"
    assert during > 0, "the chord finished before the failover started: nothing was tested"


def test_planned_failover(celery_env, failovers, record_figures):
    _scenario("planned", celery_env, failovers, record_figures)


def test_unplanned_failover(celery_env, failovers, record_figures):
    _scenario("unplanned", celery_env, failovers, record_figures)


@pytest.mark.skipif(not REPLICA_READS, reason="only in the run with --read-from prefer-replica")
def test_reads_reached_replicas(module_proxy, celery_env, failovers):
    # Runs after both failovers: the scenarios above passed with replica reads on. Their
    # reads may all have gone to the master (Sentinel failed the new master over a second
    # time under load once, and no replica was eligible for the rest of the run: `0 > 0`),
    # and a connection that keeps writing reads from the master anyway (read-your-writes).
    # So, as the Django test does, wait for a settled topology and an eligible replica,
    # then read through Celery's own broker stack on a fresh connection: kombu's exchange
    # lookup (Channel.get_table: SMEMBERS _kombu.binding.celery on db 0), which must return
    # the binding the worker declared, served by a replica.
    app, _, _ = celery_env
    failovers.settle()
    wait_replica_eligible(module_proxy)
    before = routed_to_replicas(module_proxy)
    for _ in range(20):
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)
            table = conn.default_channel.get_table("celery")
        assert any(queue == "celery" for _, _, queue in table), table
    assert routed_to_replicas(module_proxy) > before
