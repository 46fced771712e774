"""Plan and apply against the Kubernetes API test server, through the real client over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_edge.emit.kubesink import KubeSink
from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import read_live
from gitops_edge.render.eggo_job import eggo_argv
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import eggo_spec, province, write_settings, write_site
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node, apply, bring_online, finish_jobs, heal_apps, plan_for
from tests.plan.fleet import site_plan as site

pytestmark = pytest.mark.kubeapi


def converge(root: Path, kube: KubeClient, kube_api: KubeAPIServer, namespace: str) -> None:
    """Apply, let the Job finish and the apps heal, until the plan is quiet."""
    for _ in range(4):
        apply(root, kube)
        finish_jobs(kube_api, namespace)
        heal_apps(kube_api, namespace)
        if not plan_for(root, kube).has_changes:
            return
    raise AssertionError("did not converge")


@pytest.fixture
def repo(tmp_path: Path, kube_api: KubeAPIServer) -> Path:
    write_site(tmp_path, "gd", province("gd"))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    return tmp_path


def with_workers(root: Path, workers: list[dict[str, Any]]) -> None:
    spec = eggo_spec("gd-paas")
    spec["workers"] = workers
    write_site(root, "gd", province("gd", eggo=spec))


def test_new_site_plans_create_and_eggo_deploy(repo: Path, kube: KubeClient) -> None:
    s = site(plan_for(repo, kube), "gd")
    assert s.gate == "ready"
    assert s.eggo is not None and s.eggo.operation == "deploy"
    kinds = {c.kind for c in s.changes if c.action == "create"}
    assert {"Namespace", "ConfigMap", "Job", "Application"} <= kinds


def test_apply_then_plan_is_idempotent(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    again = plan_for(repo, kube)
    assert not again.has_changes
    s = site(again, "gd")
    assert s.done
    writes = kube_api.requests.count(method="PATCH")
    KubeSink(kube).emit(again)
    assert kube_api.requests.count(method="PATCH") == writes


def test_added_worker_plans_join_and_removed_plans_delete(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    base = eggo_spec()["workers"]
    w2 = {"name": "w2", "ip": "10.20.0.22", "port": 22, "arch": "arm64"}
    with_workers(repo, [*base, w2])
    s = site(plan_for(repo, kube), "gd")
    assert s.eggo is not None and s.eggo.operation == "join"
    job = next(c for c in s.changes if c.kind == "Job" and c.action == "create")
    assert job.desired is not None
    assert eggo_argv(job.desired["spec"]["template"]["spec"]["containers"][0]["command"])[:2] == [
        "eggo",
        "join",
    ]
    converge(repo, kube, kube_api, "edge-gd")
    with_workers(repo, base)
    s = site(plan_for(repo, kube), "gd")
    assert s.eggo is not None and s.eggo.operation == "delete"
    job = next(c for c in s.changes if c.kind == "Job" and c.action == "create")
    assert job.desired is not None
    assert eggo_argv(job.desired["spec"]["template"]["spec"]["containers"][0]["command"])[-1] == "10.20.0.22"
    # the deploy and join runs stay as records
    assert not any(c.action == "delete" for c in s.changes)


def test_cidr_change_is_blocked_until_allowed(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    spec = eggo_spec("gd-paas")
    spec["network"] = {"podcidr": "10.100.0.0/16", "plugin": "calico"}
    write_site(repo, "gd", province("gd", eggo=spec))
    s = site(plan_for(repo, kube), "gd")
    assert s.gate == "blocked"
    assert "network" in s.reason and "allowRebuild" in s.reason
    write_site(repo, "gd", province("gd", eggo=spec, allowRebuild=True))
    s = site(plan_for(repo, kube), "gd")
    assert s.gate == "ready"
    assert s.eggo is not None and s.eggo.operation == "cleanup"


def test_offline_site_is_deferred_until_its_lease_renews(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_site(tmp_path, "gd", province("gd"))
    write_site(tmp_path, "hb", province("hb", eggo=eggo_spec("hb-paas", net=30)))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hb-edge-01", "hb", online=False)
    plan = apply(tmp_path, kube)
    hb = site(plan, "hb")
    assert hb.gate == "deferred"
    assert "hb-edge-01 offline since" in hb.reason
    assert kube_api.store.list("v1", "Namespace") and not any(
        n["metadata"]["name"] == "edge-hb" for n in kube_api.store.list("v1", "Namespace")
    )
    assert site(plan, "gd").gate == "ready"
    bring_online(kube_api, "hb-edge-01")
    plan = apply(tmp_path, kube)
    assert site(plan, "hb").gate == "ready"
    assert kube_api.store.get("v1", "Namespace", "edge-hb") is not None


def test_no_edge_node_defers(tmp_path: Path, kube: KubeClient) -> None:
    write_site(tmp_path, "gd", province("gd"))
    s = site(plan_for(tmp_path, kube), "gd")
    assert s.gate == "deferred"
    assert "no edge node matches" in s.reason


def test_arch_mismatch_blocks(tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer) -> None:
    write_site(tmp_path, "gd", province("gd", edge={"arch": "amd64"}))
    add_edge_node(kube_api, "gd-edge-01", "gd", arch="arm64")
    s = site(plan_for(tmp_path, kube), "gd")
    assert s.gate == "blocked"
    assert "arm64" in s.reason and "amd64" in s.reason


def test_broken_file_plans_zero_deletions(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    (repo / "provinces" / "gd" / "cluster.yaml").write_text("spec: [unclosed\n")
    plan = plan_for(repo, kube)
    assert site(plan, "gd").gate == "invalid"
    assert plan.deletions() == 0
    result = KubeSink(kube).emit(plan)
    assert result.deleted == 0
    assert kube_api.store.get("v1", "Namespace", "edge-gd") is not None


def test_broken_settings_file_plans_zero_deletions(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    (repo / "gitops-edge.yaml").write_text(
        "kind: OpsRepo\napiVersion: gitops-edge.io/v1alpha1\nspec: {prune: 3}\n"
    )
    plan = plan_for(repo, kube)
    assert plan.deletions() == 0


def test_removed_site_is_pruned_and_run_over_limit_is_refused(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    converge(repo, kube, kube_api, "edge-gd")
    write_site(repo, "hb", province("hb"))  # a repo with no site left is broken, not empty
    write_settings(repo, {"prune": {"maxDeletions": 2}})
    (repo / "provinces" / "gd" / "cluster.yaml").unlink()
    (repo / "provinces" / "gd").rmdir()
    plan = plan_for(repo, kube)
    assert site(plan, "gd").gate == "removed"
    assert plan.refused and "maxDeletions=2" in plan.refused
    result = KubeSink(kube).emit(plan)
    assert result.refused and result.deleted == 0
    assert kube_api.store.get("v1", "Namespace", "edge-gd") is not None
    write_settings(repo, {"prune": {"maxDeletions": 100}})
    apply(repo, kube)
    assert kube_api.store.get("v1", "Namespace", "edge-gd") is None


def test_removed_site_with_cleanup_runs_eggo_cleanup_first(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_site(repo, "gd", province("gd", deletionPolicy="Cleanup"))
    converge(repo, kube, kube_api, "edge-gd")
    write_site(repo, "hb", province("hb"))
    (repo / "provinces" / "gd" / "cluster.yaml").unlink()
    plan = apply(repo, kube)
    s = site(plan, "gd")
    assert s.eggo is not None and s.eggo.operation == "cleanup"
    assert kube_api.store.get("v1", "Namespace", "edge-gd") is not None
    cleanup = [
        j
        for j in kube_api.store.list("batch/v1", "Job", "edge-gd")
        if "cleanup" in j["metadata"]["name"]
    ]
    assert cleanup and eggo_argv(cleanup[0]["spec"]["template"]["spec"]["containers"][0]["command"]) == [
        "eggo",
        "cleanup",
        "--id",
        "gd-paas",
    ]
    finish_jobs(kube_api, "edge-gd")
    apply(repo, kube)
    assert kube_api.store.get("v1", "Namespace", "edge-gd") is None


def test_failed_run_is_reported_not_retried(
    repo: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    apply(repo, kube)
    finish_jobs(kube_api, "edge-gd", outcome="Failed")
    s = site(plan_for(repo, kube), "gd")
    assert s.eggo is not None and s.eggo.operation == "failed"
    assert "BackoffLimitExceeded" in s.eggo.detail
    assert not any(c.kind == "Job" and c.action == "create" for c in s.changes)
    assert s.failed


def test_waves_hold_later_sites_until_earlier_are_done(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_site(tmp_path, "gd", province("gd", rollout={"wave": 0}))
    write_site(
        tmp_path, "hb", province("hb", eggo=eggo_spec("hb-paas", net=30), rollout={"wave": 1})
    )
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hb-edge-01", "hb", online=False)
    write_site(
        tmp_path, "hn", province("hn", eggo=eggo_spec("hn-paas", net=40), rollout={"wave": 1})
    )
    add_edge_node(kube_api, "hn-edge-01", "hn")
    plan = apply(tmp_path, kube)
    assert site(plan, "gd").gate == "ready"
    assert site(plan, "hn").gate == "waiting"
    assert plan.current_wave == 0
    finish_jobs(kube_api, "edge-gd")
    heal_apps(kube_api, "edge-gd")
    plan = apply(tmp_path, kube)
    assert site(plan, "hn").gate == "ready"
    assert site(plan, "hb").gate == "deferred"  # offline never stalls the wave


def test_waves_halt_after_too_many_failures(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_settings(tmp_path, {"rollout": {"maxFailures": 0}})
    write_site(tmp_path, "gd", province("gd", rollout={"wave": 0}))
    write_site(
        tmp_path, "hn", province("hn", eggo=eggo_spec("hn-paas", net=40), rollout={"wave": 1})
    )
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hn-edge-01", "hn")
    apply(tmp_path, kube)
    finish_jobs(kube_api, "edge-gd", outcome="Failed")
    plan = plan_for(tmp_path, kube)
    assert site(plan, "hn").gate == "waiting"
    assert "halted" in site(plan, "hn").reason


def test_incremental_plan_sees_the_whole_fleets_waves(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_site(tmp_path, "gd", province("gd", rollout={"wave": 0}))
    write_site(
        tmp_path, "hn", province("hn", eggo=eggo_spec("hn-paas", net=40), rollout={"wave": 1})
    )
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hn-edge-01", "hn")
    repo = load_repo(tmp_path)
    # a commit touching only hn: it still waits for gd's wave
    plan = plan_against(repo, read_live(kube), revision="r", sites={"hn"})
    assert [s.site for s in plan.sites] == ["hn"]
    assert plan.sites[0].gate == "waiting"
    apply(tmp_path, kube)
    finish_jobs(kube_api, "edge-gd")
    heal_apps(kube_api, "edge-gd")
    plan = plan_against(repo, read_live(kube), revision="r", sites={"hn"})
    assert plan.sites[0].gate == "ready"
