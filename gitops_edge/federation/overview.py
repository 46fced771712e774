"""One federation pass for the whole fleet: what it changes (or would), per site and workload.

This is the federation side of plan/apply: for each federated site, the registration
step (:func:`reconcile_registration`), its Cluster's labels; for each template of
``federation/``, the policy that propagates it, the clusters its affinity admits from
those labels, the clusters held by waves and what the ResourceBinding says per
cluster. With ``apply=False`` nothing is written (labels are checked with a server-side
dry run, and ``federation/`` with a server-side dry-run apply per object).
``federation/`` is applied only when it loaded without a problem; what left it is
removed from karmada-apiserver only then too, and only what gitops-edge applied, under
``spec.prune.maxDeletions`` (:mod:`gitops_edge.federation.prune`).

It plugs into the central pipeline after the central plan is built (it needs
the same LiveState): call :func:`federation_pass` with the daemon's central client, a
client from :func:`gitops_edge.federation.karmada.connect_karmada` and the repo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitops_edge.federation.documents import FederatedDoc, FederationDocs, load_federation
from gitops_edge.federation.karmada import (
    RESOURCE_BINDINGS,
    apply_cluster_labels,
    apply_federation,
    preview_federation,
    reconcile_registration,
)
from gitops_edge.federation.labels import cluster_labels, cluster_name, cluster_waves, federated
from gitops_edge.federation.policies import held_clusters, placement_clusters
from gitops_edge.federation.prune import Removal, remove_stale
from gitops_edge.federation.registration import Registration
from gitops_edge.federation.waves import released_through
from gitops_edge.live.client import KubeClient, KubeError
from gitops_edge.live.inventory import nodes_for_site
from gitops_edge.live.state import LiveState
from gitops_edge.render.context import RenderContext, placement
from gitops_edge.specs.repo import RepoSpec


@dataclass(frozen=True)
class SiteFederation:
    registration: Registration
    labels: dict[str, str]
    labels_outcome: str


@dataclass(frozen=True)
class WorkloadPlacement:
    template: str
    policy: str
    admitted: list[str]
    held: list[str]
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per cluster from the ResourceBinding: scheduled, applied, health."""


@dataclass(frozen=True)
class FederationReport:
    sites: list[SiteFederation]
    workloads: list[WorkloadPlacement]
    released_through: int | None
    problems: list[str]
    applied: list[str]
    changes: list[tuple[str, str]] = field(default_factory=list)
    """Without apply: per object of ``federation/``, what its apply would do."""
    conflicts: list[str] = field(default_factory=list)
    removal: Removal = field(default_factory=Removal)
    dry_run: bool = False

    def lines(self) -> list[str]:
        out = [f"{s.registration.line()}; labels {s.labels_outcome}" for s in self.sites]
        wave = (
            "every wave" if self.released_through is None else f"waves <= {self.released_through}"
        )
        out.append(f"federation: {wave} released")
        for w in self.workloads:
            out.append(
                f"{w.template} via {w.policy}: admits {', '.join(w.admitted) or 'no cluster'}"
                + (f"; held by waves: {', '.join(w.held)}" if w.held else "")
            )
            for cluster, st in sorted(w.clusters.items()):
                out.append(
                    f"  {cluster}: scheduled={st['scheduled']} applied={st['applied']} "
                    f"health={st['health']}"
                )
        out.extend(f"federation problem: {p}" for p in self.problems)
        out.extend(f"{outcome} {what}" for what, outcome in self.changes if outcome != "unchanged")
        out.extend(f"applied {a}" for a in self.applied)
        out.extend(f"conflict: {c}" for c in self.conflicts)
        out.extend(self.removal.lines(dry_run=self.dry_run))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "sites": [
                {
                    "site": s.registration.site,
                    "registration": s.registration.state,
                    "ready": s.registration.ready,
                    "detail": s.registration.detail,
                    "labels": s.labels,
                    "labels_outcome": s.labels_outcome,
                }
                for s in self.sites
            ],
            "released_through": self.released_through,
            "workloads": [
                {
                    "template": w.template,
                    "policy": w.policy,
                    "admitted": w.admitted,
                    "held": w.held,
                    "clusters": w.clusters,
                }
                for w in self.workloads
            ],
            "problems": self.problems,
            "applied": self.applied,
            "changes": [{"object": what, "outcome": outcome} for what, outcome in self.changes],
            "conflicts": self.conflicts,
            "stale": self.removal.stale,
            "removed": self.removal.removed,
            "removal_held": self.removal.held,
            "dry_run": self.dry_run,
        }


def selects(policy: Mapping[str, Any], template: FederatedDoc) -> bool:
    """A policy's resourceSelectors pick the template (apiVersion, kind, name/namespace, labels)."""
    body = template.body
    labels = body["metadata"].get("labels") or {}
    for sel in (policy.get("spec") or {}).get("resourceSelectors") or []:
        if sel.get("apiVersion") != body["apiVersion"] or sel.get("kind") != body["kind"]:
            continue
        if sel.get("name") and sel["name"] != template.name:
            continue
        ns = sel.get("namespace") or policy["metadata"].get("namespace")
        if ns and ns != template.namespace:
            continue
        match = ((sel.get("labelSelector") or {}).get("matchLabels")) or {}
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        return True
    return False


