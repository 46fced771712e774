"""``git:REPO#BRANCH`` — commit the rendered manifests to a branch (rendered-manifests pattern).

A clone of REPO lives in a cache directory; each reconcile resets it to the remote
branch, lets a directory sink rewrite the changed sites in it (``work_tree``: the same
layout as ``dir:``, handed in by :mod:`gitops_edge.sinks` so that no sink imports
another), and makes one commit naming the sites and the source commit, then pushes. The branch is what Argo CD (or a
reviewer) reads; its history is the record of every reconcile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import git

from gitops_edge.emit.protocol import Capabilities, Sink
from gitops_edge.emit.result import EmitResult
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan
from gitops_edge.source.gitsafe import SAFE_ENV, check_url, git_call

AUTHOR = ("gitops-edge", "gitops-edge@localhost")


class GitSinkError(Exception):
    pass


class GitSink:
    capabilities = Capabilities(
        reports_outcomes=False, stages=False, keeps_history=False, exclusive=True
    )
    """A branch reports nothing back and is one clone; its commits are the history."""

    def __init__(
        self, remote: str, branch: str, *, cache_dir: Path, work_tree: Callable[[Path], Sink]
    ) -> None:
        problem = check_url(remote)
        if problem:
            raise GitSinkError(problem)
        self.remote = remote
        self.branch = branch or "rendered"
        key = hashlib.sha256(f"{remote}#{self.branch}".encode()).hexdigest()[:12]
        self.workdir = cache_dir / "git-sink" / key
        self._repo: git.Repo | None = None
        self._tree = work_tree(self.workdir)

    def describe(self) -> str:
        return f"git:{self.remote}#{self.branch}"

    def _sync(self) -> git.Repo:
        """A clean work tree at the remote branch's tip (or an empty orphan branch)."""
        try:
            if self._repo is None:
                if (self.workdir / ".git").is_dir():
                    self._repo = git.Repo(self.workdir)
                else:
                    self.workdir.parent.mkdir(parents=True, exist_ok=True)
                    self._repo = git.Repo.clone_from(
                        self.remote, self.workdir, env=SAFE_ENV, multi_options=["--no-checkout"]
                    )
                    with self._repo.config_writer() as cfg:
                        cfg.set_value("user", "name", AUTHOR[0])
                        cfg.set_value("user", "email", AUTHOR[1])
            repo = self._repo
            git_call(repo, "fetch", "--prune", "origin")
            remote_ref = f"origin/{self.branch}"
            if remote_ref in [r.name for r in repo.remotes.origin.refs]:
                git_call(repo, "checkout", "-q", "-B", self.branch, remote_ref)
                git_call(repo, "reset", "-q", "--hard", remote_ref)
            else:
                git_call(repo, "checkout", "-q", "--orphan", self.branch)
                git_call(repo, "rm", "-rq", "--cached", "--ignore-unmatch", ".")
            git_call(repo, "clean", "-fdq")
        except git.GitError as exc:
            raise GitSinkError(f"{self.describe()}: {exc}") from None
        return repo

    def read_live(self, *, now: datetime | None = None) -> LiveState:
        self._sync()
        return self._tree.read_live(now=now)

    def emit(self, plan: Plan) -> EmitResult:
        result = EmitResult(self.describe())
        if plan.refused:
            result.refused = plan.refused
            return result
        repo = self._sync()
        inner = self._tree.emit(plan)
        result.sites = inner.sites
        if not inner.ok:
            return result
        try:
            git_call(repo, "add", "-A")
            if not git_call(repo, "status", "--porcelain").strip():
                result.note = "nothing to commit"
                return result
            sites = sorted(s for s, r in inner.sites.items() if r.written or r.deleted)
            shown = ", ".join(sites[:20]) + (
                f" and {len(sites) - 20} more" if len(sites) > 20 else ""
            )
            message = f"gitops-edge: {len(sites)} site(s) from {plan.revision[:12]}\n\nSites: {shown}\nSource-Revision: {plan.revision}\n"
            git_call(repo, "commit", "-q", "--no-verify", "-m", message)
            git_call(repo, "push", "-q", "origin", f"HEAD:refs/heads/{self.branch}")
            result.note = f"committed {repo.head.commit.hexsha[:12]}"
        except git.GitError as exc:
            for site in result.sites.values():
                site.errors.append(f"git: {exc}")
        return result
