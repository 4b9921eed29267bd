"""Validates the deployment files offline: Dockerfile (lint, build steps, HEALTHCHECK),
docker compose stack, Kubernetes manifests (schemas), Helm chart (values consistency).

Run by ctest (tests/CMakeLists.txt) with Debian's python3 and pytest. Needs python3-yaml
and docker-compose (deploy/install-deps.sh test) and npm; `npm ci` installs the
validators of tests/deploy/package-lock.json into tests/deploy/node_modules.
Everything that runs listens on 127.0.0.1 only and is bounded in time.
"""
import fcntl
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import free_port  # noqa: E402 - one port allocator for every suite

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "sentinel-proxy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

PROXY_LABELS = {"app.kubernetes.io/name": "sentinel-proxy", "app.kubernetes.io/component": "proxy"}
DEFAULT_RESOURCES = ["configmap.yaml", "deployment.yaml", "service.yaml", "poddisruptionbudget.yaml"]
OPTIONAL_RESOURCES = ["networkpolicy.yaml", "servicemonitor.yaml"]


def project_version():
    m = re.search(r"project\(sentinel-proxy VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1)




# ---------------------------------------------------------------------------------------
# npm validators (kubernetes-models, dockerfilelint), installed once per lock file.

@pytest.fixture(scope="session")
def node_modules():
    if not shutil.which("npm"):
        pytest.fail("npm is missing: run deploy/install-deps.sh test")
    lock = HERE / "package-lock.json"
    stamp = HERE / "node_modules" / ".sp-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    # ctest -j starts the suites sharing node_modules together: one installs, the others
    # wait on the lock and then find the stamp.
    with open(HERE / ".npm-ci.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != digest:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=HERE, check=True, timeout=300)
            stamp.write_text(digest)
    return HERE / "node_modules"


def validate_objects(node_modules, objects):
    out = subprocess.run(["node", str(HERE / "validate_k8s.js")], input=json.dumps(objects),
                         capture_output=True, text=True, check=True, timeout=120, cwd=HERE)
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------------------
# Every YAML file parses.

def yaml_files():
    files = [p for p in DEPLOY.rglob("*.y*ml") if "templates" not in p.parts]
    return sorted(files)


def test_yaml_files_found():
    names = {p.relative_to(DEPLOY).as_posix() for p in yaml_files()}
    assert "compose/docker-compose.yml" in names
    assert "helm/sentinel-proxy/values.yaml" in names
    assert {f"kubernetes/{f}" for f in DEFAULT_RESOURCES + OPTIONAL_RESOURCES} <= names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"


# ---------------------------------------------------------------------------------------
# Kubernetes manifests.

def k8s_objects(files=None):
    files = files or sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    objs = []
    for name in files:
        objs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return objs


def by_kind(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def test_k8s_objects_validate_against_schemas(node_modules):
    objs = k8s_objects()
    results = validate_objects(node_modules, objs)
    bad = [r for r in results if not r["ok"]]
    assert not bad, bad
    assert sorted(r["kind"] for r in results) == sorted(
        ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
         "Service", "ServiceMonitor"])


def test_validator_rejects_a_broken_object(node_modules):
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"replicas": "two"}}
    [result] = validate_objects(node_modules, [broken])
    assert not result["ok"] and "replicas" in result["error"]


def test_kustomization_resources():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert k["kind"] == "Kustomization"
    assert k["resources"] == DEFAULT_RESOURCES
    text = (K8S / "kustomization.yaml").read_text()
    for optional in OPTIONAL_RESOURCES:
        assert re.search(rf"#\s*- {re.escape(optional)}", text), f"{optional} not offered (commented)"
    assert k["images"][0]["name"] == "sentinel-proxy"
    assert k["images"][0]["newTag"] == project_version()


def test_kustomize_builds():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl not installed: kustomize build not checked")
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout) if d)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    assert f"image: sentinel-proxy:{project_version()}" in out.stdout


