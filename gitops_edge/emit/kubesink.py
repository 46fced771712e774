"""``kube`` — server-side apply into the central API, as field manager ``gitops-edge``.

Objects are applied in render order (:func:`~gitops_edge.render.output.in_apply_order`:
the namespace, the edge bundle, eggo, the Applications; the order ``render`` numbers
files in) and deleted in reverse order. A conflict with another field manager is reported, not forced, unless the
operator asked for ``--force-conflicts``; one site's failure never stops the others.
Server-side apply is idempotent, so a run repeated after a crash converges without
duplicates.

A run can be split in two passes, like the directory sink's: :meth:`KubeSink.stage`
keeps each emitting site's write list (compressed JSON: the keys, the bodies to apply,
the revisions the newer-commit rule needs) and sends nothing; :meth:`KubeSink.commit`
sends them once the whole run passed its guards (the mass-deletion guard, waves over
the merged plan). So a 10 000-site run is planned a chunk at a time, and nothing
reaches the cluster before the run as a whole is known to be acceptable.

Two writers (an old leader that was paused past its Lease, and the new one) must not
undo each other, so every write is fenced:

* ``may_write`` is asked before *each* object, not once per batch, and again by the
  client right before each attempt of that object's request goes out (after waiting
  out an API outage or a retry). It is a local
  deadline check (:attr:`LeaderElector.is_leader`: the Lease was renewed within
  ``renew_deadline`` by the monotonic clock), so it costs no API call; when it says no,
  the batch stops at that object with :class:`Fenced`. A process resumed after SIGSTOP
  or a long pause sees its deadline long gone and writes nothing more.
* ``newer(live, own)`` says whether the live object's ``gitops-edge.io/source-revision``
  is a newer commit than the plan's. Such an object is left alone (counted as
  ``superseded``): the newer commit wins whoever writes last. The daemon answers it by
  git ancestry (:meth:`GitSource.supersedes`); equal, older, unrelated or unversioned
  revisions are overwritten as before. The live copy is the informer's, so this rule
  covers what the writer has seen; the deadline check covers the rest.

What remains is the request already on the wire when the process froze: the API
server has no fencing token for server-side apply, so a write sent before the
deadline may land after it. The Lease's ``renew_deadline < lease_duration`` margin is
what keeps that window from overlapping a new leader in practice.

:class:`OwnWrites` remembers the object the server returned for every write (and
every delete) until the informer cache shows it, so a reconcile that runs before the
watch event arrives plans against what is really there: no second PATCH with the same
content, and a wave whose objects were just applied counts as applied.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from gitops_edge.emit.protocol import Staged
from gitops_edge.emit.result import EmitResult, SiteResult
from gitops_edge.labels import SOURCE_REVISION
from gitops_edge.live.client import KubeClient, KubeError, Refused
from gitops_edge.live.resources import resource_for
from gitops_edge.live.state import (
    DICTIONARIES,
    SITE_LABEL,
    LazySites,
    pack,
    site_of_object,
    unpack,
)
from gitops_edge.plan.model import ObjectChange, Plan, describe_key, obj_key
from gitops_edge.render.output import apply_rank

Key = tuple[str, str, str, str]


class Fenced(Exception):
    """This process may not write any more (its Lease deadline passed): the batch stops."""


def revision_of(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_REVISION) or "")


def _rank(change: ObjectChange) -> int:
    return apply_rank(change.desired or change.live or {})


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _caught_up(cached: str, written: str) -> bool:
    """Whether the cache's resourceVersion is the written one or later.

    resourceVersions are opaque; equal means the same write. Every API server in use
    (etcd revisions) issues increasing integers, so two integers are also compared.
    """
    if cached == written:
        return True
    return cached.isdigit() and written.isdigit() and int(cached) >= int(written)


class OwnWrites:
    """The server's answer to each of our writes, until the informer cache catches up.

    ``ttl`` bounds how long an entry may stand in for the cache (a watch that never
    delivers the event is repaired by its own relist, not by us). A full resync writes
    every object of the fleet, and the cache holds each of them already once it catches
    up, so an entry keeps the object compressed (decoded only when it is laid over a
    lagging cache) and entries past ``ttl`` are dropped as writes go on, not only when
    the next plan asks.
    """

    PRUNE_EVERY = 1000
    """Writes between two sweeps of entries past ``ttl``."""
    RECENT = 10_000
    """Watch events remembered for a write not recorded yet (the event can win the race)."""

    def __init__(self, *, ttl: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[float, str, str, bytes | None]] = {}
        """key -> (when, site, resourceVersion, compressed object or None for a delete)."""
        self._writes = 0
        self._recent: OrderedDict[Key, str] = OrderedDict()
        """resourceVersions watch events showed for keys with no entry (yet), newest last."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def wrote(self, obj: dict[str, Any]) -> None:
        key, rv = obj_key(obj), _rv(obj)
        site = site_of_object(obj)
        blob = pack(obj)
        self._put(key, (self._clock(), site, rv, blob))

    def deleted(self, key: Key, last: dict[str, Any]) -> None:
        site = site_of_object(last)
        self._put(key, (self._clock(), site, _rv(last), None))

    def seen(self, kind: str, obj: dict[str, Any]) -> None:
        """A watch event of a managed object: the entry it catches up with is dropped now.

        Without this a full resync keeps a second, compressed copy of everything it
        wrote until the next plan (or ``ttl``), though the informers hold the objects
        a moment later; with it the record holds only what the cache has not shown yet.
        """
        key = obj_key(obj)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:  # the event may come before the write is recorded
                if kind != "DELETED":
                    self._recent[key] = _rv(obj)
                    self._recent.move_to_end(key)
                    while len(self._recent) > self.RECENT:
                        self._recent.popitem(last=False)
                return
            ours_deleted = entry[3] is None
            if (kind == "DELETED") if ours_deleted else _caught_up(_rv(obj), entry[2]):
                del self._entries[key]

    def _put(self, key: Key, entry: tuple[float, str, str, bytes | None]) -> None:
        with self._lock:
            shown = self._recent.pop(key, None)
            if entry[3] is not None and shown is not None and _caught_up(shown, entry[2]):
                return  # the informers showed this write before it could be recorded
            self._entries[key] = entry
            self._writes += 1
            if self._writes % self.PRUNE_EVERY == 0:
                now = entry[0]
                for old in [k for k, e in self._entries.items() if now - e[0] > self.ttl]:
                    del self._entries[old]

    def overlay(self, objects: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """``objects`` (site -> live objects, from the cache) with our newer writes laid over.

        Entries the cache has caught up with (or that are older than ``ttl``) are dropped.
        """
        now = self._clock()
        with self._lock:
            if not self._entries:
                return objects
            entries = dict(self._entries)
        # a lazy mapping stays lazy: only the sites with writes laid over are read
        out = objects.lazy_copy() if isinstance(objects, LazySites) else dict(objects)
        done: list[Key] = []
        by_site: dict[str, dict[Key, dict[str, Any] | None]] = {}
        read: dict[str, list[dict[str, Any]]] = {}  # each site read once (it may be lazy)
        for key, (at, site, rv, blob) in entries.items():
            if now - at > self.ttl or not site:
                done.append(key)
                continue
            if site not in read:
                read[site] = list(objects.get(site, ()))
            cached = next((o for o in read[site] if obj_key(o) == key), None)
            if blob is None:  # our delete
                if cached is None or (_caught_up(_rv(cached), rv) and _rv(cached) != rv):
                    done.append(key)  # gone from the cache, or re-created since
                    continue
            elif cached is not None and _caught_up(_rv(cached), rv):
                done.append(key)
                continue
            obj = None if blob is None else unpack(blob)
            by_site.setdefault(site, {})[key] = obj
        for site, over in by_site.items():
            kept = [o for o in read[site] if obj_key(o) not in over]
            out[site] = kept + [o for o in over.values() if o is not None]
        if done:
            with self._lock:
                for key in done:
                    if self._entries.get(key) == entries[key]:
                        del self._entries[key]
        return out


class KubeSink:
    """Server-side apply of a plan's changes; stages a run as compressed write lists."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        force_conflicts: bool = False,
        may_write: Callable[[], bool] | None = None,
        newer: Callable[[str, str], bool] | None = None,
        own_writes: OwnWrites | None = None,
    ) -> None:
        self.kube = kube
        self.force = force_conflicts
        self.may_write = may_write
        """Asked before every object: False stops the batch (:class:`Fenced`)."""
        self.newer = newer
        """``newer(live_revision, own_revision)``: leave the live object alone when True."""
        self.own_writes = own_writes

    def describe(self) -> str:
        return f"kube:{self.kube.host}"

    def emit(self, plan: Plan) -> EmitResult:
        """Apply ``plan`` now: :meth:`stage` and :meth:`commit` in one go."""
        if plan.refused:
            result = EmitResult(self.describe())
            result.refused = plan.refused
            return result
        staged, result = self.stage(plan)
        return self.commit(staged, result)

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]:
        """Pass 1: each emitting site's write list, compressed; nothing is sent.

        The list is what :meth:`commit` needs and no more: per object, in apply order
        (creates and updates by render rank, then deletions in reverse), its key, the
        body to apply, the revisions the newer-commit rule compares and, for a delete,
        the two fields :class:`OwnWrites` keeps. A 10 000-site run thus holds a few
        compressed bytes per site between the passes, not every rendered object.
        """
        result = EmitResult(self.describe())
        staged: list[Staged] = []
        for site in plan.emitting():
            result.site(site.site)
            pending = sorted(site.pending(), key=_rank)
            ops: list[list[Any]] = []
            for change in [c for c in pending if c.action in ("create", "update")]:
                ops.append(_op("apply", change, plan.revision))
            for change in reversed([c for c in pending if c.action == "delete"]):
                ops.append(_op("delete", change, plan.revision))
            body = json.dumps(ops, separators=(",", ":"))
            staged.append(
                Staged(
                    site.site,
                    site.gate == "removed",
                    written=sum(1 for o in ops if o[0] == "apply"),
                    deleted=sum(1 for o in ops if o[0] == "delete"),
                    payload=DICTIONARIES.pack("write list", body.encode()),
                )
            )
        return staged, result

    def recover(self) -> list[str]:
        """Nothing to finish: a staged run lives in this process only, never in the cluster."""
        return []

    def discard(self, staged: Iterable[Staged]) -> None:
        """Drop staged sites: nothing was sent, so nothing is undone."""

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult:
        """Pass 2: apply each staged site's write list, in order; counts go into ``result``.

        Every object is fenced and checked against the newer-commit rule here, at the
        moment it is sent, as :meth:`emit` always did; one site's failure never stops
        the others, a lost Lease stops the batch (:class:`Fenced`).
        """
        result = result or EmitResult(self.describe())
        for item in staged:
            res = result.site(item.site)
            ops = json.loads(DICTIONARIES.unpack(item.payload)) if item.payload else []
            for op in ops:
                self._send(res, *op)
        return result

    def _send(
        self,
        res: SiteResult,
        verb: str,
        key: list[str],
        body: dict[str, Any] | None,
        live_rev: str,
        own_rev: str,
        last: dict[str, Any] | None,
    ) -> None:
        api_version, kind, namespace, name = key
        what = describe_key((api_version, kind, namespace, name))
        resource = resource_for(api_version, kind)
        if resource is None or (verb == "apply" and body is None):
            word = "apply" if verb == "apply" else "delete"
            res.errors.append(f"{what}: gitops-edge cannot {word} kind {api_version}/{kind}")
            return
        if self.may_write is not None and not self.may_write():
            raise Fenced(f"lost the Lease (renew deadline passed): stopped before {what}")
        newer = self.newer
        if (
            newer is not None
            and live_rev
            and own_rev
            and live_rev != own_rev
            and newer(live_rev, own_rev)
        ):
            res.superseded += 1
            return
        try:
            if verb == "apply":
                assert body is not None
                written = self.kube.apply(body, resource, force=self.force, guard=self.may_write)
                res.written += 1
                if self.own_writes is not None and isinstance(written, dict):
                    self.own_writes.wrote(written)
            else:
                self.kube.delete(resource, name, namespace=namespace or None, guard=self.may_write)
                res.deleted += 1
                if self.own_writes is not None and last is not None:
                    self.own_writes.deleted((api_version, kind, namespace, name), last)
        except Refused as exc:
            raise Fenced(f"lost the Lease while {what} waited: {exc}") from None
        except KubeError as exc:
            hint = (
                " (another field manager owns a field; fix the conflict or apply with --force-conflicts)"
                if verb == "apply" and exc.status == 409
                else ""
            )
            res.errors.append(f"{what}: {exc}{hint}")


def _op(verb: str, change: ObjectChange, revision: str) -> list[Any]:
    """One entry of a staged write list (see :meth:`KubeSink.stage`)."""
    last: dict[str, Any] | None = None
    if verb == "delete" and change.live is not None:
        md = change.live.get("metadata") or {}
        last = {
            "metadata": {
                "labels": {SITE_LABEL: (md.get("labels") or {}).get(SITE_LABEL) or ""},
                "resourceVersion": md.get("resourceVersion") or "",
            }
        }
    body = change.desired if verb == "apply" else None
    own = revision_of(change.desired) or revision
    return [verb, list(change.key), body, revision_of(change.live), own, last]
