"""What an eggo change means for a reviewer: the whole sequence, the new cluster, old -> new.

A plan emits one eggo run per reconcile (eggo has no "update": a cluster is deployed,
then hosts are joined or deleted, anything else is a cleanup and a redeploy), so the
plan alone shows the first step of a worker replacement (the join) and not the delete
that follows once the join succeeded. This module replays
:func:`gitops_edge.plan.eggo_lifecycle.next_step` from the cluster as it is (the last
succeeded run's ``deploy.yaml`` in the live records the plan carries) to the spec in
the repo, so a merge request shows every run the change implies. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_edge.plan import eggo_lifecycle as lifecycle
from gitops_edge.plan.model import SitePlan
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.repo import RepoSpec

MAX_STEPS = 6
"""A spec is reached in at most deploy/cleanup + deploy + join + delete; the cap only guards loops."""


@dataclass(frozen=True)
class Run:
    """One eggo run of the sequence."""

    operation: str
    detail: str
    destructive: bool


def applied_of(site: SitePlan) -> DeployConfig | None:
    """The cluster as it is now, from the live eggo run records in the site's plan."""
    live = [c.live for c in site.changes if c.live is not None]
    jobs = [o for o in live if o.get("kind") == "Job"]
    # a directory sink carries no Job status: a recorded run there counts as succeeded
    runs = lifecycle.eggo_runs(live, assume_success=not any("status" in j for j in jobs))
    cluster, _readable = lifecycle.applied_cluster(runs)
    return cluster


def _hosts(hosts: Iterable[HostConfig]) -> str:
    return ", ".join(f"{h.name} ({h.ip})" for h in hosts)


def sequence(
    applied: DeployConfig | None, desired: DeployConfig, *, allow_rebuild: bool
) -> list[Run]:
    """Every eggo run from ``applied`` to ``desired``, in order; [] when nothing changes.

    A rebuild without ``allowRebuild`` stops at the rebuild (it is blocked); a blocked
    step (the first master) stops the sequence.
    """
    runs: list[Run] = []
    current = applied
    for _ in range(MAX_STEPS):
        step = lifecycle.next_step(current, desired)
        if step.kind == "none":
            break
        if step.kind == "blocked":
            runs.append(Run("blocked", step.detail, False))
            break
        if step.kind == "rebuild":
            assert current is not None
            if not allow_rebuild:
                runs.append(Run("rebuild", f"{step.detail} (blocked: allowRebuild is false)", True))
                break
            runs.append(
                Run("cleanup", f"destroy cluster {current.cluster_id} ({step.detail})", True)
            )
            current = None
            continue
        if step.kind == "deploy":
            runs.append(Run("deploy", f"deploy cluster {desired.cluster_id}", False))
        elif step.kind == "join":
            runs.append(Run("join", f"join {_hosts(step.hosts)}", False))
        else:
            runs.append(Run("delete", f"delete {_hosts(step.hosts)}", True))
        current = step.result
    return runs


def cluster_summary(conf: DeployConfig) -> str:
    """What a new cluster will be: id, masters, workers, API endpoint."""
    masters = ", ".join(h.name for h in conf.masters) or "none"
    workers = ", ".join(h.name for h in conf.workers) or "none"
    return (
        f"cluster `{conf.cluster_id}`: {len(conf.masters)} master(s) ({masters}), "
        f"{len(conf.workers)} worker(s) ({workers}), API endpoint `{conf.api_endpoint()}`"
    )


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    return {prefix: data}


def value_changes(applied: DeployConfig, desired: DeployConfig) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every eggo field outside the host lists that differs."""

    def dump(conf: DeployConfig) -> dict[str, Any]:
        data = conf.model_dump(by_alias=True, exclude_defaults=True, mode="json")
        for key in (*lifecycle.HOST_LISTS, "private-key-path"):
            data.pop(key, None)
        return _flat(data)

    before, after = dump(applied), dump(desired)
    changes = [
        (k, before.get(k), after.get(k))
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    if applied.etcds != desired.etcds:
        changes.append(
            ("etcds", [h.name for h in applied.etcds] or None, [h.name for h in desired.etcds])
        )
    if applied.masters and desired.masters and applied.masters[0] != desired.masters[0]:
        old, new = applied.masters[0], desired.masters[0]
        changes.append(("masters[0]", f"{old.name} ({old.ip})", f"{new.name} ({new.ip})"))
    return changes


@dataclass(frozen=True)
class Story:
    """What the markdown says about one site's eggo change."""

    runs: tuple[Run, ...] = ()
    new_cluster: str = ""
    changed: tuple[tuple[str, Any, Any], ...] = ()


def story(
    site: SitePlan, desired: Mapping[str, DeployConfig], allow_rebuild: Mapping[str, bool]
) -> Story:
    """The sequence, the new cluster and the old -> new values for ``site`` (empty if unknown)."""
    conf = desired.get(site.site)
    if conf is None or site.eggo is None:
        return Story()
    applied = applied_of(site)
    runs = tuple(sequence(applied, conf, allow_rebuild=allow_rebuild.get(site.site, False)))
    new = ""
    if any(r.operation == "deploy" for r in runs):
        new = cluster_summary(conf)
    changed = tuple(value_changes(applied, conf)) if applied is not None else ()
    return Story(runs, new, changed)


def repo_eggo(repo: RepoSpec) -> dict[str, Any]:
    """``to_markdown``'s ``desired`` and ``allow_rebuild`` arguments for ``repo``'s valid sites."""
    desired: dict[str, DeployConfig] = {}
    allow: dict[str, bool] = {}
    for site in repo.sites:
        if site.spec is None or site.spec.spec.eggo is None:
            continue
        desired[site.id] = site.spec.spec.eggo
        allow[site.id] = site.spec.spec.allowRebuild
    return {"desired": desired, "allow_rebuild": allow}
