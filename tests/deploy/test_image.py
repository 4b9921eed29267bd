"""Builds the container image with podman and runs it, read-only with every capability
dropped, against a real redis-server + 3 redis-sentinel topology on 127.0.0.1, through one
SENTINEL FAILOVER (issue 14, "the image built and run in CI").

Nothing can be pulled: deploy/image/build-base.sh makes the Debian base with debootstrap
(cached under a key, ~1 min the first time, then a re-import or nothing) and the Dockerfile
builds FROM it (BASE_IMAGE). The image build compiles the proxy (the big cost of this test).
On this machine podman needs --runtime runc and explicit nofile/nproc ulimits, and
--format docker keeps the HEALTHCHECK (OCI images have none). The container uses the host
network so the harness's 127.0.0.1 topology is reachable. Every container and image this
test makes is removed at the end, except the cached base.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import harness  # noqa: E402
from harness import HOST, MASTER_NAME, failover_under_writes, free_port, wait_until  # noqa: E402

BASE_IMAGE = "localhost/debian-base:bookworm"
PODMAN_RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=16384:16384",
                    "--ulimit", "nproc=1000:1000"]
BUILD_TIMEOUT = 1500
FIGURES: dict[str, float] = {}


def podman(*args, timeout=120, check=True):
    out = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {out.returncode}:\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def image_ids() -> set[str]:
    # `images --no-trunc` says "sha256:<id>", `inspect {{.Id}}` just "<id>".
    return {i.removeprefix("sha256:") for i in podman("images", "-a", "-q", "--no-trunc").stdout.split()}


def project_version():
    return re.search(r"project\(sentinel-proxy VERSION (\S+)",
                     (ROOT / "CMakeLists.txt").read_text()).group(1)


@pytest.fixture(scope="module")
def image():
    for tool in ("podman", "runc", "debootstrap"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: run deploy/install-deps.sh test")
    t0 = time.monotonic()
    subprocess.run([str(ROOT / "deploy" / "image" / "build-base.sh"), BASE_IMAGE],
                   check=True, timeout=900)
    FIGURES["base_s"] = time.monotonic() - t0
    base_id = podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.strip()
    before = image_ids()
    tag = f"localhost/sentinel-proxy:test-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    try:
        podman("build", *PODMAN_RUN_FLAGS, "--format", "docker", "--layers=false",
               "--build-arg", f"BASE_IMAGE={BASE_IMAGE.split(':')[0]}",
               "--build-arg", f"BASE_TAG={BASE_IMAGE.split(':')[1]}",
               "--build-arg", f"VERSION={project_version()}", "-t", tag, str(ROOT),
               timeout=BUILD_TIMEOUT)
        FIGURES["build_s"] = time.monotonic() - t0
        yield tag
    finally:
        podman("rmi", "-f", tag, check=False)
        # The build's intermediate stage images too; never the cached base.
        made = image_ids() - before - {base_id}
        if made:
            podman("rmi", "-f", *sorted(made), check=False)
        print(f"image figures: {FIGURES}", file=sys.stderr)


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    topo = harness.Topology(tmp_path_factory.mktemp("topo"))
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


@pytest.fixture(scope="module")
def container(image, topology):
    name = f"sp-test-{uuid.uuid4().hex[:8]}"
    port, admin = free_port(), free_port()
    sentinels = ",".join(f"{HOST}:{p}" for p in topology.sentinel_ports)
    podman("run", "-d", "--name", name, *PODMAN_RUN_FLAGS, "--read-only", "--cap-drop=ALL",
           "--security-opt", "no-new-privileges", "--network", "host",
           "-e", f"SENTINEL_PROXY_SENTINEL_ADDRESSES={sentinels}",
           "-e", f"SENTINEL_PROXY_SENTINEL_MASTER={MASTER_NAME}",
           "-e", f"SENTINEL_PROXY_PROXY_LISTEN={HOST}:{port}",
           "-e", f"SENTINEL_PROXY_ADMIN_LISTEN={HOST}:{admin}",
           image)
    try:
        yield {"name": name, "port": port, "admin": admin}
    finally:
        logs = podman("logs", name, check=False)
        print(f"--- container log tail ---\n{(logs.stdout + logs.stderr)[-4000:]}",
              file=sys.stderr)
        podman("rm", "-f", "-t", "5", name, check=False)


def test_image_labels_and_healthcheck_config(image):
    [info] = json.loads(podman("image", "inspect", image).stdout)
    cfg = info["Config"]
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.title"] == "sentinel-proxy"
    assert labels["org.opencontainers.image.version"] == project_version()
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["/usr/local/bin/sentinel-proxy"]
    # --format docker kept the HEALTHCHECK; it needs no shell.
    # (podman reports it beside Config, not in it)
    assert info["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/sentinel-proxy", "--probe",
                                          "live"]
    # FROM scratch: nothing but the binary, its libraries and /etc.
    assert info["Size"] < 40 * 1024 * 1024, info["Size"]


def test_container_runs_read_only_without_capabilities(container):
    [info] = json.loads(podman("container", "inspect", container["name"]).stdout)
    assert info["State"]["Running"], info["State"]
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    status = Path(f"/proc/{info['State']['Pid']}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split()[:2] == ["10001", "10001"], fields["Uid"]
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0, fields
    # No shell in the image: exec of sh fails.
    out = podman("exec", container["name"], "/bin/sh", "-c", "true", check=False)
    assert out.returncode != 0


def test_failover_through_the_container(container, topology):
    port = container["port"]
    client = redis.Redis(host=HOST, port=port, socket_timeout=3)
    wait_until(lambda: client.set("sp:image:ready", "1"), 30, 0.1, "a SET through the container")
    old, new, stats = failover_under_writes(topology, port)
    assert new.addr != old.addr
    assert stats.errors == [], stats.errors[:5]
    topology.wait_replication(new, timeout=20)
    missing, wrong = stats.verify_on(new.client(decode_responses=True), stats.acked_seqs())
    assert (missing, wrong) == ([], []), (len(missing), len(wrong))
    FIGURES["acked_writes"] = stats.acked
    assert stats.acked >= 1000


def test_healthcheck_passes_and_probes_work(container):
    name = container["name"]
    out = podman("healthcheck", "run", name, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    [info] = json.loads(podman("container", "inspect", name).stdout)
    health = info["State"].get("Health") or info["State"].get("Healthcheck")
    assert health["Status"] == "healthy", health
    # The probe reads admin.listen from the container's environment, as the HEALTHCHECK does.
    ready = podman("exec", name, "/usr/local/bin/sentinel-proxy", "--probe", "ready",
                   check=False)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    bad = podman("exec", name, "/usr/local/bin/sentinel-proxy", "--probe",
                 f"http://{HOST}:{container['admin']}/nope", check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
