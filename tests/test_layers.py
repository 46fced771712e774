"""The layer contracts in pyproject.toml ([tool.importlinter]) hold: ``lint-imports`` passes.

The contracts (modelled on nolar/kopf's ``.importlinter``) say that the pure core
(specs, render, plan, kinds, status, statusview, problems, schemas) imports no I/O
kit, directly or through another module; that the sinks never import each other; that
the no-cluster path (dir and git sinks, the pipeline, ``render``) needs no Kubernetes
client; and that the package never imports its test doubles (``gitops_edge.testing``).
import-linter reads the import graph statically, so an import inside a function counts
too. Running it here puts the contracts in the README's test command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if found is None:
        pytest.fail("lint-imports is missing: pip install -e '.[dev]' installs import-linter")
    return found


def test_the_layer_contracts_are_kept() -> None:
    out = subprocess.run(
        [_lint_imports(), "--no-cache"],  # no cache: the graph of this tree, nothing stale
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, f"an import breaks a layer contract:\n{out.stdout}{out.stderr}"
    assert "broken" in out.stdout and " 0 broken" in out.stdout


def test_every_module_a_contract_names_exists() -> None:
    """A renamed package must not turn a contract into one that checks nothing."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    named = {
        m
        for c in config["contracts"]
        for key in ("source_modules", "forbidden_modules", "modules")
        for m in c.get(key, ())
        if m.startswith("gitops_edge")
    }
    missing = sorted(
        m
        for m in named
        if not (ROOT / Path(*m.split("."))).is_dir()
        and not (ROOT / Path(*m.split("."))).with_suffix(".py").is_file()
    )
    assert not missing, f"contracts name modules that do not exist: {missing}"
