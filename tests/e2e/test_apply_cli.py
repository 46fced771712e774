"""``plan`` and ``apply`` from the command line, into the dir and git sinks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.builders import eggo_spec, git, git_init_commit, province, write_site
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_apply_sample_repo_twice_second_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_cli("apply", SAMPLE, "--emit", f"dir:{out}")
    assert first.returncode == 0, first.stderr
    assert "0 object(s) written" not in first.stdout
    before = snapshot(out)
    assert len({k.split("/")[0] for k in before}) >= 37
    second = run_cli("apply", SAMPLE, "--emit", f"dir:{out}", "--output", "json")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["emit"]["written"] == 0 and report["emit"]["deleted"] == 0
    assert snapshot(out) == before
    plan = run_cli("plan", SAMPLE, "--against", out, "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout
    # a render reports no run outcomes: the plan says its waves are not enforced there
    note = "waves not enforced in this plan: a render"
    assert f"note: {note}" in plan.stdout and "waves 0, 1, 2 are planned" in plan.stdout
    md = run_cli("plan", SAMPLE, "--against", out, "-o", "markdown").stdout
    data = json.loads(run_cli("plan", SAMPLE, "--against", out, "-o", "json").stdout)
    assert f"> [!NOTE]\n> {note}" in md and data["notes"][0].startswith(note)


def test_plan_detailed_exitcode_and_formats(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_site(repo, "gd", province("gd"))
    out = tmp_path / "out"
    res = run_cli("plan", repo, "--against", out, "--detailed-exitcode")
    assert res.returncode == 2
    assert "+ Namespace edge-gd" in res.stdout
    md = run_cli("plan", repo, "--against", out, "--output", "markdown")
    assert md.returncode == 0
    assert "##### `gd` — ready, wave 0: 4 to create" in md.stdout
    data = json.loads(run_cli("plan", repo, "--against", out, "--output", "json").stdout)
    assert data["sites"][0]["eggo"]["operation"] == "deploy"
    assert run_cli("apply", repo, "--emit", f"dir:{out}").returncode == 0
    # a change to one site shows as an update with a diff, and only that site is rewritten
    write_site(repo, "hb", province("hb", eggo=eggo_spec("hb-paas", net=30)))
    assert run_cli("apply", repo, "--emit", f"dir:{out}").returncode == 0
    gd_before = snapshot(out / "gd")
    doc = province("hb", eggo=eggo_spec("hb-paas", net=30))
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(repo, "hb", doc)
    res = run_cli("plan", repo, "--against", out, "--detailed-exitcode")
    assert res.returncode == 2
    assert "~ Application edge-hb/base (spec changed)" in res.stdout
    assert "+    targetRevision: v2" in res.stdout
    assert run_cli("apply", repo, "--emit", f"dir:{out}").returncode == 0
    assert snapshot(out / "gd") == gd_before


def test_invalid_site_exits_one_and_keeps_its_last_render(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_site(repo, "gd", province("gd"))
    out = tmp_path / "out"
    assert run_cli("apply", repo, "--emit", f"dir:{out}").returncode == 0
    kept = snapshot(out / "gd")
    (repo / "provinces" / "gd" / "cluster.yaml").write_text("spec: [\n")
    res = run_cli("apply", repo, "--emit", f"dir:{out}")
    assert res.returncode == 1
    assert "[invalid]" in res.stdout
    assert snapshot(out / "gd") == kept


def test_git_sink_commits_once_per_reconcile(tmp_path: Path) -> None:
    repo = tmp_path / "ops"
    write_site(repo, "gd", province("gd"))
    write_site(repo, "hb", province("hb", eggo=eggo_spec("hb-paas", net=30)))
    source = git_init_commit(repo)
    remote = tmp_path / "rendered.git"
    remote.mkdir()
    git(remote, "init", "-q", "--bare", "-b", "main")
    env_cache = tmp_path / "cache"
    target = f"git:{remote}#rendered"

    def apply() -> None:
        import os
        import subprocess
        import sys

        env = {
            **os.environ,
            "XDG_CACHE_HOME": str(env_cache),
            "GIT_AUTHOR_NAME": "x",
            "GIT_AUTHOR_EMAIL": "x@x",
            "GIT_COMMITTER_NAME": "x",
            "GIT_COMMITTER_EMAIL": "x@x",
        }
        res = subprocess.run(
            [sys.executable, "-m", "gitops_edge", "apply", str(repo), "--emit", target],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stdout + res.stderr

    apply()
    log = git(remote, "log", "--format=%s%n%b", "rendered")
    assert f"gitops-edge: 2 site(s) from {source[:12]}" in log
    assert f"Source-Revision: {source}" in log
    apply()
    assert git(remote, "rev-list", "--count", "rendered") == "1"
    doc = province("hb", eggo=eggo_spec("hb-paas", net=30))
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(repo, "hb", doc)
    git(repo, "commit", "-qam", "hb: v2")
    apply()
    assert git(remote, "rev-list", "--count", "rendered") == "2"
    last = git(remote, "log", "-1", "--format=%B", "rendered")
    assert "Sites: hb" in last
    files = git(remote, "ls-tree", "-r", "--name-only", "rendered").splitlines()
    assert any(f.startswith("gd/") for f in files) and any(f.startswith("hb/") for f in files)
    shutil.rmtree(env_cache)
    apply()  # a fresh cache clones the branch and finds nothing to do
    assert git(remote, "rev-list", "--count", "rendered") == "2"
