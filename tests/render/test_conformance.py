"""Every emitted object against the official schemas, and output hygiene.

Core kinds are validated offline and strictly (unknown fields are errors) with the
Kubernetes JSON schemas bundled in ``kubernetes-validate``; Argo CD Applications and
eggops objects against the CRDs in the shared reference data (skipped when absent),
with unknown fields refused the way the API server would prune them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest
import yaml

from gitops_edge.render.eggo_job import EggoOperation, eggo_run_objects
from gitops_edge.render.output import dump_site
from gitops_edge.render.site import render_repo
from gitops_edge.specs import eggo, k8s
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.province import ProvinceCluster
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import Site

from .helpers import (
    ARGOCD_BUNDLE,
    CRD_GROUPS,
    RepoFactory,
    context,
    core_errors,
    crd_schema,
    group,
    reference,
    site_spec,
    unknown_fields,
)

EXTRA_BUNDLE = """\
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
          containers: [{name: s, image: busybox, command: [sh, -c, "true"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: argocd}
rules: [{apiGroups: [argoproj.io], resources: [applications], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: argocd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: argocd}
subjects: [{kind: ServiceAccount, name: argocd-application-controller}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: eggo-packages}
spec:
  accessModes: [ReadOnlyMany]
  resources: {requests: {storage: 1Gi}}
"""


def fleet(make_repo: RepoFactory, mode: str) -> RepoSpec:
    full = site_spec(edge={"arch": "arm64", "tolerations": [{"key": "edge", "operator": "Exists"}]})
    full["eggo"]["loadbalance"] = {
        "name": "lb1",
        "ip": "192.168.0.9",
        "port": 22,
        "bind-port": 8443,
    }
    full["eggo"]["service"] = {
        "cidr": "10.32.0.0/16",
        "dnsaddr": "10.32.0.10",
        "gateway": "10.32.0.1",
    }
    full["eggo"]["network"] = {
        "podcidr": "10.244.0.0/16",
        "plugin": "calico",
        "pluginargs": {"a": "b"},
    }
    full["applications"].append(
        {
            "name": "multi",
            "sources": [
                {
                    "repoURL": "https://charts.example",
                    "chart": "c",
                    "targetRevision": "1.0.0",
                    "helm": {
                        "valueFiles": ["$values/v.yaml"],
                        "parameters": [{"name": "a", "value": "1"}],
                    },
                },
                {"repoURL": "https://git.example/v.git", "ref": "values"},
            ],
            "destination": {"name": "in-cluster", "namespace": "m"},
            "syncPolicy": {
                "automated": {"prune": True},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 3, "backoff": {"duration": "5s", "factor": 2}},
            },
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
            ],
        }
    )
    plain = site_spec(edge={"nodeName": "hn-edge-01"})
    return make_repo(
        {"gd": full, "hn": plain, "sc/chengdu-1": {"applications": plain["applications"]}},
        settings={"eggo": {"mode": mode, "ttlSecondsAfterFinished": 3600}},
        files={
            "edge-bundle/argocd.yaml": ARGOCD_BUNDLE,
            "provinces/gd/edge/extra.yaml": EXTRA_BUNDLE,
        },
    )


def all_objects(repo: RepoSpec) -> list[dict[str, Any]]:
    result = render_repo(repo, revision="f" * 40)
    assert result.ok, result.problems
    objects = [o for objs in result.objects.values() for o in objs]
    if repo.settings.spec.eggo.mode == "job":
        site = repo.site("hn")
        assert site is not None
        added = {"name": "n3", "ip": "192.168.0.3", "port": 22, "arch": "arm64"}
        spec = site_spec(edge={"nodeName": "hn-edge-01"})
        spec["eggo"]["masters"].append(added)
        joined = fleet_site(repo, spec)
        ctx = context(repo)
        objects += eggo_run_objects(
            joined, ctx, EggoOperation("join", (HostConfig.model_validate(added),))
        )
        objects += eggo_run_objects(
            site, ctx, EggoOperation("delete", (HostConfig.model_validate(added),))
        )
        objects += eggo_run_objects(site, ctx, EggoOperation("cleanup"))
    return objects


def fleet_site(repo: RepoSpec, spec: dict[str, Any]) -> Site:
    site = repo.site("hn")
    assert site is not None
    doc = {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "ProvinceCluster", "spec": spec}
    return replace(site, spec=ProvinceCluster.model_validate(doc))


@pytest.fixture(params=["job", "operator"])
def objects(request: pytest.FixtureRequest, make_repo: RepoFactory) -> list[dict[str, Any]]:
    return all_objects(fleet(make_repo, request.param))


def test_core_kinds_validate_strictly(objects: list[dict[str, Any]]) -> None:
    core = [o for o in objects if group(o) not in CRD_GROUPS]
    assert {o["kind"] for o in core} >= {"Namespace", "Deployment", "ServiceAccount", "CronJob"}
    assert [e for obj in core for e in core_errors(obj)] == []


@pytest.mark.parametrize("crd_group", sorted(CRD_GROUPS))
def test_custom_resources_validate_against_their_crds(
    objects: list[dict[str, Any]], crd_group: str
) -> None:
    path = str(reference(*CRD_GROUPS[crd_group]))
    custom = [o for o in objects if group(o) == crd_group]
    if not custom:
        pytest.skip(f"no {crd_group} objects in this mode")
    for obj in custom:
        schema = crd_schema(path, obj["kind"])
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
        assert not errors, f"{obj['kind']} {obj['metadata']['name']}: {errors[0].message}"
        assert unknown_fields(obj, schema) == [], obj["kind"]


def test_labels_and_names_are_valid(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        meta = obj["metadata"]
        assert k8s.is_dns1123_subdomain(meta["name"]), meta["name"]
        for key, value in meta["labels"].items():
            assert k8s.label_key_error(key) is None and k8s.label_value_error(value) is None
        for key in meta["annotations"]:
            assert k8s.label_key_error(key) is None


def test_no_credentials_anywhere(objects: list[dict[str, Any]]) -> None:
    text = json.dumps(objects).lower()
    assert "password" not in text and "private key" not in text and "username" not in text
    assert not [o for o in objects if o["kind"] == "Secret" and ({"data", "stringData"} & set(o))]


def test_every_deploy_yaml_round_trips_and_passes_eggos_checker(make_repo: RepoFactory) -> None:
    repo = fleet(make_repo, "job")
    found = 0
    for obj in all_objects(repo):
        if obj["kind"] != "ConfigMap" or "deploy.yaml" not in obj.get("data", {}):
            continue
        found += 1
        conf = DeployConfig.model_validate(yaml.safe_load(obj["data"]["deploy.yaml"]))
        assert eggo.check(conf) == []
        assert conf.private_key_path == "/etc/eggo/ssh/ssh-privatekey"
        site = repo.site(obj["metadata"]["labels"]["gitops-edge.io/site"])
        assert site is not None and site.spec is not None and site.spec.spec.eggo is not None
        if obj["metadata"]["labels"]["gitops-edge.io/eggo-operation"] != "join":
            want = site.spec.spec.eggo.model_copy(
                update={"private_key_path": conf.private_key_path}
            )
            assert conf.model_dump() == want.model_dump()
        if "join.yaml" in obj["data"]:
            join = DeployConfig.model_validate(yaml.safe_load(obj["data"]["join.yaml"]))
            assert join.cluster_id == conf.cluster_id and join.masters
    assert found >= 4


def test_render_twice_gives_identical_bytes(make_repo: RepoFactory) -> None:
    for mode in ("job", "operator"):
        repo = fleet(make_repo, mode)
        first = {k: dump_site(v) for k, v in render_repo(repo, revision="a" * 40).objects.items()}
        again = {k: dump_site(v) for k, v in render_repo(repo, revision="a" * 40).objects.items()}
        assert first == again
        assert len(first) == 3
