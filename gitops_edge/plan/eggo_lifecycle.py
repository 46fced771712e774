"""eggo's lifecycle: from the last applied cluster spec to the new one, the right operation.

eggo has no "update": a cluster is deployed once, then hosts are joined or deleted,
and everything else (cluster id, CIDRs, runtime, packages) needs a rebuild
(cleanup + deploy). Each run is recorded live as a Job plus an immutable ConfigMap
whose ``deploy.yaml`` is the cluster spec *after* that run, so the last succeeded run
says what the cluster is now. That record is the state; there is no private database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from gitops_edge.labels import PREVIOUS_RUN
from gitops_edge.live.progress import JobOutcome, job_failure, job_outcome
from gitops_edge.render.meta import COMPONENT as COMPONENT_LABEL
from gitops_edge.render.meta import EGGO_CONFIG as EGGO_CONFIG_ANNOTATION
from gitops_edge.render.meta import EGGO_OPERATION, SOURCE_REVISION, finish
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.yamlsafe import load_document

HOST_LISTS = ("masters", "workers", "etcds")
ROLES = ("masters", "workers")
"""The lists eggo joins and deletes machines in; ``etcds`` change only by a rebuild."""


@dataclass(frozen=True)
class EggoRun:
    """One recorded eggo run read from live objects.

    ``outcome`` is eggo's word, not only the Job's: eggo exits 0 when hosts fail
    (``cmd/join.go`` ``joinCluster`` rolls failed hosts back, drops them from the
    saved config and prints ``<ip>\t\tfailure`` through ``ClusterStatus.Show``,
    ``pkg/api/tools.go``; ``cmd/deploy.go`` does the same with rollback on;
    openeuler-mirror/eggo cb51e25b). A run whose summary names failed hosts is a
    failed run, and those hosts are not in the cluster it leaves behind.
    """

    job: dict[str, Any]
    config: dict[str, Any] | None
    operation: str
    outcome: JobOutcome
    failed_hosts: tuple[str, ...] = ()
    completed: bool = False
    """eggo exited 0: its saved config (this run's record, minus failed hosts) is the cluster."""

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.job["metadata"].get("namespace") or "")

    def cluster(self) -> DeployConfig | None:
        """The cluster spec after this run, failed hosts taken out (None when unreadable)."""
        text = ((self.config or {}).get("data") or {}).get("deploy.yaml")
        if not isinstance(text, str):
            return None
        try:
            conf = DeployConfig.model_validate(load_document(text))
        except (yaml.YAMLError, ValidationError):
            return None
        if not self.failed_hosts:
            return conf
        gone = set(self.failed_hosts)
        return conf.model_copy(
            update={
                role: [h for h in getattr(conf, role) if h.ip not in gone] for role in HOST_LISTS
            }
        )


def failed_hosts_of(summary: str) -> tuple[str, ...]:
    """The IPs eggo's summary marks ``failure`` (``<ip>\t\tfailure`` lines), in order."""
    out = []
    for line in summary.splitlines():
        m = _SUMMARY_LINE.match(line)
        if m and m.group(2) == "failure":
            out.append(m.group(1))
    return tuple(dict.fromkeys(out))


_SUMMARY_LINE = re.compile(r"^(\S+)\t+(success|failure)\s*$")


def eggo_runs(
    objs: Iterable[dict[str, Any]],
    *,
    assume_success: bool,
    reports: Mapping[str, str] | None = None,
) -> list[EggoRun]:
    """Recorded runs, oldest first: the one definition of "the latest eggo run".

    Each run names the run it followed (``gitops-edge.io/previous-run``), so the order
    is the chain of runs, not clocks: two runs created in the same second (timestamps
    have second resolution), or on machines whose clocks disagree, still sort right.
    Runs outside a chain fall back to creationTimestamp, then name.

    ``assume_success``: the live source carries no Job status (a directory sink), so
    a recorded run counts as succeeded. ``reports``: eggo's summary per run
    (``<namespace>/<job>`` -> the eggo container's termination message).
    """
    objs = list(objs)
    reports = reports or {}
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
        key = f"{o['metadata'].get('namespace') or ''}/{o['metadata']['name']}"
        failed = failed_hosts_of(reports.get(key, "")) if outcome == "succeeded" else ()
        runs.append(
            EggoRun(
                o,
                configs.get(cm_name),
                str(labels.get(EGGO_OPERATION, "deploy")),
                "failed" if failed else outcome,
                failed,
                completed=outcome == "succeeded",
            )
        )
    by_name = {r.name: r for r in runs}

    def depth(run: EggoRun, seen: frozenset[str] = frozenset()) -> int:
        prev = (run.job["metadata"].get("annotations") or {}).get(PREVIOUS_RUN)
        if not prev or prev not in by_name or prev in seen:
            return 0
        return 1 + depth(by_name[prev], seen | {run.name})

    runs.sort(key=lambda r: (depth(r), str(r.job["metadata"].get("creationTimestamp", "")), r.name))
    return runs


def latest_run(
    objs: Iterable[dict[str, Any]],
    *,
    assume_success: bool,
    reports: Mapping[str, str] | None = None,
) -> EggoRun | None:
    """The site's latest eggo run (see :func:`eggo_runs`), shared by plan, status and metrics."""
    runs = eggo_runs(objs, assume_success=assume_success, reports=reports)
    return runs[-1] if runs else None


def chain(obj: dict[str, Any], previous: EggoRun | None) -> dict[str, Any]:
    """Record ``previous`` on a new run's Job (the spec hash is recomputed)."""
    if previous is None or obj.get("kind") != "Job":
        return obj
    obj["metadata"].setdefault("annotations", {})[PREVIOUS_RUN] = previous.name
    return finish(obj, obj["metadata"]["annotations"].get(SOURCE_REVISION, "unversioned"))


