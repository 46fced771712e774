"""Per-site status: what the repo asks for next to what the central API says is there.

``gitops-edge status`` answers the operator's first questions about a site in one
place: is its edge node online (and since when), is it the architecture the spec
declares, which revision produced the objects gitops-edge manages for it, did the
edge node receive them (KubeEdge ObjectSync), how far eggo got, and whether its
Argo CD Applications are synced and healthy. It is a pure function of a
:class:`RepoSpec` and a :class:`LiveState`, so it is tested without a cluster and
the daemon can serve the same report.

Site states, worst first: ``invalid`` (the spec does not validate; live objects are
kept), ``removed`` (live objects, no directory), ``failed`` (eggo failed, or the edge
node is the wrong architecture), ``blocked`` (a change the safety rules refuse),
``deferred`` (no edge node online: work waits, it does not fail), ``waiting`` (its
wave is not released yet), ``progressing`` (eggo running, an Application not yet
Synced and Healthy, objects not yet on the edge node), ``pending`` (changes not
applied yet), ``ok``.

Given the plan's verdict per site (:class:`Gating`, from :func:`gating_of` a
:class:`~gitops_edge.plan.model.Plan`, or the daemon's memory of its last plan), the
states follow the plan's gates, the deferred count is the plan's count of changes
that wait, and the summary carries the plan's own counts (:func:`gate_counts`), so
``status`` and ``plan`` never disagree about the same repo and cluster. Without it
(no plan was made) they come from live objects alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast, get_args

from gitops_edge.labels import SOURCE_REVISION, SPEC_HASH
from gitops_edge.live.delivery import delivery_of
from gitops_edge.live.inventory import EdgeNode, format_time, nodes_for_site
from gitops_edge.live.progress import app_status
from gitops_edge.live.state import SITE_LABEL, LiveState
from gitops_edge.plan.eggo_lifecycle import failure_of, latest_run
from gitops_edge.plan.model import Plan, gate_counts, summary_key
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import Site

State = Literal[
    "invalid", "removed", "failed", "blocked", "deferred", "waiting", "progressing", "pending", "ok"
]
STATES: tuple[State, ...] = get_args(State)
_HOLDING = frozenset({"blocked", "deferred", "waiting"})
"""Plan gates that hold a site's changes back and are its state as they are (unless it
is worse: invalid, removed, failed); ``ready`` and ``suspended`` sites say instead how
far their live objects are (progressing, pending, ok)."""


@dataclass(frozen=True)
class NodeStatus:
    """An edge node a site targets, as the operator needs it: reachable, since when, arch."""

    name: str
    state: str
    since: str | None
    arch: str
    arch_ok: bool | None
    """None when the spec declares no arch (or the node reports none)."""
    reason: str


@dataclass(frozen=True)
class ObjectStatus:
    """One object gitops-edge manages for the site: which commit made it, where it arrived."""

    kind: str
    namespace: str
    name: str
    revision: str | None
    spec_hash: str | None
    delivery: dict[str, str] = field(default_factory=dict)
    """Edge node -> delivered / pending / stale; empty for cluster-scoped objects."""


@dataclass(frozen=True)
class EggoStatus:
    job: str
    namespace: str
    operation: str
    outcome: str
    reason: str
    created: str | None
    failed_hosts: tuple[str, ...] = ()
    """IPs eggo's summary reported failed: rolled back, not in the cluster."""


@dataclass(frozen=True)
class AppStatus:
    name: str
    sync: str
    health: str

    @property
    def fine(self) -> bool:
        return self.sync == "Synced" and self.health == "Healthy"


