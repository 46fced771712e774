"""Informer: one paginated list per resource, then a watch that keeps a local index.

A steady-state daemon makes *no* list calls: the index is kept current by watch
events (bookmarks move the resourceVersion forward without objects). A 410 Gone
means the API server compacted past our resourceVersion: relist, replace the index,
watch again. Transient errors back off (capped) and never lose the index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from gitops_edge.live.client import Gone, KubeClient, KubeError, RetryPolicy
from gitops_edge.live.resources import Resource

log = structlog.get_logger(__name__)

Key = tuple[str, str]
Handler = Callable[[str, dict[str, Any]], None]


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


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
    ) -> None:
        self.kube = kube
        self.res = res
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_event = on_event
        self.watch_timeout = watch_timeout
        self.backoff = backoff or RetryPolicy(base=0.5, cap=30.0)
        self._items: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.resource_version = ""
        self.lists = 0
        self.relists_on_gone = 0
        self.synced = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading the index -----------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items.values())

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get((namespace, name))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- keeping it current ----------------------------------------------------------

    def sync(self) -> None:
        """(Re)list and replace the index."""
        items, rv = self.kube.list(
            self.res, namespace=self.namespace, label_selector=self.label_selector
        )
        with self._lock:
            self._items = {key_of(o): o for o in items}
            self.resource_version = rv
        self.lists += 1
        self.synced.set()
        if self.on_event:
            self.on_event("SYNC", {})

    def apply_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        obj = event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if kind in ("ADDED", "MODIFIED"):
                self._items[key_of(obj)] = obj
            elif kind == "DELETED":
                self._items.pop(key_of(obj), None)
            if rv:
                self.resource_version = str(rv)
        if self.on_event and kind != "BOOKMARK":
            self.on_event(kind, obj)

    def watch_once(self, stop: threading.Event) -> None:
        """One watch request from the current resourceVersion until it ends."""
        for event in self.kube.watch(
            self.res,
            resource_version=self.resource_version,
            namespace=self.namespace,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout,
        ):
            self.apply_event(event)
            if stop.is_set():
                return

    def run(self, stop: threading.Event) -> None:
        """List, then watch until ``stop``; survive 410, API outages and cut streams."""
        failures = 0
        while not stop.is_set():
            try:
                if not self.synced.is_set():
                    self.sync()
                self.watch_once(stop)
                failures = 0
            except Gone:
                self.relists_on_gone += 1
                self.synced.clear()
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

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return self.synced.wait(max(0.0, deadline - time.monotonic()))
