"""The per-site status report, built from a repo on disk and a LiveState value (pure)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from gitops_edge.live.delivery import index_object_syncs
from gitops_edge.live.inventory import build_inventory
from gitops_edge.live.snapshot import LiveState, group_by_site
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import SiteStatus, StatusReport, build_report
from tests.builders import province, write_site
from tests.live.objects import (
    NOW,
    application,
    config_map,
    eggo_job,
    lease,
    namespace,
    node,
    object_sync,
)

Obj = dict[str, Any]


def _ids(objs: list[Obj]) -> list[Obj]:
    for i, obj in enumerate(objs):
        obj["metadata"].update(uid=f"uid-{i}", resourceVersion=str(100 + i))
    return objs


def _live(nodes: list[Obj], leases: list[Obj], objs: list[Obj], syncs: list[Obj]) -> LiveState:
    return LiveState(
        observed_at=NOW,
        nodes=build_inventory(nodes, {x["metadata"]["name"]: x for x in leases}, now=NOW),
        objects=group_by_site(objs),
        syncs=index_object_syncs(syncs),
    )


def _report(tmp_path: Path, live: LiveState) -> StatusReport:
    return build_report(load_repo(tmp_path), live, revision="abc")


def _site(report: StatusReport, site: str) -> SiteStatus:
    return next(s for s in report.sites if s.site == site)


def test_healthy_site_is_ok_with_everything_delivered(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd", edge={"arch": "arm64"}, rollout={"wave": 2}))
    objs = _ids(
        [
            namespace("gd"),
            config_map("eggo-deploy-1", "gd"),
            eggo_job("eggo-deploy-1", "gd"),
            application("base", "gd"),
        ]
    )
    syncs = [object_sync("gd-edge-01", o, o["metadata"]["resourceVersion"]) for o in objs[1:]]
    live = _live([node("gd-edge-01", site="gd")], [lease("gd-edge-01", NOW)], objs, syncs)
    s = _site(_report(tmp_path, live), "gd")
    assert s.state == "ok" and s.fine
    assert s.wave == 2
    assert [(n.name, n.state, n.arch, n.arch_ok) for n in s.nodes] == [
        ("gd-edge-01", "online", "arm64", True)
    ]
    assert s.nodes[0].since == "2026-11-24T03:12:00Z"
    assert (s.delivered, s.deliveries) == (3, 3)  # the Namespace is cluster-scoped: no ObjectSync
    assert s.eggo is not None and (s.eggo.operation, s.eggo.outcome) == ("deploy", "succeeded")
    assert [(a.name, a.sync, a.health) for a in s.applications] == [("base", "Synced", "Healthy")]
    assert s.revisions == ("0123456789abcdef0123456789abcdef01234567",)
    assert s.issues == ()


def test_offline_edge_defers_and_counts_what_waits(tmp_path: Path) -> None:
    write_site(tmp_path, "hn", province("hn"))
    objs = _ids(
        [config_map("eggo-deploy-1", "hn"), eggo_job("eggo-deploy-1", "hn", outcome="pending")]
    )
    stale = NOW - timedelta(minutes=30)
    live = _live([node("hn-edge-01", site="hn")], [lease("hn-edge-01", stale)], objs, [])
    s = _site(_report(tmp_path, live), "hn")
    assert s.state == "deferred"
    assert s.nodes[0].state == "offline" and s.nodes[0].since == "2026-11-27T02:42:00Z"
    assert s.delivered == 0 and s.deliveries == 2
    assert any(
        "offline since 2026-11-27T02:42:00Z" in i and "2 object(s) deferred" in i for i in s.issues
    )


def test_newest_failed_eggo_job_fails_the_site_with_its_reason(tmp_path: Path) -> None:
    write_site(tmp_path, "js", province("js"))
    old = eggo_job("eggo-deploy-1", "js", created=NOW - timedelta(days=2))
    new = eggo_job(
        "eggo-join-2", "js", outcome="failed", operation="join", created=NOW - timedelta(hours=1)
    )
    live = _live([node("js-edge-01", site="js")], [lease("js-edge-01", NOW)], _ids([old, new]), [])
    s = _site(_report(tmp_path, live), "js")
    assert s.state == "failed"
    assert s.eggo is not None and (s.eggo.job, s.eggo.operation) == ("eggo-join-2", "join")
    assert "BackoffLimitExceeded" in s.eggo.reason
    assert any(
        "eggo join Job edge-js/eggo-join-2 failed: BackoffLimitExceeded" in i for i in s.issues
    )


def test_arch_mismatch_fails(tmp_path: Path) -> None:
    write_site(tmp_path, "sc", province("sc", edge={"arch": "arm64"}))
    live = _live([node("sc-edge-01", site="sc", arch="amd64")], [lease("sc-edge-01", NOW)], [], [])
    s = _site(_report(tmp_path, live), "sc")
    assert s.state == "failed"
    assert s.nodes[0].arch_ok is False
    assert any("is amd64 but spec.edge.arch is arm64" in i for i in s.issues)


def test_node_name_and_custom_selector_pick_their_nodes(tmp_path: Path) -> None:
    write_site(tmp_path, "a", province("a", edge={"nodeName": "edge-x"}))
    write_site(tmp_path, "b", province("b", edge={"nodeSelector": {"zone": "b1"}}))
    nodes = [node("edge-x"), node("edge-y", labels={"zone": "b1"}), node("edge-z", site="a")]
    report = _report(tmp_path, _live(nodes, [], [], []))
    assert [n.name for n in _site(report, "a").nodes] == ["edge-x"]
    assert [n.name for n in _site(report, "b").nodes] == ["edge-y"]
    assert _site(report, "a").state == "pending"  # online, nothing applied yet


def test_no_matching_node_defers(tmp_path: Path) -> None:
    write_site(tmp_path, "gz", province("gz"))
    s = _site(_report(tmp_path, _live([], [], [], [])), "gz")
    assert s.state == "deferred"
    assert "no edge node matches nodeSelector gitops-edge.io/site=gz" in s.issues


def test_removed_invalid_and_suspended_sites(tmp_path: Path) -> None:
    write_site(tmp_path, "bad", "spec: [")
    write_site(tmp_path, "sus", province("sus", suspend=True))
    objs = _ids([namespace("gone"), application("base", "gone"), application("base", "bad")])
    nodes = [node("sus-edge", site="sus")]
    report = _report(tmp_path, _live(nodes, [lease("sus-edge", NOW)], objs, []))
    gone, bad, sus = _site(report, "gone"), _site(report, "bad"), _site(report, "sus")
    assert (gone.state, gone.in_repo, len(gone.objects)) == ("removed", False, 2)
    assert (bad.state, bad.valid) == ("invalid", False) and bad.problems >= 1
    assert [a.name for a in bad.applications] == ["base"]
    assert sus.suspended and not sus.fine
    assert report.counts()["removed"] == 1 and report.counts()["invalid"] == 1


def test_declared_app_not_in_cluster_is_missing_and_stale_copy_is_reported(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    (cm,) = _ids([config_map("cm", "gd")])
    syncs = [object_sync("gd-edge-01", cm, "1")]
    live = _live([node("gd-edge-01", site="gd")], [lease("gd-edge-01", NOW)], [cm], syncs)
    s = _site(_report(tmp_path, live), "gd")
    assert s.state == "progressing"
    assert [(a.name, a.sync, a.health) for a in s.applications] == [("base", "Missing", "Missing")]
    assert s.objects[0].delivery == {"gd-edge-01": "stale"}
    assert "ConfigMap edge-gd/cm: edge node gd-edge-01 has an older version" in s.issues


def test_json_shape_is_stable(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    data = _report(tmp_path, _live([node("gd-edge-01", site="gd")], [], [], [])).as_dict()
    assert list(data) == ["revision", "observed_at", "summary", "sites"]
    assert data["observed_at"] == "2026-11-27T03:12:00Z"
    assert data["summary"]["sites"] == 1 and data["summary"]["pending"] == 1
    site = data["sites"][0]
    assert set(site) == {
        "site", "state", "in_repo", "valid", "problems", "wave", "suspended", "edge",
        "revisions", "eggo", "applications", "objects", "delivered", "issues",
        "gate", "changes",
    }  # fmt: skip
    assert set(site["edge"]) == {"target", "arch", "nodes"}
    assert site["delivered"] == {"delivered": 0, "total": 0}


def test_with_the_plan_states_and_counts_agree_with_it(tmp_path: Path) -> None:
    """Wave 1 not done holds wave 2 (``waiting``, not ``pending``); an offline site that was
    never applied counts the plan's deferred changes, not the 0 objects it has live."""
    from gitops_edge.plan.model import gate_counts
    from gitops_edge.testing import plan_against

    write_site(tmp_path, "gd", province("gd", rollout={"wave": 1}))
    write_site(tmp_path, "hn", province("hn", rollout={"wave": 2}))
    write_site(tmp_path, "gz", province("gz", rollout={"wave": 1}))
    nodes = [
        node("gd-edge-01", site="gd"),
        node("hn-edge-01", site="hn"),
        node("gz-edge-01", site="gz"),
    ]
    leases = [
        lease("gd-edge-01", NOW),
        lease("hn-edge-01", NOW),
        lease("gz-edge-01", NOW - timedelta(hours=1)),
    ]
    live = _live(nodes, leases, [], [])
    repo = load_repo(tmp_path)
    plan = plan_against(repo, live, revision="abc")
    gates = {s.site: s for s in plan.sites}
    assert (gates["gd"].gate, gates["hn"].gate, gates["gz"].gate) == (
        "ready",
        "waiting",
        "deferred",
    )

    report = build_report(repo, live, revision="abc", plan=plan)
    states = {s.site: s.state for s in report.sites}
    assert states == {"gd": "pending", "hn": "waiting", "gz": "deferred"}
    assert report.plan == gate_counts(plan) == {"deferred": 1, "ready": 1, "waiting": 1}
    gz = _site(report, "gz")
    deferred = len(gates["gz"].pending())
    assert deferred > 0 and gz.changes == deferred
    assert any(f"; {deferred} change(s) deferred" in i for i in gz.issues), gz.issues
    assert any(i.startswith("waiting: ") for i in _site(report, "hn").issues)
    # without a plan, the live objects alone: the waiting site looks like it is pending
    alone = {s.site: s.state for s in build_report(repo, live, revision="abc").sites}
    assert alone["hn"] == "pending" and "plan" not in build_report(repo, live).as_dict()["summary"]
