"""Edge-bundle objects are checked against the Kubernetes schema of their kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_edge.specs.bundle import load_bundle
from gitops_edge.specs.kubeschema import schema_findings, validator_for


def _cm(data: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": data}


def test_a_number_in_configmap_data_is_flagged_with_its_field() -> None:
    ((field, message),) = schema_findings(_cm({"a": 1, "b": "ok"}))
    assert field == "data.a"
    assert message.startswith("must be a string, got a number 1; quote it")
    assert "ConfigMap" in message
    assert schema_findings(_cm({"a": "1"})) == []


def test_unknown_and_mistyped_fields_of_a_deployment() -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "a"},
        "spec": {
            "replica": 1,
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]},
            },
        },
    }
    found = dict(schema_findings(body))
    assert "did you mean 'replicas'?" in found["spec.replica"]
    port = "spec.template.spec.containers[0].ports[0].containerPort"
    assert found[port].startswith("must be an integer, got a string '80'")


def test_missing_required_field() -> None:
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "a"},
    }
    assert [f for f, _ in schema_findings(body)] == ["roleRef"]


def test_kinds_without_a_schema_are_not_checked() -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"}}
    assert validator_for("argoproj.io/v1alpha1", "Application") is None
    assert schema_findings({**app, "spec": {"anything": 1}}) == []


@pytest.mark.parametrize("where", ["edge-bundle/cm.yaml", "provinces/gd/edge/cm.yaml"])
def test_bundle_load_reports_file_field_and_line(tmp_path: Path, where: str) -> None:
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 1\n")
    bundle = load_bundle(tmp_path, [("gd", "provinces/gd")])
    problems = [*bundle.problems, *bundle.site_problems.get("gd", ())]
    assert [(p.file, p.field, p.line, p.column) for p in problems] == [(where, "data.a", 6, 3)]


def test_a_field_reported_by_the_bundle_rules_is_not_reported_twice(tmp_path: Path) -> None:
    (tmp_path / "edge-bundle").mkdir()
    (tmp_path / "edge-bundle" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {a: 1}\ndata: {a: b}\n"
    )
    bundle = load_bundle(tmp_path, [])
    assert [p.field for p in bundle.problems] == ["metadata.labels"]
