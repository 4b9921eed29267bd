"""Authentication and TLS failures towards Redis and Sentinel are named (issue 22, item 1):
a warning in the log with the cause (WRONGPASS, NOAUTH, "does not speak TLS"), rate-limited
per node and cause, and the same cause in /readyz's body and in `--probe ready`'s output,
which kubelet keeps in its events."""
from __future__ import annotations

import re
import subprocess
import time
import urllib.request

import pytest

from harness import HOST, TlsFiles, free_port, proxy_bin, readyz, wait_until

REDIS_PW = "redis-secret-pw"
SENTINEL_PW = "sentinel-secret-pw"


def probe_ready(admin: int) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_bin(), "--probe", "ready"], capture_output=True, text=True,
                          timeout=10, env={"SENTINEL_PROXY_ADMIN_LISTEN": f"{HOST}:{admin}"})


def warnings(proxy, pattern: str) -> list[str]:
    text = proxy.log_path.read_text(errors="replace")
    return [line for line in text.splitlines()
            if " warning " in line and re.search(pattern, line)]


def test_wrong_redis_password_is_a_warning_and_the_readyz_reason(make_topology, make_proxy):
    topo = make_topology(replicas=0, sentinels=1, quorum=1, redis_password=REDIS_PW)
    admin = free_port()
    started = time.monotonic()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", "--log-level", "info",
                              "--redis-password", "not-the-password"], writable=False)
    lines = wait_until(lambda: warnings(proxy, r"WRONGPASS"), 5, 0.1,
                       "a warning naming WRONGPASS")
    assert time.monotonic() - started < 10
    assert "redis.password" in lines[0], lines[0]
    status, body = readyz(admin)
    assert status == 503 and "WRONGPASS" in body, body
    out = probe_ready(admin)
    assert out.returncode == 1 and "503" in out.stderr and "WRONGPASS" in out.stderr, out.stderr
    # Rate-limited: the probe retries every 100 ms, the warning comes at most every 10 s.
    time.sleep(3)
    assert len(warnings(proxy, r"WRONGPASS")) <= 2, warnings(proxy, r"WRONGPASS")


def test_missing_redis_password_names_noauth(make_topology, make_proxy):
    topo = make_topology(replicas=0, sentinels=1, quorum=1, redis_password=REDIS_PW)
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", "--log-level", "info"],
                       writable=False)
    lines = wait_until(lambda: warnings(proxy, r"NOAUTH"), 5, 0.1, "a warning naming NOAUTH")
    assert "redis.password is not set" in lines[0], lines[0]
    status, body = readyz(admin)
    assert status == 503 and "NOAUTH" in body, body


@pytest.mark.parametrize("side,warning", [
    ("redis", r"redis .*does not speak TLS"),
    ("sentinel", r"sentinel .*does not speak TLS"),
])
def test_tls_against_plaintext_names_tls(make_topology, make_proxy, tmp_path, side, warning):
    """[redis_tls] against a plaintext Redis, [sentinel_tls] against a plaintext sentinel:
    the handshake failure is named (not a connect timeout), in the log and in /readyz."""
    topo = make_topology(replicas=0, sentinels=1, quorum=1)
    admin = free_port()
    conf = tmp_path / f"{side}_tls.toml"
    conf.write_text(f"[{side}_tls]\nenabled = true\ninsecure = true\n")
    proxy = make_proxy(topo, ["--config", str(conf), "--admin-listen", f"{HOST}:{admin}",
                              "--log-level", "info", "--connect-timeout-ms", "1000"],
                       writable=False)
    wait_until(lambda: warnings(proxy, warning), 8, 0.1, f"a warning matching {warning!r}")
    assert not warnings(proxy, r"connect .*timed out"), warnings(proxy, r"timed out")
    status, body = wait_until(lambda: (lambda s, b: (s, b) if "TLS" in b else None)(
        *readyz(admin)), 8, 0.2, "/readyz naming TLS")
    assert status == 503, body


def test_sentinel_auth_failure_is_not_a_disagreement(make_topology, make_proxy):
    topo = make_topology(replicas=0, sentinels=1, quorum=1, sentinel_password=SENTINEL_PW)
    admin = free_port()
    proxy = make_proxy(topo, ["--admin-listen", f"{HOST}:{admin}", "--log-level", "info",
                              "--sentinel-password", "wrong"], writable=False)
    wait_until(lambda: warnings(proxy, r"sentinel .*WRONGPASS"), 5, 0.1,
               "a warning naming the sentinel's WRONGPASS")
    status, body = wait_until(lambda: (lambda s, b: (s, b) if "WRONGPASS" in b else None)(
        *readyz(admin)), 5, 0.2, "/readyz naming WRONGPASS")
    assert status == 503 and "disagree" not in body, body


def test_wrong_sentinel_ca_says_certificate_as_the_metric_does(make_topology, make_proxy,
                                                              tmp_path):
    files = TlsFiles.create(tmp_path)
    topo = make_topology(replicas=0, sentinels=1, quorum=1, tls=files)
    admin = free_port()
    conf = tmp_path / "wrong-sentinel-ca.toml"
    conf.write_text(f'[redis_tls]\nenabled = true\nca_file = "{files.ca}"\n'
                    f'[sentinel_tls]\nenabled = true\nca_file = "{files.other_ca_cert}"\n')
    proxy = make_proxy(topo, ["--config", str(conf), "--admin-listen", f"{HOST}:{admin}",
                              "--log-level", "info"], writable=False)
    lines = wait_until(lambda: warnings(proxy, r"sentinel .*TLS handshake failed"), 8, 0.1,
                       "a warning naming the sentinel's TLS failure")
    assert "certificate verification failed" in lines[0], lines
    assert not warnings(proxy, r"sentinel .*protocol error"), warnings(proxy, "protocol error")
    with urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=3) as r:
        metrics = r.read().decode()
    assert re.search(r'^sentinel_proxy_tls_handshakes_total\{side="sentinel",'
                     r'outcome="certificate"\} [1-9]', metrics, re.M), metrics[:2000]
    status, body = wait_until(lambda: (lambda s, b: (s, b) if "certificate" in b else None)(
        *readyz(admin)), 8, 0.2, "/readyz naming the certificate")
    assert status == 503, body


def test_replica_refusing_the_password_is_named(make_topology, make_proxy):
    topo = make_topology(replicas=1, sentinels=1, quorum=1, redis_password=REDIS_PW)
    replica = topo.nodes[1]
    replica.client().config_set("requirepass", "another-password")
    replica.password = replica.auth_password = "another-password"
    proxy = make_proxy(topo, ["--redis-password", REDIS_PW, "--read-from", "prefer-replica",
                              "--log-level", "info"])
    lines = wait_until(lambda: warnings(proxy, rf"redis 127.0.0.1:{replica.port} \(replica "
                                               r"reads\): AUTH refused: WRONGPASS"),
                       5, 0.1, "a warning naming the replica's WRONGPASS")
    assert "redis.password" in lines[0]
    assert proxy.client().ping()  # the master still serves
