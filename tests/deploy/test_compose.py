"""Runs deploy/compose/docker-compose.yml, unchanged, with Debian's podman-compose (1.0.3)
through one planned failover (issue 22: "the compose stack runs in CI").

Nothing can be pulled, so the file's images are replaced through its own variables:
SP_REDIS_IMAGE is the debootstrap base (deploy/image/build-base.sh, shared with
test_image.py) plus Debian's redis-server, redis-sentinel and redis-tools and the proxy's
runtime libraries, built once and kept under a key of its recipe; SP_PROXY_IMAGE is a
FROM scratch image of the proxy binary under test, made the way the Dockerfile's last two
stages make it (deploy/image/collect-runtime.sh). Compiling inside the image is
test_image.py's job; here it would only add minutes. podman runs with --runtime runc and
explicit ulimits (as in test_image.py), passed through podman-compose's --podman-args and
--podman-run-args.

The test writes through both proxy replicas from the host (their published ports) while
sentinel-1 runs SENTINEL FAILOVER: no error, no acknowledged write lost, the client
container's INCR loop through the host name `redis` keeps counting. Containers, the
network, the volumes and the proxy image are removed even on failure (the base and the
Redis image stay cached).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import HOST, Writer, wait_until  # noqa: E402

COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
BASE_IMAGE = "localhost/debian-base:bookworm"
PODMAN_ARGS = ["--runtime", "runc"]
PODMAN_RUN_ARGS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=1000:1000"]
# Debian's Redis (what the stack runs) and the proxy's runtime libraries (what
# collect-runtime.sh copies into the proxy image), with /data writable by redis as in the
# official image.
REDIS_RECIPE = f"""FROM {BASE_IMAGE}
COPY install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh runtime \\
 && apt-get install -y -qq --no-install-recommends redis-server redis-sentinel redis-tools \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
"""
# The Dockerfile's collect and runtime stages, on the binary under test.
PROXY_RECIPE = """FROM {redis_image} AS collect
LABEL {label}
COPY sentinel-proxy /usr/local/bin/sentinel-proxy
COPY collect-runtime.sh /tmp/collect-runtime.sh
RUN /tmp/collect-runtime.sh /usr/local/bin/sentinel-proxy /rootfs
FROM scratch
LABEL {label}
COPY --from=collect /rootfs/ /
ENV SENTINEL_PROXY_CONFIG=/etc/sentinel-proxy/sentinel-proxy.toml
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/sentinel-proxy"]
"""
FIGURES: dict[str, float] = {}
COUNTER = re.compile(r"INCR counter -> (\d+)$")


def run(*args, timeout=180, check=True, env=None):
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                         env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args[:4])}... exited {out.returncode}:\n"
                             f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def podman(*args, **kw):
    return run("podman", *PODMAN_ARGS, *args, **kw)


def build(tag: str, recipe: str, files: dict[str, Path], workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Containerfile").write_text(recipe)
    for name, src in files.items():
        shutil.copy2(src, workdir / name)
    # --layers=false: no intermediate images; the proxy's collect stage is removed by the
    # caller, found by its label (an image another build made meanwhile is not ours).
    podman("build", *PODMAN_RUN_ARGS, "--format", "docker", "--layers=false", "-t", tag,
           str(workdir), timeout=900)



@pytest.fixture(scope="module")
def images(tmp_path_factory):
    for tool in ("podman", "podman-compose", "runc", "debootstrap"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: run deploy/install-deps.sh test")
    t0 = time.monotonic()
    run(str(ROOT / "deploy" / "image" / "build-base.sh"), BASE_IMAGE, timeout=900)
    base_id = podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout.strip()
    deps = ROOT / "deploy" / "install-deps.sh"
    key = hashlib.sha256((REDIS_RECIPE + base_id + deps.read_text()).encode()).hexdigest()[:16]
    redis_image = f"localhost/sp-compose-redis:{key}"
    if podman("image", "exists", redis_image, check=False).returncode != 0:
        build(redis_image, REDIS_RECIPE, {"install-deps.sh": deps},
              tmp_path_factory.mktemp("redis-image"))
    FIGURES["images_s"] = time.monotonic() - t0
    run_id = uuid.uuid4().hex[:8]
    proxy_image = f"localhost/sp-compose-proxy:test-{run_id}"
    label = f"org.sentinel-proxy.compose-test={run_id}"
    binary = Path(os.environ.get("SP_PROXY_BIN", ROOT / "build" / "sentinel-proxy"))
    try:
        build(proxy_image, PROXY_RECIPE.format(redis_image=redis_image, label=label),
              {"sentinel-proxy": binary,
               "collect-runtime.sh": ROOT / "deploy" / "image" / "collect-runtime.sh"},
              tmp_path_factory.mktemp("proxy-image"))
        yield {"redis": redis_image, "proxy": proxy_image}
    finally:
        # The image and the build's collect stage; never the cached base or Redis image.
        made = podman("images", "-a", "-q", "--filter", f"label={label}",
                      check=False).stdout.split()
        podman("rmi", "-f", proxy_image, *made, check=False)


class Stack:
    def __init__(self, project: str, images: dict[str, str]):
        self.project = project
        self.env = {**os.environ, "SP_REDIS_IMAGE": images["redis"],
                    "SP_PROXY_IMAGE": images["proxy"]}

    def compose(self, *args, timeout=300, check=True):
        cmd = ["podman-compose", "-f", str(COMPOSE), "-p", self.project]
        cmd += [f"--podman-args={a}" for a in PODMAN_ARGS]
        cmd += [f"--podman-run-args={a}" for a in PODMAN_RUN_ARGS]
        return run(*cmd, *args, timeout=timeout, check=check, env=self.env)

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}_{service}_{index}"

    def host_port(self, service: str, index: int, port: int) -> int:
        out = podman("port", self.container(service, index), f"{port}/tcp").stdout.strip()
        return int(out.splitlines()[0].rsplit(":", 1)[1])

    def sentinel(self, *args) -> str:
        return podman("exec", self.container("sentinel-1"), "redis-cli", "-p", "26379",
                      *args, timeout=30).stdout.strip()

    def master(self) -> str:
        return self.sentinel("SENTINEL", "get-master-addr-by-name", "mymaster").split("\n")[0]

    def logs(self, service: str, index: int = 1) -> str:
        out = podman("logs", self.container(service, index), check=False, timeout=30)
        return out.stdout + out.stderr

    def remove(self):
        """podman-compose down, then anything of the project it left behind."""
        self.compose("down", "-v", check=False)
        label = f"label=io.podman.compose.project={self.project}"
        ids = podman("ps", "-a", "-q", "--filter", label, check=False).stdout.split()
        if ids:
            podman("rm", "-f", "-t", "1", *ids, check=False)
        vols = podman("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
        if vols:
            podman("volume", "rm", "-f", *vols, check=False)
        podman("network", "rm", "-f", f"{self.project}_default", check=False)


@pytest.fixture(scope="module")
def stack(images):
    s = Stack(f"spc{uuid.uuid4().hex[:8]}", images)
    t0 = time.monotonic()
    try:
        s.compose("up", "-d", "--no-build")
        FIGURES["up_s"] = time.monotonic() - t0
        yield s
    finally:
        for name in ("redis", "sentinel-1"):
            print(f"--- {name} log tail ---\n{s.logs(name)[-3000:]}", file=sys.stderr)
        s.remove()
        print(f"compose figures: {FIGURES}", file=sys.stderr)


def admin_get(port: int, path: str):
    """(status, body) of GET http://127.0.0.1:port/path; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def proxy_master(admin_port: int) -> str:
    status, body = admin_get(admin_port, "/status")
    master = json.loads(body)["pools"][0]["master"] if status == 200 else None
    return f"{master['host']}:{master['port']}" if master else ""


