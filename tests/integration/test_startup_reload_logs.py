"""The startup and reload log lines (issue 14): at start one line with the version and
every effective setting, secrets masked; on SIGHUP one line listing what changed, split
into applied and deferred to a restart, secrets never printed. Read from the proxy's log."""
from __future__ import annotations

import os
import re
import signal

from harness import HOST, free_port, wait_until

SECRET = "s3cr3t-sentinel-pw"


def project_version():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "CMakeLists.txt")
    return re.search(r"project\(sentinel-proxy VERSION (\S+)", open(root).read()).group(1)


def reload_lines(proxy):
    return [line for line in proxy.log_text().splitlines() if "configuration reloaded" in line]


def test_startup_and_reload_lines(make_topology, make_proxy, tmp_path):
    topo = make_topology()
    admin = free_port()
    conf = tmp_path / "proxy.toml"
    conf.write_text(f'[timeouts]\nhold_window_ms = 10000\n[admin]\nlisten = "{HOST}:{admin}"\n')
    # The password clients must send: a secret the startup line must mask.
    proxy = make_proxy(topo, ["--config", str(conf)], client_password=SECRET,
                       extra_env={"SENTINEL_PROXY_CLIENT_PASSWORD": SECRET})
    [start] = [line for line in proxy.log_text().splitlines() if " starting (pid " in line]
    assert f"sentinel-proxy {project_version()} starting (pid {proxy.process.pid})" in start
    assert f"configuration file {conf}" in start
    assert f'admin.listen="{HOST}:{admin}"' in start
    assert f'proxy.listen=["{HOST}:{proxy.port}"]' in start
    assert "timeouts.hold_window_ms=10000" in start
    assert 'client.password="********"' in start and 'redis.password=""' in start
    assert SECRET not in proxy.log_text()

    # Nothing changed.
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: len(reload_lines(proxy)) == 1, 10, 0.1, "the first reload line")
    assert reload_lines(proxy)[0].endswith(f"configuration reloaded from {conf}: nothing changed")

    # One key applied now, one that needs a restart.
    other = free_port()
    conf.write_text(f'[timeouts]\nhold_window_ms = 4000\n[admin]\nlisten = "{HOST}:{other}"\n')
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: len(reload_lines(proxy)) == 2, 10, 0.1, "the second reload line")
    line = reload_lines(proxy)[1]
    assert " warning " in line or '"warning"' in line, line  # something waits for a restart
    assert line.endswith(
        f'applied: timeouts.hold_window_ms 10000 -> 4000; deferred to restart: '
        f'admin.listen "{HOST}:{admin}" -> "{HOST}:{other}"'), line
    # The deferred key really is not applied, and stays reported as pending.
    os.kill(proxy.process.pid, signal.SIGHUP)
    wait_until(lambda: len(reload_lines(proxy)) == 3, 10, 0.1, "the third reload line")
    assert reload_lines(proxy)[2].endswith(
        f'applied: none; deferred to restart: admin.listen "{HOST}:{admin}" -> "{HOST}:{other}"')
    assert SECRET not in proxy.log_text()
    proxy.client().set("still-serving", "1")
