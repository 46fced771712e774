"""gitops-edge apply: one reconcile - plan, then emit to a sink.

--emit dir:PATH (default dir:rendered, no cluster needed), --emit kube (server-side
apply, field manager gitops-edge) or --emit git:REPO#BRANCH.
Exit 0 when everything planned was emitted, 1 on any error, invalid site or refusal,
2 on a usage error (a --site that names no site, a REPO without provinces/).
With a directory sink the run is staged chunk by chunk (--jobs worker processes for
a large repo) and swapped in only once the whole plan passed its guards.
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
from gitops_edge.live.errors import KubeError
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.reconcile import reconcile
from gitops_edge.sinks import DEFAULT_DIR, KubeLive, SinkSpecError, is_kube, open_file_sink
from gitops_edge.source.revision import describe_revision
from gitops_edge.specs.repo import index_repo


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
        sink = (
            KubeLive(kube_from_args(args), force_conflicts=args.force_conflicts)
            if is_kube(args.emit)
            else open_file_sink(args.emit)
        )
        if args.site:
            ids = index_repo(root).ids
            extra = [s for s in args.site if s not in ids]
            # a removed site is still a site while its objects are live
            if extra and unknown_sites(extra, sink.read_live().objects):
                return 2
        with Progress("apply", quiet=args.quiet) as progress:
            summary, result = reconcile(
                root,
                sink,
                revision=describe_revision(root, ignore=_written_here(args.emit)),
                sites=args.site,
                jobs=args.jobs,
                progress=progress.step("reconciling"),
            )
    except (KubeError, GitSinkError, SinkSpecError) as exc:
        print(f"gitops-edge: {exc}", file=sys.stderr)
        return 1
    plan = summary.plan
    return 0 if print_reconcile(plan, result, output=args.output) else 1


def _written_here(emit: str) -> list[Path]:
    """A ``dir:`` output inside the ops repo does not make its commit dirty (as for ``render``)."""
    return [Path(emit.removeprefix("dir:"))] if emit.startswith("dir:") else []


def _jobs(value: str) -> int:
    jobs = int(value)
    if jobs < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return jobs
