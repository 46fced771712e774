"""reconcile(): chunked, staged and parallel runs give what the plain path gives.

The plain path (``load_repo`` + ``make_plan`` + ``DirSink.emit``) is the reference:
every byte written, every site's plan and the run's verdict must be the same whether
the run is cut into chunks, spread over worker processes, or both; the mass-deletion
guard must see the whole run; and a one-site commit must read one file.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

import gitops_edge.emit.dirsink as dirsink
import gitops_edge.specs.repo as specs_repo
from bench.fleet import generate, touch_site
from gitops_edge.emit.dirsink import OLD, TMP, DirSink
from gitops_edge.emit.gitsink import GitSink
from gitops_edge.emit.protocol import Sink, Staged, capability_notes
from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import Plan, SitePlan
from gitops_edge.plan.report import to_json
from gitops_edge.reconcile import reconcile
from gitops_edge.sinks import KubeLive
from gitops_edge.specs.repo import RACY_SECONDS, SiteCache, load_repo
from gitops_edge.testing import plan_against

SITES = 40


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def plain(repo: Path, out: Path, revision: str = "r1") -> dict[str, Any]:
    """The reference: everything in memory, one plan, one emit."""
    sink = DirSink(out)
    plan = plan_against(load_repo(repo), sink.read_live(), revision=revision)
    result = sink.emit(plan)
    assert result.ok or plan.refused
    return to_json(plan)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    generate(root, SITES, seed=3)
    return root


@pytest.mark.parametrize(("chunk", "jobs"), [(500, 1), (7, 1), (7, 2), (3, 2)])
def test_same_bytes_and_plan_as_the_plain_path(
    fleet: Path, tmp_path: Path, chunk: int, jobs: int
) -> None:
    reference = plain(fleet, tmp_path / "plain")
    summary, result = reconcile(
        fleet, DirSink(tmp_path / "out"), revision="r1", chunk=chunk, jobs=jobs
    )
    assert result.ok
    assert summary.staged and summary.chunks == -(-SITES // chunk)
    assert summary.jobs == (1 if jobs == 1 else 2)
    assert tree(tmp_path / "out") == tree(tmp_path / "plain")
    assert to_json(summary.plan) == reference
    # a second run finds nothing to do, like the plain path
    again, result = reconcile(
        fleet, DirSink(tmp_path / "out"), revision="r1", chunk=chunk, jobs=jobs
    )
    assert result.written == 0 and result.deleted == 0
    assert not again.plan.has_changes
    assert to_json(again.plan) == plain(fleet, tmp_path / "plain")


def test_removed_sites_and_one_changed_site(fleet: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    generate(repo, 12, seed=3)
    reconcile(repo, DirSink(tmp_path / "out"), revision="r1", chunk=4, jobs=1)
    plain(repo, tmp_path / "plain")
    gone = sorted((repo / "provinces").glob("*/cluster.yaml"))[3]
    gone.unlink()
    touch_site(repo, "beijing", 0)
    summary, result = reconcile(repo, DirSink(tmp_path / "out"), revision="r2", chunk=4, jobs=2)
    reference = plain(repo, tmp_path / "plain", revision="r2")
    assert result.ok
    assert tree(tmp_path / "out") == tree(tmp_path / "plain")
    assert to_json(summary.plan) == reference
    gates = {s.site: s.gate for s in summary.plan.sites}
    assert gates[gone.parent.name] == "removed"
    assert not (tmp_path / "out" / gone.parent.name).exists()


def test_mass_deletion_guard_sees_the_whole_run(tmp_path: Path) -> None:
    """Each chunk alone is under prune.maxDeletions; the run is not, so nothing changes."""
    repo = tmp_path / "repo"
    generate(repo, 16, seed=3)
    settings = repo / "gitops-edge.yaml"
    doc = yaml.safe_load(settings.read_text())
    doc["spec"]["prune"]["maxDeletions"] = 6
    settings.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    reconcile(repo, DirSink(out), revision="r1", chunk=2, jobs=1)
    before = tree(out)
    for path in (repo / "provinces").rglob("cluster.yaml"):
        site = yaml.safe_load(path.read_text())
        site["spec"]["applications"] = site["spec"]["applications"][:1]
        path.write_text(yaml.safe_dump(site, sort_keys=False))
    for jobs in (1, 2):
        summary, result = reconcile(repo, DirSink(out), revision="r2", chunk=2, jobs=jobs)
        assert summary.plan.refused and result.refused == summary.plan.refused
        assert "prune.maxDeletions=6" in result.refused
        assert tree(out) == before
        assert not [p for p in out.iterdir() if p.name.startswith((TMP, OLD))]
    # the plain path refuses the same run with the same words
    assert plain(repo, tmp_path / "plain2")["refused"] is None  # a first run deletes nothing
    sink = DirSink(out)
    assert plan_against(load_repo(repo), sink.read_live(), revision="r2").refused == result.refused


def test_a_site_that_cannot_be_written_keeps_its_old_files(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    generate(repo, 6, seed=3)
    out = tmp_path / "out"
    reconcile(repo, DirSink(out), revision="r1", jobs=1)
    before = tree(out)
    for site in ("tianjin", "beijing"):
        touch_site(repo, site, 0)
    real = dirsink.write_atomic

    def failing(path: Path, data: bytes) -> None:
        if path.parent.name == f"{TMP}beijing":
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(dirsink, "write_atomic", failing)
    _, result = reconcile(repo, DirSink(out), revision="r2", jobs=1)
    assert not result.ok
    assert "No space left on device" in result.sites["beijing"].errors[0]
    after = tree(out)
    assert {k: v for k, v in after.items() if k.startswith("beijing/")} == {
        k: v for k, v in before.items() if k.startswith("beijing/")
    }
    assert any(after[k] != before.get(k) for k in after if k.startswith("tianjin/"))
    assert not [p for p in out.iterdir() if p.name.startswith((TMP, OLD))]


def test_staged_sites_of_an_interrupted_run_are_cleared(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    sink = DirSink(out)
    plan = plan_against(load_repo(fleet), sink.read_live(), revision="r1")
    staged, _ = sink.stage(plan)  # pass 1 done, then the process dies
    assert staged and all((out / f"{TMP}{s.site}").is_dir() for s in staged)
    assert sink.read_live().objects == {}
    _, result = reconcile(fleet, DirSink(out), revision="r1", jobs=1)
    assert result.ok and tree(out) == tree_of_plain(fleet, tmp_path)


def tree_of_plain(repo: Path, tmp_path: Path) -> dict[str, bytes]:
    plain(repo, tmp_path / "reference")
    return tree(tmp_path / "reference")


def test_only_named_sites(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary, result = reconcile(fleet, DirSink(out), revision="r1", sites=["beijing", "nowhere"])
    assert [s.site for s in summary.plan.sites] == ["beijing"]
    assert sorted(p.name for p in out.iterdir()) == ["Kustomization", "beijing"]
    assert result.ok


def test_a_one_site_commit_reads_parses_and_renders_one_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's path: load_repo with a warm SiteCache, then plan only that site."""
    repo = tmp_path / "repo"
    generate(repo, 30, seed=3)
    old = time.time() - 10 * RACY_SECONDS  # files older than the racy window
    for path in repo.rglob("*.yaml"):
        os.utime(path, (old, old))
    cache = SiteCache()
    first = load_repo(repo, cache=cache)
    assert cache.reads == 30
    parsed: list[str] = []
    real_parse = specs_repo.parse_text
    monkeypatch.setattr(
        specs_repo,
        "parse_text",
        lambda text, limits: parsed.append(text) or real_parse(text, limits),
    )
    unchanged = load_repo(repo, cache=cache)
    assert cache.reads == 30 and not parsed
    assert unchanged.sites == first.sites
    path = touch_site(repo, "hebei", 1)
    os.utime(path, (old + 5, old + 5))
    changed = load_repo(repo, cache=cache)
    assert cache.reads == 31 and len(parsed) == 1
    assert changed.site("hebei") != first.site("hebei")
    assert [s for s in changed.sites if s.id != "hebei"] == [
        s for s in first.sites if s.id != "hebei"
    ]


