"""gitops_edge.testing: its builders make a valid repo, its memory sink is a real sink."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitops_edge.emit.dirsink import DirSink
from gitops_edge.emit.protocol import Capabilities, Sink
from gitops_edge.live.state import LiveState
from gitops_edge.reconcile import reconcile
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import EPOCH, MemorySink, province, write_site


def repo_of(root: Path, sites: list[str]) -> Path:
    for site in sites:
        write_site(root, site, province(site))
    return root


def test_builders_write_a_valid_repo(tmp_path: Path) -> None:
    repo = load_repo(repo_of(tmp_path, ["beijing", "hebei"]))
    assert [s.id for s in repo.sites] == ["beijing", "hebei"]
    assert all(s.valid for s in repo.sites) and not repo.problems


def test_memory_sink_holds_what_a_directory_holds(tmp_path: Path) -> None:
    root = repo_of(tmp_path / "ops", ["beijing", "hebei", "shanxi"])
    memory = MemorySink()
    assert isinstance(memory, Sink)
    _, result = reconcile(root, memory, revision="r1", jobs=1)
    assert result.ok and result.written > 0
    reconcile(root, DirSink(tmp_path / "out"), revision="r1", jobs=1)
    on_disk = DirSink(tmp_path / "out").read_live(now=EPOCH)
    assert memory.read_live() == LiveState(
        observed_at=EPOCH, objects=dict(on_disk.objects.items()), has_nodes=False
    )
    again, result = reconcile(root, memory, revision="r1", jobs=1)
    assert not again.plan.has_changes and result.written == 0
    shutil.rmtree(root / "provinces" / "shanxi")
    summary, result = reconcile(root, memory, revision="r2", jobs=1)
    assert {s.site: s.gate for s in summary.plan.sites}["shanxi"] == "removed"
    assert result.deleted > 0 and sorted(memory.objects) == ["beijing", "hebei"]


def test_declared_capabilities_reach_the_planner(tmp_path: Path) -> None:
    """A sink that reports run outcomes but shows no edge node: every site waits for its edge."""
    root = repo_of(tmp_path / "ops", ["beijing"])
    memory = MemorySink(
        capabilities=Capabilities(
            reports_outcomes=True, stages=False, keeps_history=True, exclusive=False
        )
    )
    summary, result = reconcile(root, memory, revision="r1", jobs=1)
    assert [s.gate for s in summary.plan.sites] == ["deferred"]
    assert result.written == 0 and memory.objects == {}
