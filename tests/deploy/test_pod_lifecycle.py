"""The pod specs' environment and lifecycle, in the plain manifests and the Helm chart:
no service-link variables (enableServiceLinks: false), and rollouts and node drains that
cannot deadlock (PDB, rolling-update strategy, anti-affinity).

The chart cannot be rendered here (no helm), so its templates are checked as text.
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