def applied_cluster(runs: list[EggoRun]) -> tuple[DeployConfig | None, bool]:
    """(cluster spec now, readable). After a completed cleanup there is no cluster.

    The last run eggo completed (exit 0) says what the cluster is, minus the hosts its
    summary reports failed: eggo rolled those back and dropped them from its own config.
    """
    for run in reversed(runs):
        if not run.completed:
            continue
        if run.operation == "cleanup":
            return None, True
        cluster = run.cluster()
        return cluster, cluster is not None
    return None, True


def failure_of(run: EggoRun) -> str:
    if run.failed_hosts:
        return (
            f"eggo reported host(s) {', '.join(run.failed_hosts)} failed (rolled back, not in "
            "the cluster; see the Job's logs)"
        )
    return job_failure(run.job)


Kind = Literal["deploy", "join", "delete", "rebuild", "none", "blocked"]


@dataclass(frozen=True)
class Step:
    """The next eggo operation and the cluster spec it leads to."""

    kind: Kind
    result: DeployConfig | None = None
    hosts: tuple[HostConfig, ...] = ()
    detail: str = ""


def _machines(conf: DeployConfig) -> dict[str, tuple[HostConfig, tuple[str, ...]]]:
    """Machines by IP with the roles they hold, as eggo identifies them.

    eggo matches hosts by address (``cmd/delete.go`` ``splitDeletedConfigs`` compares
    ``h.Ip``; ``RunChecker`` refuses a duplicate ``ip``; openeuler-mirror/eggo cb51e25b):
    a name, port or arch is a property of the machine at that IP, never a new machine.
    """
    out: dict[str, tuple[HostConfig, tuple[str, ...]]] = {}
    for role in ROLES:
        for h in getattr(conf, role):
            host, roles = out.get(h.ip, (h, ()))
            out[h.ip] = (host, (*roles, role))
    return out


def _property_changes(before: HostConfig, after: HostConfig) -> list[str]:
    out = []
    if before.name != after.name:
        out.append(f"name {before.name} -> {after.name}")
    if before.port != after.port:
        out.append(f"port {before.port} -> {after.port}")
    if (before.arch or "amd64") != (after.arch or "amd64"):
        out.append(f"arch {before.arch or 'amd64'} -> {after.arch or 'amd64'}")
    return out


def _without_hosts(conf: DeployConfig) -> dict[str, Any]:
    dumped = conf.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    for key in (*HOST_LISTS, "private-key-path"):
        dumped.pop(key, None)
    return dumped


def _changed_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def next_step(applied: DeployConfig | None, desired: DeployConfig) -> Step:
    """The one eggo operation that moves the cluster from ``applied`` towards ``desired``.

    A host is its IP: a machine already in the cluster whose name, SSH port or arch
    changed is neither joined nor deleted (eggo would reject the duplicate IP, or
    remove a live machine); the site is blocked until the spec says it the old way, or
    the machine is removed in one change and added back in the next. Joins go before
    deletes (capacity first); when both are needed the join's result keeps the hosts
    still to be deleted, so the following run deletes them.
    """
    if applied is None:
        return Step("deploy", desired, detail=f"deploy cluster {desired.cluster_id}")
    base_a, base_d = _without_hosts(applied), _without_hosts(desired)
    if base_a != base_d or applied.etcds != desired.etcds:
        keys = _changed_keys(base_a, base_d) or ["etcds"]
        return Step("rebuild", desired, detail=f"eggo cannot change {', '.join(keys)} in place")
    before, after = _machines(applied), _machines(desired)
    changed = []
    for ip in sorted(before.keys() & after.keys()):
        (old, old_roles), (new, new_roles) = before[ip], after[ip]
        what = _property_changes(old, new)
        gained = [r.removesuffix("s") for r in new_roles if r not in old_roles]
        if gained:
            what.append(f"new role {', '.join(gained)}")
        if what:
            changed.append(f"host {ip} ({old.name}): {', '.join(what)}")
    if changed:
        return Step(
            "blocked",
            detail=(
                "eggo cannot change a machine of a live cluster in place ("
                + "; ".join(changed)
                + "): put the old values back, or remove the machine in one change and "
                "add it back in the next"
            ),
        )
    if applied.masters:
        first = applied.masters[0]
        if first.ip not in after or "masters" not in after[first.ip][1]:
            return Step(
                "blocked",
                detail=f"the first master {first.name} ({first.ip}) cannot be removed; it holds the cluster's certificates (rebuild instead)",
            )
    added = [ip for ip in after if ip not in before]
    removed = [ip for ip in before if ip not in after]
    if added:
        result = applied.model_copy(
            update={
                role: [
                    *getattr(applied, role),
                    *(h for h in getattr(desired, role) if h.ip in added),
                ]
                for role in ROLES
            }
        )
        hosts = tuple(after[ip][0] for ip in added)
        return Step("join", result, hosts, "join " + ", ".join(f"{h.name} ({h.ip})" for h in hosts))
    if removed:
        result = applied.model_copy(
            update={
                role: [h for h in getattr(applied, role) if h.ip not in removed] for role in ROLES
            }
        )
        hosts = tuple(before[ip][0] for ip in removed)
        return Step(
            "delete", result, hosts, "delete " + ", ".join(f"{h.name} ({h.ip})" for h in hosts)
        )
    if {ip: roles for ip, (_h, roles) in before.items()} != {
        ip: roles for ip, (_h, roles) in after.items()
    }:
        return Step("none", desired, detail="only a role changed; eggo keeps the machine")
    return Step("none", desired)
