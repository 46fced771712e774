"""The daemon's live state: informers over everything :func:`~.snapshot.read_live` lists.

One list per kind at start, then watches alone keep the cache current, so a daemon
asking for ``state()`` on every reconcile costs the API server nothing; the bulk of
what it holds (each managed object) is kept packed (:func:`gitops_edge.live.state.pack`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from gitops_edge.live import resources as r
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.delivery import index_object_syncs
from gitops_edge.live.informer import (
    Informer,
    slim_lease,
    slim_node,
    strip_managed_fields,
)
from gitops_edge.live.inventory import (
    DEFAULT_GRACE,
    EDGE_ROLE_LABEL,
    LEASE_NAMESPACE,
    build_inventory,
    now_utc,
)
from gitops_edge.live.progress import run_reports
from gitops_edge.live.state import (
    EGGO_POD_SELECTOR,
    MANAGED_BY,
    LazySites,
    LiveState,
    unpack,
)


def _both(
    first: Callable[[str, dict[str, Any]], None] | None,
    second: Callable[[str, dict[str, Any]], None] | None,
) -> Callable[[str, dict[str, Any]], None] | None:
    """One event handler calling both (either may be None)."""
    if first is None or second is None:
        return first or second

    def handler(kind: str, obj: dict[str, Any]) -> None:
        second(kind, obj)
        first(kind, obj)

    return handler


class PackedSites(LazySites):
    """Site id -> its live objects, unpacked from the informers' compressed copies when
    asked for (a fresh copy on every access: a caller may change it)."""

    def __init__(self, packed: dict[str, list[bytes]]) -> None:
        super().__init__(packed)
        self.packed = packed

    def _read(self, site_id: str) -> list[dict[str, Any]]:
        return [unpack(b) for b in self.packed.get(site_id, ())]

    def __repr__(self) -> str:
        return f"PackedSites({list(self)!r})"


class LiveCache:
    """Informers over everything :func:`read_live` lists; ``state()`` costs no API call.

    After the initial lists, the cache is kept current by watches alone: a daemon
    asking for ``state()`` on every reconcile costs the API server nothing.
    """

    def __init__(
        self,
        kube: KubeClient,
        *,
        grace: timedelta = DEFAULT_GRACE,
        managed: Iterable[r.Resource] = r.MANAGED,
        on_node_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_progress: Callable[[str, dict[str, Any]], None] | None = None,
        on_managed: Callable[[str, dict[str, Any]], None] | None = None,
        with_syncs: bool = True,
        backoff: RetryPolicy | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self.grace = grace
        opts: dict[str, Any] = {
            "backoff": backoff,
            "watch_timeout": watch_timeout,
            "transform": strip_managed_fields,
        }
        self.nodes = Informer(
            kube,
            r.NODES,
            label_selector=EDGE_ROLE_LABEL,
            on_event=on_node_event,
            **{**opts, "transform": slim_node},
        )
        self.leases = Informer(
            kube,
            r.LEASES,
            namespace=LEASE_NAMESPACE,
            on_event=on_node_event,
            **{**opts, "transform": slim_lease},
        )
        # Jobs and Applications report run progress, which rollout waves wait on.
        # the bulk of what the cluster holds (9 objects a site): kept packed
        self.managed = [
            Informer(
                kube,
                res,
                label_selector=MANAGED_BY,
                on_event=_both(
                    on_progress if res in (r.JOBS, r.APPLICATIONS) else None, on_managed
                ),
                packed=True,
                **opts,
            )
            for res in managed
        ]
        # eggo's summary arrives on the run's Pod when it terminates: a progress event too.
        self.pods = Informer(
            kube, r.PODS, label_selector=EGGO_POD_SELECTOR, on_event=on_progress, **opts
        )
        # an edge acknowledging an object (an ObjectSync) may complete a wave, too
        self.syncs = (
            Informer(kube, r.OBJECTSYNCS, on_event=on_progress, **opts) if with_syncs else None
        )
        self._stop = threading.Event()

    @property
    def informers(self) -> list[Informer]:
        extra = [self.syncs] if self.syncs is not None else []
        return [self.nodes, self.leases, *self.managed, self.pods, *extra]

    def start(self) -> None:
        for inf in self.informers:
            inf.start(self._stop)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every informer: end their watch requests now rather than at timeout."""
        self._stop.set()
        for inf in self.informers:
            inf.interrupt()
        deadline = time.monotonic() + timeout  # one budget for all: a list may be mid-flight
        for inf in self.informers:
            inf.join(max(0.0, deadline - time.monotonic()))

    def wait_synced(self, timeout: float = 60.0) -> bool:
        return all(inf.wait_synced(timeout) for inf in self.informers)

    def list_calls(self) -> int:
        return sum(inf.lists for inf in self.informers)

    def state(self, *, now: datetime | None = None) -> LiveState:
        at = now or now_utc()
        leases = {lease["metadata"]["name"]: lease for lease in self.leases.items()}
        packed: dict[str, list[bytes]] = {}
        for inf in self.managed:
            for site, blobs in inf.by_site().items():
                packed.setdefault(site, []).extend(blobs)
        return LiveState(
            observed_at=at,
            nodes=build_inventory(self.nodes.items(), leases, now=at, grace=self.grace),
            objects=PackedSites(packed),
            syncs=index_object_syncs(self.syncs.items()) if self.syncs is not None else {},
            run_reports=run_reports(self.pods.items()),
        )
