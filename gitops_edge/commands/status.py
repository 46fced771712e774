"""gitops-edge status: per-site state read from the central API, one line per site.

The summary comes first (how many sites in each state), then the table (SITE STATE
WAVE EDGE ARCH EGGO APPS DELIVERED REVISION LAST-SYNC MESSAGE), then a few sentences
for every site shown that is not fine. Filters narrow the table and the details, never
the summary: --site ID, --state STATE, --wave N (each repeatable or comma-separated)
and -l SELECTOR (Kubernetes label-selector syntax on the sites' metadata.labels).
--watch N reads the API again every N seconds and reprints, until interrupted.

Exit 0 whatever the sites' states are (status reports, it does not judge); exit 1
with one line on stderr when the API cannot be read (unreachable, 401, 403); exit 2
for usage errors.

STATE, worst first: invalid (spec does not validate; live objects kept), removed (live
objects, no directory), failed (eggo failed or wrong edge arch), blocked (a change the
safety rules refuse), deferred (no edge node online: work waits), waiting (its wave is
not released yet), progressing, pending (changes not applied yet), ok.

status makes the same plan as `gitops-edge plan` against the same cluster, so the two
agree: states follow the plan's gates, a deferred site counts the changes the plan
holds for it, and the summary repeats plan's counts ("plan: 30 unchanged, 2 deferred").

-o json (or -o yaml) prints:

    {"revision": "<repo commit>|null", "observed_at": "<RFC3339 Z>",
     "summary": {"sites": N, "invalid": n, "removed": n, "failed": n, "blocked": n,
                 "deferred": n, "waiting": n, "progressing": n, "pending": n, "ok": n,
                 "plan": {"<gate>|unchanged": n, ...}},
     "filter": null | "<what was filtered>",
     "sites": [{"site", "state", "in_repo", "valid", "problems", "wave", "suspended",
                "edge": {"target", "arch",
                         "nodes": [{"name", "state", "since", "arch", "arch_ok", "reason"}]},
                "revisions": [...], "last_sync": "<RFC3339 Z>|null",
                "eggo": null | {"job", "namespace", "operation", "outcome", "reason", "created"},
                "applications": [{"name", "sync", "health"}],
                "objects": [{"kind", "namespace", "name", "revision", "spec_hash",
                             "delivery": {"<edge node>": "delivered|pending|stale"}}],
                "delivered": {"delivered": x, "total": y},
                "issues": ["<sentence>", ...],
                "gate": "<the plan's gate>", "changes": n}]}

With spec.federation.karmada.enabled, a "federation" key is added: {"sites":
[{"site", "registration", "registered", "ready", "detail"}], "workloads": [{"template",
"policy", "bound", "clusters": {"<cluster>": {"scheduled", "applied", "health"}}}],
"problems": [...]} (or {"error": "<why karmada-apiserver cannot be read>"}); text
output ends with the same as a "federation (karmada-apiserver):" section.

Keys are snake_case, as in plan -o json; sites are sorted by id; keys are only ever
added, never renamed. The summary counts every site, filtered or not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_edge.commands.common import (
    add_output_arg,
    add_repo_arg,
    print_data,
    repo_root_or_exit,
)
from gitops_edge.commands.kubeargs import CLI_RETRY, add_kube_args, kube_from_args
from gitops_edge.live.errors import KubeError
from gitops_edge.live.inventory import now_utc
from gitops_edge.reconcile import plan_against
from gitops_edge.source.revision import UNVERSIONED, describe_revision
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import STATES, NodeStatus, SiteStatus, StatusReport, build_report
from gitops_edge.statusview import (
    Filter,
    SelectorError,
    apply_filter,
    last_sync,
    parse_selector,
    site_labels,
    status_document,
)

if TYPE_CHECKING:  # the client is loaded when the command connects, not at start
    from gitops_edge.live.client import KubeClient

COLUMNS = (
    "SITE",
    "STATE",
    "WAVE",
    "EDGE",
    "ARCH",
    "EGGO",
    "APPS",
    "DELIVERED",
    "REVISION",
    "LAST-SYNC",
    "MESSAGE",
)
_NODE_ORDER = {"offline": 0, "unknown": 1, "online": 2}
_MESSAGE = 80
"""Characters of the first issue shown in the table; the details below have it whole."""


def _split(values: Iterable[str] | None) -> list[str]:
    return [v.strip() for text in values or () for v in text.split(",") if v.strip()]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="per-site state: edge node online, eggo and Argo CD progress, delivery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_repo_arg(p)
    add_kube_args(p)  # without flags: in-cluster under a pod, else $KUBECONFIG/~/.kube/config
    add_output_arg(p, "json", "yaml")
    f = p.add_argument_group("filters (the summary still counts every site)")
    f.add_argument("--site", action="append", metavar="ID", help="only this site (repeatable)")
    f.add_argument(
        "--state",
        action="append",
        metavar="STATE",
        help=f"only sites in this state (repeatable): {', '.join(STATES)}",
    )
    f.add_argument(
        "--wave", action="append", metavar="N", help="only this rollout wave (repeatable)"
    )
    f.add_argument(
        "-l",
        "--selector",
        metavar="SELECTOR",
        help="only sites whose metadata.labels match, e.g. region=south,tier!=test",
    )
    p.add_argument(
        "-w",
        "--watch",
        type=_seconds,
        metavar="SECONDS",
        help="read again and reprint every SECONDS until interrupted (Ctrl-C)",
    )
    p.set_defaults(func=run)


def _filter(args: argparse.Namespace) -> Filter:
    """The filters named on the command line; SelectorError (a usage error) when one is bad."""
    bad_state = [v for v in _split(args.state) if v not in STATES]
    if bad_state:
        raise SelectorError(f"--state {bad_state[0]!r}: not a state (one of {', '.join(STATES)})")
    bad_wave = [v for v in _split(args.wave) if not v.lstrip("-").isdigit()]
    if bad_wave:
        raise SelectorError(f"--wave {bad_wave[0]!r}: not a wave number")
    selector = parse_selector(args.selector) if args.selector else ()
    return Filter(
        frozenset(_split(args.site)),
        frozenset(_split(args.state)),
        frozenset(int(w) for w in _split(args.wave)),
        selector,
    )


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    try:
        flt = _filter(args)
    except SelectorError as exc:
        print(f"gitops-edge status: {exc}", file=sys.stderr)
        return 2
    try:
        kube = kube_from_args(args, retry=CLI_RETRY)
    except KubeError as exc:
        print(f"gitops-edge status: {exc}", file=sys.stderr)
        return 1
    if args.watch is None:
        return _once(args, root, flt, kube)
    try:
        while True:
            _once(args, root, flt, kube, clear=sys.stdout.isatty())
            time.sleep(args.watch)
            if args.output == "text" and not sys.stdout.isatty():
                sys.stdout.write("\n")
    except KeyboardInterrupt:  # the way out of --watch, not an error
        return 0


def _once(
    args: argparse.Namespace, root: Path, flt: Filter, kube: KubeClient, *, clear: bool = False
) -> int:
    """Read the repo and the API once and print the report; 1 when the API cannot be read."""
    from gitops_edge.federation.holds import one_shot_holds
    from gitops_edge.federation.sections import status_section
    from gitops_edge.live.snapshot import read_live

    repo = load_repo(root)
    revision = describe_revision(root)
    try:
        live = read_live(kube)
    except KubeError as exc:
        print(f"gitops-edge status: {exc}", file=sys.stderr)
        return 1
    plan = plan_against(repo, live, revision=revision, hold_cleanup=one_shot_holds(kube, root))
    full = build_report(
        repo, live, revision=None if revision == UNVERSIONED else revision, plan=plan
    )
    report = apply_filter(full, flt, site_labels(repo))
    synced = {s.site: last_sync(live.site_objects(s.site)) for s in report.sites}
    if clear and args.output == "text":
        sys.stdout.write("\x1b[H\x1b[2J")  # clear the screen, like watch(1)
    fed = status_section(kube, repo, live, now=now_utc(), revision=revision)  # None: not enabled
    if args.output in ("json", "yaml"):
        doc = status_document(full, live, shown=report, flt=flt)
        print_data(doc | ({"federation": fed.data} if fed else {}), args.output)
    else:
        sys.stdout.write(render_text(full, report, flt, synced) + (fed.text() if fed else ""))
    sys.stdout.flush()
    return 0


def render_text(
    full: StatusReport,
    report: StatusReport | None = None,
    flt: Filter | None = None,
    synced: dict[str, str | None] | None = None,
) -> str:
    """Summary, the table, then details for every shown site that is not fine."""
    report = report or full
    synced = synced or {}
    counts = ", ".join(f"{n} {state}" for state, n in full.counts().items() if n)
    rev = full.revision[:12] if full.revision else "unversioned"
    lines = [f"revision {rev}, observed {full.observed_at}: {len(full.sites)} site(s)"]
    if counts:
        lines[0] += f": {counts}"
    if full.plan:
        lines.append("plan: " + ", ".join(f"{n} {gate}" for gate, n in full.plan.items()))
    if flt is not None and flt.active:
        lines.append(f"showing {len(report.sites)} of {len(full.sites)} site(s): {flt.describe()}")
    rows = [COLUMNS, *(_row(s, synced.get(s.site)) for s in report.sites)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for site in report.sites:
        if site.fine:
            continue
        lines.append("")
        lines.append(f"{site.site} ({site.state}):")
        lines += [f"  - {issue}" for issue in site.issues]
    return "\n".join(lines) + "\n"


def _row(s: SiteStatus, last: str | None = None) -> tuple[str, ...]:
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
        _revision(s.revisions),
        last or "-",
        _message(s),
    )


def _revision(revisions: tuple[str, ...]) -> str:
    """The commit the site's objects came from; ``+n`` when they come from several."""
    if not revisions:
        return "-"
    return revisions[-1][:12] + (f"+{len(revisions) - 1}" if len(revisions) > 1 else "")


def _message(s: SiteStatus) -> str:
    if not s.issues:
        return "-"
    first = s.issues[0]
    return first if len(first) <= _MESSAGE else first[: _MESSAGE - 1] + "…"


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
