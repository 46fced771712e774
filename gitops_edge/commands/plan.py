"""gitops-edge plan: diff desired against live state and show it.

Live state is the cluster (--kubeconfig/--context/--in-cluster, or in a pod) or,
without a cluster, the last render in --against DIR (default: rendered).
--detailed-exitcode: 0 only when nothing would change and no site is blocked, invalid
or failed; 2 changes that can go out; 1 errors, refusals, blocked, invalid or failed sites.
-o markdown is made for a merge request: destructive actions first, identical
changes grouped, always under 60000 characters (--full-plan names where the
complete JSON or text plan is kept when it had to be cut; --save FILE writes
that complete JSON plan).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_edge.commands.common import (
    add_output_arg,
    add_repo_arg,
    print_data,
    repo_root_or_exit,
    unknown_sites,
)
from gitops_edge.commands.kubeargs import CLI_RETRY, add_kube_args, kube_from_args, wants_cluster
from gitops_edge.emit.dirsink import DirSink
from gitops_edge.live.errors import KubeError
from gitops_edge.live.inventory import now_utc
from gitops_edge.live.state import LiveState
from gitops_edge.plan.eggo_story import repo_eggo
from gitops_edge.plan.model import Plan
from gitops_edge.plan.report import to_json, to_markdown, to_text
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.reconcile import plan_against
from gitops_edge.render.site import render_repo
from gitops_edge.sinks import DEFAULT_DIR
from gitops_edge.source.revision import describe_revision
from gitops_edge.specs.repo import RepoSpec, load_repo

if TYPE_CHECKING:  # federation talks to clusters: loaded by the functions that connect
    from gitops_edge.federation.holds import CleanupHolds
    from gitops_edge.federation.sections import Section


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan", help="diff desired against live state", description=__doc__
    )
    add_repo_arg(p)
    add_kube_args(p)
    p.add_argument(
        "--against",
        "--out",
        dest="out",
        type=Path,
        default=DEFAULT_DIR,
        metavar="DIR",
        help="without a cluster: the last render to diff against (default: rendered; "
        "--out is a deprecated alias)",
    )
    add_output_arg(p, "json", "yaml", "markdown")
    p.add_argument(
        "--full-plan",
        default="",
        metavar="WHERE",
        help="markdown: where the full plan is kept (an artifact name or URL), named when the comment is cut",
    )
    p.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the complete plan as JSON to FILE (the artifact --full-plan names)",
    )
    p.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 0 nothing to change and nothing blocked, 2 changes, 1 errors or blocked/invalid/failed sites"
    )
    p.add_argument(
        "--site",
        action="append",
        default=None,
        metavar="ID",
        help="plan only this site (repeatable)",
    )
    p.add_argument("--no-diff", action="store_true", help="text output without per-object diffs")
    add_quiet_arg(p)
    p.set_defaults(func=run)


def live_for(args: argparse.Namespace) -> LiveState:
    if wants_cluster(args):
        from gitops_edge.live.snapshot import read_live  # only a cluster needs the client

        return read_live(kube_from_args(args))
    return DirSink(args.out).read_live()


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    with Progress("plan", quiet=args.quiet) as progress:
        repo = load_repo(root, progress=progress.sites("loading"))
        try:
            live = live_for(args)
        except KubeError as exc:
            progress.close()
            print(f"gitops-edge: {exc}", file=sys.stderr)
            return 1
        if unknown_sites(args.site, [*(s.id for s in repo.sites), *live.objects]):
            progress.close()
            return 2
        revision = describe_revision(root)
        wanted = None if args.site is None else set(args.site)
        rendered = render_repo(
            repo,
            revision=revision,
            sites=wanted,
            progress=progress.counter("rendering", len(wanted or repo.sites)),
        )
    holds = cleanup_holds(args, root)
    plan = plan_against(
        repo, live, revision=revision, sites=args.site, rendered=rendered, hold_cleanup=holds
    )
    waves = sorted({s.wave for s in plan.sites if s.in_repo})
    if not wants_cluster(args) and not DirSink.capabilities.reports_outcomes and len(waves) > 1:
        # a directory reports no run outcomes, so no wave waits for another here
        note = (
            f"waves not enforced in this plan: a render ({args.out}) reports no run outcomes, "
            f"so waves {', '.join(map(str, waves))} are planned as if they went at once; against the cluster "
            "(--kubeconfig) they go wave by wave"
        )
        plan = replace(plan, notes=(*plan.notes, note))
    if args.save is not None:
        save_plan(plan, args.save)
    fed = federation_for(args, repo, live, plan, revision, holds)
    if args.output in ("json", "yaml"):
        print_data(to_json(plan) | ({"federation": fed.data} if fed else {}), args.output)
    elif args.output == "markdown":
        extra = [fed.markdown()] if fed else []
        sys.stdout.write(
            to_markdown(plan, full_report=args.full_plan, sections=extra, **repo_eggo(repo))
        )
    else:
        sys.stdout.write(to_text(plan, diffs=not args.no_diff) + (fed.text() if fed else ""))
    return exit_status(plan, detailed=args.detailed_exitcode)


def cleanup_holds(args: argparse.Namespace, root: Path) -> CleanupHolds | None:
    """Federation's veto on eggo cleanups, as the daemon and apply use it (cluster only)."""
    if not wants_cluster(args):
        return None
    from gitops_edge.federation.holds import CleanupHolds, one_shot_holds

    try:
        return one_shot_holds(kube_from_args(args, retry=CLI_RETRY), root)
    except KubeError as exc:
        return CleanupHolds(reason_unknown=f"the central cluster cannot be read ({exc})")


def federation_for(
    args: argparse.Namespace,
    repo: RepoSpec,
    live: LiveState,
    plan: Plan,
    revision: str,
    holds: CleanupHolds | None = None,
) -> Section | None:
    """Federation's part of the plan (read-only), when enabled and a cluster is used."""
    if not wants_cluster(args) or not repo.settings.spec.federation.karmada.enabled:
        return None
    from gitops_edge.federation.sections import Section, plan_section

    try:
        central = kube_from_args(args, retry=CLI_RETRY)
    except KubeError as exc:
        return Section({"error": str(exc)}, [f"cannot read the central cluster: {exc}"])
    held = holds.held if holds is not None else None
    return plan_section(central, repo, live, plan, now=now_utc(), revision=revision, held=held)


def save_plan(plan: Plan, path: Path) -> None:
    """The whole plan, never cut, beside a comment that had to be: written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(to_json(plan), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def exit_status(plan: Plan, *, detailed: bool) -> int:
    """What CI reads: 1 refused, invalid or repo problems; with ``detailed`` also blocked or
    failed sites; else 2 when something would change, 0 only when nothing would."""
    invalid = any(s.gate == "invalid" for s in plan.sites) or bool(plan.problems)
    if plan.refused or invalid:
        return 1
    if not detailed:
        return 0
    if any(s.gate in ("blocked", "failed") for s in plan.sites):
        return 1
    return 2 if plan.has_changes else 0
