"""Where the daemon's ops tree comes from: a remote branch, cloned and checked out here.

A quiet poll must cost one ``ls-remote`` (ARCHITECTURE.md: 10 000 sites on 2 cores),
so the remote head is compared with the commit being served before anything else
happens: no fetch, no render, no API write. Only a new head is fetched, checked out
(detached, forced, cleaned) into the work tree the loader reads, and diffed against
the last *reconciled* commit, so sites whose earlier reconcile failed are looked at
again rather than forgotten.

A branch whose new head does not descend from the served commit was force-pushed:
history an operator reviewed was rewritten. With ``--on-force-push refuse`` (the
default) the daemon reports it once and keeps serving the last good commit until an
operator restarts it with ``follow`` or the branch comes back to a descendant.

The remote is untrusted and unreliable: every git call goes through
:func:`gitsafe.git_call` (no hooks, no fsmonitor, no ``ext::``, no prompts) with a
timeout, a failure keeps the last good checkout, counts, and backs off (1 s doubling
to 5 min) so a dead remote is not hammered; the next good poll recovers by itself,
and a verified push webhook cuts the backoff short (:meth:`GitSource.reset_backoff`).

Credentials never reach git's argv, environment or ``.git/config``: userinfo in the
URL is taken out at once, and the credential is handed over in memory
(:class:`gitops_edge.source.gitsafe.GitAuth`); git runs with an allow-listed
environment (:func:`gitops_edge.source.gitsafe.run_git`). :meth:`GitSource.supersedes`
answers "is this live object's commit newer than mine" for the kube sink's fence.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol, TypeVar

from gitops_edge.daemon.affected import Change, parse_name_status, strip_prefix
from gitops_edge.daemon.queue import Backoff
from gitops_edge.source.gitsafe import (
    CredentialError,
    GitAuth,
    check_url,
    run_git,
    split_userinfo,
)
from gitops_edge.source.verify import verify_commit

ForcePushPolicy = Literal["refuse", "follow"]
SHA = re.compile(r"^[0-9a-f]{40}$")
_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")
T = TypeVar("T")


class SourceError(Exception):
    """The ops repo cannot be read right now; the message says what git said."""


@dataclass(frozen=True)
class Update:
    """A new commit is checked out; ``changes`` None means every path may have changed."""

    revision: str
    previous: str | None
    changes: tuple[Change, ...] | None
    forced: bool = False


@dataclass(frozen=True)
class ForcePush:
    """A head that does not descend from the served commit, refused."""

    served: str
    head: str
    branch: str

    def describe(self) -> str:
        return (
            f"branch {self.branch} was force-pushed: {self.head[:12]} does not descend from "
            f"{self.served[:12]}; still serving {self.served[:12]} (restart with "
            "--on-force-push follow to take the new history, or push a descendant)"
        )


@dataclass(frozen=True)
class Unverified(ForcePush):
    """A head whose signature is not from an allowed key (``--verify-commits``), refused."""

    reason: str = ""

    def describe(self) -> str:
        serving = f"still serving {self.served[:12]}" if self.served else "nothing is served yet"
        return (
            f"commit {self.head[:12]} on {self.branch} is refused: {self.reason}; {serving} "
            "(sign it with a key in the --verify-commits keyring)"
        )


def redact(text: str) -> str:
    """Hide ``user:token@`` in URLs before a message reaches a log."""
    return _CREDENTIALS.sub(r"\1***@", text)


def check_subpath(path: str) -> str:
    """The ops tree path inside the repo, normalised; absolute or ``..`` paths are refused."""
    p = PurePosixPath(path or ".")
    if p.is_absolute() or ".." in p.parts:
        raise SourceError(f"--path {path!r} must be a relative path inside the repository")
    return p.as_posix()


class GitSource:
    """A branch of a remote (or bare local) repository, cloned into ``cache_dir``."""

    immutable = True
    """The tree only changes when :meth:`poll` checks out a new commit."""

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        path: str = ".",
        cache_dir: Path,
        on_force_push: ForcePushPolicy = "refuse",
        verify_keyring: Path | None = None,
        timeout: float = 120.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        auth_header_file: Path | None = None,
        credentials_file: Path | None = None,
    ) -> None:
        problem = check_url(url)
        if problem:
            raise SourceError(redact(problem))
        if not branch or branch.startswith("-") or any(c in branch for c in " ~^:?*[\\"):
            raise SourceError(f"--branch {branch!r} is not a valid branch name")
        split = split_userinfo(url)
        self.had_userinfo = split.url != url
        self.url, self.branch, self.path = split.url, branch, check_subpath(path)
        self.auth = GitAuth(
            split.url,
            username=split.username,
            password=split.password,
            header_file=auth_header_file,
            credentials_file=credentials_file,
        )
        key = hashlib.sha256(f"{split.url}#{branch}".encode()).hexdigest()[:16]
        self.workdir = cache_dir / "repos" / key
        if self.had_userinfo:
            # a cache made before credentials were taken out of URLs: its .git/config
            # holds the token; it is cloned again under the clean URL's key
            legacy = hashlib.sha256(f"{url}#{branch}".encode()).hexdigest()[:16]
            shutil.rmtree(cache_dir / "repos" / legacy, ignore_errors=True)
        self.on_force_push: ForcePushPolicy = on_force_push
        self.verify_keyring = verify_keyring
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=1.0, cap=300.0)
        self._clock = clock
        self.served: str | None = None
        self.reconciled: str | None = None
        self.blocked: ForcePush | None = None
        self.git_calls = 0
        self.errors = 0
        self.failures = 0
        self.last_error = ""
        self._retry_at = 0.0
        self.polls_ok = 0
        """Successful polls so far (:meth:`supersedes` waits for one on an unknown commit)."""
        self._ancestry: dict[tuple[str, str], bool] = {}
        self._unknown: dict[str, int] = {}
        self._repo: Path | None = None
        self._poll_lock = threading.Lock()
        self._tree_lock = threading.Lock()

    # -- what the loader reads ---------------------------------------------------

    @property
    def root(self) -> Path:
        return self.workdir / self.path

    def describe(self) -> str:
        return f"{redact(self.url)}#{self.branch}" + ("" if self.path == "." else f":{self.path}")

    @contextlib.contextmanager
    def reading(self) -> Iterator[tuple[Path, str]]:
        """(ops tree, commit) held still while the caller reads it."""
        with self._tree_lock:
            if self.served is None:
                raise SourceError(
                    f"{self.describe()}: nothing checked out yet ({self.last_error or 'no poll yet'})"
                )
            yield self.root, self.served

    def mark_reconciled(self, revision: str) -> None:
        """Every change up to ``revision`` reached the sink: the next diff starts here."""
        if SHA.match(revision):
            self.reconciled = revision

    @property
    def backing_off(self) -> bool:
        return self._clock() < self._retry_at

    # -- polling -------------------------------------------------------------------

    def prepare(self) -> Update | ForcePush | None:
        """Open (or clone) the cache and serve what it holds, then poll once."""
        with self._poll_lock:
            self._guard(self._open)
        return self.poll(force=True)

    def poll(self, *, force: bool = False) -> Update | ForcePush | None:
        """One poll: a new commit checked out, a refused force-push, or None (nothing new).

        Raises :class:`SourceError` (after counting it and scheduling the backoff);
        while backing off, returns None without touching the remote unless ``force``.
        """
        with self._poll_lock:
            if self.backing_off and not force:
                return None
            return self._guard(self._poll)

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except SourceError as exc:
            self.errors += 1
            self.failures += 1
            self.last_error = str(exc)
            self._retry_at = self._clock() + self.backoff.delay(self.failures)
            raise
        self.failures = 0
        self.last_error = ""
        self._retry_at = 0.0
        self.polls_ok += 1
        return result

    def reset_backoff(self) -> None:
        """A verified push webhook: the remote is answering again, poll now."""
        self._retry_at = 0.0

    def remote_head(self) -> str:
        """The branch's commit on the remote: one ``ls-remote`` round trip."""
        out = self._git("ls_remote", "--", self.url, f"refs/heads/{self.branch}", repo=False)
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{self.branch}":
                if not SHA.match(sha):
                    raise SourceError(f"{self.describe()}: remote answered garbage: {line[:80]!r}")
                return sha
        raise SourceError(f"{self.describe()}: branch {self.branch!r} not found on the remote")

    def _poll(self) -> Update | ForcePush | None:
        head = self.remote_head()
        if head == self.served:
            self.blocked = None
            return None
        if self.blocked is not None and head == self.blocked.head:
            return None  # already reported; keep serving the last good commit
        self._open()
        remote_ref = f"refs/remotes/origin/{self.branch}"
        self._git("fetch", "--no-tags", "origin", f"+refs/heads/{self.branch}:{remote_ref}")
        new = self._git("rev_parse", "--verify", "--quiet", f"{remote_ref}^{{commit}}").strip()
        if not SHA.match(new):
            raise SourceError(f"{self.describe()}: fetched ref is not a commit: {new[:80]!r}")
        if new == self.served:
            return None
        if self.verify_keyring is not None:
            verdict = verify_commit(self.workdir, new, self.verify_keyring)
            if not verdict.ok:
                self.blocked = Unverified(self.served or "", new, self.branch, verdict.reason)
                return self.blocked
        forced = self.served is not None and not self._is_ancestor(self.served, new)
        if forced and self.on_force_push == "refuse":
            assert self.served is not None
            self.blocked = ForcePush(self.served, new, self.branch)
            return self.blocked
        changes = self._diff(self.reconciled, new)
        with self._tree_lock:
            self._git("checkout", "-q", "--detach", "--force", new)
            self._git("clean", "-ffdxq")
            self._marker.write_text(new + "\n")
            previous, self.served = self.served, new
        self.blocked = None
        return Update(new, previous, changes, forced)

    # -- git -------------------------------------------------------------------------

    def _open(self) -> None:
        """The cached clone (``--no-checkout`` at first); a broken cache is cloned again."""
        if self._repo is not None:
            return
        if (self.workdir / ".git").is_dir():
            try:
                self._repo = self.workdir
                self._git("rev_parse", "--git-dir")
                # the clone's remote URL never carries credentials (older caches did)
                self._git("config", "remote.origin.url", self.url)
                self.served = self._served_marker()
                if self.served is not None:  # a crash may have left a half-done checkout
                    with self._tree_lock:
                        self._git("checkout", "-q", "--detach", "--force", self.served)
                        self._git("clean", "-ffdxq")
                return
            except (SourceError, ValueError, OSError):
                self._repo = None
                shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.workdir.with_name(self.workdir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self._git(
            "clone",
            "--quiet",
            "--no-checkout",
            "--no-tags",
            "--single-branch",
            "--branch",
            self.branch,
            "--",
            self.url,
            str(tmp),
            repo=False,
        )
        tmp.rename(self.workdir)
        self._repo = self.workdir
        self.served = None

    @property
    def _marker(self) -> Path:
        return self.workdir / ".git" / "gitops-edge-served"

    def _served_marker(self) -> str | None:
        """The commit this cache last served: recorded after a checkout, never the clone's HEAD.

        A clone's HEAD is the remote tip, which was never checked (force-push, signature);
        only a commit that passed those checks and was checked out is served again after
        a restart.
        """
        try:
            sha = self._marker.read_text().strip()
        except OSError:
            return None
        if not SHA.match(sha):
            return None
        found = self._git("rev_parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False)
        return sha if found.strip() == sha else None

    def _is_ancestor(self, old: str, new: str) -> bool:
        try:
            self._git("merge_base", "--is-ancestor", old, new, raw=True)
        except GitExit as exc:
            if exc.status == 1:
                return False
            last = exc.stderr.strip().splitlines()[-1:] or [str(exc)]
            raise SourceError(f"{self.describe()}: git merge-base: {redact(last[0])}") from None
        return True

    def _cat_ok(self, sha: str) -> bool:
        try:
            self._git("cat_file", "-e", f"{sha}^{{commit}}", raw=True)
        except GitExit:
            return False
        return True

    def supersedes(self, live: str, own: str) -> bool:
        """Whether a live object stamped with commit ``live`` is newer than ``own``'s content.

        The rule (the newer commit wins, whoever writes last):

        * ``own`` is an ancestor of ``live``: newer, leave it;
        * ``live`` is an ancestor of ``own``, or the two diverged (a force-push the
          daemon follows), or either is not a plain commit (``-dirty``, ``unversioned``):
          not newer, overwrite;
        * ``live`` is a commit this clone has not fetched: another replica saw a newer
          head first, so it counts as newer until a poll has succeeded since it was first
          seen; a commit still unknown after that is not on the branch (rewritten away)
          and is overwritten.

        Answers are cached per pair: a batch asks once per commit pair, not per object.
        """
        if live == own or not SHA.match(live) or not SHA.match(own):
            return False
        key = (live, own)
        cached = self._ancestry.get(key)
        if cached is not None:
            return cached
        if self._repo is None or not self._cat_ok(live):
            first = self._unknown.setdefault(live, self.polls_ok)
            return self.polls_ok <= first
        try:
            answer = self._is_ancestor(own, live)
        except SourceError:
            return False
        if len(self._ancestry) > 1024:
            self._ancestry.clear()
        self._ancestry[key] = answer
        return answer

    def _diff(self, old: str | None, new: str) -> tuple[Change, ...] | None:
        """Changed paths below ``--path`` since ``old``; None (everything) when unknown."""
        if old is None:
            return None
        try:
            out = self._git(
                "diff", "--name-status", "-M", "-z", "--no-ext-diff", old, new, "--", self.path
            )
        except SourceError:
            return None
        return tuple(strip_prefix(parse_name_status(out), self.path))

    def _git(
        self, command: str, *args: str, repo: bool = True, raw: bool = False, check: bool = True
    ) -> str:
        """``git COMMAND ARGS`` (``ls_remote`` spells ``ls-remote``) in the clone, or outside it.

        The child gets a scrubbed environment plus the credential include
        (:class:`GitAuth`); the URL in its argv has no userinfo. ``raw``: a non-zero exit
        raises :class:`GitExit` (the caller reads the status); ``check=False``: "" instead.
        """
        self.git_calls += 1
        verb = command.replace("_", "-")
        try:
            env = self.auth.env()
        except CredentialError as exc:
            raise SourceError(str(exc)) from None
        try:
            done = run_git(
                [verb, *args],
                cwd=self.workdir if repo else None,
                env=env,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"{self.describe()}: git {verb}: no answer within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise SourceError(f"{self.describe()}: git {verb}: {redact(str(exc))}") from None
        if done.returncode != 0:
            if raw:
                raise GitExit(done.returncode, done.stderr)
            if not check:
                return ""
            raise SourceError(f"{self.describe()}: git {verb}: {_stderr(done)}")
        return done.stdout

    def close(self) -> None:
        """Drop the in-memory credential file."""
        self.auth.close()


class GitExit(Exception):
    """A git command exited non-zero (its status and stderr)."""

    def __init__(self, status: int, stderr: str) -> None:
        super().__init__(f"exit status {status}")
        self.status = status
        self.stderr = stderr


def _stderr(done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr or "").strip()
    return redact(text.splitlines()[-1] if text else f"exit status {done.returncode}")


class Source(Protocol):
    """What the controller and triggers need from a source (:class:`GitSource`, ``LocalSource``)."""

    immutable: bool
    served: str | None
    blocked: ForcePush | None
    git_calls: int
    errors: int
    last_error: str

    @property
    def root(self) -> Path: ...

    @property
    def backing_off(self) -> bool: ...

    def describe(self) -> str: ...

    def reading(self) -> contextlib.AbstractContextManager[tuple[Path, str]]: ...

    def mark_reconciled(self, revision: str) -> None: ...

    def prepare(self) -> Update | ForcePush | None: ...

    def poll(self, *, force: bool = False) -> Update | ForcePush | None: ...
