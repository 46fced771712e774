"""federation/: policies checked against the fields the Karmada CRDs define, templates as manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_edge.federation.documents import load_federation
from gitops_edge.federation.schema import POLICY_KINDS, policy_schema, unknown_fields
from gitops_edge.specs.repo import load_repo
from tests.federation.reference import served_version

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"


def _paths(schema: dict[str, Any], path: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {path: schema.get("type")}
    for key, sub in (schema.get("properties") or {}).items():
        out.update(_paths(sub, f"{path}.{key}"))
    if isinstance(schema.get("items"), dict):
        out.update(_paths(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        out.update(_paths(schema["additionalProperties"], f"{path}{{}}"))
    return out


@pytest.mark.parametrize("kind", sorted(POLICY_KINDS))
def test_code_schema_is_a_subset_of_the_reference_crd(kind: str) -> None:
    """Nothing accepted here would be pruned by karmada-apiserver, types included."""
    _, upstream = served_version(kind)
    ours = _paths(policy_schema(kind)["properties"]["spec"], "spec")
    theirs = _paths(upstream["properties"]["spec"], "spec")
    missing = sorted(p for p in ours if p not in theirs)
    assert not missing, f"not in the {kind} CRD: {missing}"
    wrong = sorted(p for p, t in ours.items() if t is not None and theirs[p] != t)
    assert not wrong, f"types differ from the {kind} CRD: {wrong}"


def test_sample_federation_is_valid_against_the_code_and_the_reference_schemas() -> None:
    docs = load_federation(SAMPLE)
    assert docs.complete and not docs.problems
    assert {d.kind for d in docs.policies} == {"PropagationPolicy", "OverridePolicy"}
    assert [d.kind for d in docs.templates] == ["Namespace", "DaemonSet"]
    for doc in docs.policies:
        _, upstream = served_version(doc.kind)
        assert list(unknown_fields(doc.body, upstream)) == []


def _repo(tmp_path: Path, text: str) -> Path:
    (tmp_path / "federation").mkdir()
    (tmp_path / "federation" / "app.yaml").write_text(text)
    return tmp_path


POLICY = """\
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: apps}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement:
"""


@pytest.mark.parametrize(
    ("tail", "field", "needle"),
    [
        ("    clusterToleration: []\n", "spec.placement.clusterToleration", "would prune"),
        (
            "    spreadConstraints: [{maxGroups: two}]\n",
            "spec.placement.spreadConstraints[0].maxGroups",
            "must be an integer",
        ),
        (
            "    clusterAffinity: {clusterNames: gd}\n",
            "spec.placement.clusterAffinity.clusterNames",
            "must be an array",
        ),
        ("    failover: {}\n", "spec.placement.failover", "would prune"),
    ],
)
def test_unknown_or_mistyped_policy_fields_name_file_field_and_line(
    tmp_path: Path, tail: str, field: str, needle: str
) -> None:
    docs = load_federation(_repo(tmp_path, POLICY + tail))
    assert not docs.complete and not docs.policies
    (p,) = docs.problems
    assert (p.file, p.field) == ("federation/app.yaml", field)
    assert needle in p.message and p.line == 7


def test_the_same_check_against_the_upstream_crd_agrees(tmp_path: Path) -> None:
    docs = load_federation(_repo(tmp_path, POLICY + "    clusterToleration: []\n"))
    _, upstream = served_version("PropagationPolicy")
    body = {"spec": {"placement": {"clusterToleration": []}}}
    assert [f for f, _ in unknown_fields(body, upstream)] == ["spec.placement.clusterToleration"]
    assert docs.problems[0].field == "spec.placement.clusterToleration"


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        (POLICY.replace(", namespace: apps", "") + "    {}\n", "metadata.namespace", "namespaced"),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\n", "kind", "Secrets"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {}\n",
            "metadata.namespace",
            "required",
        ),
        (
            "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w, namespace: a}\n",
            "kind",
            "not a kind",
        ),
        (
            "apiVersion: policy.karmada.io/v1alpha1\nkind: FederatedHPA\nmetadata: {name: h}\n",
            "kind",
            "not a Karmada policy",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {k: 1}\n",
            "data.k",
            "",
        ),
    ],
)
def test_bad_documents(tmp_path: Path, text: str, field: str, needle: str) -> None:
    docs = load_federation(_repo(tmp_path, text))
    assert any(p.field == field and needle in p.message for p in docs.problems), docs.problems


def test_duplicates_and_broken_yaml_are_problems_not_deletions(tmp_path: Path) -> None:
    root = _repo(tmp_path, POLICY + "    {}\n---\n" + POLICY + "    {}\n")
    (root / "federation" / "bad.yaml").write_text("a: [\n")
    docs = load_federation(root)
    assert not docs.complete
    assert len(docs.policies) == 1  # the first definition is kept
    assert {p.file for p in docs.problems} == {"federation/app.yaml", "federation/bad.yaml"}


def test_validate_reports_federation_problems_as_repo_problems(tmp_path: Path) -> None:
    root = _repo(tmp_path, POLICY + "    clusterToleration: []\n")
    repo = load_repo(root)
    found = [p for p in repo.problems if p.file == "federation/app.yaml"]
    assert [(p.field, p.line) for p in found] == [("spec.placement.clusterToleration", 7)]


def test_a_symlinked_federation_directory_is_a_problem_not_an_empty_federation(
    tmp_path: Path,
) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "app.yaml").write_text(POLICY + "    {}\n")
    (tmp_path / "federation").symlink_to(real)
    docs = load_federation(tmp_path)
    assert not docs.complete
    assert [p.file for p in docs.problems] == ["federation"]
