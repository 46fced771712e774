"""Make the plan: for every site, desired against live, eggo's next step, gates and waves.

Pure: takes the loaded repo, the rendered objects and a LiveState; returns a Plan.
Safety rules live here, in one place:
- a site whose files failed to load or render plans *nothing* (never a deletion);
- a site that disappeared from the repo is pruned only when discovery was clean, and
  its eggo cluster is cleaned up only with ``deletionPolicy: Cleanup``;
- a run that would delete more than ``prune.maxDeletions`` objects is refused whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gitops_edge.live.delivery import delivery_of
from gitops_edge.live.inventory import EdgeNode
from gitops_edge.live.progress import app_status
from gitops_edge.live.state import LiveState
from gitops_edge.plan import eggo_lifecycle as lifecycle
from gitops_edge.plan.diff import drift, spec_hash
from gitops_edge.plan.gates import edge_gate
from gitops_edge.plan.model import (
    HISTORY_COMPONENTS,
    EggoStep,
    ObjectChange,
    Plan,
    SitePlan,
    obj_key,
)
from gitops_edge.plan.waves import gate_waves
from gitops_edge.render import meta
from gitops_edge.render.context import RenderContext
from gitops_edge.render.eggo_job import EggoOperation, eggo_run_objects
from gitops_edge.render.site import RenderResult, render_repo
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
) -> Plan:
    """Plan every site (or only ``sites``, for an incremental run) against ``live``.

    A named site whose directory is gone is planned for removal like in a full run.
    """
    wanted = None if sites is None else set(sites)
    result = rendered or render_repo(repo, revision=revision, sites=wanted)
    ctx = RenderContext(repo.settings, revision, repo.bundle)
    feedback = live.has_nodes
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
                site, result.objects[site.id], live.site_objects(site.id), live, ctx, feedback
            )
        )
    if not repo.problems and not result.repo_problems:
        known = {s.id for s in repo.sites}
        gone = set(live.objects) - known
        for site_id in sorted(gone if wanted is None else gone & wanted):
            plans.append(_plan_removed(site_id, live.site_objects(site_id), feedback))
    context: list[SitePlan] = []
    if wanted is not None and feedback:
        context = [_observed(s, live) for s in repo.sites if s.id not in wanted]
    gated, current = gate_waves(
        plans + context, max_failures=repo.settings.spec.rollout.maxFailures, feedback=feedback
    )
    plans = gated[: len(plans)]
    plan = Plan(
        revision,
        tuple(plans),
        current_wave=current,
        problems=tuple(str(p) for p in (*repo.problems, *result.repo_problems)),
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


def _observed(site: Site, live: LiveState) -> SitePlan:
    """A site outside an incremental run, as waves see it: from live state, not rendered.

    Waves must see the whole fleet even when one commit plans one site; what the other
    sites would change is unknown here, so only their observed progress counts.
    """
    if site.spec is None:
        return SitePlan(site.id, 0, "invalid")
    spec = site.spec.spec
    if spec.suspend:
        return SitePlan(site.id, spec.rollout.wave, "suspended")
    gate, _reason, _nodes = edge_gate(site, live)
    objs = live.site_objects(site.id)
    runs = lifecycle.eggo_runs(objs, assume_success=False)
    latest = runs[-1] if runs else None
    eggo_failed = latest is not None and latest.outcome == "failed"
    eggo_ok = spec.eggo is None or (latest is not None and latest.outcome == "succeeded")
    health = [app_status(o) for o in objs if o.get("kind") == "Application"]
    apps_failed = any(h == "Degraded" for _s, h in health)
    apps_ok = len(health) >= len(spec.applications) and all(
        s == "Synced" and h == "Healthy" for s, h in health
    )
    done = bool(objs) and eggo_ok and apps_ok and not apps_failed
    done = done and _delivered(objs, live, _nodes)
    return SitePlan(site.id, spec.rollout.wave, gate, done=done, failed=eggo_failed or apps_failed)


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
    site: Site, live_objs: list[dict[str, Any]], ctx: RenderContext, feedback: bool
) -> tuple[EggoStep | None, list[dict[str, Any]], str, bool]:
    """(step, desired eggo objects, blocking reason, failed) for a job-mode site."""
    assert site.spec is not None
    desired_conf = site.spec.spec.eggo
    if desired_conf is None or ctx.settings.spec.eggo.mode != "job":
        return None, [], "", False
    runs = lifecycle.eggo_runs(live_objs, assume_success=not feedback)
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
    if step.kind == "none":
        return EggoStep("none", "cluster matches the spec"), [], "", False
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
    objs = [lifecycle.chain(o, latest) for o in eggo_run_objects(_with_eggo(site, conf), ctx, op)]
    job_name = next(o["metadata"]["name"] for o in objs if o["kind"] == "Job")
    failed_before = next((r for r in runs if r.name == job_name and r.outcome == "failed"), None)
    if failed_before is not None:
        return (
            EggoStep(
                "failed",
                f"eggo {op.kind} failed: {lifecycle.failure_of(failed_before)}; change the spec or delete Job {job_name} to retry",
                job_name,
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
) -> SitePlan:
    assert site.spec is not None
    spec = site.spec.spec
    base = [o for o in rendered if not _is_history(o)]
    step, eggo_objs, blocked, failed = _plan_eggo(site, live_objs, ctx, feedback)
    if step is None:  # operator mode or no eggo: eggo objects are ordinary desired state
        base, eggo_objs = rendered, []
    history = {obj_key(o) for o in live_objs if _is_history(o)}
    if not feedback and eggo_objs:
        history = set()  # a directory keeps only the newest run
    changes = _diff([*base, *eggo_objs], live_objs, keep=history)
    done, app_failed = _progress(live_objs, changes, step)
    gate, reason, _nodes = edge_gate(site, live)
    done = done and _delivered(live_objs, live, _nodes)
    if spec.suspend:
        gate, reason = "suspended", "spec.suspend is true: validated and reported, nothing emitted"
    elif gate == "ready" and blocked:
        gate, reason = "blocked", blocked
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


def _plan_removed(site_id: str, live_objs: list[dict[str, Any]], feedback: bool) -> SitePlan:
    """A site whose directory is gone: Retain prunes our objects; Cleanup runs eggo cleanup first."""
    ns = next((o for o in live_objs if o.get("kind") == "Namespace"), None)
    policy = ((ns or {}).get("metadata", {}).get("annotations") or {}).get(
        meta.DELETION_POLICY, "Retain"
    )
    deletes = [
        ObjectChange("delete", obj_key(o), None, o, "site removed from the repo") for o in live_objs
    ]
    runs = lifecycle.eggo_runs(live_objs, assume_success=not feedback)
    if policy != "Cleanup" or not runs:
        return SitePlan(
            site_id,
            0,
            "removed",
            f"directory removed; deletionPolicy {policy}: the province cluster is left running",
            tuple(deletes),
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
            )
        return SitePlan(
            site_id,
            0,
            "removed",
            "eggo cleanup in progress",
            (),
            EggoStep("running", "cleanup", latest.name),
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
    )


def cleanup_job(last: dict[str, Any]) -> dict[str, Any]:
    """An ``eggo cleanup`` Job built from the site's last run: same node, key, state dir."""
    job = copy.deepcopy({k: v for k, v in last.items() if k != "status"})
    md = job["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        md.pop(key, None)
    cluster_id = md.get("labels", {}).get(meta.CLUSTER_ID, "")
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["eggo", "cleanup", "--id", cluster_id]
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