@dataclass(frozen=True)
class SiteStatus:
    """Everything ``status`` says about one site; ``issues`` are the sentences to act on."""

    site: str
    state: State
    in_repo: bool
    valid: bool
    problems: int
    wave: int | None
    suspended: bool
    edge_target: str
    edge_arch: str | None
    nodes: tuple[NodeStatus, ...]
    revisions: tuple[str, ...]
    eggo: EggoStatus | None
    applications: tuple[AppStatus, ...]
    objects: tuple[ObjectStatus, ...]
    delivered: int
    deliveries: int
    issues: tuple[str, ...]
    gate: str | None = None
    """The plan's gate for the site (None: no plan was made)."""
    changes: int | None = None
    """Object changes the plan has for the site, not applied yet (None: unknown)."""

    @property
    def fine(self) -> bool:
        return self.state == "ok" and not self.suspended and not self.issues

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["edge"] = {
            "target": data.pop("edge_target"),
            "arch": data.pop("edge_arch"),
            "nodes": data.pop("nodes"),
        }
        data["delivered"] = {"delivered": self.delivered, "total": data.pop("deliveries")}
        return data


@dataclass(frozen=True)
class StatusReport:
    revision: str | None
    observed_at: str
    sites: tuple[SiteStatus, ...]
    plan: dict[str, int] | None = None
    """The plan's summary (:func:`~gitops_edge.plan.model.gate_counts`), when the states
    came from a plan (or the daemon's memory of its plans)."""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for s in self.sites:
            out[s.state] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """The ``status --output json`` contract (see README "status")."""
        return {
            "revision": self.revision,
            "observed_at": self.observed_at,
            "summary": {
                "sites": len(self.sites),
                **self.counts(),
                **({} if self.plan is None else {"plan": self.plan}),
            },
            "sites": [s.as_dict() for s in self.sites],
        }


@dataclass(frozen=True)
class Gating:
    """What a plan says of one site: its gate, why, and how many changes wait."""

    gate: str
    reason: str = ""
    changes: int | None = None
    held: str = ""


def gating_of(plan: Plan) -> dict[str, Gating]:
    """Each planned site's :class:`Gating`."""
    return {
        s.site: Gating(s.gate, s.reason, len(s.pending()), s.held) for s in plan.sites
    }


def _gate_counts(gatings: Iterable[Gating]) -> dict[str, int]:
    """:func:`gate_counts` from each site's :class:`Gating` (the daemon's memory of its plans)."""
    out: dict[str, int] = {}
    for g in gatings:
        key = summary_key(g.gate, g.changes)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Intent:
    """What the repo says about one site, as far as status needs it."""

    site: str
    in_repo: bool = True
    problems: int = 0
    selector: dict[str, str] | None = None
    node_name: str | None = None
    arch: str | None = None
    wave: int | None = None
    suspended: bool = False
    apps: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.in_repo and not self.problems

    @property
    def target(self) -> str:
        if self.node_name:
            return f"nodeName {self.node_name}"
        pairs = ",".join(f"{k}={v}" for k, v in sorted((self.selector or {}).items()))
        return f"nodeSelector {pairs or '(any)'}"


def intent_of(site: Site) -> Intent:
    """A site's edge target, wave, suspend flag and Applications; problems if invalid.

    Without a valid spec the edge target is unknown: the default selector is the
    best guess for where the objects already applied went.
    """
    default = {SITE_LABEL: site.id}
    if not site.valid or site.spec is None:
        return Intent(site.id, problems=len(site.problems) or 1, selector=default)
    spec = site.spec.spec
    edge = spec.edge
    return Intent(
        site.id,
        selector=None if edge.nodeName else dict(edge.nodeSelector or default),
        node_name=edge.nodeName,
        arch=edge.arch,
        wave=spec.rollout.wave,
        suspended=spec.suspend,
        apps=tuple(a.name for a in spec.applications),
    )


