"""The directory sink: atomic per-site swaps, crash recovery, untouched unchanged sites."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_edge.emit.dirsink import OLD, TMP, DirSink
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import province, write_site


def apply(repo: Path, sink: DirSink) -> None:
    plan = plan_against(load_repo(repo), sink.read_live(), revision="r1")
    assert sink.emit(plan).ok


def test_crash_between_renames_restores_the_old_site(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_site(repo, "gd", province("gd"))
    sink = DirSink(tmp_path / "out")
    apply(repo, sink)
    before = sorted(p.name for p in (tmp_path / "out" / "gd").iterdir())
    # a crash after ".old-" was made and before the new dir was renamed in
    (tmp_path / "out" / "gd").rename(tmp_path / "out" / f"{OLD}gd")
    (tmp_path / "out" / f"{TMP}gd").mkdir()
    (tmp_path / "out" / f"{TMP}gd" / "000-namespace-half.yaml").write_text("apiVersion: v1\n")
    assert sink.recover() == ["gd"]
    assert sorted(p.name for p in (tmp_path / "out" / "gd").iterdir()) == before
    assert not list((tmp_path / "out").glob(".*"))


def test_crash_while_writing_leaves_old_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    write_site(repo, "gd", province("gd"))
    sink = DirSink(tmp_path / "out")
    apply(repo, sink)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "gd").iterdir()}
    doc = province("gd")
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v9"
    write_site(repo, "gd", doc)
    import gitops_edge.emit.dirsink as dirsink

    calls = {"n": 0}
    real = dirsink.write_atomic

    def crashing(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(dirsink, "write_atomic", crashing)
    plan = plan_against(load_repo(repo), sink.read_live(), revision="r2")
    result = sink.emit(plan)
    assert not result.ok
    assert "No space left on device" in result.errors()[0]
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "gd").iterdir()} == before
    monkeypatch.setattr(dirsink, "write_atomic", real)
    apply(repo, sink)
    assert b"v9" in b"".join(p.read_bytes() for p in (tmp_path / "out" / "gd").iterdir())
