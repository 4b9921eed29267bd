"""pytest fixtures: real topologies and proxies, stopped by PID after each test or module even
when it fails; the proxy's log tail is attached to every failure report; measured figures are
printed in the terminal summary (they show up in ctest's log without -s)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

_active_proxies: list[harness.Proxy] = []
_active_topologies: list[harness.Topology] = []
_figures: list[tuple[str, dict]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for p in list(_active_proxies):
            rep.sections.append((f"proxy log tail ({p.log_path})", p.log_tail(80)))
        for t in list(_active_topologies):
            rep.sections.append((f"redis/sentinel log tails ({t.root})", t.log_tails(12)))


def pytest_terminal_summary(terminalreporter):
    if not _figures:
        return
    terminalreporter.section("sentinel-proxy measured figures")
    for name, figures in _figures:
        terminalreporter.write_line(harness.format_figures(name, figures))


@pytest.fixture
def record_figures():
    """record_figures(name, dict): kept for the terminal summary and printed to stderr."""
    def record(name: str, figures: dict):
        _figures.append((name, figures))
        print(harness.format_figures(name, figures), file=sys.stderr)
    return record


def _start_topology(root: Path, **kw) -> harness.Topology:
    topo = harness.Topology(root, **kw)
    _active_topologies.append(topo)
    try:
        topo.start()
    except BaseException:
        _active_topologies.remove(topo)
        raise
    return topo


def _stop(thing, active: list):
    """Stops a topology or proxy and forgets it, even if stopping raised."""
    try:
        thing.stop()
    finally:
        if thing in active:
            active.remove(thing)


def _stop_topology(topo: harness.Topology):
    _stop(topo, _active_topologies)


def _start_proxy(root: Path, topo: harness.Topology, extra_args=(), name="proxy",
                 writable: bool = True, **proxy_kw) -> harness.Proxy:
    # SP_PROXY_EXTRA_ARGS (e.g. "--read-from prefer-replica"): run a whole suite with more
    # flags, such as the client suites with replica reads on.
    extra = shlex.split(os.environ.get("SP_PROXY_EXTRA_ARGS", ""))
    # Such a run also gets an admin endpoint (proxy.admin_port), so that the suite can show
    # the extra flags took effect (e.g. that reads did reach replicas).
    admin_port = None
    if extra and "--admin-listen" not in [*extra, *extra_args]:
        admin_port = harness.free_port()
        extra += ["--admin-listen", f"{harness.HOST}:{admin_port}"]
    proxy = harness.Proxy(root, topo.sentinel_ports, [*extra, *extra_args], name=name,
                          **proxy_kw)
    proxy.admin_port = admin_port
    _active_proxies.append(proxy)
    try:
        proxy.start()  # raises with the log tail if it does not come up
        if writable:
            proxy.wait_writable(timeout=30)
    except BaseException:
        _stop_proxy(proxy)
        raise
    return proxy


def _stop_proxy(proxy: harness.Proxy):
    _stop(proxy, _active_proxies)


@pytest.fixture(scope="module")
def module_topology(tmp_path_factory):
    """One topology for a whole module: only for modules that never fail it over."""
    topo = _start_topology(tmp_path_factory.mktemp("topo"))
    yield topo
    _stop_topology(topo)


@pytest.fixture(scope="module")
def module_proxy(module_topology, tmp_path_factory):
    proxy = _start_proxy(tmp_path_factory.mktemp("proxy"), module_topology)
    yield proxy
    _stop_proxy(proxy)


@pytest.fixture
def proxy(module_proxy):
    """The module's proxy, under the short name most tests use."""
    return module_proxy


@pytest.fixture
def master(module_topology):
    """The node that is master now (read from the sentinels, not assumed)."""
    return module_topology.current_master()


@pytest.fixture
def make_topology(tmp_path):
    """make_topology(**Topology kwargs): a fresh topology for this test, stopped afterwards."""
    made = []

    def make(**kw):
        topo = _start_topology(tmp_path / f"topo{len(made)}", **kw)
        made.append(topo)
        return topo
    yield make
    for topo in made:
        _stop_topology(topo)


@pytest.fixture
def make_proxy(tmp_path):
    """make_proxy(topology, extra_args=(), writable=True, **Proxy kwargs): a proxy following
    that topology (by default waited for until a SET through it succeeds), stopped afterwards."""
    made = []

    def make(topo, extra_args=(), writable=True, **proxy_kw):
        proxy = _start_proxy(tmp_path, topo, extra_args, name=f"proxy{len(made)}",
                             writable=writable, **proxy_kw)
        made.append(proxy)
        return proxy
    yield make
    for proxy in made:
        _stop_proxy(proxy)
