"""Safety rules for a live province cluster, planned against the API test server.

Each test starts from a converged, live province cluster and makes one innocent-looking
edit an operator could make (a port, a rename, a copied directory, a moved site, a broken
``provinces/``), then checks that no destructive eggo operation and no deletion is
planned, that the plan says why, and that CI's exit code is not green.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.commands.plan import exit_status
from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import read_live
from gitops_edge.plan.model import Plan
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import build_report
from tests.builders import eggo_spec, province, write_settings, write_site
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node, apply, eggo_pod, finish_jobs, heal_apps, plan_for
from tests.plan.fleet import site_plan as site

pytestmark = pytest.mark.kubeapi

W2 = {"name": "w2", "ip": "10.20.0.22", "port": 22, "arch": "arm64"}


def converge(root: Path, kube: KubeClient, kube_api: KubeAPIServer) -> None:
    for _ in range(4):
        apply(root, kube)
        for ns in {n["metadata"]["name"] for n in kube_api.store.list("v1", "Namespace", None)}:
            finish_jobs(kube_api, ns)
            heal_apps(kube_api, ns)
        if not plan_for(root, kube).has_changes:
            return
    raise AssertionError("did not converge")


def gd_with(**spec: Any) -> dict[str, Any]:
    return province("gd", rollout={"wave": 1}, **spec)


def gd_eggo(workers: list[dict[str, Any]]) -> dict[str, Any]:
    conf = eggo_spec("gd-paas")
    conf["workers"] = workers
    return conf


@pytest.fixture
def fleet(tmp_path: Path, kube_api: KubeAPIServer, kube: KubeClient) -> Path:
    """Two live province clusters: gd (wave 1, workers m1, w1, w2) and hb (wave 2)."""
    root = tmp_path / "ops"
    write_site(root, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2])))
    write_site(root, "hb", province("hb", rollout={"wave": 2}))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    add_edge_node(kube_api, "hb-edge-01", "hb")
    converge(root, kube, kube_api)
    return root


def no_destruction(plan: Plan) -> None:
    """No eggo deploy/join/delete/cleanup is emitted and nothing is deleted."""
    for s in plan.emitting():
        for c in s.pending():
            assert c.action != "delete", f"{s.site}: deletes {c.describe()}"
            assert not (c.kind == "Job" and c.action == "create"), f"{s.site}: runs {c.name}"
    assert plan.deletions() == 0


def change_hb(root: Path) -> None:
    """A change for hb (wave 2): its Application's revision."""
    hb = yaml.safe_load((root / "provinces/hb/cluster.yaml").read_text())
    hb["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(root, "hb", hb)


def edit_worker(root: Path, index: int, **change: Any) -> None:
    workers = [*eggo_spec()["workers"], W2]
    workers[index] = {**workers[index], **change}
    write_site(root, "gd", gd_with(eggo=gd_eggo(workers)))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"port": 2222}, "port 22 -> 2222"),
        ({"name": "w2-renamed"}, "name w2 -> w2-renamed"),
        ({"arch": "amd64"}, "arch arm64 -> amd64"),
    ],
)
def test_a_live_host_changed_in_place_blocks_the_site(
    fleet: Path, kube: KubeClient, change: dict[str, Any], said: str
) -> None:
    edit_worker(fleet, 2, **change)
    plan = plan_for(fleet, kube)
    gd = site(plan, "gd")
    assert gd.gate == "blocked"
    assert "host 10.20.0.22 (w2)" in gd.reason and said in gd.reason
    no_destruction(plan)
    assert exit_status(plan, detailed=True) == 1


