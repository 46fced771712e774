"""A local ops tree read in place: a git work tree being edited, or a plain directory.

This is the laptop and ``--once`` case (``gitops-edge run --repo sample-repo``): there
is nothing to clone, the files are the truth, and the revision stamped on objects is
what :func:`describe_revision` says (``<sha>``, ``<sha>-dirty`` or ``unversioned``).
A poll notices a new commit (HEAD moved, so the stamp changes); edits between commits
are noticed by the file watcher instead, which knows exactly which paths moved.

The watcher asks the kernel only for the events that can change a plan
(:data:`WATCHED_EVENTS`). Without that filter inotify reports every open, read and
close too, and a full reconcile reads every file of the tree: on a 3 000-site tree the
daemon's own reads overflowed the inotify queue ("Inotify queue overflowed;
filesystem events were lost") and real edits could be lost with them. watchdog turns
the filter into the inotify mask (``InotifyEmitter.get_event_mask_from_filter``,
watchdog >= 4), so reads never reach the queue at all (``bench/watcher.py`` measures it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from gitops_edge.daemon.affected import Change, parse_name_status, strip_prefix
from gitops_edge.daemon.source import SHA, ForcePush, SourceError, Update, check_subpath
from gitops_edge.source.gitsafe import git_call
from gitops_edge.source.revision import describe_revision

WATCHED_EVENTS: tuple[type[FileSystemEvent], ...] = (
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
)
"""Created, modified, deleted, moved: what an edit, a checkout or a rename does to a tree.

Not opened/closed/accessed (reads), and not a directory's own "modified" (a child
changed, which the child's event already says)."""


def schedule_tree(observer: Any, handler: FileSystemEventHandler, root: Path) -> None:
    """Watch ``root`` recursively on ``observer`` for :data:`WATCHED_EVENTS` only."""
    observer.schedule(handler, str(root), recursive=True, event_filter=list(WATCHED_EVENTS))


class LocalSource:
    """The directory ``repo/path`` as it is on disk."""

    immutable = False
    """Files may change at any time, so the loader reads them on every reconcile."""

    def __init__(self, repo: Path, *, path: str = ".") -> None:
        self.repo_dir = repo
        self.path = check_subpath(path)
        self.served: str | None = None
        self.reconciled: str | None = None
        self.blocked: ForcePush | None = None
        self.git_calls = 0
        self.errors = 0
        self.last_error = ""
        self.backing_off = False

    @property
    def root(self) -> Path:
        return self.repo_dir / self.path

    def describe(self) -> str:
        return str(self.root)

    @contextlib.contextmanager
    def reading(self) -> Iterator[tuple[Path, str]]:
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: not a directory (check --repo and --path)")
        yield self.root, describe_revision(self.root)

    def mark_reconciled(self, revision: str) -> None:
        if SHA.match(revision):
            self.reconciled = revision

    def prepare(self) -> Update | ForcePush | None:
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: not a directory (check --repo and --path)")
        return self.poll()

    def poll(self, *, force: bool = False) -> Update | ForcePush | None:
        """An Update when the revision stamp changed (a commit, or edits appeared/went)."""
        revision = describe_revision(self.root)
        if revision == self.served:
            return None
        previous, self.served = self.served, revision
        return Update(revision, previous, self._diff(self.reconciled, revision))

    def _diff(self, old: str | None, new: str) -> tuple[Change, ...] | None:
        """Paths changed between two clean commits below the ops tree; None when unknown."""
        if old is None or not SHA.match(old) or not SHA.match(new):
            return None
        try:
            repo = git.Repo(self.root, search_parent_directories=True)
        except (git.GitError, OSError, ValueError):
            return None
        try:
            top = Path(str(repo.working_tree_dir)).resolve()
            prefix = self.root.resolve().relative_to(top).as_posix()
            self.git_calls += 1
            out = git_call(
                repo, "diff", "--name-status", "-M", "-z", "--no-ext-diff", old, new, "--", prefix
            )
        except (git.GitError, OSError, ValueError):
            return None
        finally:
            repo.close()
        return tuple(strip_prefix(parse_name_status(out), prefix))
