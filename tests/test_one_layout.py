"""Render order is apply order: ``render``, ``apply --emit dir`` and ``run --once`` write one tree.

The three commands go through one namer (``dump_site``) and one writer (the directory
sink's staged swap), so on the bundled sample repo and on a generated fleet their trees
are byte-identical, and ``apply`` over a render's output has nothing to change. The one
difference is by design: a suspended site is rendered for review, never emitted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bench.fleet import generate
from gitops_edge.render.output import KUSTOMIZATION
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[1] / "sample-repo"


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(params=["sample-repo", "generated"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "ops"
    if request.param == "sample-repo":
        shutil.copytree(SAMPLE, root)
    else:
        generate(root, 8, seed=5)
    return root


def test_render_apply_and_run_once_write_the_same_tree(repo: Path, tmp_path: Path) -> None:
    out = {name: tmp_path / name for name in ("render", "apply", "run")}
    rendered = run_cli("render", repo, "--out", out["render"], "-o", "json", "-q")
    assert rendered.returncode == 0, rendered.stderr
    applied = run_cli("apply", repo, "--emit", f"dir:{out['apply']}", "-q")
    assert applied.returncode == 0, applied.stderr
    once = run_cli("run", repo, "--once", "--emit", f"dir:{out['run']}")
    assert once.returncode == 0, once.stderr

    held = {s["site"] for s in json.loads(rendered.stdout)["sites"] if s["suspended"]}
    render_tree = tree(out["render"])
    emitted = {
        k: v for k, v in render_tree.items() if k.split("/")[0] not in held and "/" in k
    }
    assert emitted, "nothing rendered"
    # each tree's own Kustomization lists its site directories (the render's lists the
    # suspended sites too); everything else is the same bytes
    for name, root in out.items():
        index = yaml.safe_load((root / KUSTOMIZATION).read_text())
        assert index["resources"] == sorted(p.name for p in root.iterdir() if p.is_dir()), name
    assert {k: v for k, v in tree(out["apply"]).items() if "/" in k} == emitted
    assert tree(out["apply"]) == tree(out["run"])
    # the eggo run sits between the edge bundle and the Applications in every tree
    site = sorted({k.split("/")[0] for k in emitted})[0]
    names = [k.split("/")[1] for k in emitted if k.startswith(f"{site}/")]
    kinds = [n.split("-")[1] for n in names if n[0].isdigit()]
    assert kinds[0] == "namespace"
    assert kinds.index("job") < kinds.index("application")

    again = run_cli("apply", repo, "--emit", f"dir:{out['render']}", "-o", "json", "-q")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert set(report["summary"]) <= {"unchanged", "suspended"}, report["summary"]
    assert report["emit"]["written"] == 0 and report["emit"]["deleted"] == 0
    assert tree(out["render"]) == render_tree
