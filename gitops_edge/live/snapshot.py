"""Building a LiveState (:mod:`gitops_edge.live.state`) from the central API.

The planner and ``status`` take a LiveState, never a client: ``read_live`` builds one
with a round of paginated lists (CLI use), and :class:`~gitops_edge.live.cache.LiveCache`
builds one from informers without any list call (daemon use).

A one-shot run that plans a few sites (``apply`` after a one-site commit) lists only
their objects and edge nodes up front (``read_live(sites=...)``): at 3 000 sites the fleet-wide lists
are most of such a run. The rest of the fleet is still there for whatever needs it:
the first question about a site outside the run (a join checking which site's live
cluster holds the machine, waves reading an earlier wave) lists the whole fleet
once (:class:`SitesOnDemand`, :class:`~gitops_edge.live.inventory.NodesOnDemand`), so a
partial read can make a run slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from gitops_edge.live import resources as r
from gitops_edge.live.client import KubeClient, KubeError
from gitops_edge.live.delivery import index_object_syncs
from gitops_edge.live.inventory import (
    DEFAULT_GRACE,
    EDGE_ROLE_LABEL,
    LEASE_NAMESPACE,
    EdgeNode,
    NodesOnDemand,
    build_inventory,
    now_utc,
)
from gitops_edge.live.ondemand import OnDemand
from gitops_edge.live.progress import run_reports
from gitops_edge.live.state import (
    EGGO_POD_SELECTOR,
    MANAGED_BY,
    SITE_LABEL,
    LiveState,
    group_by_site,
)

SELECT_AT_MOST = 64
"""Sites a partial read names in its label selector; a larger run lists the fleet."""


def list_if_served(kube: KubeClient, res: r.Resource, **kw: Any) -> list[dict[str, Any]]:
    """List ``res``; a kind the cluster does not serve (CRD not installed, 404) is empty."""
    try:
        items, _ = kube.list(res, **kw)
    except KubeError as exc:
        if exc.status == 404:
            return []
        raise
    return items


def read_live(
    kube: KubeClient,
    *,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
    managed: Iterable[r.Resource] = r.MANAGED,
    with_syncs: bool = True,
    sites: Collection[str] | None = None,
) -> LiveState:
    """One round of paginated lists (used by ``plan``, ``apply`` and ``status``).

    ``sites``: the sites the caller plans; their objects and the edge nodes labelled
    for them are read up front, the rest of the fleet's on first use (see the module
    doc; :class:`~gitops_edge.live.inventory.NodesOnDemand`). eggo's run Pods and the
    ObjectSync acks are listed fleet-wide either way (an ObjectSync has no site label;
    a run's summary is few bytes).
    Kinds the cluster does not serve (Argo CD or eggo CRDs not installed) read as
    empty; any other failure is a :class:`KubeError` for the caller to report.
    """
    at = now or now_utc()
    kinds = tuple(managed)

    def fleet_nodes() -> dict[str, EdgeNode]:
        nodes, _ = kube.list(r.NODES, label_selector=EDGE_ROLE_LABEL)
        return build_inventory(nodes, _every_lease(kube), now=at, grace=grace)

    def managed_objects(selector: str) -> dict[str, list[dict[str, Any]]]:
        objs: list[dict[str, Any]] = []
        for res in kinds:
            objs.extend(list_if_served(kube, res, label_selector=selector))
        return group_by_site(objs)

    scope = None if sites is None or len(set(sites)) > SELECT_AT_MOST else frozenset(sites)
    objects: dict[str, list[dict[str, Any]]]
    inventory: dict[str, EdgeNode]
    if scope is None:
        inventory = fleet_nodes()
        objects = managed_objects(MANAGED_BY)
    else:
        # "in ()" is not a selector the API server takes: a run of no site lists nothing
        listed = f"{SITE_LABEL} in ({','.join(sorted(scope))})"
        mine = _site_nodes(kube, listed, at, grace) if scope else {}
        inventory = NodesOnDemand(mine, scope, fleet_nodes)
        first = managed_objects(f"{MANAGED_BY},{listed}") if scope else {}
        objects = SitesOnDemand(scope, first, lambda: managed_objects(MANAGED_BY))
    pods = list_if_served(kube, r.PODS, label_selector=EGGO_POD_SELECTOR)
    syncs: dict[str, str] = {}
    if with_syncs:
        syncs = index_object_syncs(list_if_served(kube, r.OBJECTSYNCS))
    return LiveState(
        observed_at=at,
        nodes=inventory,
        objects=objects,
        syncs=syncs,
        run_reports=run_reports(pods),
        scope=scope,
    )


def _site_nodes(
    kube: KubeClient, listed: str, at: datetime, grace: timedelta
) -> dict[str, EdgeNode]:
    """The edge nodes labelled for the sites in ``listed``, with their leases."""
    nodes, _ = kube.list(r.NODES, label_selector=f"{EDGE_ROLE_LABEL},{listed}")
    names = [n["metadata"]["name"] for n in nodes]
    if len(names) > SELECT_AT_MOST:
        by_node = _every_lease(kube)
    else:  # a site has an edge node or two: a GET each rather than every lease
        got = {n: kube.get(r.LEASES, n, namespace=LEASE_NAMESPACE) for n in names}
        by_node = {n: lease for n, lease in got.items() if lease is not None}
    return build_inventory(nodes, by_node, now=at, grace=grace)


def _every_lease(kube: KubeClient) -> dict[str, dict[str, Any]]:
    """Every node lease, by node name (a lease is named for its node)."""
    leases, _ = kube.list(r.LEASES, namespace=LEASE_NAMESPACE)
    return {lease["metadata"]["name"]: lease for lease in leases}


class SitesOnDemand(OnDemand[str, list[dict[str, Any]]]):
    """Site id -> its live objects: ``scope``'s read up front, the fleet's on first use.

    Whether a site of ``scope`` has objects is the first read's answer; asking about
    any other site, or for the keys, lists the whole fleet once
    (:class:`~gitops_edge.live.ondemand.OnDemand`).
    """

    def __init__(
        self,
        scope: frozenset[str],
        selected: dict[str, list[dict[str, Any]]],
        read_fleet: Callable[[], dict[str, list[dict[str, Any]]]],
    ) -> None:
        super().__init__(selected, read_fleet)
        self.scope = scope

    def _answered(self, key: object) -> bool:
        return key in self.scope


__all__ = [
    "MANAGED_BY",
    "SITE_LABEL",
    "LiveState",
    "SitesOnDemand",
    "group_by_site",
    "list_if_served",
    "read_live",
]
