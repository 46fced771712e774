"""bench/fleet.py: benchmarks are only comparable when the generated fleet is.

The generator must give the same bytes for the same size and seed, valid sites, and
edits (``touch_site``) that keep the repo valid while changing exactly one file.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from gitops_edge.specs.repo import load_repo

ROOT = Path(__file__).resolve().parents[1]


def _load_fleet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


fleet = _load_fleet()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_size_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    ids_a = fleet.generate(tmp_path / "a", 50, seed=3)
    ids_b = fleet.generate(tmp_path / "b", 50, seed=3)
    assert ids_a == ids_b
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")
    fleet.generate(tmp_path / "c", 50, seed=4)
    assert _snapshot(tmp_path / "a") != _snapshot(tmp_path / "c")


def test_generated_fleet_validates(tmp_path: Path) -> None:
    ids = fleet.generate(tmp_path, 50)
    repo = load_repo(tmp_path)
    assert [str(p) for s in repo.sites for p in s.problems] == []
    assert sorted(s.id for s in repo.sites) == sorted(ids)
    assert len(ids) == len(set(ids)) == 50
    nested = [s for s in repo.sites if s.dir.count("/") == 2]
    assert len(nested) == 50 - 31


def test_a_smaller_fleet_is_a_prefix_of_a_larger_one(tmp_path: Path) -> None:
    small = fleet.generate(tmp_path / "small", 40)
    large = fleet.generate(tmp_path / "large", 80)
    assert large[:40] == small
    for rel, data in _snapshot(tmp_path / "small").items():
        assert (tmp_path / "large" / rel).read_bytes() == data


def test_emitter_round_trips(tmp_path: Path) -> None:
    for number in (1, 19, 32, 77, 500):
        doc = fleet.site_document(fleet.plan_site(number, 1), 1)
        assert yaml.safe_load(fleet.dump(doc)) == doc
    tricky = {"a": ["yes", "1.5", "12:30", "", "x: y", "#c", "a:", "10.0.0.0/16", "null"], "b": {}}
    assert yaml.safe_load(fleet.dump(tricky)) == tricky


def test_touch_site_changes_one_file_and_keeps_it_valid(tmp_path: Path) -> None:
    ids = fleet.generate(tmp_path, 40)
    before = _snapshot(tmp_path)
    site_id = ids[35]
    for n in range(6):
        path = fleet.touch_site(tmp_path, site_id, n)
    after = _snapshot(tmp_path)
    changed = [rel for rel in after if after[rel] != before.get(rel)]
    assert changed == [path.relative_to(tmp_path).as_posix()]
    repo = load_repo(tmp_path)
    site = repo.site(site_id)
    assert site is not None and site.valid, site.problems if site else None


def test_refuses_to_mix_with_an_existing_fleet(tmp_path: Path) -> None:
    fleet.generate(tmp_path, 5)
    with pytest.raises(FileExistsError):
        fleet.generate(tmp_path, 5)


def test_cli_writes_a_fleet(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), "--sites", "33", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.glob("provinces/**/cluster.yaml"))) == 33
