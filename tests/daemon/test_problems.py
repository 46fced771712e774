"""Problems in the served commit are logged once per commit at warning, and counted.

An invalid site used to plan nothing silently; a repo-level problem silently held
removals back. Now each is one warning (with file and field) the first time a commit
is reconciled, never again on a resync of the same commit, and
``gitops_edge_problems{kind}`` says how many there are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from gitops_edge.daemon.queue import ALL
from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import InProcess, daemon_options


def gauge(d: InProcess, kind: str) -> float:
    value = d.runner.metrics.registry.get_sample_value("gitops_edge_problems", {"kind": kind})
    return float(value or 0.0)


def test_an_invalid_site_and_a_repo_problem_are_logged_once_per_commit(tmp_path: Path) -> None:
    remote = OpsRemote(tmp_path)
    remote.write_site("hebei", eggo={"clusterName": 5})
    (remote.tree / "provinces" / "linked").symlink_to("beijing")  # a repo-level problem
    remote.commit("an invalid site and a symlinked directory", push=True)
    with structlog.testing.capture_logs() as logs, InProcess(
        daemon_options(remote.url, tmp_path)
    ) as d:
        d.wait_record(lambda r: r.batch == (ALL,))
        d.settle()
        n = len(d.records)
        d.runner.queue.add(ALL)  # a resync of the same commit
        d.wait_record(lambda r: r.batch == (ALL,), after=n)
        d.settle()
        site_gauge, repo_gauge = gauge(d, "site"), gauge(d, "repo")
    warnings: list[dict[str, Any]] = [e for e in logs if e.get("log_level") == "warning"]
    invalid = [e for e in warnings if e["event"].startswith("site invalid")]
    repo = [e for e in warnings if e["event"].startswith("repo problems")]
    assert [e["site"] for e in invalid] == ["hebei"]
    assert "provinces/hebei/cluster.yaml" in invalid[0]["problems"][0]
    assert "spec.eggo" in invalid[0]["problems"][0]
    assert len(repo) == 1 and "provinces/linked" in repo[0]["problems"][0]
    assert site_gauge == 1 and repo_gauge >= 1
