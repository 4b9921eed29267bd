"""deploy/monitoring/ (issue 14, dashboards and alerts): the PrometheusRule passes
`promtool check rules` and its `promtool test rules` cases, validates against the
Prometheus Operator schema; the Grafana dashboard has a sound structure and PromQL that
promtool parses; and every metric (and label value) either of them names is one a real
running proxy exports on /metrics."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request

import jsonschema
import pytest
import yaml

from test_deploy_files import DEPLOY, ROOT, node_modules, validate_objects  # noqa: F401

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402

MON = DEPLOY / "monitoring"
RULES = MON / "prometheus-rules.yaml"
DASHBOARD = MON / "grafana-dashboard.json"
METRIC = re.compile(r"\b((?:sentinel_proxy|process)_[a-z_]+)\b(?:\{([^}]*)\})?")


def promtool():
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is missing: apt-get install prometheus (deploy/install-deps.sh test)")
    return path


def rule_object():
    return yaml.safe_load(RULES.read_text())


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs():
    d = dashboard()
    exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
    exprs += [a["expr"] for a in d["annotations"]["list"] if "expr" in a]
    return exprs


def rule_exprs():
    return [r["expr"] for g in rule_object()["spec"]["groups"] for r in g["rules"]]


def concrete(expr: str) -> str:
    """Grafana's variables replaced as Grafana would, so promtool can parse the query."""
    return expr.replace("$__rate_interval", "5m").replace("$namespace", ".*") \
        .replace("$pod", ".*").replace("$pool", ".*")


def test_rules_pass_promtool_check_and_tests(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_object()["spec"]))
    shutil.copy(MON / "prometheus-rules.test.yaml", tmp_path / "tests.yaml")
    check = subprocess.run([promtool(), "check", "rules", "rules.yaml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 8 rules found" in check.stdout, \
        check.stdout + check.stderr
    test = subprocess.run([promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stdout + test.stderr


def test_rules_cover_the_issue_alerts():
    names = {r["alert"] for g in rule_object()["spec"]["groups"] for r in g["rules"]}
    assert {"SentinelProxyNoVerifiedMaster", "SentinelProxyCommandsFailing",
            "SentinelProxySentinelsDown", "SentinelProxyHoldTimeHigh",
            "SentinelProxyFdNearLimit"} <= names
    for g in rule_object()["spec"]["groups"]:
        for r in g["rules"]:
            assert r["labels"]["severity"] in ("warning", "critical")
            assert r["annotations"]["summary"] and r["annotations"]["description"]


def test_prometheus_rule_validates(node_modules):  # noqa: F811
    [result] = validate_objects(node_modules, [rule_object()])
    assert result["ok"], result


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {
            "type": "array", "items": {"type": "object", "required": ["name", "type"]}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
            "properties": {
                "type": {"enum": ["timeseries", "stat", "state-timeline", "gauge", "table"]},
                "gridPos": {"type": "object", "required": ["x", "y", "w", "h"], "properties": {
                    "x": {"type": "integer", "minimum": 0, "maximum": 23},
                    "w": {"type": "integer", "minimum": 1, "maximum": 24}}},
                "datasource": {"const": {"type": "prometheus", "uid": "${datasource}"}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["refId", "expr"],
                    "properties": {"expr": {"type": "string", "minLength": 1}}}},
            }}},
    },
}


def test_dashboard_structure():
    d = dashboard()
    jsonschema.validate(d, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"panel {p['title']} overlaps another"
        cells |= mine
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
    variables = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "namespace", "pod", "pool"} <= variables
    used = set(re.findall(r"\$(\w+)", json.dumps(d))) - {"__rate_interval", "__all", "labels", "value"}
    assert used <= variables, used - variables


def test_dashboard_queries_parse(tmp_path):
    """promtool parses PromQL only in rules files: each query becomes a recording rule."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": concrete(e)}
        for i, e in enumerate(dashboard_exprs())]}]}
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool(), "check", "rules", "queries.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """/metrics of a real proxy in front of a real topology, after some traffic."""
    root = tmp_path_factory.mktemp("monitoring")
    topo = harness.Topology(root)
    proxy = None
    try:
        topo.start()
        admin = harness.free_port()
        proxy = harness.Proxy(root, topo.sentinel_ports, ["--admin-listen", f"127.0.0.1:{admin}"])
        proxy.start()
        proxy.wait_writable()
        proxy.client().set("sp:monitoring", "1")
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        if proxy:
            proxy.stop()
        topo.stop()
    series: dict[str, list[dict]] = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            series.setdefault(m.group(1), []).append(labels)
    return series


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_referenced_metric_is_exported(scraped, source):
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    seen = set()
    for expr in exprs:
        for name, matchers in METRIC.findall(expr):
            seen.add(name)
            assert name in scraped, f"{source}: {name} is not on /metrics ({expr})"
            # Each label="value" matcher names a value the proxy really exports.
            for label, value in re.findall(r'(\w+)="([^"$]*)"', matchers):
                assert any(s.get(label) == value for s in scraped[name]), \
                    f"{source}: {name}{{{label}=\"{value}\"}} is not on /metrics"
    assert len(seen) >= 6, seen
