"""Watch streams: the event log of one kind, filtered and framed as the apiserver does.

Semantics reproduced because client code depends on them:

* no ``resourceVersion`` (or ``"0"``): synthetic ADDED events for the current
  objects, then live changes;
* a ``resourceVersion``: every change after it, or a single ERROR event carrying
  a 410 ``Expired`` Status when that part of the log has been compacted;
* with selectors, an object that stops matching arrives as DELETED and one that
  starts matching as ADDED;
* BOOKMARK events (only ``metadata.resourceVersion``) when requested and the
  stream has been idle for the bookmark interval;
* the stream ends cleanly at ``timeoutSeconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import APIError
from .resources import ResourceType
from .store import ObjectStore, Stored, WatchEvent, dumps

Obj = dict[str, Any]

BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
_IDLE_CHECK = 0.5  # how often an idle stream looks for a departed client


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    predicate: Callable[[Obj], bool] | None
    resource_version: int | None
    bookmarks: bool = False
    bookmark_interval: float = 1.0
    timeout: float | None = None


def event_line(kind: str, entry: Stored) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + entry.json() + b"}\n"


def error_line(error: APIError) -> bytes:
    return dumps({"type": ERROR, "object": error.status()}) + b"\n"


class WatchStream:
    """Iterate to get ``(event type, encoded line)`` pairs until the stream should end."""

    def __init__(
        self,
        store: ObjectStore,
        request: WatchRequest,
        client_gone: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.request = request
        self.client_gone = client_gone

    def _translate(self, event: WatchEvent) -> str | None:
        """The event type this watcher sees for ``event``, or None to skip it."""
        req = self.request
        obj = event.entry.obj
        if req.namespace and obj["metadata"].get("namespace") != req.namespace:
            return None
        pred = req.predicate
        if pred is None:
            return event.type
        now = pred(obj)
        if event.type != "MODIFIED":
            return event.type if now else None
        before = event.old is not None and pred(event.old.obj)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def _bookmark(self, rv: int) -> bytes:
        rt = self.request.rt
        obj = {"kind": rt.kind, "apiVersion": rt.api_version,
               "metadata": {"resourceVersion": str(rv)}}
        return dumps({"type": BOOKMARK, "object": obj}) + b"\n"

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        req, store = self.request, self.store
        start = time.monotonic()
        deadline = start + req.timeout if req.timeout else None
        interval = max(req.bookmark_interval, 0.01)
        next_bookmark = start + interval if req.bookmarks else None

        initial: list[Stored] = []
        with store.lock:
            if req.resource_version in (None, 0):
                last = store.rv
                initial = store.page(req.rt, req.namespace, None, None, req.predicate).items
            else:
                last = req.resource_version or 0
                try:
                    store.events_after(req.rt, last)
                except APIError as exc:
                    yield ERROR, error_line(exc)
                    return
        for entry in initial:
            yield "ADDED", event_line("ADDED", entry)

        while True:
            if self.client_gone():
                return
            events: list[WatchEvent] = []
            bookmark: bytes | None = None
            with store.lock:
                if store.closed:
                    return
                failure: APIError | None = None
                try:
                    events = store.events_after(req.rt, last)
                except APIError as exc:
                    failure = exc
                now = time.monotonic()
                if failure is None and not events:
                    if deadline is not None and now >= deadline:
                        return
                    if next_bookmark is not None and now >= next_bookmark:
                        last = store.rv
                        bookmark = self._bookmark(last)
                        next_bookmark = now + interval
                    else:
                        waits = [_IDLE_CHECK]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if next_bookmark is not None:
                            waits.append(next_bookmark - now)
                        store.changed.wait(max(min(waits), 0.001))
                        continue
            if failure is not None:
                yield ERROR, error_line(failure)
                return
            if bookmark is not None:
                yield BOOKMARK, bookmark
                continue
            last = events[-1].rv
            for event in events:
                kind = self._translate(event)
                if kind is not None:
                    yield kind, event_line(kind, event.entry)
            if deadline is not None and time.monotonic() >= deadline:
                return
