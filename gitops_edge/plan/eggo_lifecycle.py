"""eggo's lifecycle: from the last applied cluster spec to the new one, the right operation.

eggo has no "update": a cluster is deployed once, then hosts are joined or deleted,
and everything else (cluster id, CIDRs, runtime, packages) needs a rebuild
(cleanup + deploy). Each run is recorded live as a Job plus an immutable ConfigMap
whose ``deploy.yaml`` is the cluster spec *after* that run, so the last succeeded run
says what the cluster is now. That record is the state; there is no private database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from gitops_edge.live.progress import JobOutcome, job_failure, job_outcome
from gitops_edge.render.meta import COMPONENT as COMPONENT_LABEL
from gitops_edge.render.meta import EGGO_CONFIG as EGGO_CONFIG_ANNOTATION
from gitops_edge.render.meta import EGGO_OPERATION, SOURCE_REVISION, finish
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.yamlsafe import load_document

PREVIOUS_RUN = "gitops-edge.io/previous-run"
HOST_LISTS = ("masters", "workers", "etcds")


@dataclass(frozen=True)
class EggoRun:
    """One recorded eggo run read from live objects."""

    job: dict[str, Any]
    config: dict[str, Any] | None
    operation: str
    outcome: JobOutcome

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    def cluster(self) -> DeployConfig | None:
        """The cluster spec after this run (None when unreadable)."""
        text = ((self.config or {}).get("data") or {}).get("deploy.yaml")
        if not isinstance(text, str):
            return None
        try:
            return DeployConfig.model_validate(load_document(text))
        except (yaml.YAMLError, ValidationError):
            return None


def eggo_runs(objs: Iterable[dict[str, Any]], *, assume_success: bool) -> list[EggoRun]:
    """Recorded runs, oldest first.

    Each run names the run it followed (``gitops-edge.io/previous-run``), so the order
    is the chain of runs, not clocks: two runs created in the same second (timestamps
    have second resolution) still sort right. Runs outside a chain fall back to
    creationTimestamp, then name.

    ``assume_success``: the live source carries no Job status (a directory sink), so
    a recorded run counts as succeeded.
    """
    objs = list(objs)
    configs = {
        o["metadata"]["name"]: o
        for o in objs
        if o.get("kind") == "ConfigMap"
        and ((o["metadata"].get("labels") or {}).get(COMPONENT_LABEL) == "eggo-config")
    }
    runs = []
    for o in objs:
        labels = o.get("metadata", {}).get("labels") or {}
        if o.get("kind") != "Job" or labels.get(COMPONENT_LABEL) != "eggo-run":
            continue
        cm_name = (o["metadata"].get("annotations") or {}).get(EGGO_CONFIG_ANNOTATION, "")
        outcome: JobOutcome = (
            "succeeded" if assume_success and not o.get("status") else job_outcome(o)
        )
        runs.append(
            EggoRun(o, configs.get(cm_name), str(labels.get(EGGO_OPERATION, "deploy")), outcome)
        )
    by_name = {r.name: r for r in runs}

    def depth(run: EggoRun, seen: frozenset[str] = frozenset()) -> int:
        prev = (run.job["metadata"].get("annotations") or {}).get(PREVIOUS_RUN)
        if not prev or prev not in by_name or prev in seen:
            return 0
        return 1 + depth(by_name[prev], seen | {run.name})

    runs.sort(key=lambda r: (depth(r), str(r.job["metadata"].get("creationTimestamp", "")), r.name))
    return runs


def chain(obj: dict[str, Any], previous: EggoRun | None) -> dict[str, Any]:
    """Record ``previous`` on a new run's Job (the spec hash is recomputed)."""
    if previous is None or obj.get("kind") != "Job":
        return obj
    obj["metadata"].setdefault("annotations", {})[PREVIOUS_RUN] = previous.name
    return finish(obj, obj["metadata"]["annotations"].get(SOURCE_REVISION, "unversioned"))


def applied_cluster(runs: list[EggoRun]) -> tuple[DeployConfig | None, bool]:
    """(cluster spec now, readable). After a succeeded cleanup there is no cluster."""
    for run in reversed(runs):
        if run.outcome != "succeeded":
            continue
        if run.operation == "cleanup":
            return None, True
        cluster = run.cluster()
        return cluster, cluster is not None
    return None, True


def failure_of(run: EggoRun) -> str:
    return job_failure(run.job)


Kind = Literal["deploy", "join", "delete", "rebuild", "none", "blocked"]


@dataclass(frozen=True)
class Step:
    """The next eggo operation and the cluster spec it leads to."""

    kind: Kind
    result: DeployConfig | None = None
    hosts: tuple[HostConfig, ...] = ()
    detail: str = ""


def _host_key(h: HostConfig) -> tuple[str, str, int, str]:
    return (h.name, h.ip, h.port, h.arch or "amd64")


def _without_hosts(conf: DeployConfig) -> dict[str, Any]:
    dumped = conf.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    for key in (*HOST_LISTS, "private-key-path"):
        dumped.pop(key, None)
    return dumped


def _changed_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def next_step(applied: DeployConfig | None, desired: DeployConfig) -> Step:
    """The one eggo operation that moves the cluster from ``applied`` towards ``desired``.

    Joins go before deletes (capacity first); when both are needed the join's result
    keeps the hosts still to be deleted, so the following run deletes them.
    """
    if applied is None:
        return Step("deploy", desired, detail=f"deploy cluster {desired.cluster_id}")
    base_a, base_d = _without_hosts(applied), _without_hosts(desired)
    if base_a != base_d or applied.etcds != desired.etcds:
        keys = _changed_keys(base_a, base_d) or ["etcds"]
        return Step("rebuild", desired, detail=f"eggo cannot change {', '.join(keys)} in place")
    if (
        applied.masters
        and desired.masters
        and _host_key(applied.masters[0]) != _host_key(desired.masters[0])
    ):
        return Step(
            "blocked",
            detail=f"the first master {applied.masters[0].name} cannot be removed or changed; it holds the cluster's certificates (rebuild instead)",
        )
    added: dict[str, list[HostConfig]] = {}
    removed: dict[str, list[HostConfig]] = {}
    for role in ("masters", "workers"):
        before = {_host_key(h): h for h in getattr(applied, role)}
        after = {_host_key(h): h for h in getattr(desired, role)}
        added[role] = [h for k, h in after.items() if k not in before]
        removed[role] = [h for k, h in before.items() if k not in after]
    if any(added.values()):
        result = applied.model_copy(
            update={
                role: [*getattr(applied, role), *added[role]] for role in ("masters", "workers")
            }
        )
        hosts = tuple(h for role in ("masters", "workers") for h in added[role])
        return Step("join", result, hosts, "join " + ", ".join(f"{h.name} ({h.ip})" for h in hosts))
    if any(removed.values()):
        result = applied.model_copy(
            update={
                role: [h for h in getattr(applied, role) if h not in removed[role]]
                for role in ("masters", "workers")
            }
        )
        still = {h.name for role in ("masters", "workers") for h in getattr(result, role)}
        hosts = tuple(
            dict.fromkeys(
                h for role in ("masters", "workers") for h in removed[role] if h.name not in still
            )
        )
        if not hosts:
            return Step("none", desired, detail="only a role changed; eggo keeps the machine")
        return Step("delete", result, hosts, "delete " + ", ".join(h.name for h in hosts))
    return Step("none", desired)
