"""Object storage, the global resourceVersion, and the watch event log.

This plays etcd's part.  One lock guards everything so a read-check-write (an
update with a resourceVersion precondition) is atomic; watches sleep on a
``Condition`` over that lock and wake on every commit.

Stored objects are never mutated once committed: every write stores a new dict.
That lets list and watch responses reuse a cached JSON encoding per object and
serialise outside the lock, which keeps paginated lists of 10 000+ objects cheap.
Per kind, keys are kept sorted (namespace, name) so a page is a bisect and a slice.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .apply import record_update
from .errors import APIError, bad_request, expired
from .patch import clone, merge_patch
from .resources import ResourceRegistry, ResourceType

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

DEFAULT_EVENT_WINDOW = 100_000


_now_cache: tuple[int, str] = (0, "")


def utcnow() -> str:
    """RFC 3339 with second precision, the format of ``metadata.creationTimestamp``.

    Cached per second: formatting dominated the cost of seeding many objects.
    """
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _now_cache[1]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Stored:
    """A committed object plus its lazily cached JSON encoding."""

    __slots__ = ("_json", "obj")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self._json: bytes | None = None

    def json(self) -> bytes:
        data = self._json
        if data is None:
            data = self._json = dumps(self.obj)
        return data

    @property
    def rv(self) -> int:
        return int(self.obj["metadata"]["resourceVersion"])


@dataclass(slots=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    entry: Stored
    old: Stored | None


@dataclass
class _Table:
    """Objects and retained events of one kind."""

    objects: dict[Key, Stored] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)
    compacted_rv: int = 0  # events with rv <= this are gone


@dataclass
class Page:
    items: list[Stored]
    continue_after: Key | None
    remaining: int | None


def generation_changed(old: Obj, new: Obj) -> bool:
    """Generation tracks the desired state: anything but metadata and status."""
    ignore = ("metadata", "status")
    keys = (set(old) | set(new)) - set(ignore)
    return any(old.get(k) != new.get(k) for k in keys)


def encode_continue(rv: int, after: Key) -> str:
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        ns, name = data["start"]
        return int(data["rv"]), (str(ns), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc


class ObjectStore:
    """All objects of all kinds, with test-facing helpers to seed and mutate them.

    The helpers (``put``, ``touch``, ``delete``...) bypass API validation on
    purpose: they stand in for other writers (CloudCore, kubelet, an operator)
    whose writes the code under test must observe through list and watch.
    """

    def __init__(
        self, registry: ResourceRegistry, event_window: int = DEFAULT_EVENT_WINDOW
    ) -> None:
        self.registry = registry
        self.event_window = event_window
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.closed = False
        self._rv = 0
        self._tables: dict[tuple[str, str], _Table] = {}
        # owner uid -> dependents, so cascading deletes need not scan every object
        self._dependents: dict[str, set[tuple[ResourceType, Key]]] = {}

    # ---------------------------------------------------------------- internals
    # The methods below expect the caller to hold ``self.lock``.

    def table(self, rt: ResourceType) -> _Table:
        t = self._tables.get(rt.key)
        if t is None:
            t = self._tables[rt.key] = _Table()
        return t

    @property
    def rv(self) -> int:
        return self._rv

    def lookup(self, rt: ResourceType, namespace: str, name: str) -> Stored | None:
        return self.table(rt).objects.get((namespace if rt.namespaced else "", name))

    def commit(self, rt: ResourceType, obj: Obj) -> Stored:
        """Store ``obj`` (which the store now owns), bump the resourceVersion, emit an event."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        t = self.table(rt)
        old = t.objects.get(key)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        obj.setdefault("apiVersion", rt.api_version)
        obj.setdefault("kind", rt.kind)
        entry = Stored(obj)
        if old is None:
            insort(t.keys, key)
        else:
            self._index_owners(rt, key, old.obj, add=False)
        t.objects[key] = entry
        self._index_owners(rt, key, obj, add=True)
        self._emit(t, WatchEvent(self._rv, "ADDED" if old is None else "MODIFIED", entry, old))
        return entry

    def remove(self, rt: ResourceType, namespace: str, name: str) -> Stored | None:
        key = (namespace if rt.namespaced else "", name)
        t = self.table(rt)
        old = t.objects.pop(key, None)
        if old is None:
            return None
        del t.keys[bisect_left(t.keys, key)]
        self._index_owners(rt, key, old.obj, add=False)
        self._rv += 1
        gone = clone(old.obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        entry = Stored(gone)
        self._emit(t, WatchEvent(self._rv, "DELETED", entry, old))
        return entry

    def _index_owners(self, rt: ResourceType, key: Key, obj: Obj, *, add: bool) -> None:
        for ref in obj.get("metadata", {}).get("ownerReferences") or ():
            uid = ref.get("uid") if isinstance(ref, dict) else None
            if not uid:
                continue
            if add:
                self._dependents.setdefault(uid, set()).add((rt, key))
            else:
                deps = self._dependents.get(uid)
                if deps is not None:
                    deps.discard((rt, key))
                    if not deps:
                        del self._dependents[uid]

    def dependents(self, uid: str) -> list[tuple[ResourceType, Key]]:
        """Objects whose ownerReferences name ``uid`` (for garbage collection)."""
        return sorted(self._dependents.get(uid, ()), key=lambda d: (d[0].key, d[1]))

    def _emit(self, t: _Table, event: WatchEvent) -> None:
        t.events.append(event)
        if len(t.events) > self.event_window:
            drop = len(t.events) - self.event_window // 2
            t.compacted_rv = max(t.compacted_rv, t.events[drop - 1].rv)
            del t.events[:drop]
        self.changed.notify_all()

    def events_after(self, rt: ResourceType, rv: int) -> list[WatchEvent]:
        t = self.table(rt)
        if rv < t.compacted_rv:
            raise expired(f"too old resource version: {rv} ({t.compacted_rv})")
        start = bisect_right(t.events, rv, key=lambda e: e.rv)
        return t.events[start:]

    def check_continue(self, rt: ResourceType, token_rv: int) -> None:
        if token_rv < self.table(rt).compacted_rv:
            raise expired(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter, or use "
                "the continue token in this response to retrieve the remainder of the results."
            )

    def page(
        self,
        rt: ResourceType,
        namespace: str | None,
        after: Key | None,
        limit: int | None,
        predicate: Callable[[Obj], bool] | None,
    ) -> Page:
        """One page of objects in key order, starting after ``after``."""
        t = self.table(rt)
        keys = t.keys
        if rt.namespaced and namespace:
            lo = bisect_left(keys, (namespace, ""))
            hi = bisect_left(keys, (namespace + "\x00", ""))
        else:
            lo, hi = 0, len(keys)
        i = max(lo, bisect_right(keys, after)) if after is not None else lo
        items: list[Stored] = []
        objects = t.objects
        if predicate is None:
            end = hi if limit is None else min(hi, i + limit)
            items = [objects[k] for k in keys[i:end]]
            i = end
        else:
            while i < hi and (limit is None or len(items) < limit):
                entry = objects[keys[i]]
                i += 1
                if predicate(entry.obj):
                    items.append(entry)
        more = limit is not None and i < hi
        return Page(
            items,
            keys[i - 1] if more else None,
            (hi - i) if more and predicate is None else None,
        )

    def new_metadata(self, rt: ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        """Fill the fields the server sets on create."""
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", utcnow())
        meta.setdefault("generation", 1)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    # ------------------------------------------------------------ test helpers

    def _resolve(self, api_version: str, kind: str) -> ResourceType:
        return self.registry.require(api_version, kind)

    def _put_locked(self, obj: Obj) -> Stored:
        rt = self._resolve(obj["apiVersion"], obj["kind"])
        new = clone(obj)
        meta = new.setdefault("metadata", {})
        if "name" not in meta:
            raise ValueError("metadata.name is required")
        existing = self.lookup(rt, meta.get("namespace") or "default", meta["name"])
        if existing is None:
            self.new_metadata(rt, new)
        else:
            old_meta = existing.obj["metadata"]
            for k in ("uid", "creationTimestamp"):
                meta.setdefault(k, old_meta.get(k))
            if "generation" not in meta:
                gen = int(old_meta.get("generation", 1))
                meta["generation"] = gen + 1 if generation_changed(existing.obj, new) else gen
            if rt.namespaced:
                meta.setdefault("namespace", old_meta.get("namespace", "default"))
        meta.pop("resourceVersion", None)
        return self.commit(rt, new)

    def put(self, obj: Obj) -> Obj:
        """Create or replace an object as-is (status included) and emit ADDED/MODIFIED."""
        with self.lock:
            return clone(self._put_locked(obj).obj)  # type: ignore[no-any-return]

    def seed(self, objs: Iterable[Obj]) -> int:
        """Bulk ``put`` under one lock acquisition; returns how many were stored."""
        n = 0
        with self.lock:
            for obj in objs:
                self._put_locked(obj)
                n += 1
        return n

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        rt = self._resolve(api_version, kind)
        with self.lock:
            entry = self.lookup(rt, namespace or "default", name)
            return None if entry is None else clone(entry.obj)

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rt = self._resolve(api_version, kind)
        with self.lock:
            page = self.page(rt, namespace, None, None, None)
            return [clone(e.obj) for e in page.items]

    def count(self, api_version: str, kind: str, namespace: str | None = None) -> int:
        rt = self._resolve(api_version, kind)
        with self.lock:
            if namespace is None or not rt.namespaced:
                return len(self.table(rt).keys)
            return len(self.page(rt, namespace, None, None, None).items)

    def touch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        patch: Obj | None = None,
        mutate: Callable[[Obj], None] | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        """Modify an object the way another writer would, emitting a MODIFIED event.

        ``patch`` is a merge patch (status allowed); ``mutate`` edits a copy in
        place.  With neither, only the resourceVersion moves, which is how a
        kubelet heartbeat looks to a watcher.  ``field_manager`` records the
        change in ``managedFields`` as an Update by that manager, so server-side
        apply conflicts against it behave as against a real controller.
        """
        rt = self._resolve(api_version, kind)
        with self.lock:
            entry = self.lookup(rt, namespace or "default", name)
            if entry is None:
                raise KeyError(f"{kind} {namespace or ''}/{name} not found")
            new = clone(entry.obj)
            if patch:
                new = merge_patch(new, patch)
            if mutate:
                mutate(new)
            if generation_changed(entry.obj, new):
                new["metadata"]["generation"] = int(new["metadata"].get("generation", 1)) + 1
            if field_manager:
                record_update(entry.obj, new, field_manager, rt, utcnow())
                if rt.status_subresource:
                    record_update(
                        entry.obj, new, field_manager, rt, utcnow(), "status", owners_from=new
                    )
            return clone(self.commit(rt, new).obj)  # type: ignore[no-any-return]

    def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        """Remove immediately (finalizers ignored) and emit DELETED."""
        rt = self._resolve(api_version, kind)
        with self.lock:
            entry = self.remove(rt, namespace or "default", name)
            return None if entry is None else clone(entry.obj)

    @property
    def resource_version(self) -> str:
        with self.lock:
            return str(self._rv)

    def compact(self, resource_version: int | str | None = None) -> int:
        """Forget events up to ``resource_version`` (default: all), like etcd compaction.

        Watches and continue tokens older than the compacted revision then fail
        with 410 Expired, which is how a client's relist path gets exercised.
        """
        with self.lock:
            rv = self._rv if resource_version is None else int(resource_version)
            for t in self._tables.values():
                t.compacted_rv = max(t.compacted_rv, rv)
                t.events = t.events[bisect_right(t.events, rv, key=lambda e: e.rv):]
            self.changed.notify_all()
            return rv

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()


def parse_resource_version(value: str | None, what: str = "resourceVersion") -> int | None:
    if not value:
        return None
    try:
        rv = int(value)
    except ValueError as exc:
        raise APIError(400, f"invalid {what}: {value!r}", "BadRequest") from exc
    if rv < 0:
        raise APIError(400, f"invalid {what}: {value!r}", "BadRequest")
    return rv
