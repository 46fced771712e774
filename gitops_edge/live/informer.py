"""Informer: one paginated list per resource, then a watch that keeps a local index.

A steady-state daemon makes *no* list calls: the index is kept current by watch
events, and bookmarks move the resourceVersion forward without objects so a quiet
resource does not fall behind the compaction window. Each failure has its own cure:

* a watch cut mid-stream (network, proxy, apiserver restart): watch again from the
  last resourceVersion seen -- the index is still right, relisting 10 000 nodes
  would only load the API server;
* 410 Gone (the server compacted past our resourceVersion): relist and replace
  the index, then watch again;
* a kind the cluster does not serve (404: CRD not installed): an empty index that
  counts as synced, looked at again after ``absent_recheck`` seconds;
* anything else (5xx after retries, 403, unreachable): back off (capped) and keep
  the index, so readers see the last known state rather than nothing.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

import structlog

from gitops_edge.live.client import Gone, KubeClient, KubeError, RetryPolicy, StreamBroken
from gitops_edge.live.resources import Resource
from gitops_edge.live.state import pack, site_of_object, unpack

log = structlog.get_logger(__name__)

Key = tuple[str, str]
Handler = Callable[[str, dict[str, Any]], None]


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without ``metadata.managedFields``, the way client-go's
    ``cache.TransformStripManagedFields`` keeps an informer's cache small.

    A third of a server-side-applied object's bytes are its managedFields, and the
    planner, the sinks and status never read them from the central cluster's cache
    (the planner drops them before a diff). The Karmada view reads the field managers
    of its own objects, so it keeps them.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        del meta["managedFields"]
    return obj


def slim_node(obj: dict[str, Any]) -> dict[str, Any]:
    """A Node as the edge inventory reads it: name, labels, the Ready condition, the arch.

    A kubelet's Node carries its images, capacity, addresses and every condition (a few
    KB each); 10 000 edge nodes are cached for their readiness alone
    (:func:`gitops_edge.live.inventory.edge_node`).
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    arch = (status.get("nodeInfo") or {}).get("architecture")
    slim_status: dict[str, Any] = {
        "conditions": [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    }
    if arch:
        slim_status["nodeInfo"] = {"architecture": arch}
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Node"),
        "metadata": {k: meta[k] for k in ("name", "uid", "resourceVersion", "labels") if k in meta},
        "status": slim_status,
    }


