"""Argo CD Applications for the site's Argo CD."""

from __future__ import annotations

from typing import Any

from gitops_edge.render.argocd import application_objects

from .helpers import APP, RepoFactory, context, only_site, site_spec


def apps(
    make_repo: RepoFactory, settings: dict[str, Any] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    repo = make_repo({"gd": site_spec(**kw)}, settings=settings)
    return application_objects(only_site(repo), context(repo))


def test_application_in_site_namespace_with_default_server(make_repo: RepoFactory) -> None:
    (app,) = apps(make_repo)
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["metadata"]["name"] == "panji-base"
    assert app["metadata"]["namespace"] == "edge-gd"
    assert app["metadata"]["labels"]["gitops-edge.io/component"] == "application"
    assert app["spec"] == {
        "project": "default",
        "source": APP["source"],
        "destination": {"server": "https://192.168.0.1:6443", "namespace": "panji"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    }


def test_server_follows_eggo_endpoint_rules(make_repo: RepoFactory) -> None:
    spec = site_spec()
    spec["eggo"]["apiserver-endpoint"] = "k8s.gd.example:8443"
    (app,) = apps(make_repo, eggo=spec["eggo"])
    assert app["spec"]["destination"]["server"] == "https://k8s.gd.example:8443"
    spec = site_spec()
    spec["eggo"]["loadbalance"] = {
        "name": "lb",
        "ip": "192.168.0.100",
        "port": 22,
        "bind-port": 8443,
    }
    (app,) = apps(make_repo, eggo=spec["eggo"])
    assert app["spec"]["destination"]["server"] == "https://192.168.0.100:8443"


def test_in_cluster_without_eggo_and_settings_project(make_repo: RepoFactory) -> None:
    (app,) = apps(make_repo, settings={"argocd": {"project": "edge"}}, eggo=None, sshKeySecret=None)
    assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"
    assert app["spec"]["project"] == "edge"


def test_destination_name_and_passthrough(make_repo: RepoFactory) -> None:
    app_in: dict[str, Any] = {
        "name": "two",
        "project": "ops",
        "sources": [
            {"repoURL": "https://git.example/a.git", "path": "a"},
            {
                "repoURL": "https://charts.example",
                "chart": "b",
                "targetRevision": "1.2.3",
                "helm": {"valueFiles": ["$values/v.yaml"]},
            },
        ],
        "destination": {"name": "in-province", "server": "https://ignored", "namespace": "x"},
        "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        "ignoreDifferences": [
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
        ],
        "revisionHistoryLimit": 3,
    }
    (app,) = apps(make_repo, applications=[app_in])
    spec = app["spec"]
    assert spec["project"] == "ops"
    assert spec["destination"] == {"name": "in-province", "namespace": "x"}
    assert spec["sources"] == app_in["sources"]
    assert spec["syncPolicy"] == {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
    assert spec["ignoreDifferences"] == app_in["ignoreDifferences"]
    assert spec["revisionHistoryLimit"] == 3
    assert "source" not in spec
