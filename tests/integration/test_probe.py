"""`sentinel-proxy --probe` against a real running proxy (issue 14: a HEALTHCHECK without
bash or curl): exit 0 on HTTP 200, 1 otherwise, reading admin.listen from the same
configuration sources the proxy reads (here: the environment, as in the image)."""
from __future__ import annotations

import subprocess

from harness import HOST, free_port, proxy_bin, wait_until


def probe(*args, env=None):
    return subprocess.run([proxy_bin(), "--probe", *args], capture_output=True, text=True,
                          timeout=10, env=env or {})


def test_probe_live_and_ready(make_topology, make_proxy):
    topo = make_topology()
    admin = free_port()
    make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}"])
    env = {"SENTINEL_PROXY_ADMIN_LISTEN": f"0.0.0.0:{admin}"}
    for what in ("live", "ready"):
        out = probe(what, env=env)
        assert out.returncode == 0, out.stderr
        assert "200" in out.stdout
    assert probe(env=env).returncode == 0  # --probe alone: live
    out = probe(f"http://{HOST}:{admin}/readyz")
    assert out.returncode == 0, out.stderr
    out = probe(f"http://{HOST}:{admin}/no-such-page")
    assert out.returncode == 1 and "404" in out.stderr, out.stderr


def test_probe_ready_fails_while_no_master_is_verified(make_topology, make_proxy):
    topo = make_topology()
    admin = free_port()
    # A master name the sentinels do not know: live, never ready.
    make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", "--master", "nosuchmaster"],
               writable=False)
    env = {"SENTINEL_PROXY_ADMIN_LISTEN": f"{HOST}:{admin}"}
    wait_until(lambda: probe("live", env=env).returncode == 0, 10, 0.1, "--probe live 0")
    out = probe("ready", env=env)
    assert out.returncode == 1 and "503" in out.stderr, (out.stdout, out.stderr)


def test_probe_unreachable_and_bad_arguments_exit_1():
    out = probe("live", env={"SENTINEL_PROXY_ADMIN_LISTEN": f"{HOST}:{free_port()}"})
    assert out.returncode == 1 and "cannot connect" in out.stderr, out.stderr
    # Docker reserves exit status 2: a probe never uses it, even for a bad argument.
    assert probe("sideways").returncode == 1
    assert probe("live", env={"SENTINEL_PROXY_ADMIN_LISTEN": "not-an-address"}).returncode == 1
    assert probe("live", env={"SENTINEL_PROXY_ADMIN_LISTEN": ""}).returncode == 1  # disabled
