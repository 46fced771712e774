"""``gitops-edge run``: the daemon — keep the fleet at the head of the ops repo's branch.

``--repo`` is a remote URL (or a bare repo), cloned into ``--cache-dir``, or a local
directory read in place. Every ``--poll-interval`` (and on every verified push
webhook) the branch head is checked with one ``ls-remote``; a new commit re-renders
only the sites it touches. Every ``--resync-interval`` all sites are reconciled,
which repairs drift. With ``--emit kube`` an edge node coming back online releases
the sites deferred because of it. With ``--leader-elect`` only the Lease holder
reconciles. ``--once``: one full reconcile, then exit 0 (all good) or 1. A full reconcile
(``--once`` and every resync) runs chunk by chunk, as ``apply`` does, in bounded memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from gitops_edge.commands._env import SECRET_ENV, WEBHOOK_SECRET
from gitops_edge.commands.common import print_reconcile
from gitops_edge.commands.kubeargs import add_kube_args, kube_from_args
from gitops_edge.daemon.config import RunOptions
from gitops_edge.daemon.fleetpage import AuthFileError, read_basic_auth
from gitops_edge.daemon.source import SourceError
from gitops_edge.emit.gitsink import GitSinkError
from gitops_edge.live.errors import KubeError
from gitops_edge.observe.logging import configure_logging
from gitops_edge.sinks import DEFAULT_DIR, SinkSpecError, cache_dir, is_kube
from gitops_edge.source.gitsafe import split_userinfo

if TYPE_CHECKING:  # the daemon (and the kubernetes client it loads) is imported by run()
    from gitops_edge.daemon.runner import Runner

log = structlog.get_logger()



def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - probes and webhooks


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="the daemon: watch the repo and the fleet, reconcile on every event",
        description=__doc__,
    )
    p.add_argument(
        "repo",
        nargs="?",
        metavar="REPO",
        help="ops repo: remote URL, bare repo, or local directory",
    )
    src = p.add_argument_group("source")
    src.add_argument(
        "--repo",
        dest="repo_flag",
        metavar="URL|PATH",
        help="deprecated: pass REPO as the first argument, like every other command",
    )
    src.add_argument("--branch", default="main", help="branch to follow (default: main)")
    src.add_argument(
        "--path", default=".", metavar="DIR", help="ops tree inside the repo (default: the root)"
    )
    src.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where clones live (default: $XDG_CACHE_HOME/gitops-edge)",
    )
    src.add_argument(
        "--on-force-push",
        choices=("refuse", "follow"),
        default="refuse",
        help="a rewritten branch: keep serving the last good commit (refuse, default) or take it (follow)",
    )
    src.add_argument(
        "--verify-commits",
        type=Path,
        metavar="KEYRING",
        help="only reconcile commits signed by a key in KEYRING (a directory of GPG public "
        "keys *.asc/*.gpg and/or an SSH allowed_signers file); others are refused and reported",
    )
    src.add_argument(
        "--git-credentials-file",
        type=Path,
        metavar="FILE",
        help="credentials for an https --repo, as git-credential-store lines "
        "(https://USER:TOKEN@HOST), e.g. a mounted Secret; read on every fetch, never "
        "put in argv, a child's environment or the clone's .git/config",
    )
    src.add_argument(
        "--git-auth-header-file",
        type=Path,
        metavar="FILE",
        help="an HTTP header for an https --repo's host (Authorization: Bearer TOKEN, "
        "or just 'Bearer TOKEN'), e.g. a mounted Secret; read on every fetch",
    )
    p.add_argument(
        "--emit",
        default=f"dir:{DEFAULT_DIR}",
        metavar="SINK",
        help="dir:PATH | kube | git:REPO#BRANCH (default: dir:rendered)",
    )
    p.add_argument(
        "--force-conflicts", action="store_true", help="kube: take fields other managers own"
    )
    loop = p.add_argument_group("reconcile loop")
    loop.add_argument(
        "--poll-interval",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="check the branch head this often (default: 60)",
    )
    loop.add_argument(
        "--resync-interval",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="reconcile every site this often, repairing drift; 0: never (default: 600)",
    )
    loop.add_argument(
        "--edge-settle",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="an edge node back online must stay online this long before its deferred sites "
        "go out, so a flapping link does not thrash (default: 30)",
    )
    loop.add_argument(
        "--workers",
        type=_positive(int),
        default=2,
        metavar="N",
        help="batches reconciled at once (default: 2)",
    )
    loop.add_argument(
        "--once", action="store_true", help="one full reconcile, then exit 0 (all good) or 1"
    )
    loop.add_argument(
        "--output", "-o", choices=("text", "json"), default="text", help="--once report format"
    )
    http = p.add_argument_group("HTTP (probes, /metrics, /webhook, /fleet)")
    http.add_argument(
        "--listen",
        type=_listen,
        default=("0.0.0.0", 8080),  # noqa: S104 - a pod serves probes and webhooks
        metavar="HOST:PORT",
        help="/healthz, /readyz and /metrics; also /webhook unless --webhook-listen is "
        "given (default: 0.0.0.0:8080)",
    )
    http.add_argument(
        "--webhook-listen",
        type=_listen,
        default=None,
        metavar="HOST:PORT",
        help="serve /webhook here, and only here, so an Ingress can expose webhooks without "
        "/metrics (default: on --listen)",
    )
    http.add_argument(
        "--metrics-per-site",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="export gitops_edge_last_successful_sync_timestamp_seconds{site}; false drops "
        "this per-site series for very large fleets, fleet-wide series stay (default: true)",
    )
    http.add_argument(
        "--webhook-secret-file",
        type=Path,
        metavar="FILE",
        help=f"enables POST /webhook (or set {SECRET_ENV})",
    )
    http.add_argument(
        "--ui-basic-auth-file",
        type=Path,
        metavar="FILE",
        help="the fleet page (/fleet, /api/v1/fleet) asks for the 'user:password' in FILE "
        "(basic auth; mount it from a Secret)",
    )
    http.add_argument(
        "--no-fleet-page",
        dest="fleet_page",
        action="store_false",
        help="do not serve the read-only fleet page",
    )
    lead = p.add_argument_group("leader election")
    lead.add_argument(
        "--leader-elect", action="store_true", help="only the holder of a Lease reconciles"
    )
    lead.add_argument(
        "--lease-namespace",
        default=os.environ.get("POD_NAMESPACE") or "default",
        metavar="NS",
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    lead.add_argument(
        "--lease-name", default="gitops-edge", metavar="NAME", help="default: gitops-edge"
    )
    lead.add_argument(
        "--lease-duration",
        type=_positive(float),
        default=15.0,
        metavar="SECONDS",
        help="a dead leader is replaced after this (default: 15)",
    )
    lead.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME") or "",
        help="this replica's name in the Lease (default: $POD_NAME, else host-pid)",
    )
    logs = p.add_argument_group("logging")
    logs.add_argument("--log-format", choices=("json", "text"), default="json")
    logs.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=None,
        help="default: info (warning with --once)",
    )
    add_kube_args(p)
    p.set_defaults(func=run)


def _secret(args: argparse.Namespace) -> bytes:
    if args.webhook_secret_file is not None:
        try:
            secret: bytes = args.webhook_secret_file.read_bytes().strip()
        except OSError as exc:
            raise SinkSpecError(
                f"--webhook-secret-file {args.webhook_secret_file}: {exc.strerror}"
            ) from None
        if not secret:
            raise SinkSpecError(f"--webhook-secret-file {args.webhook_secret_file} is empty")
        return secret
    # taken out of the environment at import, so no child process (git, gpg) inherits it
    return WEBHOOK_SECRET


def options(args: argparse.Namespace) -> RunOptions:
    """The command line as :class:`RunOptions` (SinkSpecError on a bad combination)."""
    host, port = args.listen
    webhook_host, webhook_port = args.webhook_listen or (host, None)
    if (
        webhook_port is not None
        and webhook_port != 0
        and (webhook_host, webhook_port)
        == (
            host,
            port,
        )
    ):
        raise SinkSpecError(
            f"--webhook-listen {webhook_host}:{webhook_port} is --listen's address: "
            "give webhooks another port, or drop --webhook-listen to share one listener"
        )
    return RunOptions(
        repo=args.repo or args.repo_flag,
        branch=args.branch,
        path=args.path,
        emit=args.emit,
        cache_dir=args.cache_dir or cache_dir(),
        poll_interval=args.poll_interval,
        resync_interval=max(0.0, args.resync_interval),
        workers=args.workers,
        host=host,
        port=port,
        webhook_host=webhook_host,
        webhook_port=webhook_port,
        metrics_per_site=args.metrics_per_site,
        webhook_secret=b"" if args.once else _secret(args),
        on_force_push=args.on_force_push,
        leader_elect=args.leader_elect and not args.once,
        lease_namespace=args.lease_namespace,
        lease_name=args.lease_name,
        lease_duration=args.lease_duration,
        renew_period=max(0.2, args.lease_duration / 3),
        identity=args.identity,
        force_conflicts=args.force_conflicts,
        edge_settle=max(0.0, args.edge_settle),
        verify_commits=args.verify_commits,
        fleet_page=args.fleet_page and not args.once,
        ui_basic_auth=_ui_auth(args),
        git_auth_header_file=args.git_auth_header_file,
        git_credentials_file=args.git_credentials_file,
    )


def _ui_auth(args: argparse.Namespace) -> bytes:
    if args.ui_basic_auth_file is None or args.once or not args.fleet_page:
        return b""
    try:
        return read_basic_auth(args.ui_basic_auth_file)
    except AuthFileError as exc:
        raise SinkSpecError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from gitops_edge.daemon.runner import Runner

    if args.repo and args.repo_flag and args.repo != args.repo_flag:
        print("gitops-edge run: REPO and --repo name different repos; pass one", file=sys.stderr)
        return 2
    if not (args.repo or args.repo_flag):
        print("gitops-edge run: the ops repo is missing: gitops-edge run REPO ...", file=sys.stderr)
        return 2
    configure_logging(
        json=args.log_format == "json", level=args.log_level or ("warning" if args.once else "info")
    )
    try:
        opts = options(args)
        if opts.git_auth_header_file and opts.git_credentials_file:
            raise SinkSpecError(
                "--git-auth-header-file and --git-credentials-file both give the ops repo's "
                "credentials: pass one"
            )
        for flag, path in (
            ("--git-credentials-file", opts.git_credentials_file),
            ("--git-auth-header-file", opts.git_auth_header_file),
        ):
            if path is not None and not path.exists():
                log.warning(f"{flag} {path} does not exist: the ops repo is read without credentials")
        if split_userinfo(opts.repo).url != opts.repo:
            log.warning(
                "credentials in --repo are visible in this process's arguments: "
                "use --git-credentials-file or --git-auth-header-file (they are kept out "
                "of git's arguments, environment and the clone's config either way)"
            )
        needs_kube = is_kube(opts.emit) or opts.leader_elect
        runner = Runner(opts, kube=kube_from_args(args) if needs_kube else None)
    except (SinkSpecError, SourceError, KubeError, GitSinkError) as exc:
        print(f"gitops-edge: {exc}", file=sys.stderr)
        return 2
    if args.once:
        return _once(runner, args.output)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        runner.stop_from_signal()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return runner.run()
    except OSError as exc:  # the listen port is taken, typically
        print(f"gitops-edge: {exc}", file=sys.stderr)
        return 1


def _once(runner: Runner, output: str) -> int:
    try:
        failed = runner.once()
    except SourceError as exc:
        print(f"gitops-edge: {exc}", file=sys.stderr)
        return 1
    last = runner.controller.last
    if last is None:
        record = runner.controller.records[-1] if runner.controller.records else None
        print(f"gitops-edge: {record.error if record else 'reconcile failed'}", file=sys.stderr)
        return 1
    plan, result = last
    ok = print_reconcile(plan, result, output=output)
    if runner.source.blocked is not None:
        print(f"gitops-edge: {runner.source.blocked.describe()}", file=sys.stderr)
    return 0 if ok and not failed and runner.source.blocked is None else 1