def build_report(
    repo: RepoSpec,
    live: LiveState,
    *,
    revision: str | None = None,
    plan: Plan | None = None,
    gating: Mapping[str, Gating] | None = None,
) -> StatusReport:
    """One :class:`SiteStatus` per site in the repo, plus one per removed site.

    With ``plan`` (or only the per-site ``gating`` of one) the states follow its gates.
    """
    if plan is not None and gating is None:
        gating = gating_of(plan)
    intents = [intent_of(s) for s in repo.sites]
    known = {s.id for s in repo.sites}
    intents += [
        Intent(sid, in_repo=False, selector={SITE_LABEL: sid})
        for sid in sorted(set(live.objects) - known)
    ]
    sites = sorted(
        (site_status(i, live, (gating or {}).get(i.site)) for i in intents),
        key=lambda s: s.site,
    )
    counts = None if plan is None else gate_counts(plan)
    if counts is None and gating:
        counts = _gate_counts(g for s in sites if (g := gating.get(s.site)) is not None)
    return StatusReport(revision, format_time(live.observed_at), tuple(sites), counts)


def site_status(intent: Intent, live: LiveState, gating: Gating | None = None) -> SiteStatus:
    """Status of one site: the repo's intent read against the live state (and the plan)."""
    objs = live.site_objects(intent.site)
    matched = nodes_for_site(live.nodes, node_selector=intent.selector, node_name=intent.node_name)
    nodes = tuple(_node(n, intent.arch) for n in matched)
    objects = tuple(_object(o, matched, live.syncs) for o in sorted(objs, key=_obj_sort))
    eggo = newest_eggo(objs, live.run_reports)
    apps = _apps(objs, intent.apps)
    states = [s for o in objects for s in o.delivery.values()]
    delivered = states.count("delivered")
    progressing = bool(
        (eggo and eggo.outcome != "succeeded")
        or delivered < len(states)
        or not all(a.fine for a in apps)
    )
    gate = gating.gate if gating is not None else None
    changes = gating.changes if gating is not None else None
    state: State = "ok"
    if not intent.in_repo:
        state = "removed"
    elif not intent.valid or gate == "invalid":
        state = "invalid"
    elif (
        gate == "failed"
        or (eggo and eggo.outcome == "failed")
        or any(n.arch_ok is False for n in nodes)
    ):
        state = "failed"  # eggo's own word outranks a gate that only holds the next change
    elif gate in _HOLDING:
        state = cast(State, gate)
    elif gate is None and live.has_nodes and not any(n.state == "online" for n in nodes):
        state = "deferred"
    elif not objs:
        state = "pending"
    elif progressing:
        state = "progressing"
    elif changes and gate != "suspended":
        state = "pending"
    return SiteStatus(
        site=intent.site,
        state=state,
        in_repo=intent.in_repo,
        valid=intent.valid,
        problems=intent.problems,
        wave=intent.wave,
        suspended=intent.suspended,
        edge_target=intent.target,
        edge_arch=intent.arch,
        nodes=nodes,
        revisions=tuple(sorted({o.revision for o in objects if o.revision})),
        eggo=eggo,
        applications=apps,
        objects=objects,
        delivered=delivered,
        deliveries=len(states),
        issues=tuple(_issues(intent, live, nodes, objects, eggo, apps, gating)),
        gate=gate,
        changes=changes,
    )


