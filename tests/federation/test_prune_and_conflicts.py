"""What federation writes and removes in karmada-apiserver, and what it never touches.

Against the two API test servers over HTTP: applies are never forced (another field
manager's value stays, and the report names that manager); only objects gitops-edge
applied (managed-by label) are removed when they leave ``federation/``, only after a
clean load, and within ``spec.prune.maxDeletions``. On the centre, the planner keeps
the federation Jobs (they carry the managed-by label) and holds an eggo cleanup while
the site is registered.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.federation.documents import load_federation
from gitops_edge.federation.karmada import (
    apply_cluster_labels,
    apply_federation,
    preview_federation,
)
from gitops_edge.federation.prune import remove_stale
from gitops_edge.federation.registration import registration_job
from gitops_edge.federation.unregistration import cleanup_hold
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.snapshot import read_live
from gitops_edge.render.context import RenderContext
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import province, write_settings, write_site
from tests.e2e.cli import run_cli
from tests.federation.reference import karmada_secret
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node, apply, finish_jobs, heal_apps, plan_for
from tests.plan.fleet import site_plan as site

pytestmark = pytest.mark.kubeapi

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo" / "federation"
FAST = RetryPolicy(attempts=2, base=0.01, cap=0.05)
POLICY = "policy.karmada.io/v1alpha1"
PP = ("policy.karmada.io/v1alpha1", "PropagationPolicy", "node-exporter", "monitoring")
WAVES = {"guangdong": 0}


@pytest.fixture
def kube(kube_api: KubeAPIServer, kube_api_kubeconfig: Path) -> KubeClient:
    return connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.01))


@pytest.fixture
def karmada(karmada_api: KubeAPIServer) -> KubeClient:
    return KubeClient(karmada_api.api_client(), retry=FAST)


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE, root / "federation")
    return root


def _drop(root: Path, kind: str) -> None:
    path = root / "federation" / "node-exporter.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] != kind]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def test_a_label_owned_by_another_manager_is_a_reported_conflict(
    karmada: KubeClient, karmada_api: KubeAPIServer
) -> None:
    karmada_api.store.put(
        {
            "apiVersion": "cluster.karmada.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "guangdong"},
            "spec": {"syncMode": "Pull"},
        }
    )
    karmada_api.store.touch(
        "cluster.karmada.io/v1alpha1",
        "Cluster",
        "guangdong",
        patch={"metadata": {"labels": {"region": "north"}}},
        field_manager="kubectl-label",
    )
    result = apply_cluster_labels(karmada, "guangdong", {"site": "guangdong", "region": "south"})
    assert result.outcome.startswith("conflict: ")
    assert "kubectl-label" in result.outcome
    live = karmada_api.store.get("cluster.karmada.io/v1alpha1", "Cluster", "guangdong")
    assert live is not None and live["metadata"]["labels"]["region"] == "north"  # not overwritten


def test_a_policy_field_owned_by_another_manager_is_not_overwritten(
    tmp_path: Path, karmada: KubeClient, karmada_api: KubeAPIServer
) -> None:
    docs = load_federation(_repo(tmp_path))
    assert apply_federation(karmada, docs, WAVES, None).conflicts == []
    karmada_api.store.touch(*PP, patch={"spec": {"priority": 7}}, field_manager="karmadactl")
    mine = tmp_path / "repo" / "federation" / "node-exporter.yaml"
    edited = list(yaml.safe_load_all(mine.read_text()))
    for doc in edited:
        if doc["kind"] == "PropagationPolicy":
            doc["spec"]["priority"] = 3
    mine.write_text(yaml.safe_dump_all(edited, sort_keys=False))
    docs = load_federation(tmp_path / "repo")
    assert docs.complete, docs.problems
    preview = dict(preview_federation(karmada, docs, WAVES, None))
    assert preview["PropagationPolicy monitoring/node-exporter"].startswith("conflict: ")
    result = apply_federation(karmada, docs, WAVES, None)
    (conflict,) = result.conflicts
    assert conflict.startswith("PropagationPolicy monitoring/node-exporter: ")
    assert "karmadactl" in conflict and "not overwritten" in conflict
    assert "DaemonSet monitoring/node-exporter" in result.applied  # the others still went
    live = karmada_api.store.get(*PP)
    assert live is not None and live["spec"]["priority"] == 7


def test_only_what_gitops_edge_applied_is_removed_and_only_from_a_clean_load(
    tmp_path: Path, karmada: KubeClient, karmada_api: KubeAPIServer
) -> None:
    root = _repo(tmp_path)
    apply_federation(karmada, load_federation(root), WAVES, None)
    karmada_api.store.put(
        {
            "apiVersion": POLICY,
            "kind": "OverridePolicy",
            "metadata": {"name": "by-hand", "namespace": "monitoring"},
            "spec": {"resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
        }
    )
    assert remove_stale(karmada, load_federation(root), max_deletions=10).stale == []

    _drop(root, "OverridePolicy")
    _drop(root, "DaemonSet")
    (root / "federation" / "broken.yaml").write_text("kind: [\n")
    broken = load_federation(root)
    assert not broken.complete
    held = remove_stale(karmada, broken, max_deletions=10)
    assert held.removed == [] and "problem" in held.held
    assert karmada_api.store.get(POLICY, "OverridePolicy", "node-exporter-mirror", "monitoring")

    (root / "federation" / "broken.yaml").unlink()
    docs = load_federation(root)
    would = remove_stale(karmada, docs, max_deletions=10, dry_run=True)
    assert would.stale == [
        "DaemonSet monitoring/node-exporter",
        "OverridePolicy monitoring/node-exporter-mirror",
    ]
    assert would.removed == [] and would.lines(dry_run=True)[0].startswith("would remove")
    refused = remove_stale(karmada, docs, max_deletions=2, already=1)
    assert refused.removed == [] and "prune.maxDeletions=2" in refused.held
    assert karmada_api.store.get("apps/v1", "DaemonSet", "node-exporter", "monitoring")

    done = remove_stale(karmada, docs, max_deletions=2)
    assert done.removed == would.stale  # the template first, then the policy
    assert karmada_api.store.get("apps/v1", "DaemonSet", "node-exporter", "monitoring") is None
    assert (
        karmada_api.store.get(POLICY, "OverridePolicy", "node-exporter-mirror", "monitoring")
        is None
    )
    assert karmada_api.store.get(POLICY, "OverridePolicy", "by-hand", "monitoring")  # not ours
    assert karmada_api.store.get(*PP) is not None  # still in federation/


def _cluster() -> dict[str, Any]:
    return {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "gd"},
    }


def test_the_planner_keeps_federation_jobs_and_holds_cleanup_while_registered(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    karmada = {
        "enabled": True,
        "apiServer": "https://karmada.example:5443",
        "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
        "registrationImage": "r/karmadactl:v1.18.2",
    }
    write_settings(tmp_path, {"federation": {"karmada": karmada}})
    write_site(tmp_path, "gd", province("gd", deletionPolicy="Cleanup"))
    write_site(tmp_path, "hb", province("hb"))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hb-edge-01", "hb")
    for _ in range(3):
        apply(tmp_path, kube)
        finish_jobs(kube_api, "edge-gd")
        heal_apps(kube_api, "edge-gd")
    repo = load_repo(tmp_path)
    gd = repo.site("gd")
    assert gd is not None
    job = registration_job(gd, RenderContext(settings=repo.settings, revision="r1"))
    kube_api.store.put(job)

    plan = plan_for(tmp_path, kube)
    kept = [c for c in site(plan, "gd").changes if c.name == job["metadata"]["name"]]
    assert [c.action for c in kept] == ["unchanged"]  # managed-by, but never pruned

    (tmp_path / "provinces" / "gd" / "cluster.yaml").unlink()
    repo = load_repo(tmp_path)
    live = read_live(kube)
    held = plan_against(repo, live, revision="r2", hold_cleanup=lambda s: cleanup_hold(s, _cluster()))
    gone = site(held, "gd")
    assert gone.gate == "blocked" and "still registered with Karmada" in gone.reason
    assert gone.pending() == () and not gone.emits
    free = plan_against(repo, live, revision="r2", hold_cleanup=lambda s: cleanup_hold(s, None))
    assert site(free, "gd").eggo is not None and site(free, "gd").eggo.operation == "cleanup"
    assert [c.kind for c in site(free, "gd").pending()] == ["Job"]


def test_apply_holds_the_cleanup_of_a_registered_site(
    tmp_path: Path,
    kube: KubeClient,
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
    karmada_api: KubeAPIServer,
) -> None:
    """``gitops-edge apply`` (no daemon) asks karmada-apiserver before an eggo cleanup."""
    settings = {
        "enabled": True,
        "apiServer": "https://karmada.example:5443",
        "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
        "registrationImage": "r/karmadactl:v1.18.2",
    }
    write_settings(tmp_path, {"federation": {"karmada": settings}})
    write_site(tmp_path, "gd", province("gd", deletionPolicy="Cleanup"))
    write_site(tmp_path, "hb", province("hb"))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hb-edge-01", "hb")
    config = karmada_api.kubeconfig(tmp_path / "karmada.config").read_text()
    kube_api.store.put(karmada_secret(config))
    for _ in range(3):
        apply(tmp_path, kube)
        finish_jobs(kube_api, "edge-gd")
        heal_apps(kube_api, "edge-gd")
    karmada_api.store.put(_cluster())
    (tmp_path / "provinces" / "gd" / "cluster.yaml").unlink()

    def cleanups() -> list[str]:
        return [
            j["metadata"]["name"]
            for j in kube_api.store.list("batch/v1", "Job", "edge-gd")
            if j["metadata"]["name"].startswith("eggo-cleanup-")
        ]

    args = ("apply", tmp_path, "--emit", "kube", "--kubeconfig", kube_api_kubeconfig, "-q")
    cp = run_cli(*args)
    assert cp.returncode == 0, cp.stderr
    assert "still registered with Karmada" in cp.stdout
    assert cleanups() == []
    planned = run_cli("plan", tmp_path, "--kubeconfig", kube_api_kubeconfig, "-o", "json", "-q")
    doc = json.loads(planned.stdout)
    (gd,) = [s for s in doc["sites"] if s["site"] == "gd"]
    assert gd["gate"] == "blocked" and "still registered with Karmada" in gd["reason"]
    assert doc["federation"]["cleanups_held"] == ["gd"]
    shown = run_cli("status", tmp_path, "--kubeconfig", kube_api_kubeconfig, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    (gd_status,) = [s for s in json.loads(shown.stdout)["sites"] if s["site"] == "gd"]
    assert gd_status["state"] == "removed"
    assert gd_status["gate"] == "blocked"  # status makes the same plan, with the same veto
    karmada_api.store.delete("cluster.karmada.io/v1alpha1", "Cluster", "gd")
    cp = run_cli(*args)
    assert cp.returncode == 0, cp.stderr
    assert len(cleanups()) == 1