def binding_clusters(binding: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per cluster: scheduled (in spec.clusters), applied and health (aggregatedStatus)."""
    if binding is None:
        return {}
    out: dict[str, dict[str, Any]] = {
        str(c.get("name")): {"scheduled": True, "applied": None, "health": "Unknown"}
        for c in (binding.get("spec") or {}).get("clusters") or []
    }
    for item in (binding.get("status") or {}).get("aggregatedStatus") or []:
        name = str(item.get("clusterName"))
        entry = out.setdefault(name, {"scheduled": False, "applied": None, "health": "Unknown"})
        entry["applied"] = item.get("applied")
        entry["health"] = item.get("health") or "Unknown"
    return out


def federation_pass(
    central: KubeClient,
    karmada: KubeClient,
    kubeconfig: Mapping[str, Any],
    repo: RepoSpec,
    live: LiveState,
    *,
    now: datetime,
    apply: bool,
    revision: str = "unversioned",
    docs: FederationDocs | None = None,
    deleting: int = 0,
) -> FederationReport:
    """One pass; ``docs``: ``federation/`` as already loaded (default: read from the repo).

    ``deleting``: objects the central plan of the same run deletes, counted with the
    removals from karmada-apiserver against ``spec.prune.maxDeletions``.
    """
    ctx = RenderContext(settings=repo.settings, revision=revision)
    sites = [s for s in repo.valid_sites if federated(s, repo.settings)]
    out: list[SiteFederation] = []
    deferred: set[str] = set()
    ready: set[str] = set()
    registered_labels: dict[str, dict[str, str]] = {}
    for site in sites:
        where = placement(site)
        nodes = nodes_for_site(
            live.nodes, node_selector=where.node_selector, node_name=where.node_name
        )
        online = any(n.state == "online" for n in nodes)
        reg = reconcile_registration(
            central,
            karmada,
            kubeconfig,
            site,
            ctx,
            eggo_objects=live.site_objects(site.id),
            reports=live.run_reports,
            now=now,
            dry_run=not apply,
            edge_online=online,
        )
        labels = cluster_labels(site)
        outcome = "pending registration"
        if reg.state == "registered":
            registered_labels[reg.site] = labels
            outcome = apply_cluster_labels(karmada, reg.site, labels, dry_run=not apply).outcome
            if not apply and outcome == "applied":
                outcome = "to apply"
            if reg.ready:
                ready.add(reg.site)
        if not online or reg.state == "deferred" or reg.ready is False:
            deferred.add(cluster_name(site))
        out.append(SiteFederation(reg, labels, outcome))
    docs = load_federation(repo.root) if docs is None else docs
    waves = cluster_waves(sites, repo.settings)
    workloads: list[WorkloadPlacement] = []
    bindings: dict[str, dict[str, dict[str, Any]]] = {}
    for template in docs.templates:
        for policy in docs.policies:
            if not policy.kind.endswith("PropagationPolicy") or not selects(policy.body, template):
                continue
            try:
                binding = karmada.get(
                    RESOURCE_BINDINGS,
                    f"{template.name}-{template.kind.lower()}",
                    namespace=template.namespace,
                )
            except KubeError as exc:
                if exc.status != 404:
                    raise
                binding = None
            per_cluster = binding_clusters(binding)
            bindings[template.key[1] + "/" + template.name] = per_cluster
            workloads.append(
                WorkloadPlacement(
                    f"{template.kind} {template.namespace or ''}/{template.name}",
                    f"{policy.kind} {policy.name}",
                    placement_clusters(policy.body, registered_labels),
                    [],
                    per_cluster,
                )
            )
            break  # karmada binds a template to one policy (the most specific); first here
    done = {
        c
        for c in ready
        if all(
            st.get("applied") is True and st.get("health") == "Healthy"
            for per in bindings.values()
            for name, st in per.items()
            if name == c
        )
    }
    released = released_through(waves, done, deferred)
    held = held_clusters(waves, released)
    workloads = [
        WorkloadPlacement(
            w.template, w.policy, w.admitted, [c for c in held if c in w.admitted], w.clusters
        )
        for w in workloads
    ]
    applied: list[str] = []
    conflicts: list[str] = []
    changes: list[tuple[str, str]] = []
    problems = [str(p) for p in docs.problems]
    limit = repo.settings.spec.prune.maxDeletions
    if docs.complete:
        if apply:
            result = apply_federation(karmada, docs, waves, released)
            applied, conflicts = result.applied, result.conflicts
        else:
            changes = preview_federation(karmada, docs, waves, released)
            clash = "conflict: "
            conflicts = [f"{w}: {o.removeprefix(clash)}" for w, o in changes if o.startswith(clash)]
            changes = [(w, o) for w, o in changes if not o.startswith(clash)]
    elif problems:
        problems.append("federation/ has problems: nothing in it is applied (and nothing removed)")
    removal = remove_stale(karmada, docs, max_deletions=limit, already=deleting, dry_run=not apply)
    return FederationReport(
        out, workloads, released, problems, applied, changes, conflicts, removal, not apply
    )
