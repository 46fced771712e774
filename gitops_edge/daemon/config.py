"""The daemon's settings as one value, and the source and sink they name.

``gitops-edge run``'s flags map onto :class:`RunOptions`; tests build one directly.
Choosing the source is where "URL or path" is decided: a local work tree or plain
directory is read in place (the files are the truth), while a URL or a *bare*
repository is cloned, because only a clone can be moved from commit to commit safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import git

from gitops_edge.daemon.localtree import LocalSource
from gitops_edge.daemon.queue import Backoff
from gitops_edge.daemon.source import ForcePushPolicy, GitSource, Source, SourceError
from gitops_edge.sinks import (
    DEFAULT_DIR,
    KubeLive,
    SinkSpecError,
    cache_dir,
    is_kube,
    open_file_sink,
)

if TYPE_CHECKING:  # RunOptions is built by the command line, which must start light
    from gitops_edge.daemon.controller import LiveSink
    from gitops_edge.live.client import KubeClient


@dataclass(frozen=True)
class RunOptions:
    """``gitops-edge run``'s settings, as values (the command line maps onto these)."""

    repo: str
    branch: str = "main"
    path: str = "."
    emit: str = f"dir:{DEFAULT_DIR}"
    cache_dir: Path = field(default_factory=cache_dir)
    poll_interval: float = 60.0
    resync_interval: float = 600.0
    workers: int = 2
    host: str = "0.0.0.0"  # noqa: S104 - a pod serves probes and webhooks on all interfaces
    port: int = 8080
    """Probes and ``/metrics`` (and ``/webhook`` too when ``webhook_port`` is None)."""
    webhook_host: str = "0.0.0.0"  # noqa: S104 - Git hosting reaches the pod from outside
    webhook_port: int | None = None
    """``/webhook`` on a listener of its own (what an Ingress exposes); None: on ``port``."""
    metrics_per_site: bool = True
    """False drops the per-site series (``site`` label) for very large fleets."""
    webhook_secret: bytes = b""
    on_force_push: ForcePushPolicy = "refuse"
    leader_elect: bool = False
    lease_namespace: str = "default"
    lease_name: str = "gitops-edge"
    lease_duration: float = 15.0
    renew_period: float = 5.0
    identity: str = ""
    force_conflicts: bool = False
    retry: Backoff = field(default_factory=Backoff)
    debounce: float = 0.5
    verify_commits: Path | None = None
    """Keyring of allowed signing keys: an unsigned or wrongly signed head is not reconciled."""
    edge_settle: float = 0.0
    """Seconds an edge node must stay online before its deferred sites are released."""
    fleet_page: bool = True
    """Serve the read-only fleet page (``/fleet``, ``/api/v1/fleet``) on the HTTP listener."""
    ui_basic_auth: bytes = b""
    """``user:password`` the fleet page asks for (basic auth); empty: no auth."""
    git_auth_header_file: Path | None = None
    """A file holding the HTTP ``Authorization`` header for the ops repo's host."""
    git_credentials_file: Path | None = None
    """git-credential-store lines (``https://user:token@host``) for the ops repo's host."""


def open_source(opts: RunOptions) -> Source:
    """A local work tree or plain directory is read in place; anything else is cloned."""
    local = Path(opts.repo).expanduser()
    if local.is_dir():
        try:
            repo = git.Repo(local)
            bare = repo.bare
            repo.close()
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            bare = False
        if not bare and opts.verify_commits is None:
            return LocalSource(local, path=opts.path)
        if not bare and not (local / ".git").exists():
            raise SourceError(
                f"--verify-commits needs a git repository; {opts.repo} is a plain directory"
            )
        # verified runs read committed history only: a work tree is cloned like a remote
        url = str(local.resolve())
    elif opts.repo.startswith(("/", "./", "../", "~")):
        raise SourceError(f"--repo {opts.repo}: no such directory")
    else:
        url = opts.repo
    return GitSource(
        url,
        branch=opts.branch,
        path=opts.path,
        cache_dir=opts.cache_dir,
        on_force_push=opts.on_force_push,
        verify_keyring=opts.verify_commits,
        auth_header_file=opts.git_auth_header_file,
        credentials_file=opts.git_credentials_file,
    )


def open_sink(opts: RunOptions, kube: KubeClient | None) -> LiveSink:
    """The sink ``--emit`` names; what it can do (one worker at a time, live feedback)
    is in its declared capabilities."""
    if is_kube(opts.emit):
        if kube is None:
            raise SinkSpecError("--emit kube needs a cluster connection")
        return KubeLive(kube, force_conflicts=opts.force_conflicts)
    return open_file_sink(opts.emit, cache=opts.cache_dir)
