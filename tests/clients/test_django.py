"""Django through the proxy across failovers (issue 4, scenario 2).

django-redis's RedisCache at redis://PROXY/2 and Django's cache session backend, configured
in-process with settings.configure(); a loop of set/get, incr, set_many/delete_many and session
save/load runs across a planned and then an unplanned failover. Planned: no error at all.
Unplanned: errors only from operations started while the old master's death was unresolved
(after the kill, before the proxy logged that it verified the new master); none after that.
Every read must see the loop's own writes (sessions read through the cache)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from conftest import (REPLICA_READS, longest_gap, proxy_errors, routed_to_replicas,
                      wait_replica_eligible)
from harness import now, wait_until

MAX_SECONDS = 120


@pytest.fixture(scope="module")
def django_cache(module_proxy):
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(
            SECRET_KEY="sentinel-proxy-client-tests",
            INSTALLED_APPS=["django.contrib.sessions"],
            SESSION_ENGINE="django.contrib.sessions.backends.cache",
            CACHES={"default": {
                "BACKEND": "django_redis.cache.RedisCache",
                # db 2 as apps often do; with replica reads db 0, since a client that
                # SELECTs another db gets its own link to the master and never reads from
                # replicas (docs/architecture.md, "Replica reads").
                "LOCATION": f"redis://127.0.0.1:{module_proxy.port}/{0 if REPLICA_READS else 2}",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient",
                            "SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 5},
            }},
        )
        django.setup()
    from django.core.cache import cache
    from django.contrib.sessions.backends.cache import SessionStore
    return cache, SessionStore


class Loop:
    """The application loop, in a thread. Records per step: successes (end time), errors
    (start time, end time, step, exception) and read-your-writes mismatches (as errors)."""

    def __init__(self, cache, SessionStore):
        self.cache, self.SessionStore = cache, SessionStore
        self.prefix = f"dj:{uuid.uuid4().hex[:8]}"
        self.ok_times: list[float] = []          # end of each fully successful iteration
        self.errors: list[tuple[float, float, str, str]] = []
        self.incr_values: list[int] = []
        self.iterations = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="django-loop")

    def start(self):
        self.cache.set(f"{self.prefix}:counter", 0, timeout=None)
        self.t_start = now()
        self._thread.start()
        return self

    def _step(self, name, fn):
        t0 = now()
        try:
            fn()
            return True
        except Exception as exc:  # noqa: BLE001 - every failure is what the view would see
            self.errors.append((t0, now(), name, f"{type(exc).__name__}: {str(exc)[:160]}"))
            return False

    def _run(self):
        c, p = self.cache, self.prefix
        deadline = now() + MAX_SECONDS
        i = 0
        while not self._stop.is_set() and now() < deadline:
            i += 1
            self.iterations = i

            def set_get():
                c.set(f"{p}:k:{i}", {"i": i}, timeout=300)
                got = c.get(f"{p}:k:{i}")
                if got != {"i": i}:
                    raise AssertionError(f"get after set returned {got!r}")

            def incr():
                self.incr_values.append(c.incr(f"{p}:counter"))

            def many():
                keys = {f"{p}:m:{i}:{j}": j for j in range(5)}
                c.set_many(keys, timeout=300)
                got = c.get_many(list(keys))
                if got != keys:
                    raise AssertionError(f"get_many after set_many returned {got!r}")
                c.delete_many(list(keys))
                left = c.get_many(list(keys))
                if left:
                    raise AssertionError(f"delete_many left {left!r}")

            def session():
                s = self.SessionStore()
                s["i"] = i
                s["user"] = "alice"
                s.save()
                again = self.SessionStore(session_key=s.session_key)
                if again.get("i") != i:
                    raise AssertionError(f"session {s.session_key} loaded {dict(again.items())!r}")

            ok = all([self._step("set/get", set_get), self._step("incr", incr),
                      self._step("set_many/delete_many", many), self._step("session", session)])
            if ok:
                self.ok_times.append(now())
            self._stop.wait(0.005)

    def successes_after(self, t: float) -> int:
        return sum(1 for x in self.ok_times if x > t)

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        self.t_stop = now()


def _scenario(kind, django_cache, failovers, record_figures):
    failovers.settle()
    loop = Loop(*django_cache).start()
    try:
        wait_until(lambda: loop.successes_after(0) >= 100, 30, 0.05, "100 loop iterations")
        fo = failovers.run(kind)
        wait_until(lambda: loop.successes_after(fo.t_verified) >= 200, 60, 0.05,
                   "200 loop iterations after the proxy verified the new master")
    finally:
        loop.stop()
    incr_gaps = sum(1 for a, b in zip(loop.incr_values, loop.incr_values[1:]) if b != a + 1)
    late = [e for e in loop.errors if e[0] >= fo.t_verified]
    # An operation in flight when the master is killed may fail: only errors that ended
    # before the failover started are unrelated to it.
    early = [e for e in loop.errors if e[1] < fo.t_start]
    figures = {
        **fo.figures(),
        "iterations (set/get, incr, set_many/delete_many, session save/load)": loop.iterations,
        "iterations fully successful": len(loop.ok_times),
        "errors seen": len(loop.errors),
        "errors by step": {s: sum(1 for e in loop.errors if e[2] == s)
                           for s in sorted({e[2] for e in loop.errors})} or "none",
        "error samples (op start .. end, relative to the failover start)":
            [f"+{e[0] - fo.t_start:.3f}s..+{e[1] - fo.t_start:.3f}s {e[2]} {e[3]}"
             for e in loop.errors[:5]] or "none",
        "errors from ops started after the proxy verified the new master": len(late),
        "incr results not previous+1": incr_gaps,
        "longest gap between successful iterations (s)":
            longest_gap(loop.ok_times, loop.t_start, loop.t_stop),
        "proxy warnings during failover": proxy_errors(fo)[:6] or "none",
    }
    record_figures(f"Django (django-redis cache + cache sessions), {kind} failover", figures)
    return loop, fo, late, early, incr_gaps


def test_planned_failover(django_cache, failovers, record_figures):
    loop, fo, late, early, incr_gaps = _scenario("planned", django_cache, failovers,
                                                 record_figures)
    assert not loop.errors, f"planned failover: the application saw errors: {loop.errors[:10]}"
    assert incr_gaps == 0, f"incr sequence not contiguous: lost or repeated increments"


def test_unplanned_failover(django_cache, failovers, record_figures):
    loop, fo, late, early, incr_gaps = _scenario("unplanned", django_cache, failovers,
                                                 record_figures)
    assert not early, f"errors before the kill: {early[:10]}"
    assert not late, ("errors from operations started after the proxy verified the new "
                      f"master (+{fo.t_verified - fo.t_start:.2f}s): "
                      + "; ".join(f"+{e[0] - fo.t_start:.2f}s {e[2]} {e[3]}" for e in late[:10]))


@pytest.mark.skipif(not REPLICA_READS, reason="only in the run with --read-from prefer-replica")
def test_reads_reached_replicas(module_proxy, django_cache, failovers):
    # Runs after both failovers: the scenarios above passed with replica reads on. Their loop
    # reads right after its own writes, so read-your-writes keeps those on the master; reads
    # a second after the writes are served by replicas, and return what was written. The
    # surviving replica must first resync with the new master and be measured eligible.
    cache, _ = django_cache
    failovers.settle()
    wait_replica_eligible(module_proxy)
    run = uuid.uuid4().hex[:8]
    values = {f"rr:{run}:{i}": f"value-{i}" for i in range(50)}
    for k, v in values.items():
        cache.set(k, v, timeout=300)
    before = routed_to_replicas(module_proxy)
    time.sleep(1.0)
    for k, v in values.items():
        assert cache.get(k) == v
    assert routed_to_replicas(module_proxy) > before
