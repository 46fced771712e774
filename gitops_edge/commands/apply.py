"""gitops-edge apply: one reconcile - plan, then emit to a sink.

--emit dir:PATH (default dir:rendered, no cluster needed), --emit kube (server-side
apply, field manager gitops-edge) or --emit git:REPO#BRANCH.
Exit 0 when everything planned was emitted, 1 on any error, invalid site or refusal,
2 on a usage error (a --site that names no site, a REPO without provinces/).
With a directory sink the run is staged chunk by chunk (--jobs worker processes for
a large repo) and swapped in only once the whole plan passed its guards.
A sink that keeps a record of the commit it was brought to (every sink) makes the next
apply incremental: only the sites whose files changed since that commit (and those
the last run left out of sync, and removed ones) are planned, when that commit is an
ancestor of HEAD and the tree is clean; anything else is a full run, and the report
says which and why. --full forces a full run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitops_edge.commands.common import (
    add_output_arg,
    add_repo_arg,
    print_reconcile,
    repo_root_or_exit,
    unknown_sites,
)
from gitops_edge.commands.kubeargs import add_kube_args, kube_from_args
from gitops_edge.emit.gitsink import GitSinkError
from gitops_edge.emit.protocol import RecordingSink, Sink, add_notes, recording
from gitops_edge.incremental import Scope, full_run, plan_scope
from gitops_edge.live.errors import KubeError
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.reconcile import reconcile
from gitops_edge.record import Record, RunKind, after_run, keep, loads
from gitops_edge.sinks import DEFAULT_DIR, KubeLive, SinkSpecError, is_kube, open_file_sink
from gitops_edge.source.revision import describe_revision
from gitops_edge.specs.repo import RepoIndex, index_repo


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "apply", help="one reconcile: plan, then emit", description=__doc__
    )
    add_repo_arg(p)
    p.add_argument(
        "--emit",
        default=f"dir:{DEFAULT_DIR}",
        metavar="SINK",
        help="dir:PATH | kube | git:REPO#BRANCH (default: dir:rendered)",
    )
    p.add_argument(
        "--force-conflicts", action="store_true", help="kube: take fields other managers own"
    )
    p.add_argument(
        "--site",
        action="append",
        default=None,
        metavar="ID",
        help="reconcile only this site (repeatable)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="plan every site, even when the sink's record allows an incremental run",
    )
    p.add_argument(
        "--record-namespace",
        default=None,
        metavar="NS",
        help="kube: where the record of the last apply is kept "
        "(default: $POD_NAMESPACE, else gitops-edge)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="worker processes for a large run (default: one per CPU above 200 sites; 1: none)",
    )
    add_output_arg(p, "json", "yaml")
    add_quiet_arg(p)
    add_kube_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    try:
        kube = kube_from_args(args) if is_kube(args.emit) else None
        sink: Sink = (
            KubeLive(
                kube,
                force_conflicts=args.force_conflicts,
                record_namespace=args.record_namespace,
            )
            if kube is not None
            else open_file_sink(args.emit)
        )
        index = index_repo(root)
        if args.site:
            extra = [s for s in args.site if s not in index.ids]
            # a removed site is still a site while its objects are live
            if extra and unknown_sites(extra, sink.read_live().objects):
                return 2
        keeper = recording(sink)
        previous = loads(keeper.read_record()) if keeper is not None else None
        revision = describe_revision(root, ignore=_written_here(args.emit))
        run_kind, scope = _scope(args, root, revision, index, sink, keeper, previous)
        # federation: no eggo cleanup of a site still registered with Karmada
        holds = None
        if kube is not None:  # the cluster's sink: Karmada's registrations are next to it
            from gitops_edge.federation.holds import one_shot_holds  # talks to Karmada

            holds = one_shot_holds(kube, root)
        with Progress("apply", quiet=args.quiet) as progress:
            summary, result = reconcile(
                root,
                sink,
                revision=revision,
                sites=args.site if args.site else scope.sites,
                known=None if scope.full else scope.known,
                standing=None if scope.full else scope.standing,
                expand=run_kind == "incremental",
                jobs=args.jobs,
                progress=progress.step("reconciling"),
                hold_cleanup=holds,
                index=index,
            )
        if keeper is not None:
            record = after_run(
                summary.plan,
                result,
                scope=run_kind,
                settings=index.settings_digest,
                identities=summary.identities,
                standing=summary.standing,
                previous=previous,
            )
            kept = keep(keeper, record)
            if kept:
                add_notes(result, [kept])
    except (KubeError, GitSinkError, SinkSpecError) as exc:
        print(f"gitops-edge: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gitops-edge: cannot write the record of this run: {exc}", file=sys.stderr)
        return 1
    if scope.line:
        add_notes(result, [scope.line])
    if kube is not None and run_kind == "incremental":  # the record cannot see cluster edits
        add_notes(result, ["drift on the sites not planned is not looked at: --full repairs it"])
    plan = summary.plan
    return 0 if print_reconcile(plan, result, output=args.output) else 1


def _scope(
    args: argparse.Namespace,
    root: Path,
    revision: str,
    index: RepoIndex,
    sink: Sink,
    keeper: RecordingSink | None,
    previous: Record | None,
) -> tuple[RunKind, Scope]:
    """What this run plans: the named sites, every site, or the sites changed since the record."""
    if args.site:
        # the record's identities of the sites unchanged since it spare scanning them,
        # and their standing loading them for the waves
        since = full_run("--full")
        if keeper is not None and not args.full:
            since = plan_scope(root, revision, previous, index)
        return "named", Scope(frozenset(args.site), "", since.known, since.standing)
    if args.full:
        return "full", full_run("--full")
    if keeper is None:
        return "full", full_run(f"{sink.describe()} keeps no record of the commit it was brought to")
    scope = plan_scope(root, revision, previous, index)
    return ("full" if scope.full else "incremental"), scope


def _written_here(emit: str) -> list[Path]:
    """A ``dir:`` output inside the ops repo does not make its commit dirty (as for ``render``)."""
    return [Path(emit.removeprefix("dir:"))] if emit.startswith("dir:") else []


def _jobs(value: str) -> int:
    jobs = int(value)
    if jobs < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return jobs
