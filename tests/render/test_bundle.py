"""The edge bundle: safe multi-document loading, refusals, per-site stamping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitops_edge.render.bundle import bundle_objects
from gitops_edge.render.context import RenderError
from gitops_edge.render.site import render_site
from gitops_edge.specs.bundle import parse_documents
from gitops_edge.specs.yamlsafe import Limits, YamlRefused

from .helpers import ARGOCD_BUNDLE, RepoFactory, context, only_site, site_spec, write_repo


def test_parse_documents_skips_empty_and_keeps_order() -> None:
    assert parse_documents("---\na: 1\n---\n---\nb: 2\n...\n") == [{"a": 1}, {"b": 2}]
    assert parse_documents("# nothing\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n---\nb: 1\nb: 2\n", "duplicate key"),
        ("a: [\n", "invalid YAML"),
        ("a: &x [1, 2]\n---\nb: *x\n", "invalid YAML"),  # anchors do not cross documents
        ("a: 1\n---\nb: &y [*y]\n", "nesting deeper"),
    ],
)
def test_parse_documents_refuses_hazards(text: str, message: str) -> None:
    with pytest.raises(YamlRefused, match=message):
        parse_documents(text)


def test_parse_documents_refuses_alias_bombs() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    with pytest.raises(YamlRefused, match="expands to more than"):
        parse_documents("ok: 1\n---\n" + bomb, Limits(max_nodes=5000))


def test_stamped_per_site(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {"gd": site_spec(edge={"arch": "arm64"}), "hn": site_spec(edge={"nodeName": "hn-edge"})},
        files={"edge-bundle/argocd.yaml": ARGOCD_BUNDLE},
    )
    assert not repo.problems
    ctx = context(repo)
    gd, hn = repo.sites
    [(_, sa), (_, deploy)] = bundle_objects(gd, ctx)
    assert sa["kind"] == "ServiceAccount" and sa["metadata"]["namespace"] == "edge-gd"
    labels = deploy["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "argocd-repo-server"
    assert labels["gitops-edge.io/component"] == "edge-bundle"
    assert labels["gitops-edge.io/site"] == "gd"
    pod = deploy["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gitops-edge.io/site": "gd", "kubernetes.io/arch": "arm64"}
    keys = [t["key"] for t in pod["tolerations"]]
    assert keys == [
        "node-role.kubernetes.io/edge",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    ]
    [_, (_, hn_deploy)] = bundle_objects(hn, ctx)
    assert hn_deploy["metadata"]["namespace"] == "edge-hn"
    assert hn_deploy["spec"]["template"]["spec"]["nodeName"] == "hn-edge"
    # the loaded bundle itself is never changed by stamping
    assert "namespace" not in repo.bundle.shared[1].body["metadata"]


def test_cronjob_pod_template_and_rolebinding_subjects(make_repo: RepoFactory) -> None:
    docs = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: sweep}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          nodeSelector: {disk: ssd}
          containers: [{name: s, image: busybox}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: argocd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: argocd}
subjects: [{kind: ServiceAccount, name: argocd}]
"""
    repo = make_repo({"gd": site_spec()}, files={"provinces/gd/edge/extra.yaml": docs})
    objs = dict((o["kind"], o) for _, o in bundle_objects(only_site(repo), context(repo)))
    pod = objs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd", "gitops-edge.io/site": "gd"}
    assert objs["RoleBinding"]["subjects"][0]["namespace"] == "edge-gd"


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", "kind", "cluster-scoped"),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n",
            "kind",
            "cluster-scoped",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: argocd}\n",
            "metadata.namespace",
            "must not be set",
        ),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: dg==}\n", "data", "Secrets"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion", "required"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: X_Y}\n", "metadata.name", "DNS-1123"),
        ("- just\n- a list\n", "", "must be a Kubernetes object"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, resourceVersion: '42'}\n",
            "metadata.resourceVersion",
            "set by the API server",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {when: 2024-01-01}\n",
            "data.when",
            "quote it",
        ),
    ],
)
def test_refused_documents(make_repo: RepoFactory, doc: str, field: str, message: str) -> None:
    shared = make_repo({"gd": site_spec(), "hn": site_spec()}, files={"edge-bundle/x.yaml": doc})
    (problem,) = shared.problems
    assert (problem.file, problem.field) == ("edge-bundle/x.yaml", field)
    assert message in problem.message
    # a broken shared bundle stops every site: never half a bundle
    assert all(not s.valid for s in shared.sites)
    assert all("edge-bundle/ has errors" in str(s.problems) for s in shared.sites)

    own = make_repo({"gd": site_spec(), "hn": site_spec()}, files={"provinces/gd/edge/x.yaml": doc})
    assert not own.problems
    gd, hn = own.sites
    assert not gd.valid and hn.valid
    assert any(p.file == "provinces/gd/edge/x.yaml" and p.field == field for p in gd.problems)


def test_problem_in_multi_document_file_names_the_document(make_repo: RepoFactory) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
    repo = make_repo({"gd": site_spec()}, files={"edge-bundle/x.yaml": doc})
    (problem,) = repo.problems
    assert problem.message.startswith("document 2: ")


def test_duplicates_within_and_across_bundles(make_repo: RepoFactory) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"
    repo = make_repo(
        {"gd": site_spec(), "hn": site_spec()},
        files={"edge-bundle/a.yaml": cm, "provinces/gd/edge/b.yaml": cm},
    )
    gd, hn = repo.sites
    assert not gd.valid and hn.valid
    assert any("also defined in edge-bundle/a.yaml" in p.message for p in gd.problems)
    repo = make_repo({"gd": site_spec()}, files={"edge-bundle/a.yaml": cm + "---\n" + cm})
    assert "also defined in edge-bundle/a.yaml" in repo.problems[0].message


def test_bundle_object_clashing_with_a_rendered_one_is_a_problem(make_repo: RepoFactory) -> None:
    app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: panji-base}\nspec: {}\n"
    repo = make_repo({"gd": site_spec()}, files={"provinces/gd/edge/app.yaml": app})
    with pytest.raises(RenderError) as err:
        render_site(only_site(repo), context(repo))
    (problem,) = err.value.problems
    assert problem.file == "provinces/gd/cluster.yaml"
    assert problem.field == "spec.applications[0]"
    assert "provinces/gd/edge/app.yaml" in problem.message


def test_validate_reports_bundle_problems(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "r",
        {"gd": site_spec()},
        files={"edge-bundle/x.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"},
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "edge-bundle/x.yaml:2:1: kind: Namespace is cluster-scoped" in proc.stdout
