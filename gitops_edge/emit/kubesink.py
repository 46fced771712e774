"""``kube`` — server-side apply into the central API, as field manager ``gitops-edge``.

Objects are applied in render order (:func:`~gitops_edge.render.output.in_apply_order`:
the namespace, the edge bundle, eggo, the Applications; the order ``render`` numbers
files in) and deleted in reverse order. A conflict with another field manager is reported, not forced, unless the
operator asked for ``--force-conflicts``; one site's failure never stops the others.
Server-side apply is idempotent, so a run repeated after a crash converges without
duplicates.

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

import threading
import time
from collections.abc import Callable
from typing import Any

from gitops_edge.emit.result import EmitResult
from gitops_edge.labels import SOURCE_REVISION
from gitops_edge.live.client import KubeClient, KubeError, Refused
from gitops_edge.live.resources import resource_for
from gitops_edge.live.state import SITE_LABEL
from gitops_edge.plan.model import ObjectChange, Plan, obj_key
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
    delivers the event is repaired by its own relist, not by us).
    """

    def __init__(self, *, ttl: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[float, str, str, dict[str, Any] | None]] = {}
        """key -> (when, site, resourceVersion, object or None for a delete)."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def wrote(self, obj: dict[str, Any]) -> None:
        site = str(((obj.get("metadata") or {}).get("labels") or {}).get(SITE_LABEL) or "")
        with self._lock:
            self._entries[obj_key(obj)] = (self._clock(), site, _rv(obj), obj)

    def deleted(self, key: Key, last: dict[str, Any]) -> None:
        site = str(((last.get("metadata") or {}).get("labels") or {}).get(SITE_LABEL) or "")
        with self._lock:
            self._entries[key] = (self._clock(), site, _rv(last), None)

    def overlay(self, objects: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """``objects`` (site -> live objects, from the cache) with our newer writes laid over.

        Entries the cache has caught up with (or that are older than ``ttl``) are dropped.
        """
        now = self._clock()
        with self._lock:
            if not self._entries:
                return objects
            entries = dict(self._entries)
        out = dict(objects)
        done: list[Key] = []
        by_site: dict[str, dict[Key, dict[str, Any] | None]] = {}
        for key, (at, site, rv, obj) in entries.items():
            if now - at > self.ttl or not site:
                done.append(key)
                continue
            cached = next((o for o in objects.get(site, ()) if obj_key(o) == key), None)
            if obj is None:  # our delete
                if cached is None or (_caught_up(_rv(cached), rv) and _rv(cached) != rv):
                    done.append(key)  # gone from the cache, or re-created since
                    continue
            elif cached is not None and _caught_up(_rv(cached), rv):
                done.append(key)
                continue
            by_site.setdefault(site, {})[key] = obj
        for site, over in by_site.items():
            kept = [o for o in objects.get(site, ()) if obj_key(o) not in over]
            out[site] = kept + [o for o in over.values() if o is not None]
        if done:
            with self._lock:
                for key in done:
                    if self._entries.get(key) == entries[key]:
                        del self._entries[key]
        return out


class KubeSink:
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

    def _fence(self, change: ObjectChange) -> None:
        if self.may_write is not None and not self.may_write():
            raise Fenced(
                f"lost the Lease (renew deadline passed): stopped before {change.describe()}"
            )

    def _superseded(self, change: ObjectChange, revision: str) -> bool:
        live = revision_of(change.live)
        own = revision_of(change.desired) or revision
        if self.newer is None or not live or not own or live == own:
            return False
        return self.newer(live, own)

    def emit(self, plan: Plan) -> EmitResult:
        result = EmitResult(self.describe())
        if plan.refused:
            result.refused = plan.refused
            return result
        for site in plan.emitting():
            res = result.site(site.site)
            pending = sorted(site.pending(), key=_rank)
            for change in [c for c in pending if c.action in ("create", "update")]:
                api_version, kind, namespace, name = change.key
                resource = resource_for(api_version, kind)
                if resource is None or change.desired is None:
                    res.errors.append(
                        f"{change.describe()}: gitops-edge cannot apply kind {api_version}/{kind}"
                    )
                    continue
                self._fence(change)
                if self._superseded(change, plan.revision):
                    res.superseded += 1
                    continue
                try:
                    written = self.kube.apply(
                        change.desired, resource, force=self.force, guard=self.may_write
                    )
                    res.written += 1
                    if self.own_writes is not None and isinstance(written, dict):
                        self.own_writes.wrote(written)
                except Refused as exc:
                    raise Fenced(
                        f"lost the Lease while {change.describe()} waited: {exc}"
                    ) from None
                except KubeError as exc:
                    hint = (
                        " (another field manager owns a field; fix the conflict or apply with --force-conflicts)"
                        if exc.status == 409
                        else ""
                    )
                    res.errors.append(f"{change.describe()}: {exc}{hint}")
            for change in reversed([c for c in pending if c.action == "delete"]):
                api_version, kind, namespace, name = change.key
                resource = resource_for(api_version, kind)
                if resource is None:
                    res.errors.append(
                        f"{change.describe()}: gitops-edge cannot delete kind {api_version}/{kind}"
                    )
                    continue
                self._fence(change)
                if self._superseded(change, plan.revision):
                    res.superseded += 1
                    continue
                try:
                    self.kube.delete(
                        resource, name, namespace=namespace or None, guard=self.may_write
                    )
                    res.deleted += 1
                    if self.own_writes is not None and change.live is not None:
                        self.own_writes.deleted(change.key, change.live)
                except Refused as exc:
                    raise Fenced(
                        f"lost the Lease while {change.describe()} waited: {exc}"
                    ) from None
                except KubeError as exc:
                    res.errors.append(f"{change.describe()}: {exc}")
        return result