def test_a_fresh_file_is_read_again_until_it_is_old_enough(tmp_path: Path) -> None:
    """git's racily-clean rule: a file written in the same tick as the read is not trusted."""
    repo = tmp_path / "repo"
    generate(repo, 3, seed=3)
    cache = SiteCache()
    load_repo(repo, cache=cache)
    load_repo(repo, cache=cache)
    assert cache.reads == 6  # all three were written just now
    old = time.time() - 10 * RACY_SECONDS
    for path in repo.rglob("*.yaml"):
        os.utime(path, (old, old))
    load_repo(repo, cache=cache)
    load_repo(repo, cache=cache)
    assert cache.reads == 9


class Declared:
    """A directory sink behind another face: only its declared capabilities say what it does."""

    def __init__(self, root: Path, *, stages: bool) -> None:
        self.inner = DirSink(root)
        self.capabilities = replace(DirSink.capabilities, stages=stages)
        self.staged_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]:
        self.staged_calls += 1
        return self.inner.stage(plan)


@pytest.mark.parametrize("stages", [True, False])
def test_the_way_a_run_takes_follows_the_declared_capability(
    fleet: Path, tmp_path: Path, stages: bool
) -> None:
    sink = Declared(tmp_path / "out", stages=stages)
    assert isinstance(sink, Sink)
    summary, result = reconcile(fleet, sink, revision="r1", chunk=7, jobs=1)
    assert result.ok
    assert summary.staged is stages
    # one stage per chunk and one for the removals, or none: the plain way emits whole
    assert sink.staged_calls == (-(-SITES // 7) + 1 if stages else 0)
    assert tree(tmp_path / "out") == tree_of_plain(fleet, tmp_path)


def test_a_sink_without_run_outcomes_says_waves_are_not_enforced(
    fleet: Path, tmp_path: Path
) -> None:
    summary, result = reconcile(fleet, DirSink(tmp_path / "out"), revision="r1", jobs=1)
    waves = sorted({s.wave for s in summary.plan.sites})
    assert len(waves) > 1  # pilots first, then the rest
    assert f"waves not enforced: dir:{tmp_path / 'out'}" in result.note
    assert f"waves {', '.join(map(str, waves))} are emitted at once" in result.note
    plan = Plan("r", (SitePlan("a", 1, "ready"), SitePlan("b", 2, "ready")))
    assert capability_notes(plan, DirSink.capabilities, "dir:x")
    assert capability_notes(plan, GitSink.capabilities, "git:x")
    assert not capability_notes(plan, KubeLive.capabilities, "kube:x")
    one_wave = Plan("r", (SitePlan("a", 1, "ready"), SitePlan("b", 1, "ready")))
    assert not capability_notes(one_wave, DirSink.capabilities, "dir:x")
