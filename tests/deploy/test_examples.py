"""deploy/examples/ (issue 14): the Spotahome operator, a plain StatefulSet, a sidecar.
Every object validates against the Kubernetes schemas like the manifests; every proxy
container is hardened and its environment is a configuration the proxy accepts."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from test_deploy_files import DEPLOY, ROOT, node_modules, validate_objects  # noqa: F401

EXAMPLES = DEPLOY / "examples"
# Custom resources of operators: no schema here, checked by structure instead.
CUSTOM = {("databases.spotahome.com/v1", "RedisFailover")}


def example_objects():
    objs = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        objs += [(path.relative_to(EXAMPLES).as_posix(), d)
                 for d in yaml.safe_load_all(path.read_text()) if d]
    return objs


def pod_specs():
    for where, obj in example_objects():
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield where, obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def proxy_containers():
    for where, name, spec in pod_specs():
        for c in spec["containers"]:
            if c["image"].startswith("sentinel-proxy:"):
                yield where, name, spec, c


def test_examples_exist():
    dirs = sorted(p.parent.name for p in EXAMPLES.rglob("*.yaml"))
    assert set(dirs) == {"spotahome", "statefulset", "sidecar"}
    assert len(list(proxy_containers())) == 3


def test_example_objects_validate(node_modules):  # noqa: F811
    objs = [o for _, o in example_objects() if (o["apiVersion"], o["kind"]) not in CUSTOM]
    results = validate_objects(node_modules, objs)
    bad = [r for r in results if not r["ok"]]
    assert not bad, bad
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap"} <= {r["kind"] for r in results}


def test_spotahome_failover_and_the_proxy_use_its_sentinel_service():
    [(_, rf)] = [(w, o) for w, o in example_objects() if o["kind"] == "RedisFailover"]
    assert rf["spec"]["sentinel"]["replicas"] == 3 and rf["spec"]["redis"]["replicas"] >= 2
    [(_, _, _, c)] = [x for x in proxy_containers() if x[0].startswith("spotahome/")]
    env = {e["name"]: e for e in c["env"]}
    # The operator names the Sentinel Service rfs-<RedisFailover name>.
    assert env["SENTINEL_PROXY_SENTINEL_ADDRESSES"]["value"] == \
        f"rfs-{rf['metadata']['name']}:26379"
    ref = env["SENTINEL_PROXY_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == rf["spec"]["auth"]["secretPath"] and ref["key"] == "password"


def test_sidecar_listens_on_loopback_and_the_app_uses_it():
    [(_, _, spec, c)] = [x for x in proxy_containers() if x[0].startswith("sidecar/")]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SENTINEL_PROXY_PROXY_LISTEN"] == "127.0.0.1:6379"
    [app] = [x for x in spec["containers"] if x is not c]
    app_env = {e["name"]: e.get("value") for e in app["env"]}
    assert (app_env["REDIS_HOST"], app_env["REDIS_PORT"]) == ("127.0.0.1", "6379")
    assert "readinessProbe" not in c


def test_statefulset_sentinels_are_the_pods_the_proxy_follows():
    objs = dict(((o["kind"], o["metadata"]["name"]), o) for _, o in example_objects()
                if _.startswith("statefulset/"))
    sts = objs[("StatefulSet", "redis")]
    headless = objs[("Service", sts["spec"]["serviceName"])]
    assert headless["spec"]["clusterIP"] == "None"
    [(_, _, _, c)] = [x for x in proxy_containers() if x[0].startswith("statefulset/")]
    env = {e["name"]: e.get("value") for e in c["env"]}
    want = [f"redis-{i}.{headless['metadata']['name']}:26379"
            for i in range(sts["spec"]["replicas"])]
    assert env["SENTINEL_PROXY_SENTINEL_ADDRESSES"].split(",") == want
    script = objs[("ConfigMap", "redis-scripts")]["data"]["init.sh"]
    out = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr  # at least it parses


@pytest.mark.parametrize("where,name,spec,container",
                         list(proxy_containers()), ids=lambda x: x if isinstance(x, str) else "")
def test_proxy_container_is_hardened_and_configured(where, name, spec, container, tmp_path):
    assert spec["enableServiceLinks"] is False
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "livenessProbe" in container
    # The container's environment (secret refs as a dummy value) is a valid configuration.
    env = {e["name"]: e.get("value", "dummy-secret") for e in container["env"]
           if e["name"].startswith("SENTINEL_PROXY_")}
    proxy = os.environ.get("SP_PROXY_BIN", str(ROOT / "build" / "sentinel-proxy"))
    out = subprocess.run([proxy, "--check-config"], capture_output=True, text=True,
                         timeout=10, env=env)
    assert out.returncode == 0, out.stderr
    assert "dummy-secret" not in out.stdout  # secrets masked
