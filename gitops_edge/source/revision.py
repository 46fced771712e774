"""Which commit a render came from, for the ``gitops-edge.io/source-revision`` annotation.

The annotation tells an operator looking at a live object which commit produced it.
A render of uncommitted edits must not claim a commit it does not match, so a dirty
tree says ``<sha>-dirty``; a plain directory says ``unversioned``. This never raises:
a render without a revision is still a render.

git runs through :mod:`gitops_edge.source.gitsafe` (hooks and fsmonitor disabled): the
work tree may be a checkout of a repo whose config nobody on this machine reviewed,
and ``git status`` would otherwise run whatever ``core.fsmonitor`` names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import git

from gitops_edge.source.gitsafe import git_call

UNVERSIONED = "unversioned"
DIRTY_SUFFIX = "-dirty"


def describe_revision(path: Path, *, ignore: Iterable[Path] = ()) -> str:
    """HEAD's sha (40 hex), ``<sha>-dirty``, or ``unversioned`` for the tree holding ``path``.

    Changes below ``ignore`` do not count: a render written into the ops repo's own
    work tree must not make the next render of the same commit "dirty".
    """
    try:
        return _describe(path, tuple(ignore))
    except Exception:  # a revision is a label, never a reason to fail a render
        return UNVERSIONED


def _describe(path: Path, ignore: tuple[Path, ...]) -> str:
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.GitError, OSError, ValueError):
        return UNVERSIONED
    try:
        if repo.bare or repo.working_tree_dir is None:
            return UNVERSIONED
        try:
            sha = repo.head.commit.hexsha
        except (git.GitError, OSError, ValueError):
            return UNVERSIONED  # no commit yet, or an unreadable HEAD
        return sha + DIRTY_SUFFIX if _dirty(repo, path, ignore) else sha
    finally:
        repo.close()


def _dirty(repo: git.Repo, path: Path, ignore: tuple[Path, ...]) -> bool:
    """Uncommitted or untracked changes below ``path``; unknown counts as dirty."""
    top = Path(str(repo.working_tree_dir)).resolve()
    try:
        rel = Path(path).resolve().relative_to(top)
    except (ValueError, OSError):
        return True
    specs = [rel.as_posix() if rel.parts else "."]
    for skip in ignore:
        try:
            specs.append(f":(top,exclude){Path(skip).resolve().relative_to(top).as_posix()}")
        except (ValueError, OSError):
            continue  # outside this work tree: nothing to leave out
    try:
        out = git_call(repo, "status", "--porcelain", "--untracked-files=normal", "--", *specs)
    except (git.GitError, OSError, ValueError):
        return True
    return bool(out.strip())
