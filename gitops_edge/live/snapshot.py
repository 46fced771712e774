"""Building a LiveState (:mod:`gitops_edge.live.state`) from the central API.

The planner and ``status`` take a LiveState, never a client: ``read_live`` builds one
with a round of paginated lists (CLI use), and :class:`~gitops_edge.live.cache.LiveCache`
builds one from informers without any list call (daemon use).

A one-shot run that plans a few sites (``apply`` after a one-site commit) lists only
their objects and edge nodes (``read_live(sites=...)``): at 3 000 sites the fleet-wide
lists are most of such a run. A question about the rest of the fleet (a join checking
which site's live cluster holds the machine, waves reading an earlier wave) raises
:class:`~gitops_edge.live.state.Unread` naming the full read (:class:`PartialSites`,
:class:`PartialNodes`); the planner's caller makes it and plans again, so a partial
read can make a run slower, never wrong, and the planner reads nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
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
    Inventory,
    build_inventory,
    now_utc,
)
from gitops_edge.live.partial import Partial
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

    ``sites``: the sites the caller plans; only their objects and the edge nodes
    labelled for them are read, and a question about the rest raises
    :class:`~gitops_edge.live.state.Unread` (see the module doc). eggo's run Pods and the
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

        def whole() -> LiveState:
            return read_live(kube, now=at, grace=grace, managed=kinds, with_syncs=with_syncs)

        inventory = PartialNodes(mine, scope, whole)
        first = managed_objects(f"{MANAGED_BY},{listed}") if scope else {}
        objects = PartialSites(scope, first, whole)
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


class PartialSites(Partial[str, list[dict[str, Any]]]):
    """Site id -> its live objects, for the sites of ``scope`` alone.

    Whether a site of ``scope`` has objects is the read's answer; asking about any
    other site, or for the keys, raises :class:`~gitops_edge.live.state.Unread` with
    the full read (:class:`~gitops_edge.live.partial.Partial`).
    """

    def __init__(
        self,
        scope: frozenset[str],
        selected: dict[str, list[dict[str, Any]]],
        whole: Callable[[], LiveState],
    ) -> None:
        super().__init__(selected, whole, "the live objects")
        self.scope = scope

    def _answered(self, key: object) -> bool:
        return key in self.scope


class PartialNodes(Partial[str, EdgeNode], Inventory):
    """Edge nodes: those labelled for ``sites`` alone.

    The edge nodes of the few sites a one-shot run plans are the nodes labelled
    ``gitops-edge.io/site=<site>`` (the default ``spec.edge``): a selector holding that
    pair for one of ``sites``, or a node name read, is answered from them. Anything
    else (another site's nodes, another selector, the keys) raises
    :class:`~gitops_edge.live.state.Unread` with the full read.
    """

    def __init__(
        self,
        selected: Mapping[str, EdgeNode],
        sites: frozenset[str],
        whole: Callable[[], LiveState],
    ) -> None:
        super().__init__(selected, whole, "the edge nodes")
        self.sites = sites

    def candidates(self, selector: Mapping[str, str]) -> Iterable[EdgeNode]:
        site = selector.get(SITE_LABEL)
        if site in self.sites:
            return [n for n in dict.values(self) if n.labels.get(SITE_LABEL) == site]
        self._unread(f"matching {dict(selector)!r}")


__all__ = [
    "MANAGED_BY",
    "SITE_LABEL",
    "LiveState",
    "PartialNodes",
    "PartialSites",
    "group_by_site",
    "list_if_served",
    "read_live",
]
