"""Fixture ops repos built in tmp_path, and the reference data (skipped when absent)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gitops_edge.render.context import RenderContext
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import Site

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (REPO_ROOT / "../shared/reference").resolve()

# eggo's own config/openEuler.config (openeuler-mirror/eggo cb51e25b), minus username/password.
OPENEULER_EGGO: dict[str, Any] = {
    "cluster-id": "k8s-openeuler",
    "masters": [{"name": "openeuler1", "ip": "192.168.0.1", "port": 22, "arch": "arm64"}],
    "workers": [
        {"name": "openeuler1", "ip": "192.168.0.1", "port": 22, "arch": "arm64"},
        {"name": "openeuler2", "ip": "192.168.0.2", "port": 22, "arch": "arm64"},
    ],
    "runtime": "iSulad",
    "runtime-endpoint": "unix:///var/run/isulad.sock",
    "open-ports": {"worker": [{"port": 111, "protocol": "tcp"}, {"port": 179, "protocol": "tcp"}]},
    "install": {
        "package-source": {
            "type": "tar.gz",
            "dstpath": "",
            "srcpath": {
                "arm64": "/root/packages/packages-arm64.tar.gz",
                "amd64": "/root/packages/packages-amd64.tar.gz",
            },
        },
        "container": [{"name": "iSulad", "type": "repo"}],
        "image": [{"name": "images.tar", "type": "image"}],
        "dns": [{"name": "coredns", "type": "pkg"}],
        "addition": {"master": [{"name": "calico.yaml", "type": "yaml"}]},
    },
}

APP: dict[str, Any] = {
    "name": "panji-base",
    "source": {
        "repoURL": "https://git.example/ops.git",
        "path": "apps/base",
        "targetRevision": "main",
    },
    "destination": {"namespace": "panji"},
    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
}

ARGOCD_BUNDLE = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-application-controller
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
  labels: {app.kubernetes.io/name: argocd-repo-server}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: argocd-repo-server}
  template:
    metadata:
      labels: {app.kubernetes.io/name: argocd-repo-server}
    spec:
      tolerations:
      - {key: node-role.kubernetes.io/edge, operator: Exists, effect: NoSchedule}
      containers:
      - name: repo-server
        image: quay.io/argoproj/argocd:v3.0.0
"""


def site_spec(**overrides: Any) -> dict[str, Any]:
    """A ProvinceCluster ``spec`` with an eggo cluster and one Application."""
    spec: dict[str, Any] = {
        "eggo": copy.deepcopy(OPENEULER_EGGO),
        "sshKeySecret": "eggo-ssh",
        "applications": [copy.deepcopy(APP)],
    }
    spec.update(overrides)
    return spec


def cluster_doc(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "ProvinceCluster", "spec": spec}


def write_repo(
    root: Path,
    sites: dict[str, dict[str, Any] | str],
    *,
    settings: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """An ops repo: ``sites`` maps a dir below provinces/ to a spec (or raw file text)."""
    root.mkdir(parents=True, exist_ok=True)
    sites = distinct(sites)
    for rel, spec in sites.items():
        path = root / "provinces" / rel / "cluster.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = spec if isinstance(spec, str) else yaml.safe_dump(cluster_doc(spec), sort_keys=False)
        path.write_text(text)
    if settings is not None:
        doc = {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "OpsRepo", "spec": settings}
        (root / "gitops-edge.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def distinct(sites: dict[str, dict[str, Any] | str]) -> dict[str, dict[str, Any] | str]:
    """Sites built from one spec, each given its own cluster id and host IPs.

    Two sites may not share a cluster id or a machine (the fleet is checked as a
    whole); a later site that would is moved to ``<id>-<n>`` and the next /24s.
    """
    seen_ids: set[str] = set()
    seen_ips: set[str] = set()
    out: dict[str, dict[str, Any] | str] = {}
    for n, (rel, spec) in enumerate(sites.items()):
        eggo = spec.get("eggo") if isinstance(spec, dict) else None
        if not isinstance(eggo, dict):
            out[rel] = spec
            continue
        hosts = [h for role in ("masters", "workers", "etcds") for h in eggo.get(role) or []]
        ips = {h.get("ip") for h in hosts if isinstance(h, dict)}
        if eggo.get("cluster-id") in seen_ids or ips & seen_ips:
            assert isinstance(spec, dict)
            spec = copy.deepcopy(spec)
            eggo = spec["eggo"]
            eggo["cluster-id"] = f"{eggo['cluster-id']}-{n}"
            for role in ("masters", "workers", "etcds"):
                for h in eggo.get(role) or []:
                    a, b, c, d = h["ip"].split(".")
                    h["ip"] = f"{a}.{b}.{(int(c) + n) % 250}.{d}"
            lb = eggo.get("loadbalance") or {}
            if lb.get("ip"):
                a, b, c, d = lb["ip"].split(".")
                lb["ip"] = f"{a}.{b}.{(int(c) + n) % 250}.{d}"
            ips = {h["ip"] for role in ("masters", "workers", "etcds") for h in eggo.get(role) or []}
        seen_ids.add(eggo.get("cluster-id"))
        seen_ips |= ips
        out[rel] = spec
    return out


RepoFactory = Callable[..., RepoSpec]


def only_site(repo: RepoSpec) -> Site:
    assert repo.sites, "no site loaded"
    site = repo.sites[0]
    assert site.valid, [str(p) for p in site.problems]
    return site


def context(repo: RepoSpec, revision: str = "0" * 40) -> RenderContext:
    return RenderContext(repo.settings, revision, repo.bundle)


def reference(*parts: str) -> Path:
    """A file of the shared reference data, or skip the test when it is not there."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (expected next to the repository)")
    return path


K8S_VERSION = "1.33.0"
"""A recent Kubernetes release among the schemas bundled with kubernetes-validate."""

CRD_GROUPS = {
    "argoproj.io": ("argocd", "application-crd.yaml"),
    "eggo.isula.org": ("eggo", "eggops.yaml"),
}


def core_errors(obj: dict[str, Any]) -> list[str]:
    """Strict (unknown fields are errors) validation against the official schemas, offline."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{obj['kind']} {obj['metadata']['name']}: {exc.message}"]
    return []


def group(obj: dict[str, Any]) -> str:
    api = str(obj["apiVersion"])
    return api.split("/")[0] if "/" in api else ""


@functools.cache
def crd_schema(path: str, kind: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(Path(path).read_text()):
        if (
            doc
            and doc.get("kind") == "CustomResourceDefinition"
            and doc["spec"]["names"]["kind"] == kind
        ):
            (version,) = [v for v in doc["spec"]["versions"] if v["served"]]
            schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no CRD for {kind} in {path}")


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune: what a misspelt key silently becomes."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            if props is not None and key in props:
                out += unknown_fields(child, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += unknown_fields(child, extra, f"{path}.{key}")
            elif props is not None and not (
                path == "" and key in ("apiVersion", "kind", "metadata")
            ):
                out.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, child in enumerate(value):
            out += unknown_fields(child, schema["items"], f"{path}[{i}]")
    return out
