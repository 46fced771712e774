"""What gitops-edge adds to a Karmada policy before applying it: offline tolerance and waves.

A province whose link to the centre drops gets the ``cluster.karmada.io/unreachable``
(or ``not-ready``) taint with effect NoExecute from karmada-controller-manager's
cluster controller; a PropagationPolicy without a matching ``clusterTolerations``
entry then lets the scheduler evict its workloads from that cluster (taint manager,
``pkg/controllers/cluster/taint_manager.go``, karmada-io/karmada 0533b555). An offline
province must be deferred, never evicted, so both taints are tolerated with no
``tolerationSeconds`` unless the policy already says something about that key.

Waves: ``spec.suspension.dispatchingOnClusters.clusterNames`` holds back dispatch to
the named clusters (the scheduler still schedules them, so bindings are kept). The
clusters of waves not yet released are listed there; releasing a wave removes them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

NOT_READY = "cluster.karmada.io/not-ready"
UNREACHABLE = "cluster.karmada.io/unreachable"
DEFAULT_TOLERATIONS: tuple[dict[str, Any], ...] = (
    {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute"},
    {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"},
)
PROPAGATION_KINDS = ("PropagationPolicy", "ClusterPropagationPolicy")


def with_tolerations(policy: dict[str, Any]) -> dict[str, Any]:
    """A copy with the offline tolerations added for keys the policy does not mention."""
    out = copy.deepcopy(policy)
    if out.get("kind") not in PROPAGATION_KINDS:
        return out
    placement = out.setdefault("spec", {}).setdefault("placement", {})
    tolerations = list(placement.get("clusterTolerations") or [])
    mentioned = {t.get("key") for t in tolerations if isinstance(t, dict)}
    tolerations.extend(copy.deepcopy(t) for t in DEFAULT_TOLERATIONS if t["key"] not in mentioned)
    placement["clusterTolerations"] = tolerations
    return out


def held_clusters(cluster_waves: Mapping[str, int], released_through: int | None) -> list[str]:
    """Clusters of waves after ``released_through`` (None: every wave is released)."""
    if released_through is None:
        return []
    return sorted(c for c, wave in cluster_waves.items() if wave > released_through)


def with_waves(policy: dict[str, Any], held: list[str]) -> dict[str, Any]:
    """A copy whose dispatch is suspended on ``held`` besides what the policy itself holds.

    A policy that suspends all dispatching (``suspension.dispatching: true``) is left
    as written: it already holds every cluster.
    """
    out = copy.deepcopy(policy)
    if out.get("kind") not in PROPAGATION_KINDS:
        return out
    spec = out.setdefault("spec", {})
    suspension = spec.get("suspension") or {}
    if suspension.get("dispatching") is True:
        return out
    own = list((suspension.get("dispatchingOnClusters") or {}).get("clusterNames") or [])
    names = own + [c for c in held if c not in own]
    if not names:
        if "dispatchingOnClusters" in suspension:
            spec["suspension"] = {
                k: v for k, v in suspension.items() if k != "dispatchingOnClusters"
            }
        return out
    spec["suspension"] = {**suspension, "dispatchingOnClusters": {"clusterNames": names}}
    return out


def desired_policy(
    policy: dict[str, Any], cluster_waves: Mapping[str, int], released_through: int | None
) -> dict[str, Any]:
    """The policy as gitops-edge applies it: tolerations, then waves."""
    return with_waves(with_tolerations(policy), held_clusters(cluster_waves, released_through))


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _affinity_matches(affinity: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    names = affinity.get("clusterNames") or []
    if names and name not in names:
        return False
    if name in (affinity.get("exclude") or []):
        return False
    selector = affinity.get("labelSelector")
    return selector is None or _matches(selector, labels)


def placement_clusters(
    policy: Mapping[str, Any], clusters: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """The clusters a propagation policy's cluster affinity admits, from their labels.

    What ``plan`` shows before karmada-scheduler decides: clusterAffinity (names,
    exclude, label selector; no affinity admits every cluster), or the first of
    ``clusterAffinities`` that admits any cluster (the scheduler tries them in order,
    falling back when one has no feasible cluster). ``fieldSelector``, spread
    constraints and replica division are the scheduler's and not previewed.
    """
    placement = (policy.get("spec") or {}).get("placement") or {}
    groups = placement.get("clusterAffinities")
    if groups:
        for group in groups:
            hit = sorted(n for n, lab in clusters.items() if _affinity_matches(group, n, lab))
            if hit:
                return hit
        return []
    affinity = placement.get("clusterAffinity") or {}
    return sorted(n for n, lab in clusters.items() if _affinity_matches(affinity, n, lab))