def client_count(stack: Stack) -> int | None:
    """The last counter the example client printed, None if its last INCR failed."""
    m = COUNTER.search(stack.logs("client").strip().splitlines()[-1] or "")
    return int(m.group(1)) if m else None


def test_planned_failover_through_the_compose_stack(stack):
    proxies = [(stack.host_port("redis", i, 6379), stack.host_port("redis", i, 9121))
               for i in (1, 2)]
    for _, admin in proxies:
        wait_until(lambda a=admin: admin_get(a, "/readyz")[0] == 200, 90, 0.5,
                   "a proxy replica ready")
    # The example client reaches the proxies through the host name `redis`.
    wait_until(lambda: client_count(stack) is not None, 60, 1, "the client counting via redis")
    old = stack.master()
    assert old == "redis-master", old
    writers = [Writer(HOST, port).start() for port, _ in proxies]
    try:
        for w in writers:
            w.wait_acks(300, timeout=30)
        t0 = time.monotonic()
        assert stack.sentinel("SENTINEL", "FAILOVER", "mymaster") == "OK"
        wait_until(lambda: stack.master() not in ("", old), 60, 0.5, "the sentinels' switch")
        new = stack.master()
        # Both replicas follow the sentinels to the new master...
        for _, admin in proxies:
            wait_until(lambda a=admin: proxy_master(a) == f"{new}:6379", 60, 0.5,
                       f"the proxy on {admin} following to {new}")
        FIGURES["switch_s"] = round(time.monotonic() - t0, 2)
        for w in writers:
            w.wait_acks(300, timeout=60)
    finally:
        stats = [w.stop() for w in writers]
    assert new.startswith("redis-replica-"), (old, new)
    # ...with no error and no acknowledged write lost (read through a proxy, which now
    # reads the new master).
    r = redis.Redis(host=HOST, port=proxies[0][0], socket_timeout=15, decode_responses=True)
    for st in stats:
        assert st.errors == [], st.errors[:5]
        assert st.acked >= 600
        assert st.verify_on(r, st.acked_seqs()) == ([], [])
    # The client container kept counting through `redis` after the failover.
    before = client_count(stack) or 0
    wait_until(lambda: (client_count(stack) or 0) > before, 20, 1,
               "the client counting after the failover")
    FIGURES["acked_writes"] = sum(st.acked for st in stats)
    FIGURES["longest_gap_s"] = round(max(st.longest_gap() for st in stats), 3)