def _obj_sort(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _node(node: EdgeNode, declared: str | None) -> NodeStatus:
    arch_ok = None if not declared or not node.arch else node.arch == declared
    since = format_time(node.since) if node.since else None
    return NodeStatus(node.name, node.state, since, node.arch, arch_ok, node.reason)


def _object(
    obj: Mapping[str, Any], nodes: list[EdgeNode], syncs: Mapping[str, str]
) -> ObjectStatus:
    meta = obj.get("metadata") or {}
    notes = meta.get("annotations") or {}
    delivery: dict[str, str] = {}
    if meta.get("namespace"):  # ObjectSync is namespaced: cluster-scoped objects have none
        delivery = {n.name: delivery_of(obj, n.name, syncs).state for n in nodes}
    return ObjectStatus(
        str(obj.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        notes.get(SOURCE_REVISION),
        notes.get(SPEC_HASH),
        delivery,
    )


def newest_eggo(
    objs: Iterable[Mapping[str, Any]], reports: Mapping[str, str] | None = None
) -> EggoStatus | None:
    """The site's latest eggo run, by the same definition the planner uses (the run chain).

    Its outcome is eggo's word: a run whose summary names failed hosts is failed.
    """
    run = latest_run([dict(o) for o in objs], assume_success=False, reports=reports)
    if run is None:
        return None
    meta = run.job["metadata"]
    return EggoStatus(
        job=run.name,
        namespace=run.namespace,
        operation=run.operation,
        outcome=run.outcome,
        reason=failure_of(run) if run.outcome == "failed" else "",
        created=meta.get("creationTimestamp"),
        failed_hosts=run.failed_hosts,
    )


def _apps(objs: Iterable[Mapping[str, Any]], declared: Iterable[str]) -> tuple[AppStatus, ...]:
    """Live Applications, plus declared ones not in the cluster yet (``Missing``)."""
    live = {
        str(o["metadata"].get("name", "")): app_status(o)
        for o in objs
        if o.get("kind") == "Application"
    }
    out = [AppStatus(name, *live[name]) for name in sorted(live)]
    out += [AppStatus(name, "Missing", "Missing") for name in sorted(set(declared) - set(live))]
    return tuple(sorted(out, key=lambda a: a.name))


def _issues(
    intent: Intent,
    live: LiveState,
    nodes: tuple[NodeStatus, ...],
    objects: tuple[ObjectStatus, ...],
    eggo: EggoStatus | None,
    apps: tuple[AppStatus, ...],
    gating: Gating | None = None,
) -> list[str]:
    """Sentences an operator reads under the table for a site that is not fine."""
    out: list[str] = []
    waits = gating.changes if gating is not None and gating.gate == "deferred" else None
    if not intent.in_repo:
        out.append(
            f"no directory for site {intent.site} in the repo: {len(objects)} live object(s) "
            "remain until its deletionPolicy is carried out"
        )
    elif intent.problems:
        out.append(
            f"spec invalid ({intent.problems} problem(s); run gitops-edge validate): live objects are kept"
        )
    if live.has_nodes and not nodes and intent.valid:
        out.append(f"no edge node matches {intent.target}")
    for n in nodes:
        waiting = sum(1 for o in objects if o.delivery.get(n.name, "delivered") != "delivered")
        if n.state != "online":
            since = f" since {n.since}" if n.since else ""
            held = f"{waiting} object(s) deferred"
            if waits is not None:  # the plan's count: what it would write once the node is back
                held = f"{waits} change(s) deferred" + (
                    f", {waiting} object(s) not yet delivered" if waiting else ""
                )
            out.append(f"edge node {n.name} {n.state}{since} ({n.reason}); {held}")
        elif waiting:
            out.append(f"{waiting} object(s) not yet delivered to edge node {n.name}")
        if n.arch_ok is False:
            out.append(
                f"edge node {n.name} is {n.arch} but spec.edge.arch is {intent.arch}: "
                "fix the spec or the node's kubernetes.io/arch label"
            )
    if gating is not None and gating.gate in ("blocked", "waiting") and gating.reason:
        out.append(f"{gating.gate}: {gating.reason}")
    elif gating is not None and gating.held:  # failed, and its other changes wait
        out.append(f"held: {gating.held}")
    elif gating is not None and gating.gate in ("ready", "failed") and gating.changes:
        out.append(f"{gating.changes} change(s) not applied yet (gitops-edge plan shows them)")
    if eggo and eggo.outcome == "failed":
        out.append(f"eggo {eggo.operation} Job {eggo.namespace}/{eggo.job} failed: {eggo.reason}")
    elif eggo and eggo.outcome != "succeeded":
        out.append(f"eggo {eggo.operation} Job {eggo.namespace}/{eggo.job} {eggo.outcome}")
    for a in apps:
        if not a.fine:
            out.append(f"application {a.name}: sync {a.sync}, health {a.health}")
    for o in objects:
        for node, state in sorted(o.delivery.items()):
            if state == "stale":
                out.append(
                    f"{o.kind} {o.namespace}/{o.name}: edge node {node} has an older version"
                )
    return out
