"""describe_revision against real git repositories in tmp_path."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from gitops_edge.source.revision import describe_revision


def git(cwd: Path, *args: str) -> str:
    env_args = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "commit.gpgsign=false",
    ]
    return subprocess.run(
        ["git", *env_args, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_git_repo(path: Path) -> str:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "ops").mkdir()
    (path / "ops" / "a.yaml").write_text("a: 1\n")
    (path / "other.txt").write_text("x\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "init")
    return git(path, "rev-parse", "HEAD")


def test_clean_tree_is_its_head_sha(tmp_path: Path) -> None:
    sha = make_git_repo(tmp_path / "r")
    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    assert describe_revision(tmp_path / "r") == sha
    assert describe_revision(tmp_path / "r" / "ops") == sha


def test_changes_make_it_dirty_only_under_the_path(tmp_path: Path) -> None:
    root = tmp_path / "r"
    sha = make_git_repo(root)
    (root / "other.txt").write_text("changed\n")
    assert describe_revision(root / "ops") == sha
    assert describe_revision(root) == sha + "-dirty"
    (root / "ops" / "new.yaml").write_text("b: 2\n")  # untracked counts
    assert describe_revision(root / "ops") == sha + "-dirty"


def test_not_a_work_tree_is_unversioned(tmp_path: Path) -> None:
    assert describe_revision(tmp_path) == "unversioned"
    assert describe_revision(tmp_path / "missing") == "unversioned"
    (tmp_path / "empty").mkdir()
    git(tmp_path / "empty", "init", "-q")
    assert describe_revision(tmp_path / "empty") == "unversioned"


def test_fsmonitor_from_repo_config_is_not_run(tmp_path: Path) -> None:
    root = tmp_path / "r"
    sha = make_git_repo(root)
    marker = tmp_path / "ran"
    hook = tmp_path / "monitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(hook))
    assert describe_revision(root) == sha
    assert not marker.exists()


def test_ignored_paths_do_not_make_it_dirty(tmp_path: Path) -> None:
    root = tmp_path / "r"
    sha = make_git_repo(root)
    (root / "rendered" / "gd").mkdir(parents=True)
    (root / "rendered" / "gd" / "000-namespace-edge-gd.yaml").write_text("x\n")
    assert describe_revision(root) == sha + "-dirty"
    assert describe_revision(root, ignore=[root / "rendered"]) == sha
    assert describe_revision(root, ignore=[tmp_path / "elsewhere"]) == sha + "-dirty"
