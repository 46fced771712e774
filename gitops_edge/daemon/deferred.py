"""Sites waiting for their edge node, and which node coming back releases which site.

An offline edge node defers its site's work rather than failing it (SPEC.md). The
daemon must not wait for the next resync to catch up: CloudCore renews a node's Lease
as soon as EdgeCore is back, the informer sees it, and the site goes out at once.
Node and Lease events arrive for every heartbeat of every node (10 000 nodes: many
per second), so the common case, nothing deferred or a node nobody waits for, must
cost next to nothing: one node is classified, and only when someone waits at all.

Hysteresis: a node must be seen online for ``settle`` seconds in a row before the
sites waiting on it are released, so an edge link that flaps every few seconds does
not turn every heartbeat into a reconcile. Work is still delivered once: a released
site's plan is idempotent, and a site with nothing pending writes nothing.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from gitops_edge.live.cache import LiveCache
from gitops_edge.live.inventory import LEASE_NAMESPACE, EdgeNode, edge_node, nodes_for_site, now_utc
from gitops_edge.render.context import Placement


class DeferredSites:
    """Deferred site ids with the placement (node selector or name) they wait on; thread-safe."""

    def __init__(self, *, settle: float = 0.0) -> None:
        self._where: dict[str, Placement] = {}
        self._lock = threading.Lock()
        self.settle = timedelta(seconds=settle)
        self._online_since: dict[str, datetime] = {}
        """When each node a deferred site waits on was first seen online, this time round."""

    def defer(self, site: str, where: Placement) -> bool:
        """Remember ``site`` as waiting on ``where``; True when it was not waiting before."""
        with self._lock:
            new = site not in self._where
            self._where[site] = where
            return new

    def release(self, site: str) -> None:
        with self._lock:
            self._where.pop(site, None)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, site: object) -> bool:
        return site in self._where

    def ready(
        self,
        cache: LiveCache,
        *,
        node: str | None = None,
        sites: list[str] | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Waiting sites (all, or ``sites``) that an online, settled edge node now matches.

        With ``node``, only that node is looked at (the one an event was about).
        """
        if not self._where:
            return []
        names = [node] if node else [str(n["metadata"]["name"]) for n in cache.nodes.items()]
        now = now or now_utc()
        online: dict[str, EdgeNode] = {}
        for name in names:
            obj = cache.nodes.get("", name)
            if obj is None:
                continue
            state = edge_node(
                obj, cache.leases.get(LEASE_NAMESPACE, name), now=now, grace=cache.grace
            )
            if state.state != "online":
                self._online_since.pop(name, None)
                continue
            first = self._online_since.setdefault(name, now)
            if now - first >= self.settle:
                online[name] = state
        if not online:
            return []
        with self._lock:
            candidates = [(s, self._where[s]) for s in (sites or self._where) if s in self._where]
        return [
            site
            for site, where in candidates
            if nodes_for_site(online, node_selector=where.node_selector, node_name=where.node_name)
        ]
