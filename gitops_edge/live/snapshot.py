"""LiveState: one consistent value of what the central API says about the fleet.

The planner and ``status`` take a LiveState, never a client: ``read_live`` builds one
with a round of paginated lists (CLI use), and :class:`LiveCache` builds one from
informers without any list call (daemon use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gitops_edge.live import resources as r
from gitops_edge.live.client import KubeClient, KubeError
from gitops_edge.live.delivery import index_object_syncs
from gitops_edge.live.informer import Informer
from gitops_edge.live.inventory import (
    DEFAULT_GRACE,
    EDGE_ROLE_LABEL,
    LEASE_NAMESPACE,
    EdgeNode,
    build_inventory,
    now_utc,
)

MANAGED_BY = "app.kubernetes.io/managed-by=gitops-edge"
SITE_LABEL = "gitops-edge.io/site"


@dataclass(frozen=True)
class LiveState:
    """What the cluster holds: edge nodes, gitops-edge's objects per site, ObjectSync acks."""

    observed_at: datetime
    nodes: dict[str, EdgeNode] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    syncs: dict[str, str] = field(default_factory=dict)
    has_nodes: bool = True
    """False when the source cannot see nodes (a directory sink): no edge gates apply."""

    def site_objects(self, site_id: str) -> list[dict[str, Any]]:
        return self.objects.get(site_id, [])


def group_by_site(objs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        site = ((obj.get("metadata") or {}).get("labels") or {}).get(SITE_LABEL)
        if site:
            out.setdefault(site, []).append(obj)
    return out


def _with_kind(items: list[dict[str, Any]], res: r.Resource) -> list[dict[str, Any]]:
    """List items carry no apiVersion/kind on the wire; put them back."""
    for obj in items:
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
    return items


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
) -> LiveState:
    """One round of paginated lists (used by ``plan``, ``apply`` and ``status``)."""
    nodes, _ = kube.list(r.NODES, label_selector=EDGE_ROLE_LABEL)
    leases, _ = kube.list(r.LEASES, namespace=LEASE_NAMESPACE)
    objs: list[dict[str, Any]] = []
    for res in managed:
        objs.extend(_with_kind(list_if_served(kube, res, label_selector=MANAGED_BY), res))
    syncs: dict[str, str] = {}
    if with_syncs:
        syncs = index_object_syncs(list_if_served(kube, r.OBJECTSYNCS))
    lease_by_node = {lease["metadata"]["name"]: lease for lease in leases}
    return LiveState(
        observed_at=now or now_utc(),
        nodes=build_inventory(nodes, lease_by_node, now=now or now_utc(), grace=grace),
        objects=group_by_site(objs),
        syncs=syncs,
    )


class LiveCache:
    """Informers over everything :func:`read_live` lists; ``state()`` costs no API call."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        grace: timedelta = DEFAULT_GRACE,
        managed: Iterable[r.Resource] = r.MANAGED,
        on_node_event: Callable[[str, dict[str, Any]], None] | None = None,
        with_syncs: bool = True,
    ) -> None:
        self.grace = grace
        self.nodes = Informer(kube, r.NODES, label_selector=EDGE_ROLE_LABEL, on_event=on_node_event)
        self.leases = Informer(kube, r.LEASES, namespace=LEASE_NAMESPACE, on_event=on_node_event)
        self.managed = [Informer(kube, res, label_selector=MANAGED_BY) for res in managed]
        self.syncs = Informer(kube, r.OBJECTSYNCS) if with_syncs else None
        self._stop = threading.Event()

    @property
    def informers(self) -> list[Informer]:
        extra = [self.syncs] if self.syncs else []
        return [self.nodes, self.leases, *self.managed, *extra]

    def start(self) -> None:
        for inf in self.informers:
            inf.start(self._stop)

    def stop(self) -> None:
        self._stop.set()

    def wait_synced(self, timeout: float = 60.0) -> bool:
        return all(inf.wait_synced(timeout) for inf in self.informers)

    def list_calls(self) -> int:
        return sum(inf.lists for inf in self.informers)

    def state(self, *, now: datetime | None = None) -> LiveState:
        at = now or now_utc()
        leases = {lease["metadata"]["name"]: lease for lease in self.leases.items()}
        objs: list[dict[str, Any]] = []
        for inf in self.managed:
            objs.extend(_with_kind(inf.items(), inf.res))
        return LiveState(
            observed_at=at,
            nodes=build_inventory(self.nodes.items(), leases, now=at, grace=self.grace),
            objects=group_by_site(objs),
            syncs=index_object_syncs(self.syncs.items()) if self.syncs else {},
        )
