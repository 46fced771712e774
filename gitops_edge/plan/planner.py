"""Make the plan: for every site, desired against live, eggo's next step, gates and waves.

Pure: takes the loaded repo, the rendered objects and a LiveState; returns a Plan. It
reads nothing: what the LiveState does not hold (a partial read, a source that reads
files on access, every site's live cluster) raises :class:`~gitops_edge.live.state.Unread`,
and the caller reads it and plans again (:func:`~gitops_edge.live.state.read_as_asked`).
Safety rules live here, in one place:
- a site whose files failed to load or render plans *nothing* (never a deletion);
- a site that disappeared from the repo is pruned only when discovery was clean, and
  its eggo cluster is cleaned up only with ``deletionPolicy: Cleanup``;
- a run that would delete more than ``prune.maxDeletions`` objects is refused whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gitops_edge.federation.registration import federation_record
from gitops_edge.federation.unregistration import CleanupHold, hold_for_unregistration
from gitops_edge.live.delivery import delivery_of
from gitops_edge.live.inventory import EdgeNode
from gitops_edge.live.progress import app_status
from gitops_edge.live.state import LazySites, LiveState, Unread
from gitops_edge.plan import eggo_lifecycle as lifecycle
from gitops_edge.plan.diff import drift, spec_hash
from gitops_edge.plan.gates import edge_gate
from gitops_edge.plan.holders import Holders, holding_of
from gitops_edge.plan.model import (
    HISTORY_COMPONENTS,
    EggoStep,
    ObjectChange,
    Plan,
    SitePlan,
    obj_key,
)
from gitops_edge.plan.standing import Standing, standing_of
from gitops_edge.plan.waves import gate_waves
from gitops_edge.render import meta
from gitops_edge.render.context import RenderContext
from gitops_edge.render.eggo_job import (
    EggoOperation,
    deploy_config,
    eggo_run_objects,
    summarised,
)
from gitops_edge.render.site import RenderResult, render_repo
from gitops_edge.specs.eggo import DeployConfig, check
from gitops_edge.specs.fleet import Identity, identity_of
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import Site


@dataclass(frozen=True)
class PlanOptions:
    keep_history: bool = True
    """Keep past eggo run records (Jobs + ConfigMaps) live; a directory sink keeps only the newest."""


def make_plan(
    repo: RepoSpec,
    live: LiveState,
    *,
    revision: str,
    sites: Iterable[str] | None = None,
    rendered: RenderResult | None = None,
    fleet: Sequence[Identity] | None = None,
    fleet_clean: bool | None = None,
    hold_cleanup: CleanupHold | None = None,
    waves: bool = True,
    standing: Mapping[str, Standing] | None = None,
) -> Plan:
    """Plan every site (or only ``sites``, for an incremental run) against ``live``.

    A named site whose directory is gone is planned for removal like in a full run.
    ``fleet`` (default: from ``repo``) is the identity of every site of the repo, and
    ``fleet_clean`` (default: from ``repo``) whether every one of them loaded cleanly:
    a caller that loads the repo a chunk at a time passes both for the whole repo.
    ``hold_cleanup``: federation's veto on starting an eggo cleanup (a site still
    registered with Karmada is unregistered first), see
    :func:`gitops_edge.federation.unregistration.hold_for_unregistration`.
    ``waves`` False leaves wave gating to such a caller: a wave is held by sites of
    other chunks, so only the merged plan can be gated (:func:`gate_waves`).
    ``standing``: of sites not in ``repo`` (an incremental run loads the sites it plans),
    for the waves of a live source that reports outcomes (:mod:`gitops_edge.plan.standing`).
    """
    wanted = None if sites is None else set(sites)
    if isinstance(live.objects, LazySites) and live.objects.reads_files:
        # the planner opens no file: the caller reads the sites planned, then asks again
        ask = wanted if wanted is not None else {*live.objects, *(s.id for s in repo.sites)}
        raise Unread("the live objects of the sites planned", lambda lv: lv.reading(ask))
    result = rendered or render_repo(repo, revision=revision, sites=wanted)
    ctx = RenderContext(repo.settings, revision, repo.bundle)
    feedback = live.has_nodes
    holders = Holders(live)
    plans: list[SitePlan] = []
    for site in repo.sites:
        if wanted is not None and site.id not in wanted:
            continue
        wave = site.spec.spec.rollout.wave if site.spec else 0
        if site.id not in result.objects:
            problems = result.problems.get(site.id) or site.problems
            plans.append(
                SitePlan(
                    site.id,
                    wave,
                    "invalid",
                    f"{len(problems)} problem(s): {problems[0] if problems else ''}",
                )
            )
            continue
        plans.append(
            _plan_site(
                site,
                result.objects[site.id],
                live.site_objects(site.id),
                live,
                ctx,
                feedback,
                holders,
            )
        )
    repo_problems = (*repo.problems, *result.repo_problems)
    if fleet_clean is None:
        # a site that failed to render counts as not loaded; a named id that is not in
        # the repo (a removed site) is not a problem of the repo
        unrendered = any(repo.site(sid) is not None for sid in result.problems)
        fleet_clean = not repo_problems and all(s.valid for s in repo.sites) and not unrendered
    if fleet is None:
        fleet = [i for i in map(identity_of, repo.sites) if i is not None]
    known = {s.id for s in repo.sites} | {i.site for i in fleet}
    # a run of named sites asks only about them (a partial live read has only them)
    live_sites = live.objects if wanted is None else [s for s in wanted if s in live.objects]
    for site_id in sorted(set(live_sites) - known):
        plans.append(
            _plan_removed(
                site_id, live, feedback, fleet=fleet, clean=fleet_clean and not repo_problems
            )
        )
    if hold_cleanup is not None:
        plans = [hold_for_unregistration(sp, hold_cleanup) for sp in plans]
    context: list[SitePlan] = []
    notes: tuple[str, ...] = ()
    if wanted is not None and feedback:
        others = [(s.id, standing_of(s)) for s in repo.sites if s.id not in wanted]
        skip = wanted | {s.id for s in repo.sites}
        others += [(sid, st) for sid, st in sorted((standing or {}).items()) if sid not in skip]
        if live.scope is not None and plans:
            # only earlier waves gate these sites: read no more of the fleet than them
            # (an invalid site counts as failed in wave 0: it is kept, and reads nothing)
            top = max(sp.wave for sp in plans)
            earlier = [(sid, st) for sid, st in others if (st.wave if st else 0) < top]
            if len(earlier) < len(others):
                notes = (
                    f"waves read before wave {top}, the last this run plans: the sites "
                    f"of wave {top} and later it does not plan were not read, "
                    "so the wave in progress may be a later one",
                )
            others = earlier
        context = [_observed(sid, st, live) for sid, st in others]
    gated, current = gate_waves(
        plans + context,
        max_failures=repo.settings.spec.rollout.maxFailures,
        feedback=feedback and waves,
    )
    plans = gated[: len(plans)]
    plan = Plan(
        revision,
        tuple(plans),
        current_wave=current,
        problems=tuple(str(p) for p in repo_problems),
        notes=notes,
    )
    return guard_deletions(plan, repo.settings.spec.prune.maxDeletions)


def guard_deletions(plan: Plan, limit: int) -> Plan:
    """``plan`` refused whole when it would delete more than ``limit`` objects."""
    if plan.deletions() > limit:
        plan = replace(
            plan,
            refused=f"refused: this run would delete {plan.deletions()} objects, more than prune.maxDeletions={limit} in gitops-edge.yaml; raise the limit for this change or split it",
        )
    return plan


def _observed(site_id: str, site: Standing | None, live: LiveState) -> SitePlan:
    """A site outside an incremental run, as waves see it: from live state, not rendered.

    Waves must see the whole fleet even when one commit plans one site; what the other
    sites would change is unknown here, so only their observed progress counts.
    """
    if site is None:
        return SitePlan(site_id, 0, "invalid")
    if site.suspended:
        return SitePlan(site_id, site.wave, "suspended")
    gate, _reason, _nodes = edge_gate(site, live)
    objs = live.site_objects(site_id)
    latest = lifecycle.latest_run(objs, assume_success=False, reports=live.run_reports)
    eggo_failed = latest is not None and latest.outcome == "failed"
    eggo_ok = not site.eggo or (latest is not None and latest.outcome == "succeeded")
    health = [app_status(o) for o in objs if o.get("kind") == "Application"]
    apps_failed = any(h == "Degraded" for _s, h in health)
    apps_ok = len(health) >= site.applications and all(
        s == "Synced" and h == "Healthy" for s, h in health
    )
    done = bool(objs) and eggo_ok and apps_ok and not apps_failed
    done = done and _delivered(objs, live, _nodes)
    return SitePlan(site_id, site.wave, gate, done=done, failed=eggo_failed or apps_failed)


def _delivered(objs: list[dict[str, Any]], live: LiveState, nodes: list[EdgeNode]) -> bool:
    """No object is known to be stale on an online edge node of the site.

    Where the edge reports deliveries (a KubeEdge ObjectSync for the object and node),
    the acknowledged version must be the live one; an object without a record counts
    as delivered (nothing reports on it), an offline node is the edge gate's business.
    """
    if not live.syncs:
        return True
    online = [n.name for n in nodes if n.state == "online"]
    return not any(
        delivery_of(obj, node, live.syncs).state == "stale" for obj in objs for node in online
    )


def _is_history(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(
        meta.COMPONENT
    ) in HISTORY_COMPONENTS


def _with_eggo(site: Site, conf: Any) -> Site:
    assert site.spec is not None
    spec = site.spec.model_copy(update={"spec": site.spec.spec.model_copy(update={"eggo": conf})})
    return replace(site, spec=spec)


def _plan_eggo(
    site: Site,
    live_objs: list[dict[str, Any]],
    ctx: RenderContext,
    feedback: bool,
    reports: Mapping[str, str],
    holders: Holders,
) -> tuple[EggoStep | None, list[dict[str, Any]], str, bool]:
    """(step, desired eggo objects, blocking reason, failed) for a job-mode site."""
    assert site.spec is not None
    desired_conf = site.spec.spec.eggo
    if desired_conf is None or ctx.settings.spec.eggo.mode != "job":
        return None, [], "", False
    runs = lifecycle.eggo_runs(live_objs, assume_success=not feedback, reports=reports)
    latest = runs[-1] if runs else None
    if latest is not None and latest.outcome in ("pending", "running"):
        return (
            EggoStep("running", f"eggo {latest.operation} in progress", latest.name),
            [],
            "",
            False,
        )
    applied, readable = lifecycle.applied_cluster(runs)
    if not readable:
        return (
            EggoStep("failed", "cannot read the last applied eggo config"),
            [],
            "the last applied eggo config is unreadable; inspect the eggo ConfigMaps",
            True,
        )
    step = lifecycle.next_step(applied, desired_conf)
    if latest is not None and latest.outcome == "failed" and _retries(latest, step):
        # eggo's word: a failed run stays failed until the spec asks for something
        # else or the operator deletes its Job; it is never silently retried
        wants = "" if step.kind == "none" else f"; the spec still asks for {step.detail}"
        return (
            EggoStep(
                "failed",
                f"eggo {latest.operation} (Job {latest.name}) failed: {lifecycle.failure_of(latest)}{wants}; "
                f"fix the cause and delete Job {latest.name} to retry, or change the spec",
                latest.name,
                latest.failed_hosts,
            ),
            [],
            "",
            True,
        )
    if step.kind == "none":
        return EggoStep("none", step.detail or "cluster matches the spec"), [], "", False
    if step.kind == "blocked":
        return EggoStep("none", step.detail), [], step.detail, False
    if step.kind == "rebuild":
        if not site.spec.spec.allowRebuild:
            return (
                EggoStep("rebuild", step.detail),
                [],
                f"{step.detail}; set spec.allowRebuild: true to clean up and redeploy the cluster",
                False,
            )
        assert applied is not None
        op, conf = EggoOperation("cleanup"), applied
    else:
        assert step.kind in ("deploy", "join", "delete")
        op, conf = EggoOperation(step.kind, step.hosts), step.result or desired_conf
    refusal = _unsafe(site, op, conf, holders)
    if refusal:
        return EggoStep("none", refusal), [], refusal, False
    objs = [lifecycle.chain(o, latest) for o in eggo_run_objects(_with_eggo(site, conf), ctx, op)]
    job_name = next(o["metadata"]["name"] for o in objs if o["kind"] == "Job")
    failed_before = next((r for r in runs if r.name == job_name and r.outcome == "failed"), None)
    if failed_before is not None:
        return (
            EggoStep(
                "failed",
                f"eggo {op.kind} failed: {lifecycle.failure_of(failed_before)}; change the spec or delete Job {job_name} to retry",
                job_name,
                failed_before.failed_hosts,
            ),
            [],  # the failed run stays as a record; re-applying its Job would not rerun it
            "",
            True,
        )
    return (
        EggoStep(
            op.kind,
            step.detail if op.kind != "cleanup" else f"rebuild: cleanup first ({step.detail})",
            job_name,
        ),
        objs,
        "",
        False,
    )


def _retries(latest: lifecycle.EggoRun, step: lifecycle.Step) -> bool:
    """True when ``step`` would redo (or merely accept) the failed ``latest`` run.

    After a run whose hosts failed, the believed cluster lacks those hosts, so the next
    step is a join of exactly them: a retry, not a new request. ``none`` means the spec
    now matches what is left, which still needs the operator to acknowledge the failure.
    """
    if step.kind == "none":
        return True
    if latest.failed_hosts and step.kind == "join":
        return {h.ip for h in step.hosts} <= set(latest.failed_hosts)
    return False


def _unsafe(site: Site, op: EggoOperation, conf: DeployConfig, holders: Holders) -> str:
    """Why this eggo run must not be emitted ("" when it may).

    Every config gitops-edge hands eggo passes eggo's own checker (the record is what
    ``join`` and ``delete`` merge with eggo's saved config, and eggo runs ``RunChecker``
    on that merge, ``cmd/join.go``); and a deploy or join never touches a machine or a
    cluster id that another site's live cluster holds (a copied directory, a moved
    site, two sites swapping a host).
    """
    findings = check(deploy_config(conf))
    if findings:
        loc, message = findings[0]
        where = ".".join(str(p) for p in loc)
        return (
            f"the eggo config this change leads to fails eggo's checker ({where}: {message}"
            f"{f'; and {len(findings) - 1} more' if len(findings) > 1 else ''}); nothing is run"
        )
    if op.kind not in ("deploy", "join"):
        return ""
    if op.kind == "deploy":
        ips = frozenset(h.ip for h in conf.all_hosts() if h.ip) | (
            {conf.loadbalance.ip} if conf.loadbalance.ip else frozenset()
        )
        conflicts = holders.conflicts(site.id, conf.cluster_id, ips)
    else:
        conflicts = holders.conflicts(site.id, "", frozenset(h.ip for h in op.hosts))
    if not conflicts:
        return ""
    return (
        f"eggo {op.kind} refused: {'; '.join(conflicts)}. A moved cluster is not a new cluster: "
        "put it back under its site id (gitops-edge does not move a live cluster between "
        "sites); to move a host, delete it from the other site in one change and add it here "
        "in the next"
    )


def _diff(
    desired: list[dict[str, Any]],
    live_objs: list[dict[str, Any]],
    *,
    keep: set[tuple[str, str, str, str]],
) -> list[ObjectChange]:
    live_by_key = {obj_key(o): o for o in live_objs}
    changes: list[ObjectChange] = []
    seen = set()
    for obj in desired:
        key = obj_key(obj)
        seen.add(key)
        current = live_by_key.get(key)
        if current is None:
            changes.append(ObjectChange("create", key, obj, None))
        elif spec_hash(current) != spec_hash(obj):
            changes.append(ObjectChange("update", key, obj, current, "spec changed"))
        elif paths := drift(obj, current):
            changes.append(
                ObjectChange("update", key, obj, current, "live drift in " + ", ".join(paths[:3]))
            )
        else:
            changes.append(ObjectChange("unchanged", key, obj, current))
    for key, current in live_by_key.items():
        if key in seen:
            continue
        if key in keep:
            changes.append(ObjectChange("unchanged", key, current, current, "eggo run record"))
        else:
            changes.append(ObjectChange("delete", key, None, current, "no longer in the repo"))
    return changes


def _plan_site(
    site: Site,
    rendered: list[dict[str, Any]],
    live_objs: list[dict[str, Any]],
    live: LiveState,
    ctx: RenderContext,
    feedback: bool,
    holders: Holders,
) -> SitePlan:
    assert site.spec is not None
    spec = site.spec.spec
    base = [o for o in rendered if not _is_history(o)]
    step, eggo_objs, blocked, failed = _plan_eggo(
        site, live_objs, ctx, feedback, live.run_reports, holders
    )
    if step is None:  # operator mode or no eggo: eggo objects are ordinary desired state
        base, eggo_objs = rendered, []
    history = {obj_key(o) for o in live_objs if _is_history(o)}
    history |= {obj_key(o) for o in live_objs if federation_record(o)}  # Karmada's Jobs
    if not feedback and eggo_objs:
        history = set()  # a directory keeps only the newest run
    changes = _diff([*base, *eggo_objs], live_objs, keep=history)
    done, app_failed = _progress(live_objs, changes, step)
    standing = standing_of(site)
    assert standing is not None  # the site rendered, so its spec loaded
    gate, reason, _nodes = edge_gate(standing, live)
    done = done and _delivered(live_objs, live, _nodes)
    if spec.suspend:
        gate, reason = "suspended", "spec.suspend is true: validated and reported, nothing emitted"
    elif gate == "ready" and blocked:
        gate, reason = "blocked", blocked
    elif gate == "ready" and (failed or app_failed):
        gate = "failed"
        reason = step.detail if failed and step is not None else "an Application is Degraded"
    return SitePlan(
        site.id,
        spec.rollout.wave,
        gate,
        reason,
        tuple(changes),
        step,
        done=done,
        failed=failed or app_failed,
    )


def _progress(
    live_objs: list[dict[str, Any]], changes: list[ObjectChange], step: EggoStep | None
) -> tuple[bool, bool]:
    """(done, failed) for wave accounting."""
    apps = [o for o in live_objs if o.get("kind") == "Application"]
    health = [app_status(a) for a in apps]
    app_failed = any(h == "Degraded" for _s, h in health)
    apps_ok = all(s == "Synced" and h == "Healthy" for s, h in health)
    pending = any(c.action != "unchanged" for c in changes)
    eggo_ok = step is None or step.operation == "none"
    return (not pending and apps_ok and eggo_ok and not app_failed), app_failed


def _plan_removed(
    site_id: str, live: LiveState, feedback: bool, *, fleet: Sequence[Identity], clean: bool
) -> SitePlan:
    """A site whose directory is gone: Retain prunes our objects; Cleanup runs eggo cleanup first.

    Only when the directory really is gone: a run in which any site or the repo failed
    to load removes nothing (a renamed ``cluster.yaml``, a broken ``provinces/``), and a
    cluster that reappears under another site id has moved, which is never a cleanup.
    """
    live_objs = live.site_objects(site_id)
    ns = next((o for o in live_objs if o.get("kind") == "Namespace"), None)
    policy = ((ns or {}).get("metadata", {}).get("annotations") or {}).get(
        meta.DELETION_POLICY, "Retain"
    )
    if not clean:
        return SitePlan(
            site_id,
            0,
            "removed",
            f"directory removed; held back: removals go out only in a run in which every site "
            f"and the repo load cleanly (deletionPolicy {policy}); nothing is deleted",
            in_repo=False,
        )
    held = holding_of(site_id, live, assume_success=not feedback)
    if held is not None:
        movers = [i for i in fleet if i.cluster_id == held.cluster_id or (i.ips & held.ips)]
        if movers:
            names = ", ".join(f"site {i.site} ({i.file})" for i in movers)
            return SitePlan(
                site_id,
                0,
                "blocked",
                f"directory removed, but its live cluster {held.cluster_id} appears under {names}: "
                "a moved cluster is not a new cluster, so it is neither cleaned up nor deployed "
                "again; put the directory back under its old site id (nothing is deleted)",
                in_repo=False,
            )
    deletes = [
        ObjectChange("delete", obj_key(o), None, o, "site removed from the repo") for o in live_objs
    ]
    runs = lifecycle.eggo_runs(live_objs, assume_success=not feedback, reports=live.run_reports)
    if policy != "Cleanup" or not runs:
        return SitePlan(
            site_id,
            0,
            "removed",
            f"directory removed; deletionPolicy {policy}: the province cluster is left running",
            tuple(deletes),
            in_repo=False,
        )
    latest = runs[-1]
    if latest.operation == "cleanup":
        if latest.outcome == "succeeded":
            return SitePlan(
                site_id,
                0,
                "removed",
                "eggo cleanup succeeded; removing the site's objects",
                tuple(deletes),
                EggoStep("none", "cluster cleaned up"),
                in_repo=False,
            )
        if latest.outcome == "failed":
            return SitePlan(
                site_id,
                0,
                "blocked",
                f"eggo cleanup failed: {lifecycle.failure_of(latest)}; nothing is deleted",
                (),
                EggoStep("failed", "cleanup failed", latest.name),
                failed=True,
                in_repo=False,
            )
        return SitePlan(
            site_id,
            0,
            "removed",
            "eggo cleanup in progress",
            (),
            EggoStep("running", "cleanup", latest.name),
            in_repo=False,
        )
    job = lifecycle.chain(cleanup_job(latest.job), latest)
    change = ObjectChange(
        "create", obj_key(job), job, None, "deletionPolicy Cleanup: eggo cleanup before removal"
    )
    return SitePlan(
        site_id,
        0,
        "removed",
        "directory removed; deletionPolicy Cleanup: running eggo cleanup, then removing the site's objects",
        (change,),
        EggoStep("cleanup", "cleanup before removal", job["metadata"]["name"]),
        in_repo=False,
    )


def cleanup_job(last: dict[str, Any]) -> dict[str, Any]:
    """An ``eggo cleanup`` Job built from the site's last run: same node, key, state dir."""
    job = copy.deepcopy({k: v for k, v in last.items() if k != "status"})
    md = job["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        md.pop(key, None)
    cluster_id = md.get("labels", {}).get(meta.CLUSTER_ID, "")
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = summarised(["eggo", "cleanup", "--id", cluster_id])
    container.pop("args", None)
    template_labels = job["spec"]["template"].get("metadata", {}).get("labels", {})
    for k in (
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    ):
        template_labels.pop(k, None)
    job["spec"].pop("selector", None)
    md["name"] = f"eggo-cleanup-{meta.digest(container['command'] + [md['name']])[:10]}"
    md.setdefault("labels", {})[meta.EGGO_OPERATION] = "cleanup"
    md.setdefault("annotations", {})[meta.EGGO_OPERATION] = "cleanup"
    return meta.finish(job, md["annotations"].get(meta.SOURCE_REVISION, "unversioned"))
