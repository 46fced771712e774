"""render_site / render_repo: whole sites, ordering, per-site isolation."""

from __future__ import annotations

from gitops_edge.render.site import render_repo, render_site

from .helpers import ARGOCD_BUNDLE, RepoFactory, context, only_site, site_spec


def test_site_objects_in_apply_order(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": site_spec()}, files={"edge-bundle/argocd.yaml": ARGOCD_BUNDLE})
    objects = render_site(only_site(repo), context(repo))
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "ServiceAccount", "Deployment", "ConfigMap", "Job", "Application"]
    components = [o["metadata"]["labels"]["gitops-edge.io/component"] for o in objects]
    assert components == [
        "namespace",
        "edge-bundle",
        "edge-bundle",
        "eggo-config",
        "eggo-run",
        "application",
    ]
    for obj in objects:
        assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "gitops-edge"
        assert labels["gitops-edge.io/site"] == "gd"
        annotations = obj["metadata"]["annotations"]
        assert annotations["gitops-edge.io/source-revision"] == "0" * 40
        assert len(annotations["gitops-edge.io/spec-hash"]) == 16
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "edge-gd" and "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] == "edge-gd"


def test_namespace_prefix_from_settings(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": site_spec()}, settings={"namespacePrefix": "prov-"})
    objects = render_site(only_site(repo), context(repo))
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {"prov-gd"}


def test_site_without_eggo_or_apps_is_just_its_namespace(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": {}})
    (ns,) = render_site(only_site(repo), context(repo))
    assert ns["kind"] == "Namespace"


def test_new_commit_keeps_spec_hash_of_unchanged_objects(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": site_spec()})
    site = only_site(repo)
    a = render_repo(repo, revision="a" * 40).objects["gd"]
    b = render_repo(repo, revision="b" * 40).objects["gd"]
    key = "gitops-edge.io/spec-hash"
    assert [o["metadata"]["annotations"][key] for o in a] == [
        o["metadata"]["annotations"][key] for o in b
    ]
    assert b[0]["metadata"]["annotations"]["gitops-edge.io/source-revision"] == "b" * 40
    assert site.valid


def test_repo_render_isolates_bad_sites(make_repo: RepoFactory) -> None:
    long_name = "x" * 48
    repo = make_repo(
        {"gd": site_spec(), "bad": "spec: [\n", long_name: site_spec()},
        settings={"namespacePrefix": "province-edge-abcd-"},
    )
    result = render_repo(repo, revision="r")
    assert list(result.objects) == ["gd"]
    assert set(result.problems) == {"bad", long_name}
    assert "longer than 63" in result.problems[long_name][0].message
    assert not result.ok


def test_repo_render_selected_sites_and_unknown_ids(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": site_spec(), "hn": site_spec(suspend=True)})
    result = render_repo(repo, revision="r", sites=["hn", "nope"])
    assert list(result.objects) == ["hn"]
    assert result.suspended == frozenset({"hn"})
    assert "no site 'nope'" in result.problems["nope"][0].message
