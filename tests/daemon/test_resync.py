"""The daemon's full resync runs chunk by chunk (``reconcile``), never the whole fleet at once.

What the daemon does with a plan (deferring a site whose edge is offline, logging an
invalid site's problems, the per-site table that waves and metrics read) must still
happen, from the light plan and the few sites it needs; and a named-site batch still
takes the incremental path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

import gitops_edge.daemon.controller as controller
import gitops_edge.reconcile as reconcile_module
from gitops_edge.daemon.runner import Runner
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.record import loads
from gitops_edge.sinks import RECORD, record_data
from tests.builders import git, git_init_commit, province, write_site
from tests.daemon.harness import InProcess, daemon_options
from tests.kubeapi import KubeAPIServer
from tests.live.objects import lease, node
from tests.plan.fleet import add_edge_node

pytestmark = pytest.mark.kubeapi

WAVES = {"beijing": 0, "hebei": 1, "henan": 1, "shanxi": 2}


def test_a_full_resync_is_chunked_and_still_defers_gates_and_reports(
    tmp_path: Path,
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ops = tmp_path / "ops"
    for site, wave in WAVES.items():
        write_site(ops, site, province(site, rollout={"wave": wave}))
    write_site(ops, "tianjin", province("tianjin", eggo={"clusterName": 5}))  # invalid
    now = datetime.now(UTC)
    for site in WAVES:
        renewed = now - timedelta(hours=2) if site == "henan" else now + timedelta(hours=1)
        kube_api.store.put(node(f"{site}-edge-01", site=site))
        kube_api.store.put(lease(f"{site}-edge-01", renewed))
    chunks: list[int] = []
    real_chunk = reconcile_module._run_chunk

    def counted(task: Any) -> Any:
        chunks.append(len(task.dirs))
        return real_chunk(task)

    monkeypatch.setattr(reconcile_module, "_run_chunk", counted)
    monkeypatch.setattr(reconcile_module, "CHUNK", 2)
    monkeypatch.setattr(
        controller, "load_repo", lambda *a, **k: pytest.fail("a full resync loaded every site")
    )
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.01))
    runner = Runner(daemon_options(str(ops), tmp_path, emit="kube"), kube=kube)
    reconcile_defaults = reconcile_module.reconcile.__kwdefaults__
    assert reconcile_defaults is not None
    monkeypatch.setitem(reconcile_defaults, "chunk", 2)
    with structlog.testing.capture_logs() as logs:
        failed = runner.once()
    assert not failed
    assert chunks == [2, 2, 1]  # five sites, two at a time
    c = runner.controller
    gates = {site: (c.status(site) or pytest.fail(site)).gate for site in [*WAVES, "tianjin"]}
    assert gates == {
        "beijing": "ready",
        "hebei": "waiting",  # wave 0 is applied but its Job has not finished
        "henan": "deferred",
        "shanxi": "waiting",
        "tianjin": "invalid",
    }
    assert "henan" in c.deferred and "hebei" not in c.deferred
    invalid = [e for e in logs if e["event"] == "site invalid: nothing planned for it"]
    assert [e["site"] for e in invalid] == ["tianjin"]
    assert "clusterName" in " ".join(invalid[0]["problems"])
    assert c.last is not None and sorted(c.last[1].sites) == ["beijing"]
    namespaces = {o["metadata"]["name"] for o in kube_api.store.list("v1", "Namespace")}
    assert "edge-beijing" in namespaces and "edge-hebei" not in namespaces
    # a named batch still takes the incremental path (it loads the repo, cached)
    monkeypatch.undo()
    assert not c.reconcile(["hebei"])
    assert c.records[-1].batch == ("hebei",) and c.records[-1].planned == ("hebei",)


def test_a_restarted_daemon_plans_only_what_changed_since_the_sinks_record(
    tmp_path: Path, kube_api: KubeAPIServer, kube_api_kubeconfig: Path
) -> None:
    ops = tmp_path / "ops"
    sites = ("beijing", "hebei", "henan")
    for site in sites:
        write_site(ops, site, province(site))
        add_edge_node(kube_api, f"{site}-edge-01", site)
    first_commit = git_init_commit(ops)
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.01))
    opts = daemon_options(str(ops), tmp_path, emit="kube")

    def first_reconcile() -> tuple[Any, list[dict[str, Any]]]:
        with structlog.testing.capture_logs() as logs, InProcess(opts, kube=kube) as d:
            found = d.wait_record(lambda r: True)
            d.settle()
        return found, [e for e in logs if str(e["event"]).startswith("first reconcile")]

    record, logs = first_reconcile()  # no record yet: every site, and the record is written
    assert record.batch == ("*",) and not record.failed
    assert logs[0]["event"] == "first reconcile: every site"
    kept = kube_api.store.get("v1", "ConfigMap", RECORD, "gitops-edge")
    assert kept is not None
    assert loads(record_data(kept))

    doc = province("hebei")
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(ops, "hebei", doc)
    git(ops, "commit", "-qam", "hebei: v2")
    record, logs = first_reconcile()  # restarted: the one site changed since the record
    assert record.batch == ("hebei",) and record.planned == ("hebei",)
    assert logs[0]["scope"] == f"incremental: 1 of 3 sites changed since {first_commit[:12]}"
    (app,) = kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-hebei")
    assert app["spec"]["source"]["targetRevision"] == "v2"

    kube_api.store.delete("v1", "ConfigMap", RECORD, "gitops-edge")
    record, logs = first_reconcile()  # no record: every site again
    assert record.batch == ("*",)
    assert "keeps no record" in logs[0]["reason"] or "no record" in logs[0]["reason"]
