"""The daemon following a real remote: what each commit costs, and what a force-push does.

The runner runs in-process (a thread) so the test decides when polls happen; the
remote is a bare repository the test pushes to as an operator would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_edge.daemon.queue import ALL
from gitops_edge.daemon.source import GitSource
from tests.daemon.gitremote import OpsRemote, apps, edge_config_map
from tests.daemon.harness import InProcess, daemon_options, mtimes, wait_for

pytestmark = pytest.mark.e2e

SITES = {"beijing", "guangdong", "guangdong-shenzhen-1"}


@pytest.fixture
def remote(tmp_path: Path) -> OpsRemote:
    return OpsRemote(tmp_path)


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Top-level site dirs of files added, removed or rewritten between two snapshots."""
    paths = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    return {p.split("/")[0] for p in paths}


def test_each_commit_costs_only_its_sites_and_a_quiet_poll_costs_one_ls_remote(
    remote: OpsRemote, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with InProcess(daemon_options(remote.url, tmp_path)) as d:
        source = d.runner.source
        assert isinstance(source, GitSource)
        first = d.wait_record(lambda r: r.batch == (ALL,))
        assert set(first.emitted) == SITES and not first.failed
        d.settle()
        assert source.reconciled == remote.head()
        snapshot = mtimes(out)

        # a commit to one nested site re-renders that site and nothing else
        remote.write_site("guangdong/shenzhen-1", applications=apps("release-2"))
        sha = remote.commit("shenzhen-1 apps to release-2")
        n = len(d.records)
        d.poll()
        rec = d.wait_record(lambda r: r.revision == sha, after=n)
        assert rec.batch == rec.planned == rec.emitted == ("guangdong-shenzhen-1",)
        d.settle()
        after = mtimes(out)
        assert changed(snapshot, after) == {"guangdong-shenzhen-1"}
        assert "release-2" in "".join(
            p.read_text() for p in (out / "guangdong-shenzhen-1").iterdir()
        )
        assert source.reconciled == sha

        # a quiet poll: one ls-remote, no render, no write
        calls, n = source.git_calls, len(d.records)
        d.poll()
        assert source.git_calls - calls == 1
        assert len(d.records) == n and d.runner.queue.idle()
        assert mtimes(out) == after

        # the shared edge bundle concerns every site
        remote.write("edge-bundle/agent.yaml", edge_config_map("agent"))
        sha = remote.commit("add an agent to every edge node")
        d.poll()
        rec = d.wait_record(lambda r: r.revision == sha, after=n)
        assert rec.batch == (ALL,) and set(rec.emitted) == SITES

        # a removed site directory plans that site's removal, and only that
        n = len(d.records)
        remote.remove("provinces/guangdong/shenzhen-1")
        sha = remote.commit("decommission shenzhen-1")
        d.poll()
        rec = d.wait_record(lambda r: r.revision == sha, after=n)
        assert rec.batch == rec.emitted == ("guangdong-shenzhen-1",)
        d.settle()
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["beijing", "guangdong"]


def test_a_force_push_is_refused_until_an_operator_says_follow(
    remote: OpsRemote, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with InProcess(daemon_options(remote.url, tmp_path)) as d:
        d.wait_record(lambda r: r.batch == (ALL,))
        remote.write_site("beijing", applications=apps("reviewed"))
        good = remote.commit("reviewed change")
        d.poll()
        d.wait_record(lambda r: r.revision == good)
        d.settle()
        before, n = mtimes(out), len(d.records)

        rewritten = remote.rewrite("history rewritten")
        d.poll()
        source = d.runner.source
        assert source.blocked is not None and source.blocked.head == rewritten
        assert source.served == good
        assert d.runner.trigger_metrics.blocked._value.get() == 1
        d.poll()  # still refused, not reported again
        d.settle()
        assert len(d.records) == n and mtimes(out) == before

    # the operator restarts it with --on-force-push follow; the cache still serves `good`
    with InProcess(daemon_options(remote.url, tmp_path, on_force_push="follow")) as d:
        rec = d.wait_record(lambda r: r.revision == rewritten and not r.failed)
        assert "beijing" in rec.emitted
        wait_for(lambda: (out / "beijing").is_dir(), what="beijing re-rendered")
        assert any("rewritten" in p.read_text() for p in (out / "beijing").iterdir())


def test_a_local_tree_is_watched_and_edits_cost_their_site(tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    remote_less = OpsRemote(tmp_path)  # reuse its files as a plain directory
    remote_less.work.rename(ops)
    (ops / ".git").rename(tmp_path / "not-a-repo-any-more")
    with InProcess(daemon_options(str(ops), tmp_path)) as d:
        first = d.wait_record(lambda r: r.batch == (ALL,))
        assert set(first.emitted) == SITES and first.revision == "unversioned"
        d.settle()
        n = len(d.records)
        doc = (ops / "provinces/beijing/cluster.yaml").read_text()
        (ops / "provinces/beijing/cluster.yaml").write_text(
            doc.replace("targetRevision: main", "targetRevision: edited")
        )
        rec = d.wait_record(lambda r: "beijing" in r.batch, after=n)
        assert rec.batch == rec.emitted == ("beijing",)


def test_a_dead_remote_is_survived_and_recovered_from(remote: OpsRemote, tmp_path: Path) -> None:
    away = tmp_path / "away.git"
    remote.bare.rename(away)  # down before the daemon even starts: nothing to serve yet
    with InProcess(daemon_options(remote.url, tmp_path)) as d:
        wait_for(lambda: d.runner.metrics.git_errors._value.get() >= 1, what="a git error")
        assert d.records == []
        assert d.runner.http is not None and d.runner.active
        away.rename(remote.bare)
        sha = remote.head()

        def recovered() -> bool:
            if not any(r.revision == sha for r in d.records):
                d.poll()  # the source backs off after errors: ask until it tries again
            return any(r.revision == sha and not r.failed for r in d.records)

        wait_for(recovered, what="the first reconcile after the outage")

        remote.bare.rename(away)  # down again: the last good commit keeps being served
        d.poll()
        assert d.runner.source.served == sha and d.runner.source.last_error
        assert (tmp_path / "out" / "beijing").is_dir()
        away.rename(remote.bare)
        remote.write_site("beijing", applications=apps("after-the-outage"))
        new = remote.commit("after the outage")

        def caught_up() -> bool:
            if not any(r.revision == new for r in d.records):
                d.poll()
            return any(r.revision == new and r.emitted == ("beijing",) for r in d.records)

        wait_for(caught_up, what="the commit pushed after the outage")
