"""``gitops-edge status``: per-site state read from the central API, one line per site.

The table answers "is the fleet fine?" at a glance (SITE STATE WAVE EDGE ARCH EGGO
APPS DELIVERED); sites that are not fine get a few sentences below it saying what to
look at. Exit 0 whatever the sites' states are (status reports, it does not judge);
exit 1 with one line on stderr when the API cannot be read (unreachable, 401, 403);
exit 2 for usage errors.

STATE, worst first: invalid (spec does not validate; live objects kept), removed (live
objects, no directory), failed (eggo failed or wrong edge arch), deferred (no edge node
online: work waits), progressing, pending (nothing applied yet), ok.

``--output json`` prints::

    {"revision": "<repo commit>|null", "observed_at": "<RFC3339 Z>",
     "summary": {"sites": N, "invalid": n, "removed": n, "failed": n, "deferred": n,
                 "progressing": n, "pending": n, "ok": n},
     "sites": [{"site", "state", "in_repo", "valid", "problems", "wave", "suspended",
                "edge": {"target", "arch",
                         "nodes": [{"name", "state", "since", "arch", "arch_ok", "reason"}]},
                "revisions": [...],
                "eggo": null | {"job", "namespace", "operation", "outcome", "reason", "created"},
                "applications": [{"name", "sync", "health"}],
                "objects": [{"kind", "namespace", "name", "revision", "spec_hash",
                             "delivery": {"<edge node>": "delivered|pending|stale"}}],
                "delivered": {"delivered": x, "total": y},
                "issues": ["<sentence>", ...]}]}

Sites are sorted by id; keys are only ever added, never renamed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gitops_edge.commands.common import add_output_arg, add_repo_arg, print_json, repo_root_or_exit
from gitops_edge.commands.kubeargs import add_kube_args
from gitops_edge.live.client import KubeError, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.snapshot import read_live
from gitops_edge.source.revision import UNVERSIONED, describe_revision
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import NodeStatus, SiteStatus, StatusReport, build_report

COLUMNS = ("SITE", "STATE", "WAVE", "EDGE", "ARCH", "EGGO", "APPS", "DELIVERED")
CLI_RETRY = RetryPolicy(attempts=4, base=0.25, cap=5.0)
"""An operator at a terminal wants an answer in a second or two, not the daemon's patience."""
_NODE_ORDER = {"offline": 0, "unknown": 1, "online": 2}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="per-site state: edge node online, eggo and Argo CD progress, delivery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_repo_arg(p)
    add_kube_args(p)  # without flags: in-cluster under a pod, else $KUBECONFIG/~/.kube/config
    add_output_arg(p, "json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    repo = load_repo(root)
    revision = describe_revision(root)
    try:
        kube = connect(
            kubeconfig=args.kubeconfig,
            context=args.context,
            in_cluster=True if args.in_cluster else None,
            retry=CLI_RETRY,
        )
        live = read_live(kube)
    except KubeError as exc:
        print(f"gitops-edge status: {exc}", file=sys.stderr)
        return 1
    report = build_report(repo, live, revision=None if revision == UNVERSIONED else revision)
    if args.output == "json":
        print_json(report.as_dict())
    else:
        sys.stdout.write(render_text(report))
    return 0


def render_text(report: StatusReport) -> str:
    """The table, then details for every site that is not fine."""
    counts = ", ".join(f"{n} {state}" for state, n in report.counts().items() if n)
    rev = report.revision[:12] if report.revision else "unversioned"
    lines = [f"revision {rev}, observed {report.observed_at}: {len(report.sites)} site(s)"]
    if counts:
        lines[0] += f": {counts}"
    rows = [COLUMNS, *(_row(s) for s in report.sites)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for site in report.sites:
        if site.fine:
            continue
        lines.append("")
        lines.append(f"{site.site} ({site.state}):")
        lines += [f"  - {issue}" for issue in site.issues]
    return "\n".join(lines) + "\n"


def _row(s: SiteStatus) -> tuple[str, ...]:
    apps = "-"
    if s.applications:
        n = len(s.applications)
        synced = sum(a.sync == "Synced" for a in s.applications)
        healthy = sum(a.health == "Healthy" for a in s.applications)
        apps = f"{synced}/{n} synced, {healthy}/{n} healthy"
    return (
        s.site,
        s.state + ("/suspended" if s.suspended else ""),
        "-" if s.wave is None else str(s.wave),
        _edge(s.nodes),
        _arch(s),
        f"{s.eggo.operation} {s.eggo.outcome}" if s.eggo else "-",
        apps,
        f"{s.delivered}/{s.deliveries}" if s.deliveries else "-",
    )


def _edge(nodes: tuple[NodeStatus, ...]) -> str:
    """The worst node's state and since when; ``(+n)`` when the site has more nodes."""
    if not nodes:
        return "none"
    worst = min(nodes, key=lambda n: (_NODE_ORDER.get(n.state, 0), n.name))
    text = worst.state + (f" since {worst.since}" if worst.since else "")
    return text + (f" (+{len(nodes) - 1})" if len(nodes) > 1 else "")


def _arch(s: SiteStatus) -> str:
    wrong = [n for n in s.nodes if n.arch_ok is False]
    if wrong:
        return f"{wrong[0].arch}!={s.edge_arch}"
    arches = sorted({n.arch for n in s.nodes if n.arch})
    return ",".join(arches) or s.edge_arch or "-"
