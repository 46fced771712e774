"""``plan`` and ``status`` with federation enabled: their federation section, as a user runs them.

Subprocesses against the two API test servers. Guangdong is registered and Ready;
sichuan's eggo deploy succeeded and it is not registered yet. ``federation/`` is the
sample (a DaemonSet, its PropagationPolicy, an OverridePolicy); karmada-apiserver
also holds a ConfigMap gitops-edge applied earlier that is no longer in ``federation/``.
``plan`` shows what a pass would do and writes nothing; ``status`` shows registration
and the ResourceBinding per cluster.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.render.context import RenderContext
from gitops_edge.render.eggo_job import DEPLOY, eggo_run_objects
from gitops_edge.specs.repo import load_repo
from tests.builders import province, write_settings, write_site
from tests.e2e.cli import run_cli
from tests.federation.reference import karmada_secret
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import node

pytestmark = pytest.mark.kubeapi

SAMPLE_FEDERATION = Path(__file__).resolve().parents[2] / "sample-repo" / "federation"
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": "r/karmadactl:v1.18.2",
}


@pytest.fixture
def fleet(tmp_path: Path, kube_api: KubeAPIServer, karmada_api: KubeAPIServer) -> Path:
    now = datetime.now(UTC).replace(microsecond=0)
    root = tmp_path / "repo"
    root.mkdir()
    write_settings(root, {"federation": {"karmada": KARMADA}})
    for name, wave in (("guangdong", 0), ("sichuan", 1)):
        doc = province(name, edge={"arch": "arm64"}, rollout={"wave": wave})
        doc["metadata"] = {"labels": {"region": "south"}}
        write_site(root, name, doc)
    shutil.copytree(SAMPLE_FEDERATION, root / "federation")
    repo = load_repo(root)
    ctx = RenderContext(settings=repo.settings)
    config = karmada_api.kubeconfig(tmp_path / "karmada.config").read_text()
    kube_api.store.put(karmada_secret(config))
    for name in ("guangdong", "sichuan"):
        site = repo.site(name)
        assert site is not None and site.valid
        cm, job = eggo_run_objects(site, ctx, DEPLOY)
        job["metadata"]["creationTimestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        kube_api.store.seed([cm, job])
        kube_api.store.put(node(f"{name}-edge", site=name, arch="arm64", now=now))
    karmada_api.store.put(
        {
            "apiVersion": "cluster.karmada.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "guangdong"},
            "spec": {"syncMode": "Pull"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    karmada_api.store.put(
        {
            "apiVersion": "work.karmada.io/v1alpha2",
            "kind": "ResourceBinding",
            "metadata": {"name": "node-exporter-daemonset", "namespace": "monitoring"},
            "spec": {"clusters": [{"name": "guangdong"}]},
            "status": {
                "aggregatedStatus": [
                    {"clusterName": "guangdong", "applied": True, "health": "Healthy"}
                ]
            },
        }
    )
    karmada_api.store.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "old-dashboard",
                "namespace": "monitoring",
                "labels": {
                    "app.kubernetes.io/managed-by": "gitops-edge",
                    "gitops-edge.io/federation": "resource",
                },
            },
            "data": {"k": "v"},
        }
    )
    return root


def _cli(*args: Any) -> str:
    cp = run_cli(*args)
    assert cp.returncode in (0, 2), cp.stderr
    return cp.stdout


def test_plan_shows_what_federation_would_change_and_writes_nothing(
    fleet: Path, kube_api_kubeconfig: Path, karmada_api: KubeAPIServer
) -> None:
    before = karmada_api.store.list("policy.karmada.io/v1alpha1", "PropagationPolicy")
    text = _cli("plan", fleet, "--kubeconfig", kube_api_kubeconfig, "--no-diff", "-q")
    section = text[text.index("federation (karmada-apiserver):") :]
    assert "guangdong: karmada registered (Ready); labels to apply" in section
    assert "sichuan: karmada to register: would create Job karmada-register-" in section
    assert "to create PropagationPolicy monitoring/node-exporter" in section
    assert "to create OverridePolicy monitoring/node-exporter-mirror" in section
    assert "would remove ConfigMap monitoring/old-dashboard" in section
    assert "DaemonSet monitoring/node-exporter via PropagationPolicy node-exporter" in section

    doc = json.loads(_cli("plan", fleet, "--kubeconfig", kube_api_kubeconfig, "-o", "json", "-q"))
    fed = doc["federation"]
    assert fed["dry_run"] is True and fed["stale"] == ["ConfigMap monitoring/old-dashboard"]
    (workload,) = fed["workloads"]
    assert workload["clusters"]["guangdong"] == {
        "scheduled": True,
        "applied": True,
        "health": "Healthy",
    }
    md = _cli("plan", fleet, "--kubeconfig", kube_api_kubeconfig, "-o", "markdown", "-q")
    assert "#### Federation (karmada-apiserver)" in md
    assert "- would remove ConfigMap monitoring/old-dashboard" in md

    # nothing was written: no policy, no labels, the stale object kept, no Job, no token
    assert karmada_api.store.list("policy.karmada.io/v1alpha1", "PropagationPolicy") == before
    cluster = karmada_api.store.get("cluster.karmada.io/v1alpha1", "Cluster", "guangdong")
    assert cluster is not None and not cluster["metadata"].get("labels")
    assert karmada_api.store.get("v1", "ConfigMap", "old-dashboard", "monitoring") is not None
    assert karmada_api.store.list("v1", "Secret", "kube-system") == []


def test_status_shows_registration_and_binding_per_cluster(
    fleet: Path, kube_api_kubeconfig: Path, kube_api: KubeAPIServer
) -> None:
    text = _cli("status", fleet, "--kubeconfig", kube_api_kubeconfig)
    section = text[text.index("federation (karmada-apiserver):") :]
    assert "guangdong: karmada registered (Ready)" in section
    assert "sichuan: karmada to register" in section
    assert (
        "DaemonSet monitoring/node-exporter via PropagationPolicy node-exporter: "
        "guangdong applied/Healthy" in section
    )
    doc = json.loads(_cli("status", fleet, "--kubeconfig", kube_api_kubeconfig, "-o", "json"))
    sites = {s["site"]: s for s in doc["federation"]["sites"]}
    assert sites["guangdong"]["registered"] is True and sites["guangdong"]["ready"] is True
    assert sites["sichuan"]["registered"] is False
    assert doc["sites"]  # the central status is still all there
    assert not [
        j
        for j in kube_api.store.list("batch/v1", "Job")
        if j["metadata"]["name"].startswith("karmada-register")
    ]


def test_without_the_karmada_secret_the_section_says_why(
    fleet: Path, kube_api_kubeconfig: Path, kube_api: KubeAPIServer
) -> None:
    kube_api.store.delete("v1", "Secret", "karmada", "gitops-edge")
    cp = run_cli("status", fleet, "--kubeconfig", kube_api_kubeconfig)
    assert cp.returncode == 0, cp.stderr
    assert "karmada-apiserver cannot be read" in cp.stdout
    assert "create secret generic karmada" in cp.stdout