def test_deployment_is_hardened_and_probed():
    objs = k8s_objects(DEFAULT_RESOURCES)
    dep = by_kind(objs, "Deployment", "sentinel-proxy")
    spec = dep["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"] == PROXY_LABELS
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"] == PROXY_LABELS
    [c] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"redis": 6379, "admin": 9121}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert {"cpu", "memory"} <= set(c["resources"]["limits"])
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    env = {e["name"]: e for e in c["env"]}
    assert env["SENTINEL_PROXY_CONFIG"]["value"] == "/etc/sentinel-proxy/sentinel-proxy.toml"
    for var in ("SENTINEL_PROXY_REDIS_PASSWORD", "SENTINEL_PROXY_SENTINEL_PASSWORD",
                "SENTINEL_PROXY_CLIENT_PASSWORD"):
        assert env[var]["valueFrom"]["secretKeyRef"]["optional"] is True
    [mount] = c["volumeMounts"]
    [vol] = pod["volumes"]
    assert mount["mountPath"] == "/etc/sentinel-proxy" and mount["name"] == vol["name"]
    assert vol["configMap"]["name"] == by_kind(objs, "ConfigMap")["metadata"]["name"]


def test_service_is_named_redis_on_6379():
    objs = k8s_objects(DEFAULT_RESOURCES)
    svc = by_kind(objs, "Service", "redis")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == PROXY_LABELS
    assert svc["spec"]["ports"] == [{"name": "redis", "port": 6379, "targetPort": "redis",
                                     "protocol": "TCP"}]
    pdb = by_kind(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == PROXY_LABELS


def test_servicemonitor_scrapes_the_admin_port():
    objs = k8s_objects(["servicemonitor.yaml"])
    svc = by_kind(objs, "Service")
    sm = by_kind(objs, "ServiceMonitor")
    assert svc["spec"]["ports"][0]["port"] == 9121
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"


def check_toml(tmp_path, text):
    parsed = tomllib.loads(text)
    binary = os.environ.get("SP_PROXY_BIN")
    if binary and Path(binary).exists():
        f = tmp_path / "sentinel-proxy.toml"
        f.write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_PROXY_")}
        out = subprocess.run([binary, "--config", str(f), "--check-config"], capture_output=True,
                             text=True, timeout=30, env=env)
        assert out.returncode == 0, out.stderr
    return parsed


def test_configmap_toml_is_a_valid_configuration(tmp_path):
    cm = by_kind(k8s_objects(DEFAULT_RESOURCES), "ConfigMap")
    cfg = check_toml(tmp_path, cm["data"]["sentinel-proxy.toml"])
    assert cfg["proxy"]["listen"] == ["0.0.0.0:6379"]
    assert cfg["admin"]["listen"] == "0.0.0.0:9121"
    assert cfg["sentinel"]["master"] and cfg["sentinel"]["addresses"]
    assert "password" not in cfg.get("redis", {}) and "password" not in cfg["sentinel"]


# ---------------------------------------------------------------------------------------
# Helm chart: no renderer (helm) is installable from Debian or npm, so the values and
# templates are kept consistent here, and the default objects' kinds match the manifests.

def chart_values():
    return yaml.safe_load((CHART / "values.yaml").read_text())


def templates():
    return sorted((CHART / "templates").glob("*"))


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "sentinel-proxy"
    assert chart["appVersion"] == project_version()
    assert (CHART / "templates" / "_helpers.tpl").exists()


def test_every_values_reference_exists_in_values_yaml():
    values = chart_values()
    refs = set()
    for t in templates():
        refs |= set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", t.read_text()))
    assert len(refs) > 30
    missing = []
    for ref in sorted(refs):
        node = values
        for key in ref.strip(".").split("."):
            if not isinstance(node, dict) or key not in node:
                missing.append(ref)
                break
            node = node[key]
    assert not missing, f"referenced in templates but absent from values.yaml: {missing}"


def test_every_value_is_used_by_a_template():
    text = "".join(t.read_text() for t in templates())

    def used_whole(path):
        return re.search(re.escape(f".Values{path}") + r"(?![A-Za-z0-9_.])", text)

    def unused(node, prefix=""):
        for k, v in node.items():
            path = f"{prefix}.{k}"
            if used_whole(path):
                continue
            if isinstance(v, dict) and v:
                yield from unused(v, path)
            else:
                yield path

    left = list(unused(chart_values()))
    assert not left, f"values.yaml keys no template uses: {left}"


def test_template_braces_balance():
    for t in templates():
        text = t.read_text()
        assert text.count("{{") == text.count("}}"), t.name
        opens = len(re.findall(r"\{\{-?\s*(?:if|with|range|define)\b", text))
        ends = len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text))
        assert opens == ends, f"{t.name}: {opens} blocks opened, {ends} closed"


