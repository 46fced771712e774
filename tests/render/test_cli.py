"""``gitops-edge render`` as a user runs it: a subprocess on repos built in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops_edge.specs.repo import load_repo

from .helpers import ARGOCD_BUNDLE, CRD_GROUPS, REPO_ROOT, core_errors, group, site_spec, write_repo

pytestmark = pytest.mark.e2e


def render(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops_edge", "render", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def snapshot(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def test_good_site_written_bad_site_reported(tmp_path: Path) -> None:
    bad = site_spec()
    bad["eggo"]["password"] = "123456"
    root = write_repo(
        tmp_path / "repo",
        {"gd": site_spec(), "hn": bad},
        files={"edge-bundle/argocd.yaml": ARGOCD_BUNDLE},
    )
    out = tmp_path / "out"
    proc = render(root, "--out", out)
    assert proc.returncode == 1, proc.stderr
    assert (
        "provinces/hn/cluster.yaml:48:5: spec.eggo.password: password must not be stored in Git"
        in proc.stdout
    )
    assert "1 of 2 site(s) rendered" in proc.stdout
    assert (out / "gd" / "000-namespace-edge-gd.yaml").is_file()
    assert (out / "gd" / "Kustomization").is_file()
    assert not (out / "hn").exists()
    assert "123456" not in "".join(p.read_text() for p in out.rglob("*.yaml"))

    first = snapshot(out)
    assert render(root, "--out", out).returncode == 1
    assert snapshot(out) == first


def test_json_output_and_success_exit(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", {"gd": site_spec()})
    proc = render(root, "--out", tmp_path / "out", "--output", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["revision"] == "unversioned"
    (site,) = report["sites"]
    assert site["site"] == "gd" and site["rendered"] and site["errors"] == []
    assert site["files"][0] == "000-namespace-edge-gd.yaml"
    assert site["files"][-1] == "Kustomization"


def test_git_revision_is_stamped(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", {"gd": site_spec()})
    git = [
        "git",
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fleet"], cwd=root, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    out = tmp_path / "out"
    assert render(root, "--out", out).returncode == 0
    assert (
        f"gitops-edge.io/source-revision: {sha}\n"
        in (out / "gd" / "000-namespace-edge-gd.yaml").read_text()
    )


def test_usage_and_io_errors_exit_2(tmp_path: Path) -> None:
    assert render(tmp_path / "missing", "--out", tmp_path / "out").returncode == 2
    root = write_repo(tmp_path / "repo", {"gd": site_spec()})
    assert render(root).returncode == 2  # --out is required
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = render(root, "--out", blocker)
    assert proc.returncode == 2
    assert "cannot write" in proc.stderr


SAMPLE = REPO_ROOT / "sample-repo"


def test_sample_repo_renders_deterministically(tmp_path: Path) -> None:
    if not (SAMPLE / "provinces").is_dir():
        pytest.skip("sample-repo/ has no provinces/ yet")
    repo = load_repo(SAMPLE)
    if repo.problems or repo.invalid_sites:
        pytest.skip("sample-repo/ does not validate yet")
    a, b = tmp_path / "a", tmp_path / "b"
    proc = render(SAMPLE, "--out", a)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert render(SAMPLE, "--out", b).returncode == 0
    assert snapshot(a) == snapshot(b)
    assert {p.name for p in a.iterdir()} == {s.id for s in repo.sites} | {"Kustomization"}
    for path in sorted(a.glob("*/[0-9]*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if group(obj) not in CRD_GROUPS:
            assert core_errors(obj) == [], path
