"""Celery with a rediss:// broker and result backend through the proxy (issue 13): a TLS-only
Redis/Sentinel topology, the proxy serving TLS to clients, a real worker process; a chord of
tasks completes and its callback sees every result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest

from conftest import HERE
from harness import LogWatcher, ManagedProcess, Proxy, TlsFiles, Topology, wait_until

CHORD_SIZE = 20


@pytest.fixture(scope="module")
def tls_celery(tmp_path_factory):
    root = tmp_path_factory.mktemp("celery-tls")
    files = TlsFiles.create(root)
    topo = Topology(root / "topo", replicas=1, sentinels=1, quorum=1, tls=files).start()
    proxy = worker = watcher = None
    try:
        proxy = Proxy(root / "proxy", topo.sentinel_ports, tls=files).start()
        proxy.wait_writable(30)
        # The worker runs in its own process and reads these; so does the app imported here.
        os.environ["SP_PROXY_PORT"] = str(proxy.tls_port)
        os.environ["SP_PROXY_TLS_CA"] = str(files.ca)
        sys.modules.pop("sp_celery_app", None)
        import sp_celery_app  # noqa: E402
        log_path = root / "worker.log"
        worker = ManagedProcess(["/usr/bin/python3", "-m", "celery", "-A", "sp_celery_app",
                                 "worker", "--loglevel=INFO", "--concurrency=2",
                                 "--pool=prefork", f"--hostname=tls-{uuid.uuid4().hex[:6]}@%h"],
                                log_path, cwd=HERE).start()
        watcher = LogWatcher(log_path, interval=0.05, max_seconds=300).start()
        wait_until(lambda: watcher.matching("ready."), 60, 0.1, "the Celery worker to be ready")
        yield sp_celery_app.app, proxy, log_path
    finally:
        import gc
        gc.collect()
        if watcher:
            watcher.stop()
        if worker:
            worker.stop(signal.SIGTERM, timeout=20)
        if proxy:
            proxy.stop()
        topo.stop()
        os.environ.pop("SP_PROXY_TLS_CA", None)
        sys.modules.pop("sp_celery_app", None)


def test_chord_over_rediss(tls_celery):
    from celery import chord
    app, proxy, log_path = tls_celery
    assert app.conf.broker_url.startswith("rediss://")
    run = uuid.uuid4().hex[:8]
    res = chord(app.tasks["sp.work"].s(i, run, 0.05) for i in range(CHORD_SIZE))(
        app.tasks["sp.collect"].s(run))
    out = res.get(timeout=60, interval=0.2)
    assert out["run"] == run
    assert sorted(r[0] for r in out["results"]) == list(range(CHORD_SIZE))
    assert "Unrecoverable error" not in log_path.read_text(errors="replace")
    # Broker, result backend and worker all completed their handshakes.
    assert "handshake failed" not in proxy.log_path.read_text(errors="replace")
