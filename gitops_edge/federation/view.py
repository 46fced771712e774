"""The daemon's watched view of karmada-apiserver: Clusters and ResourceBindings.

The same :class:`~gitops_edge.live.informer.Informer` the daemon runs on the centre
(one list, then watches; relist on 410; an unreachable server keeps the last index),
on the Karmada client. Events name the sites they concern, so a daemon can enqueue
exactly those: a Cluster is named after its site; a ResourceBinding concerns every
cluster it schedules to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gitops_edge.federation.karmada import CLUSTERS, RESOURCE_BINDINGS
from gitops_edge.live.client import KubeClient
from gitops_edge.live.informer import Informer

SitesChanged = Callable[[set[str]], None]


def sites_of(kind: str, obj: dict[str, Any]) -> set[str]:
    """The sites one Cluster or ResourceBinding event concerns."""
    if obj.get("kind") == "Cluster" or kind == "Cluster":
        name = (obj.get("metadata") or {}).get("name")
        return {str(name)} if name else set()
    scheduled = {str(c.get("name")) for c in (obj.get("spec") or {}).get("clusters") or []}
    reported = {
        str(s.get("clusterName")) for s in (obj.get("status") or {}).get("aggregatedStatus") or []
    }
    return {s for s in scheduled | reported if s and s != "None"}


class KarmadaView:
    """Informers on Clusters and ResourceBindings; ``on_change`` gets the affected sites."""

    def __init__(self, karmada: KubeClient, *, on_change: SitesChanged | None = None) -> None:
        self.on_change = on_change
        self.clusters = Informer(karmada, CLUSTERS, on_event=self._event("Cluster"))
        self.bindings = Informer(karmada, RESOURCE_BINDINGS, on_event=self._event("Binding"))

    def _event(self, kind: str) -> Callable[[str, dict[str, Any]], None]:
        def handle(event: str, obj: dict[str, Any]) -> None:
            if self.on_change is None or event == "SYNC":
                return
            sites = sites_of(kind, obj)
            if sites:
                self.on_change(sites)

        return handle

    def start(self, stop: threading.Event) -> None:
        self.clusters.start(stop)
        self.bindings.start(stop)

    def wait_synced(self, timeout: float) -> bool:
        return self.clusters.wait_synced(timeout) and self.bindings.wait_synced(timeout)

    def cluster(self, site: str) -> dict[str, Any] | None:
        return self.clusters.get("", site)

    def binding(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.bindings.get(namespace, name)

    def interrupt(self) -> None:
        self.clusters.interrupt()
        self.bindings.interrupt()