def default_chart_kinds():
    """Kinds the chart renders with default values: a template whose first line is
    `{{- if .Values.x.enabled }}` (or the createSecret helper) renders only if enabled."""
    values = chart_values()
    kinds = []
    for t in templates():
        if t.suffix != ".yaml":
            continue
        text = t.read_text()
        gate = re.match(r"\{\{-\s*if\s+(\S+)", text)
        if gate:
            cond = gate.group(1)
            if cond.startswith(".Values."):
                node = values
                for key in cond[len(".Values."):].split("."):
                    node = node[key]
                if not node:
                    continue
            elif cond == "include":     # secret.yaml: a generated client password, or
                a = values["auth"]      # passwords given as values without existingSecret
                if a["clientPasswordSource"] != "generate" and (
                        a["existingSecret"] or not (a["redisPassword"] or a["sentinelPassword"])):
                    continue
        kinds += re.findall(r"^kind:\s*(\S+)", text, re.M)
    return sorted(kinds)


def test_chart_defaults_render_the_manifests_kinds():
    plain = sorted(o["kind"] for o in k8s_objects(DEFAULT_RESOURCES))
    # The chart also generates the client password into a Secret (issue 22); the plain
    # manifests cannot generate one.
    assert default_chart_kinds() == sorted(plain + ["Secret"])


