"""A command that needs no cluster starts without the ``kubernetes`` client package.

Importing the client costs about a second (and more on a busy CI runner): ``validate``
in a merge-request pipeline, ``render``, ``plan`` and ``apply`` against a directory,
``schemas``, ``init`` and shell completion must not pay for it. Each command is run in
a fresh interpreter, as the console script would run it, and what it imported is read
from ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample-repo"
HEAVY = ("kubernetes", "gitops_edge.live.client", "gitops_edge.live.snapshot")

PROBE = """\
import json, sys
from gitops_edge.cli import main
argv = json.loads(sys.argv[1])
try:
    rc = main(argv)
except SystemExit as exc:
    rc = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "kubernetes" or m in {heavy!r})
print(json.dumps({{"rc": rc, "heavy": heavy}}), file=sys.stderr)
"""


def _imported(argv: list[str], cwd: Path) -> tuple[object, list[str]]:
    """Run the CLI with ``argv`` in a fresh interpreter; its exit code and heavy modules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.pop("KUBECONFIG", None)
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY[1:])), json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    last = res.stderr.strip().splitlines()[-1]
    out = json.loads(last)
    return out["rc"], out["heavy"]


def _commands(repo: Path, tmp: Path) -> dict[str, list[str]]:
    return {
        "version": ["--version"],
        "validate": ["validate", str(repo)],
        "render": ["render", str(repo), "--out", str(tmp / "render"), "-q"],
        "plan-dir": ["plan", str(repo), "--against", str(tmp / "render"), "--no-diff", "-q"],
        "apply-dir": ["apply", str(repo), "--emit", f"dir:{tmp / 'out'}", "-q"],
        "apply-dir-site": [
            "apply",
            str(repo),
            "--emit",
            f"dir:{tmp / 'out'}",
            "--site",
            "guangdong",
            "-q",
        ],
        "schemas": ["schemas", "--out", str(tmp / "schemas")],
        "init": ["init", str(tmp / "new-repo")],
        "completion": ["completion", "bash"],
        "help-status": ["status", "--help"],
        "help-run": ["run", "--help"],
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("startup") / "ops"
    shutil.copytree(SAMPLE, dst)
    return dst


@pytest.mark.parametrize("name", list(_commands(Path("r"), Path("t"))))
def test_no_cluster_command_does_not_import_the_kubernetes_client(
    name: str, repo: Path, tmp_path: Path
) -> None:
    argv = _commands(repo, tmp_path)[name]
    rc, heavy = _imported(argv, tmp_path)
    assert rc in (0, None), f"{argv} exited {rc}"
    assert heavy == [], f"gitops-edge {' '.join(argv)} imported {heavy}"


def test_the_probe_sees_the_client_when_a_command_loads_it(tmp_path: Path) -> None:
    """The check can fail: a module that talks to a cluster is seen in ``sys.modules``."""
    probe = PROBE.replace("from gitops_edge.cli import main", "import gitops_edge.live.connect\nfrom gitops_edge.cli import main")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    res = subprocess.run(
        [sys.executable, "-c", probe.format(heavy=set(HEAVY[1:])), json.dumps(["--version"])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    heavy = json.loads(res.stderr.strip().splitlines()[-1])["heavy"]
    assert "kubernetes" in heavy and "gitops_edge.live.client" in heavy
