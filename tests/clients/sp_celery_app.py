"""The Celery application of test_celery.py: broker redis://PROXY/0, results redis://PROXY/1.

Loaded by the real worker process (`/usr/bin/python3 -m celery -A sp_celery_app worker`, cwd
tests/clients) and by the test process; the proxy's port comes from SP_PROXY_PORT. Nothing here
tunes Celery or kombu for failovers: these are the settings an application would ship with."""

from __future__ import annotations

import os
import time

from celery import Celery

PORT = int(os.environ["SP_PROXY_PORT"])
# SP_PROXY_TLS_CA set (test_celery_tls.py): rediss:// to the proxy's TLS port, verified
# against that CA.
TLS_CA = os.environ.get("SP_PROXY_TLS_CA")
if TLS_CA:
    _q = f"?ssl_cert_reqs=required&ssl_ca_certs={TLS_CA}"
    BROKER, BACKEND = f"rediss://127.0.0.1:{PORT}/0{_q}", f"rediss://127.0.0.1:{PORT}/1{_q}"
else:
    BROKER, BACKEND = f"redis://127.0.0.1:{PORT}/0", f"redis://127.0.0.1:{PORT}/1"

app = Celery("sp_celery_app", broker=BROKER, backend=BACKEND)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)


@app.task(name="sp.work")
def work(i: int, run: str, delay: float = 0.15):
    """One chord member: sleeps a little, returns its number and when it finished."""
    time.sleep(delay)
    return [i, time.time()]


@app.task(name="sp.collect")
def collect(results: list, run: str):
    """The chord callback: every member's result, plus when the callback ran."""
    return {"run": run, "results": results, "t": time.time()}
