"""bench/run.py's own parts: patches, kustomize overlays, and one small end-to-end run.

Correctness only: no test here asserts a duration or a ratio.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import run
from bench.fleet import generate
from gitops_edge.emit.dirsink import DirSink
from gitops_edge.reconcile import reconcile
from gitops_edge.render.output import read_site

ROOT = Path(__file__).resolve().parents[2]


def apply_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A minimal RFC 6902 applier (add, remove, replace) to check the generator."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if not parts:
            doc = op["value"]
            continue
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "remove":
            del parent[last]
        else:
            parent[last] = op["value"]
    return doc


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=4),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=4), values), st.dictionaries(st.text(max_size=4), values))
def test_json_patch_turns_one_document_into_the_other(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert apply_patch(a, run.json_patch(a, b)) == b


def test_sample_sites_spreads_and_includes_a_site_with_its_own_edge_files() -> None:
    ids = [f"p-site-{i:04d}" for i in range(1, 101)]
    picked = run.sample_sites(ids, 5)
    assert len(picked) == 5 and len(set(picked)) == 5
    assert "p-site-0025" in picked


@pytest.mark.skipif(not Path(run.KUBECTL).exists(), reason="kubectl not installed")
def test_kustomize_overlays_produce_the_rendered_objects(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ids = generate(repo, 60, seed=2)
    out = tmp_path / "out"
    _, result = reconcile(repo, DirSink(out), revision="r1", jobs=1)
    assert result.ok
    sample = [ids[0], ids[40], "guangdong-site-0050" if "guangdong-site-0050" in ids else ids[49]]
    rendered = {s: read_site(out / s) for s in sample}
    overlays = run.kustomize_layout(tmp_path / "k", rendered[sample[0]], rendered)
    for site_id, overlay in overlays.items():
        proc = subprocess.run(
            [run.KUBECTL, "kustomize", str(overlay)], check=True, capture_output=True
        )
        got = [d for d in yaml.safe_load_all(proc.stdout) if d]
        assert run._canonical(got) == run._canonical(rendered[site_id]), site_id


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_a_small_run_prints_the_whole_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--sites", "35",
            "--commits", "1",
            "--polls", "2",
            "--sample", "2",
            "--skip-live",
            "--keep", str(tmp_path / "work"),
            "--json", str(tmp_path / "results.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout
    for row in ("| 1 cold full", "| 1b the same", "| 2 incremental", "| 3 no-op poll",
                "| 4 live state", "| 5 peak RSS", "| 6 per-site"):  # fmt: skip
        assert row in table, table
    assert "output byte-identical to 1" in table
    assert "1 file read, 1 parsed, 1 validated, 1 rendered" in table
    assert "loads+renders+live reads: 0" in table
