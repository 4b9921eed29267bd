"""The pod specs' environment and lifecycle, in the plain manifests and the Helm chart:
no service-link variables (enableServiceLinks: false), and rollouts and node drains that
cannot deadlock (PDB, rolling-update strategy, anti-affinity).

These check the templates as text; test_helm_chart.py renders them with helm.
"""
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parent.parent / "deploy"
K8S = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "sentinel-proxy"


def manifest(name):
    [doc] = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return doc


def template(name):
    return (CHART / "templates" / name).read_text()


def values():
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_manifest_pod_has_no_service_links():
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False


def test_chart_pod_has_no_service_links():
    lines = [line.strip() for line in template("deployment.yaml").splitlines()]
    assert "enableServiceLinks: false" in lines


def test_redis_port_service_link_is_documented_where_redis_host_is_promised():
    # A Service named "redis" injects REDIS_PORT=tcp://... into every app pod.
    for doc in (HERE.parent.parent / "README.md", K8S / "README.md"):
        text = doc.read_text()
        assert "REDIS_HOST=redis" in text
        assert "REDIS_PORT=tcp://" in text, doc
        assert "enableServiceLinks: false" in text, doc


def test_manifest_pdb_lets_a_single_replica_drain():
    # minAvailable: 1 with one (or one healthy) replica blocks `kubectl drain` forever.
    pdb = manifest("poddisruptionbudget.yaml")["spec"]
    assert "minAvailable" not in pdb
    assert pdb["maxUnavailable"] == 1
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_chart_pdb_lets_a_single_replica_drain():
    pdb = values()["podDisruptionBudget"]
    assert "minAvailable" not in pdb and pdb["maxUnavailable"] == 1
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    text = template("poddisruptionbudget.yaml")
    assert "minAvailable" not in text
    assert "maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}" in text
    assert ("unhealthyPodEvictionPolicy: {{ .Values.podDisruptionBudget."
            "unhealthyPodEvictionPolicy }}") in text


def test_manifest_rollout_cannot_deadlock_on_anti_affinity():
    spec = manifest("deployment.yaml")["spec"]
    pod = spec["template"]["spec"]
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    # A surge pod plus required anti-affinity deadlocks when nodes == replicas.
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    assert anti.get("preferredDuringSchedulingIgnoredDuringExecution") or \
        pod.get("topologySpreadConstraints")


def test_chart_hard_anti_affinity_rolls_without_a_surge():
    # With podAntiAffinity=hard the chart must not surge (maxSurge 1 / maxUnavailable 0
    # needs one more node than replicas); soft keeps the surge.
    text = template("deployment.yaml")
    strategy = text[text.index("strategy:"):text.index("selector:")]
    assert 'eq .Values.podAntiAffinity "hard"' in strategy
    assert "maxSurge: 0" in strategy and "maxUnavailable: 1" in strategy
    assert "maxSurge: 1" in strategy and "maxUnavailable: 0" in strategy
    assert values()["podAntiAffinity"] == "soft"


def test_pods_keep_accepting_after_sigterm_until_endpoints_converge():
    import tomllib
    cm = manifest("configmap.yaml")
    cfg = tomllib.loads(cm["data"]["sentinel-proxy.toml"])
    grace = cfg["proxy"]["accept_grace_ms"]
    assert grace >= 3000
    assert values()["proxy"]["acceptGraceMs"] == grace
    assert "accept_grace_ms = {{ .Values.proxy.acceptGraceMs | int }}" in template("configmap.yaml")
    # The grace and the drain fit in the termination grace period.
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    drain = cfg["proxy"].get("drain_timeout_ms", 5000)
    assert (grace + drain) / 1000 < pod["terminationGracePeriodSeconds"]
    assert (grace + drain) / 1000 < values()["terminationGracePeriodSeconds"]
