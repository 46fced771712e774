"""deploy/components/monitoring: the alerts fire, speak of real series, and have runbooks.

* ``promtool check rules`` accepts the PrometheusRule's groups and ``promtool test
  rules`` (``tests/ship/promtool/alerts.test.yaml``) fires every alert on synthetic
  series, next to the quiet case that must not fire;
* every series an alert or a dashboard panel queries is one a running daemon's
  ``/metrics`` really has (read over HTTP from :class:`DaemonHTTP` on the daemon's own
  registry), so a renamed metric breaks the test, not the pager;
* each alert's ``runbook_url`` names a heading of docs/operations.md;
* the ServiceMonitor scrapes the Service's ``metrics`` port, never the webhook one.

promtool comes from Debian's ``prometheus`` package (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.daemon.http import DaemonHTTP
from gitops_edge.daemon.sitestate import SiteStates
from gitops_edge.daemon.triggers import TriggerMetrics
from gitops_edge.emit.result import EmitResult
from gitops_edge.observe.metrics import Metrics
from gitops_edge.plan.model import Plan, SitePlan

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy" / "components" / "monitoring"
RULES = COMPONENT / "prometheusrule.yaml"
DASHBOARD = COMPONENT / "dashboard.json"
RULE_TESTS = Path(__file__).parent / "promtool" / "alerts.test.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"
SERIES = re.compile(r"\b((?:gitops_edge|process|python)_[a-z0-9_]+)\b")
PROMETHEUS_OWN = {"up"}
ALERTS_A_1_31_N_OPERATOR_NEEDS = {
    "GitopsEdgeReconcileFailing",
    "GitopsEdgeSiteFailed",
    "GitopsEdgeSiteStuck",
    "GitopsEdgeEdgeOfflineTooLong",
    "GitopsEdgeWaveHalted",
    "GitopsEdgeQueueNotDraining",
    "GitopsEdgeNoLeader",
    "GitopsEdgeGitErrors",
    "GitopsEdgeWebhookRejects",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    return found


def _rule() -> dict[str, Any]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert doc["kind"] == "PrometheusRule"
    return dict(doc)


def _alerts() -> list[dict[str, Any]]:
    return [r for g in _rule()["spec"]["groups"] for r in g["rules"] if "alert" in r]


def _rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "gitops-edge.rules.yaml"
    path.write_text(yaml.safe_dump(_rule()["spec"]), encoding="utf-8")
    return path


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets") or [] if "expr" in t]
    assert exprs
    # Grafana's variables, as Grafana fills them in
    return [e.replace("$__rate_interval", "5m").replace("$namespace", "gitops-edge") for e in exprs]


def test_promtool_check_rules(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(_rules_file(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in proc.stdout


def test_promtool_test_rules_fires_every_alert(tmp_path: Path) -> None:
    _rules_file(tmp_path)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    proc = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]
    }
    quiet = {
        case["alertname"] for t in tests for case in t["alert_rule_test"] if not case["exp_alerts"]
    }
    names = {a["alert"] for a in _alerts()}
    assert fired == names, f"alerts never shown firing: {sorted(names - fired)}"
    assert quiet == names, f"alerts never shown quiet: {sorted(names - quiet)}"


def test_the_alerts_an_operator_needs_are_there() -> None:
    names = {a["alert"] for a in _alerts()}
    assert names >= ALERTS_A_1_31_N_OPERATOR_NEEDS, sorted(ALERTS_A_1_31_N_OPERATOR_NEEDS - names)
    for alert in _alerts():
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_every_alert_has_a_runbook_heading_in_operations_md() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md", url
        assert anchor == alert["alert"].lower(), url
        assert anchor in headings, f"docs/operations.md has no heading for {alert['alert']}"


def _live_series() -> set[str]:
    """Series names on a real /metrics of the daemon's registry, read over HTTP.

    After one reconcile's accounting (labelled series appear with their first value).
    """
    metrics = Metrics(per_site=False)
    TriggerMetrics(metrics.registry)
    plan = Plan("0123abcd", (SitePlan("guangdong", 0, "ready"), SitePlan("xizang", 1, "deferred")))
    SiteStates(metrics).record(plan, EmitResult("kube"), full=True)
    server = DaemonHTTP(
        "127.0.0.1",
        0,
        registry=metrics.registry,
        ready=lambda: True,
        healthy=lambda: True,
        webhook=("127.0.0.1", 0),
    )
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.stop()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_every_series_alerts_and_panels_query_is_exported() -> None:
    live = _live_series()
    queried: dict[str, str] = {}
    for alert in _alerts():
        for name in SERIES.findall(alert["expr"]):
            queried.setdefault(name, alert["alert"])
    for expr in _dashboard_exprs():
        for name in SERIES.findall(expr):
            queried.setdefault(name, "dashboard")
    missing = {name: where for name, where in queried.items() if name not in live}
    assert not missing, f"queried but not exported: {missing}"
    for name in ("process_resident_memory_bytes", "gitops_edge_build_info", "python_info"):
        assert name in live


def test_dashboard_queries_parse_and_cover_the_fleet(tmp_path: Path) -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["uid"] == "gitops-edge"
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource", "namespace"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = _dashboard_exprs()
    joined = "\n".join(exprs)
    for needed in (
        "gitops_edge_sites{",  # fleet by state
        "gitops_edge_wave_sites{",  # ... and wave
        "gitops_edge_reconcile_duration_seconds_bucket",  # latency
        "gitops_edge_queue_depth",
        "gitops_edge_git_errors_total",
        "gitops_edge_emit_errors_total",  # API (sink) errors
        "process_resident_memory_bytes",
    ):
        assert needed in joined, needed
    # promtool parses each query as a recording rule's expression
    groups = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump(groups), encoding="utf-8")
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_service_monitor_scrapes_the_metrics_port_only() -> None:
    from .test_deploy import DEPLOY, kustomize

    objs = kustomize(DEPLOY / "overlays" / "monitoring")
    svc = next(o for o in objs if o["kind"] == "Service")
    monitor = next(o for o in objs if o["kind"] == "ServiceMonitor")
    labels = svc["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert {p["name"] for p in svc["spec"]["ports"]} == {"metrics", "webhook"}
    dashboard = next(
        o for o in objs if o["kind"] == "ConfigMap" and "dashboard" in o["metadata"]["name"]
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["gitops-edge.json"])["uid"] == "gitops-edge"