def test_chart_defaults_match_the_manifests():
    values = chart_values()
    cm = by_kind(k8s_objects(DEFAULT_RESOURCES), "ConfigMap")
    cfg = tomllib.loads(cm["data"]["sentinel-proxy.toml"])
    assert values["sentinel"]["addresses"] == cfg["sentinel"]["addresses"]
    assert values["sentinel"]["master"] == cfg["sentinel"]["master"]
    assert values["service"]["name"] == "redis" and values["service"]["port"] == 6379
    assert values["admin"]["port"] == 9121
    dep = by_kind(k8s_objects(DEFAULT_RESOURCES), "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert values["replicaCount"] == dep["spec"]["replicas"]
    assert values["resources"] == c["resources"]
    assert values["securityContext"] == c["securityContext"]
    assert "existingSecret" in values["auth"]


# ---------------------------------------------------------------------------------------
# docker compose stack.

def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_topology():
    services = compose()["services"]
    images = {name: s.get("image") for name, s in services.items()}
    masters = [n for n, s in services.items() if n.startswith("redis-") and
               "--replicaof" not in s.get("command", [])]
    replicas = [n for n, s in services.items() if "--replicaof" in s.get("command", [])]
    sentinels = [n for n in services if n.startswith("sentinel-") and "proxy" not in n]
    proxies = [n for n, s in services.items() if s.get("build")]
    assert masters == ["redis-master"] and len(replicas) == 2 and len(sentinels) == 3
    assert all(images[n] == "${SP_REDIS_IMAGE:-redis:7}" for n in masters + replicas + sentinels)
    # Two proxies answering to `redis`: one service of 2 replicas. Per-network aliases are
    # what Debian's podman-compose 1.0.3 cannot read (KeyError), so none anywhere.
    assert proxies == ["redis"] and services["redis"]["deploy"]["replicas"] == 2
    assert not any(isinstance(s.get("networks"), dict) for s in services.values())
    for p in proxies:
        s = services[p]
        assert s["build"]["context"] == "../.." and s["build"]["dockerfile"] == "Dockerfile"
        # Every build argument of the Dockerfile, each overridable from the environment.
        dockerfile_args = set(re.findall(r"^ARG (\w+)", DOCKERFILE.read_text(), re.M))
        assert set(s["build"]["args"]) == dockerfile_args, s["build"]["args"]
        assert all(v.startswith("${SP_") for v in s["build"]["args"].values())
        env = s["environment"]
        assert env["SENTINEL_PROXY_SENTINEL_ADDRESSES"].split(",") == \
            [f"{n}:26379" for n in sentinels]
        assert env["SENTINEL_PROXY_SENTINEL_MASTER"] == "mymaster"
        for port in s["ports"]:
            assert port.startswith("127.0.0.1:")
    assert services["client"]["environment"]["REDIS_HOST"] == "redis"


def test_compose_file_validates():
    if not shutil.which("docker-compose"):
        pytest.fail("docker-compose is missing: run deploy/install-deps.sh test")
    out = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"],
                         capture_output=True, text=True, timeout=60, cwd=COMPOSE.parent)
    assert out.returncode == 0, out.stderr


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def test_compose_sentinel_entrypoint_writes_a_working_config(tmp_path):
    """Runs the sentinels' generated-config script (compose's $$ unescaped, /data moved to a
    temporary directory), then starts redis-sentinel on that config on 127.0.0.1."""
    services = compose()["services"]
    script = services["sentinel-1"]["entrypoint"][2].replace("$$", "$")
    script = script.replace("/data", str(tmp_path)).replace("exec redis-server", "echo")
    env = {"PATH": os.environ["PATH"], **services["sentinel-1"]["environment"]}
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10, env=env)
    assert out.returncode == 0, out.stderr
    conf = (tmp_path / "sentinel.conf").read_text()
    assert "sentinel announce-ip sentinel-1" in conf
    assert "sentinel monitor mymaster redis-master 6379 2" in conf

    # The same config, pointed at 127.0.0.1: redis-sentinel must accept every directive.
    port = free_port()
    local = conf.replace("port 26379", f"port {port}\nbind 127.0.0.1").replace(
        "redis-master 6379", f"127.0.0.1 {free_port()}")
    (tmp_path / "sentinel.conf").write_text(local)
    server = shutil.which("redis-sentinel") or shutil.which("redis-server")
    proc = subprocess.Popen([server, str(tmp_path / "sentinel.conf"), "--sentinel"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and redis_cli(port, "PING") != "PONG":
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        assert redis_cli(port, "PING") == "PONG"
        assert redis_cli(port, "SENTINEL", "get-master-addr-by-name", "mymaster").startswith(
            "127.0.0.1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------
# Dockerfile.

def dockerfile_instructions():
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_lints_clean(node_modules):
    out = subprocess.run([str(node_modules / ".bin" / "dockerfilelint"), "-j", str(DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    report = json.loads(out.stdout)
    assert report["totalIssues"] == 0, json.dumps(report, indent=1)
    assert out.returncode == 0


def test_dockerfile_structure():
    ins = dockerfile_instructions()
    assert "ARG BASE_IMAGE=debian" in ins and "ARG BASE_TAG=bookworm-slim" in ins
    froms = [i for i in ins if i.startswith("FROM ")]
    assert froms == ["FROM ${BASE_IMAGE}:${BASE_TAG} AS build",
                     "FROM ${BASE_IMAGE}:${BASE_TAG} AS collect", "FROM scratch"]
    build = ins[:ins.index(froms[1])]
    collect = ins[ins.index(froms[1]):ins.index(froms[2])]
    runtime = ins[ins.index(froms[2]):]
    assert any("deploy/build-release.sh /out" in i for i in build if i.startswith("RUN "))
    assert any("install-deps.sh runtime" in i and "collect-runtime.sh" in i
               for i in collect if i.startswith("RUN "))
    assert [i for i in runtime if i.startswith("COPY")] == ["COPY --from=collect /rootfs/ /"]
    assert not [i for i in runtime if i.startswith("RUN ")]  # scratch: nothing to run
    user = [i for i in runtime if i.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    assert "EXPOSE 6379 9121" in runtime
    assert "ENV SENTINEL_PROXY_CONFIG=/etc/sentinel-proxy/sentinel-proxy.toml" in runtime
    [label] = [i for i in runtime if i.startswith("LABEL ")]
    for key in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in label, key
    assert any(i.startswith("HEALTHCHECK ") and "--probe" in i for i in runtime)
    assert runtime[-1] == 'ENTRYPOINT ["/usr/local/bin/sentinel-proxy"]'


def test_dockerfile_default_config_is_valid(tmp_path):
    """deploy/image/collect-runtime.sh writes a default TOML with printf: replay that printf."""
    text = (DEPLOY / "image" / "collect-runtime.sh").read_text().replace("\\\n", " ")
    m = re.search(r"(printf '%s\\n' .*?) >\s*\"\$root/etc/sentinel-proxy/sentinel-proxy.toml\"",
                  text, re.S)
    text = subprocess.run(["sh", "-c", m.group(1)], capture_output=True, text=True,
                          check=True, timeout=10).stdout
    cfg = tomllib.loads(text)
    assert cfg == {"proxy": {"listen": ["0.0.0.0:6379"]}, "admin": {"listen": "0.0.0.0:9121"}}
    path = tmp_path / "image.toml"
    path.write_text(text)
    out = subprocess.run([os.environ.get("SP_PROXY_BIN", str(ROOT / "build" / "sentinel-proxy")),
                          "--config", str(path), "--check-config", "--master", "m",
                          "--sentinel", "127.0.0.1:26379"],
                         capture_output=True, text=True, timeout=10, env={})
    assert out.returncode == 0, out.stderr


class _Admin(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/livez" else 404)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,healthy", [(200, True), (503, False)])
def test_healthcheck_command(status, healthy):
    """Runs the HEALTHCHECK's exec-form command (the built binary's --probe) against a
    stand-in admin endpoint named by SENTINEL_PROXY_ADMIN_LISTEN, as in a container."""
    line = next(i for i in dockerfile_instructions() if i.startswith("HEALTHCHECK "))
    argv = json.loads(line[line.index("CMD ") + 4:])
    assert argv[0] == "/usr/local/bin/sentinel-proxy"
    argv[0] = os.environ.get("SP_PROXY_BIN", str(ROOT / "build" / "sentinel-proxy"))
    handler = type("Handler", (_Admin,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             env={"SENTINEL_PROXY_ADMIN_LISTEN": f"0.0.0.0:{port}"})
        assert out.returncode == (0 if healthy else 1), out.stderr
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------
# The Docker build context and the build stage's script.

def dockerignore_patterns():
    pats = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            pats.append((neg, line.lstrip("!").strip("/")))
    return pats


def _glob_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def in_docker_context(rel):
    """Docker's .dockerignore rules (simplified): the last pattern matching the path or
    one of its parent folders decides; `!` patterns re-include."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    included = True
    for neg, pat in dockerignore_patterns():
        rx = _glob_regex(pat)
        if any(rx.match(p) for p in prefixes):
            included = neg
    return included


def repo_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60)
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def test_docker_context_has_the_build_inputs_only():
    assert in_docker_context("deploy/build-release.sh")
    assert in_docker_context("deploy/install-deps.sh")
    assert in_docker_context("deploy/image/collect-runtime.sh")
    for f in ["CMakeLists.txt", "proxy/main.cpp", "tests/CMakeLists.txt",
              "proxy/version.h.in", "proxy/check_layers.cmake"]:
        assert in_docker_context(f), f
    for f in ["build/CMakeCache.txt", "build-release/x", ".git/HEAD",
              "tests/deploy/node_modules/x/index.js", "deploy/helm/sentinel-proxy/values.yaml"]:
        assert not in_docker_context(f), f


def test_build_release_script_builds_from_the_docker_context(tmp_path):
    """What the Dockerfile's build stage does: copy the context, run deploy/build-release.sh.
    Then the binary runs, and every shared library it needs is in the runtime profile."""
    ctx = tmp_path / "src"
    for f in repo_files():
        if in_docker_context(f):
            (ctx / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, ctx / f)
    out_dir = tmp_path / "out"
    env = {**os.environ, "SP_RELEASE_BUILD_DIR": str(tmp_path / "build"), "SP_RELEASE_JOBS": "2"}
    env.pop("CMAKE_CXX_COMPILER_LAUNCHER", None)
    run = subprocess.run([str(ctx / "deploy" / "build-release.sh"), str(out_dir)], env=env,
                         capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    binary = out_dir / "sentinel-proxy"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=10)
    assert version.returncode == 0 and project_version() in version.stdout
    symbols = subprocess.run(["nm", str(binary)], capture_output=True, text=True)
    assert "no symbols" in symbols.stderr, "binary is not stripped"

    line = re.search(r"^\s*runtime\)\s*pkgs=\(([^)]*)\)", (DEPLOY / "install-deps.sh").read_text(),
                     re.M)
    runtime_pkgs = set(line.group(1).split())
    base_image = {"libc6", "libstdc++6", "libgcc-s1"}     # in debian:bookworm-slim
    libs = re.findall(r"=>\s*(\S+)", subprocess.run(["ldd", str(binary)], capture_output=True,
                                                    text=True, check=True).stdout)
    needed = set()
    for lib in libs:
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True,
                               text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        assert owner.returncode == 0, f"no package owns {lib}"
        needed.add(owner.stdout.split(":")[0])
    missing = needed - runtime_pkgs - base_image
    assert not missing, f"deploy/install-deps.sh runtime lacks {sorted(missing)}"
