"""``git:REPO#BRANCH`` — commit the rendered manifests to a branch (rendered-manifests pattern).

A clone of REPO lives in a cache directory; each reconcile resets it to the remote
branch, lets a directory sink rewrite the changed sites in it (``work_tree``: the same
layout as ``dir:``, handed in by :mod:`gitops_edge.sinks` so that no sink imports
another), and makes one commit naming the sites and the source commit, then pushes.
A large run is staged a chunk at a time into the work tree's ``.tmp-<site>``
directories (the directory sink's two passes) and committed once, after the run-wide
guards: a refused run leaves the branch as it was. The branch is what Argo CD (or a
reviewer) reads; its history is the record of every reconcile.

The record of the last ``apply`` (:class:`~gitops_edge.emit.protocol.RecordingSink`)
is a git note on the branch's tip commit (``refs/notes/gitops-edge``, pushed next to
the branch), not a file in the tree: writing it makes no second commit, and it is
true only of the commit it is attached to. A commit anyone else pushes to the branch
since has no note, so the next ``apply`` finds no record and runs in full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from pathlib import Path

import git

from gitops_edge.emit.protocol import Capabilities, Staged, StagingSink
from gitops_edge.emit.result import EmitResult
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan
from gitops_edge.source.gitsafe import SAFE_ENV, check_url, git_call

AUTHOR = ("gitops-edge", "gitops-edge@localhost")
NOTES = "refs/notes/gitops-edge"
"""Where the record of the last ``apply`` is kept: a note on the branch tip it describes."""


class GitSinkError(Exception):
    pass


class GitSink:
    capabilities = Capabilities(
        reports_outcomes=False,
        stages=True,
        keeps_history=False,
        exclusive=True,
        parallel=False,
        records=True,
    )
    """A branch reports nothing back and is one clone; its commits are the history. A run
    is staged into the clone's work tree, in this process (one clone, one commit); the
    record of the last run is a note on the tip."""

    def __init__(
        self,
        remote: str,
        branch: str,
        *,
        cache_dir: Path,
        work_tree: Callable[[Path], StagingSink],
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
        self._revision = ""
        """The source commit of the run being staged, for the commit message."""

    def describe(self) -> str:
        return f"git:{self.remote}#{self.branch}"

    def _open(self) -> git.Repo:
        """The clone (made on first use), as it is: nothing is reset."""
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
        except git.GitError as exc:
            raise GitSinkError(f"{self.describe()}: {exc}") from None
        return self._repo

    def _fetch(self) -> git.Repo:
        """The remote's branches and the record's notes, fetched; the work tree untouched."""
        repo = self._open()
        try:
            # a glob refspec matches nothing quietly (no notes pushed yet)
            git_call(
                repo,
                "fetch",
                "--prune",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
                f"+{NOTES}*:{NOTES}*",
            )
        except git.GitError as exc:
            raise GitSinkError(f"{self.describe()}: {exc}") from None
        return repo

    def _sync(self) -> git.Repo:
        """A clean work tree at the remote branch's tip (or an empty orphan branch)."""
        repo = self._fetch()
        try:
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

    def read_record(self) -> bytes | None:
        """The note on the remote branch's tip; None when the tip has none (or no branch).

        Only fetched: the work tree (and a commit this run could not push) stays as it is.
        """
        repo = self._fetch()
        tip = f"origin/{self.branch}"
        try:
            if tip not in [r.name for r in repo.remotes.origin.refs]:
                return None
            data = git_call(repo, "notes", f"--ref={NOTES}", "show", tip)
        except git.GitCommandError:
            return None  # no note on the tip: someone else's commit, or none written
        return data.encode() or None  # the record is JSON: ASCII

    def write_record(self, data: bytes | None) -> str:
        """Attach ``data`` to the branch tip this run left (None: remove it), and push it.

        Written only when the local branch is the remote's tip: after a failed push
        nothing describes the branch, and the next run is a full one.
        """
        repo = self._open()
        try:
            head = git_call(repo, "rev-parse", "--verify", "-q", "HEAD")
            tip = git_call(repo, "rev-parse", "--verify", "-q", f"origin/{self.branch}")
        except git.GitCommandError:
            return ""  # nothing committed yet: no tip to describe
        if head != tip:
            return f"no record kept: {self.branch} is not at this run's commit"
        try:
            if data is None:
                git_call(repo, "notes", f"--ref={NOTES}", "remove", "--ignore-missing", head)
            else:
                path = Path(repo.git_dir) / "GITOPS_EDGE_RECORD"
                path.write_bytes(data)
                git_call(repo, "notes", f"--ref={NOTES}", "add", "-f", "-F", str(path), head)
            if git_call(repo, "rev-parse", "--verify", "-q", NOTES):
                git_call(repo, "push", "-q", "origin", f"+{NOTES}:{NOTES}")
        except git.GitCommandError as exc:
            raise GitSinkError(f"{self.describe()}: the record of this run: {exc}") from None
        return ""

    def read_live(
        self, *, now: datetime | None = None, sites: Collection[str] | None = None
    ) -> LiveState:
        self._sync()
        return self._tree.read_live(now=now)

    def emit(self, plan: Plan) -> EmitResult:
        if plan.refused:
            result = EmitResult(self.describe())
            result.refused = plan.refused
            return result
        self.recover()
        staged, result = self.stage(plan)
        return self.commit(staged, result)

    # -- a staged run: reset the clone, stage into its work tree, one commit ----------

    def recover(self) -> list[str]:
        """Reset the clone to the remote branch; what a crash left in it is gone."""
        self._sync()
        return self._tree.recover()

    def snapshot(self, *, now: datetime | None = None) -> LiveState:
        """The work tree as :meth:`recover` left it (no fetch, no reset)."""
        return self._tree.snapshot(now=now)

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]:
        """Write the plan's sites into the work tree's staging directories; no commit yet."""
        self._revision = plan.revision
        staged, inner = self._tree.stage(plan)
        result = EmitResult(self.describe())
        result.sites = inner.sites
        return staged, result

    def discard(self, staged: Iterable[Staged]) -> None:
        self._tree.discard(staged)

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult:
        """Swap the staged sites in, then one commit naming them and the source commit, pushed.

        Nothing is committed when a site could not be written: the branch keeps the
        previous render whole (the next run starts from a reset clone).
        """
        result = result or EmitResult(self.describe())
        self._tree.commit(staged, result)
        if not result.ok:
            return result
        repo = self._open()
        revision = self._revision
        try:
            git_call(repo, "add", "-A")
            if not git_call(repo, "status", "--porcelain").strip():
                result.note = "nothing to commit"
                return result
            sites = sorted(s for s, r in result.sites.items() if r.written or r.deleted)
            shown = ", ".join(sites[:20]) + (
                f" and {len(sites) - 20} more" if len(sites) > 20 else ""
            )
            message = f"gitops-edge: {len(sites)} site(s) from {revision[:12]}\n\nSites: {shown}\nSource-Revision: {revision}\n"
            git_call(repo, "commit", "-q", "--no-verify", "-m", message)
            git_call(repo, "push", "-q", "origin", f"HEAD:refs/heads/{self.branch}")
            result.note = f"committed {repo.head.commit.hexsha[:12]}"
        except git.GitError as exc:
            for site in result.sites.values():
                site.errors.append(f"git: {exc}")
        return result