def slim_lease(obj: dict[str, Any]) -> dict[str, Any]:
    """A node Lease as the inventory reads it: its name and when it was last renewed."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {
        "apiVersion": obj.get("apiVersion", "coordination.k8s.io/v1"),
        "kind": obj.get("kind", "Lease"),
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta
        },
        "spec": {k: spec[k] for k in ("holderIdentity", "renewTime") if k in spec},
    }


def key_of(obj: dict[str, Any]) -> Key:
    """(namespace, name); the namespace shared (interned): a site's objects, in every
    informer, repeat it, and each decoded object brings its own copy."""
    meta = obj.get("metadata") or {}
    return (sys.intern(str(meta.get("namespace") or "")), str(meta.get("name") or ""))


class Informer:
    """A watched, indexed view of one resource (optionally one namespace / label selector)."""

    def __init__(
        self,
        kube: KubeClient,
        res: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        on_event: Handler | None = None,
        watch_timeout: int = 300,
        backoff: RetryPolicy | None = None,
        absent_recheck: float = 300.0,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        packed: bool = False,
    ) -> None:
        self.kube = kube
        self.transform = transform
        """Applied to every object before it is kept (and before handlers see it)."""
        self.packed = packed
        """Keep each object as compressed JSON with its site (:meth:`by_site`), not as dicts."""
        self.res = res
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_event = on_event
        self.watch_timeout = watch_timeout
        self.backoff = backoff or RetryPolicy(base=0.5, cap=30.0)
        self.absent_recheck = absent_recheck
        self._items: dict[Key, Any] = {}
        """Key -> the object, or (site, compressed JSON) when ``packed``."""
        self._lock = threading.Lock()
        self._response: Any = None
        self._interrupt = False
        self._stream_events = 0
        self.resource_version = ""
        self.served = True
        """False while the API server answers 404 for this kind (its CRD is not installed)."""
        self.lists = 0
        self.watches = 0
        self.relists_on_gone = 0
        self.stream_breaks = 0
        self.events = 0
        self.synced = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading the index -----------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            values = list(self._items.values())
        return [unpack(v[1]) for v in values] if self.packed else values

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get((namespace, name))
        return unpack(value[1]) if self.packed and value is not None else value

    def by_site(self) -> dict[str, list[bytes]]:
        """A packed informer's objects, compressed, by their ``gitops-edge.io/site`` label
        (objects without one are left out, as :func:`~gitops_edge.live.state.group_by_site`
        does)."""
        out: dict[str, list[bytes]] = {}
        with self._lock:
            for site, blob in self._items.values():
                if site:
                    out.setdefault(site, []).append(blob)
        return out

    def _keep(self, obj: dict[str, Any]) -> Any:
        if not self.packed:
            return obj
        return (sys.intern(site_of_object(obj)), pack(obj))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __bool__(self) -> bool:
        """An informer is always truthy: ``if informer`` must not mean "has items"."""
        return True

    # -- keeping it current ----------------------------------------------------------

    def sync(self) -> None:
        """(Re)list and replace the index; a kind the server does not serve is empty."""
        self.lists += 1
        try:
            items, rv = self.kube.list(
                self.res, namespace=self.namespace, label_selector=self.label_selector
            )
            served = True
        except KubeError as exc:
            if exc.status != 404:
                raise
            items, rv, served = [], "", False
        if self.transform is not None:
            items = [self.transform(o) for o in items]
        with self._lock:
            self._items = {key_of(o): self._keep(o) for o in items}
            self.resource_version = rv
        self.served = served
        self.synced.set()
        if self.on_event:
            self.on_event("SYNC", {})

    def apply_event(self, event: dict[str, Any]) -> None:
        """Fold one watch event into the index; every event (bookmarks too) moves the RV."""
        kind = event.get("type", "")
        obj = event.get("object") or {}
        if self.transform is not None and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = self.transform(obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                self._items[key_of(obj)] = self._keep(obj)
            elif kind == "DELETED":
                self._items.pop(key_of(obj), None)
            if rv:
                self.resource_version = str(rv)
        self.events += 1
        if self.on_event and kind != "BOOKMARK":
            self.on_event(kind, obj)

    def watch_once(self, stop: threading.Event) -> int:
        """One watch request from the current resourceVersion until it ends; events seen."""
        self.watches += 1
        self._stream_events = 0
        try:
            for event in self.kube.watch(
                self.res,
                resource_version=self.resource_version,
                namespace=self.namespace,
                label_selector=self.label_selector,
                timeout_seconds=self.watch_timeout,
                opened=self._opened,
            ):
                self.apply_event(event)
                self._stream_events += 1
                if stop.is_set():
                    break
        finally:
            with self._lock:
                self._response = None
        return self._stream_events

    def _opened(self, response: Any) -> None:
        with self._lock:
            self._response = response
            pending, self._interrupt = self._interrupt, False
        if pending:
            _shutdown(response)

    def interrupt(self) -> None:
        """End the current watch request now, or the one being opened if none is yet.

        Used on stop (a watch otherwise lasts until its timeout) and by tests that need
        the stream to break at a chosen moment; the informer re-watches or exits.
        """
        with self._lock:
            response = self._response
            self._interrupt = response is None
        if response is not None:
            _shutdown(response)

    def run(self, stop: threading.Event) -> None:
        """List, then watch until ``stop``; survive 410, API outages and cut streams."""
        failures = 0
        while not stop.is_set():
            try:
                if not self.synced.is_set():
                    self.sync()
                if not self.served:
                    stop.wait(self.absent_recheck)
                    self.synced.clear()
                    continue
                if self.watch_once(stop):
                    failures = 0
                else:  # ended without a single event: do not spin on a proxy that closes at once
                    failures += 1
                    stop.wait(self.backoff.delay(min(failures, 8)))
            except Gone:
                self.relists_on_gone += 1
                self.synced.clear()
                log.info("resourceVersion expired; relisting", resource=self.res.describe())
            except StreamBroken:
                self.stream_breaks += 1
                if stop.is_set():
                    return
                # a stream that delivered events was healthy: re-watch at once
                failures = 0 if self._stream_events else failures + 1
                log.info("watch stream cut; watching again", resource=self.res.describe())
                if failures:
                    stop.wait(self.backoff.delay(min(failures, 8)))
            except (KubeError, OSError, ValueError) as exc:
                failures += 1
                delay = self.backoff.delay(min(failures, 8))
                log.warning(
                    "watch failed; retrying",
                    resource=self.res.describe(),
                    error=str(exc),
                    retry_in=round(delay, 2),
                )
                stop.wait(delay)
            except Exception as exc:  # a watch thread must never die silently
                failures += 1
                log.error("watch crashed; retrying", resource=self.res.describe(), error=repr(exc))
                stop.wait(self.backoff.delay(min(failures, 8)))

    def start(self, stop: threading.Event) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run, args=(stop,), name=f"informer-{self.res.plural}", daemon=True
        )
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_synced(self, timeout: float) -> bool:
        return self.synced.wait(max(0.0, timeout))


def _shutdown(response: Any) -> None:
    """Shut the response's socket so a read blocked in another thread returns at once."""
    shutdown = getattr(response, "shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(Exception):
            shutdown()