def test_two_sites_swapping_hosts_are_both_blocked(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    hb = yaml.safe_load((fleet / "provinces/hb/cluster.yaml").read_text())
    hb_worker = {**hb["spec"]["eggo"]["workers"][1], "name": "w9"}
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], hb_worker])))
    hb["spec"]["eggo"]["workers"][1] = W2
    write_site(fleet, "hb", hb)
    plan = plan_for(fleet, kube)
    assert site(plan, "gd").gate == site(plan, "hb").gate == "blocked"
    assert f"{hb_worker['ip']} are in the live cluster of site hb" in site(plan, "gd").reason
    assert "10.20.0.22 are in the live cluster of site gd" in site(plan, "hb").reason
    no_destruction(plan)


@pytest.mark.parametrize("name", ["cluster.yml", "Cluster.yaml", "clustr.yaml"])
def test_a_renamed_cluster_file_is_an_invalid_site_never_a_removal(
    fleet: Path, kube: KubeClient, name: str
) -> None:
    write_site(fleet, "gd", gd_with(deletionPolicy="Cleanup"))
    (fleet / "provinces/gd/cluster.yaml").rename(fleet / "provinces/gd" / name)
    repo = load_repo(fleet)
    gd = repo.site("gd")
    assert gd is not None and not gd.valid
    assert "did you mean cluster.yaml? Rename it" in str(gd.problems[0])
    plan = plan_for(fleet, kube)
    assert site(plan, "gd").gate == "invalid"
    assert site(plan, "gd").eggo is None
    no_destruction(plan)
    assert exit_status(plan, detailed=True) == 1


def test_a_copied_directory_is_invalid_for_both_sites_and_deploys_nothing(
    fleet: Path, kube: KubeClient
) -> None:
    shutil.copytree(fleet / "provinces/gd", fleet / "provinces/gd-copy")
    plan = plan_for(fleet, kube)
    assert site(plan, "gd").gate == site(plan, "gd-copy").gate == "invalid"
    assert "is also used by site gd-copy (provinces/gd-copy/cluster.yaml)" in site(plan, "gd").reason
    no_destruction(plan)


@pytest.mark.parametrize("target", ["guangdong", "south/gd"])
def test_a_moved_site_is_never_cleaned_up_nor_deployed_again(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer, target: str
) -> None:
    write_site(fleet, "gd", gd_with(deletionPolicy="Cleanup", eggo=gd_eggo([*eggo_spec()["workers"], W2])))
    converge_doc = (fleet / "provinces/gd/cluster.yaml").read_text()
    new_id = target.replace("/", "-")
    add_edge_node(kube_api, f"{new_id}-edge-01", new_id)  # the edge node, relabelled too
    # the move while the new file is still invalid: nothing of the old site goes
    shutil.rmtree(fleet / "provinces/gd")
    write_site(fleet, target, converge_doc.replace("rollout:", "rollout: {wave: soon}\n  x:"))
    plan = plan_for(fleet, kube)
    assert site(plan, new_id).gate == "invalid"
    assert site(plan, "gd").gate == "removed" and "held back" in site(plan, "gd").reason
    no_destruction(plan)
    # fixed: the same live cluster under a new id is a move, blocked on both sides
    write_site(fleet, target, converge_doc)
    plan = plan_for(fleet, kube)
    old, new = site(plan, "gd"), site(plan, new_id)
    assert old.gate == "blocked" and f"appears under site {new_id}" in old.reason
    assert new.gate == "blocked" and "cluster gd-paas is live under site gd" in new.reason
    no_destruction(plan)
    assert exit_status(plan, detailed=True) == 1


@pytest.mark.parametrize("breakage", ["missing", "symlink", "empty", "file"])
def test_a_broken_provinces_directory_removes_nothing(
    fleet: Path, kube: KubeClient, tmp_path: Path, breakage: str
) -> None:
    provinces = fleet / "provinces"
    if breakage == "missing":
        shutil.rmtree(provinces)
    elif breakage == "symlink":
        shutil.move(provinces, tmp_path / "elsewhere")
        provinces.symlink_to(tmp_path / "elsewhere")
    elif breakage == "empty":
        shutil.rmtree(provinces)
        provinces.mkdir()
    else:  # a site directory turned into a file
        shutil.rmtree(provinces / "gd")
        (provinces / "gd").write_text("oops\n")
    plan = plan_for(fleet, kube)
    assert plan.problems
    assert all(not s.pending() for s in plan.sites if s.site == "gd")
    no_destruction(plan)
    assert exit_status(plan, detailed=True) == 1


def test_eggo_reporting_a_failed_host_fails_the_run_and_holds_the_next_wave(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_settings(fleet, {"rollout": {"maxFailures": 0}})
    w3 = {"name": "w3", "ip": "10.20.0.199", "port": 22, "arch": "arm64"}
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2, w3])))
    plan = apply(fleet, kube)
    join = site(plan, "gd").eggo
    assert join is not None and join.operation == "join"
    # eggo join exits 0 after rolling the failed host back (cmd/join.go): the Job succeeds
    finish_jobs(kube_api, "edge-gd")
    eggo_pod(
        kube_api,
        "edge-gd",
        join.job,
        message="message: join nodes\n10.20.0.199\t\tfailure\n",
    )
    plan = plan_for(fleet, kube)
    gd = site(plan, "gd")
    assert gd.gate == "failed" and gd.failed
    assert gd.eggo is not None and gd.eggo.operation == "failed"
    assert gd.eggo.failed_hosts == ("10.20.0.199",)
    assert "10.20.0.199" in gd.reason and "cluster matches the spec" not in gd.reason
    assert not any(c.kind == "Job" and c.action == "create" for c in gd.changes)  # no retry
    assert exit_status(plan, detailed=True) == 1
    change_hb(fleet)  # the next wave's change waits: gd's failure used up wave 1's budget
    plan = plan_for(fleet, kube)
    hb = site(plan, "hb")
    assert hb.gate == "waiting" and "wave 1 halted: 1 site(s) failed (gd)" in hb.reason
    report = build_report(load_repo(fleet), read_live(kube))
    status = next(s for s in report.sites if s.site == "gd")
    assert status.state == "failed"
    assert status.eggo is not None and status.eggo.failed_hosts == ("10.20.0.199",)
    assert any("10.20.0.199" in issue for issue in status.issues)


@pytest.mark.parametrize(("tolerated", "halted"), [(0, True), (1, False)])
def test_max_failures_is_the_number_of_failed_sites_a_wave_tolerates(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer, tolerated: int, halted: bool
) -> None:
    write_settings(fleet, {"rollout": {"maxFailures": tolerated}})
    w3 = {**W2, "name": "w3", "ip": "10.20.0.23"}
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2, w3])))
    apply(fleet, kube)
    finish_jobs(kube_api, "edge-gd", outcome="Failed")
    change_hb(fleet)
    plan = plan_for(fleet, kube)
    assert site(plan, "gd").gate == "failed"
    assert (site(plan, "hb").gate == "waiting") is halted


def test_a_failed_site_of_a_later_wave_keeps_its_gate_and_its_changes_wait(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    hb = yaml.safe_load((fleet / "provinces/hb/cluster.yaml").read_text())
    hb["spec"]["eggo"]["workers"].append({**W2, "name": "w9", "ip": "10.99.0.9"})
    write_site(fleet, "hb", hb)
    apply(fleet, kube)
    finish_jobs(kube_api, "edge-hb", outcome="Failed")  # hb (wave 2) failed its join
    w3 = {**W2, "name": "w3", "ip": "10.20.0.23"}
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2, w3])))
    change_hb(fleet)  # wave 1 (gd) is joining; hb has an Application change
    plan = plan_for(fleet, kube)
    hb_plan = site(plan, "hb")
    assert hb_plan.gate == "failed" and hb_plan.pending()
    assert hb_plan.held.startswith("waiting for wave 1")
    assert "hb" not in {s.site for s in plan.emitting()}
    assert "gd" in {s.site for s in plan.emitting()}
