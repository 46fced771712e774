"""LiveState: one consistent value of what the central API says about the fleet.

A plain value, importable by the pure core (the planner, ``status``) without pulling in
the client: :mod:`gitops_edge.live.snapshot` builds it from the API, the file sinks
from their last render.

The planner reads a LiveState and nothing else, and a LiveState never reads inside it:
what a partial view was not given (another site's objects or nodes, every site's live
cluster) raises :class:`Unread`, which names how to read it. The caller, at the edge,
reads that (:func:`read_as_asked`) and plans again, so every plan is made against one
value, read before the planner ran.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from gitops_edge.labels import EGGO_POD_SELECTOR
from gitops_edge.labels import MANAGED_SELECTOR as MANAGED_BY
from gitops_edge.labels import SITE as SITE_LABEL
from gitops_edge.live.inventory import EdgeNode

__all__ = [
    "EGGO_POD_SELECTOR",
    "MANAGED_BY",
    "SITE_LABEL",
    "Holding",
    "LiveState",
    "Unread",
    "group_by_site",
    "read_as_asked",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Holding:
    """A live eggo cluster of one site: its id and its machines' IPs."""

    site: str
    cluster_id: str
    ips: frozenset[str]


@dataclass(frozen=True)
class LiveState:
    """What the cluster holds: edge nodes, gitops-edge's objects per site, ObjectSync acks."""

    observed_at: datetime
    nodes: dict[str, EdgeNode] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    syncs: dict[str, str] = field(default_factory=dict)
    has_nodes: bool = True
    """False when the source cannot see nodes (a directory sink): no edge gates apply."""
    run_reports: dict[str, str] = field(default_factory=dict)
    """eggo's own summary per run, ``<namespace>/<job>`` -> the eggo container's
    termination message (see :func:`gitops_edge.live.progress.run_reports`)."""
    scope: frozenset[str] | None = None
    """The sites whose objects were read, None for the whole fleet: asking about the
    rest raises :class:`Unread` (:class:`gitops_edge.live.snapshot.PartialSites`), so a
    reader that can do without them (waves, :func:`gitops_edge.plan.planner.make_plan`)
    should not ask."""
    holdings: tuple[Holding, ...] | None = None
    """Every site's live eggo cluster, indexed from :attr:`objects` at the edge when a
    plan asks (:func:`gitops_edge.plan.holders.index_holdings`); None until then."""

    def site_objects(self, site_id: str) -> list[dict[str, Any]]:
        return self.objects.get(site_id, [])

    def reading(self, sites: Collection[str]) -> LiveState:
        """This state with the objects of ``sites`` read now, before a plan asks for them.

        A source that reads a site on access (:class:`LazySites` over files) would
        otherwise read inside the planner; sites already in memory stay as they are.
        """
        objects = self.objects
        if isinstance(objects, LazySites):
            read = objects.read_now(sites)
            if read is not objects:
                return replace(self, objects=read)
        return self


class Unread(LookupError):
    """A live view was asked what it has not read (a partial read, a lazy source).

    ``read`` turns the state the question was asked of into one that holds the
    answer; it does I/O, so only the caller of the planner calls it
    (:func:`read_as_asked`), never the planner.
    """

    def __init__(self, what: str, read: Callable[[LiveState], LiveState]) -> None:
        super().__init__(f"not read: {what}")
        self.what = what
        self.read = read


ROUNDS = 4
"""Reads :func:`read_as_asked` makes at most: the rest of a partial read, then every
site's live cluster, then the rest of a lazy source, with one to spare."""


def read_as_asked(plan: Callable[[LiveState], T], live: LiveState) -> T:
    """``plan(live)``, reading what it asks beyond ``live`` here and calling it again.

    ``plan`` is pure (the planner): what it asks that ``live`` does not hold raises
    :class:`Unread`, and the read it names runs here, between two calls, so a plan is
    made against one state from start to end. A read may itself need another (every
    site's live cluster, of a partial read: the rest of the fleet first).
    """
    for _ in range(ROUNDS):
        try:
            return plan(live)
        except Unread as need:
            live = _read(need, live)
    return plan(live)


def _read(need: Unread, live: LiveState) -> LiveState:
    for _ in range(ROUNDS):
        try:
            return need.read(live)
        except Unread as first:
            live = first.read(live)
    return need.read(live)


_LAZY: list[dict[str, Any]] = []
"""The placeholder a :class:`LazySites` keeps for a site read on demand (by identity)."""


class LazySites(dict[str, list[dict[str, Any]]]):
    """Site id -> its live objects, each site's read only when asked for, and not kept.

    The keys are known up front; ``[]``/``get``/``values``/``items`` call
    :meth:`_read` for a site on every access (a site set with ``[]=`` is kept as set),
    so a planner going through 10 000 sites one at a time holds one site's objects at
    a time. Subclasses say where a site's objects come from: the files of a render
    (:class:`gitops_edge.emit.dirsink.SitesOnDisk`) or the informers' compressed cache
    (:class:`gitops_edge.live.cache.PackedSites`).
    """

    reads_files = False
    """True for a source whose reads are I/O: the planner does not read it, it asks
    for :meth:`LiveState.reading` first (:func:`gitops_edge.plan.planner.make_plan`)."""

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__(dict.fromkeys(names, _LAZY))

    def _read(self, site_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def held(self, site_id: str) -> list[dict[str, Any]] | None:
        """What is kept for ``site_id`` (set, or read by :meth:`read_now`), None if nothing."""
        value = dict.get(self, site_id, _LAZY)
        return None if value is _LAZY else value

    def __getitem__(self, site_id: str) -> list[dict[str, Any]]:
        value = dict.__getitem__(self, site_id)
        return self._read(site_id) if value is _LAZY else value

    def get(self, site_id: str, default: Any = None) -> Any:
        return self[site_id] if dict.__contains__(self, site_id) else default

    def values(self) -> Iterator[list[dict[str, Any]]]:  # type: ignore[override]
        return (self[k] for k in self)

    def items(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:  # type: ignore[override]
        return ((k, self[k]) for k in self)

    def __iter__(self) -> Iterator[str]:
        # Defined so that dict(x), {**x} and friends go through __getitem__ rather than
        # copying the placeholders (CPython copies directly only when __iter__ is dict's).
        return dict.__iter__(self)

    def copy(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self.items())

    def read_now(self, sites: Collection[str]) -> LazySites:
        """This mapping with ``sites`` read (see :meth:`LiveState.reading`).

        Unchanged here: a site read on access from memory (the informers' packed
        copies) is no I/O, and holding one site at a time keeps a run small. A source
        that reads files says otherwise (:class:`gitops_edge.emit.dirsink.SitesOnDisk`).
        """
        return self

    def each(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every site and its objects, read one at a time (for a caller at the edge)."""
        return self.items()

    def lazy_copy(self) -> LazySites:
        """A copy that reads lazily too: setting a site in it leaves this one as it is."""
        out = self.__class__.__new__(self.__class__)
        dict.update(out, dict.items(self))
        out.__dict__.update(self.__dict__)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and dict(self.items()) == dict(other.items())

    __hash__ = None


class Dictionaries:
    """Preset deflate dictionaries for :func:`pack`, learnt from what is packed.

    One live object alone deflates poorly (~2x): the field names and the values every
    object of its kind repeats are new to a fresh compressor each time. A preset
    dictionary that holds one object of each kind already seen takes those repeats out
    (the generated fleet's objects pack ~3x smaller again, at about the same cost).
    The first object of a kind not seen yet extends the dictionary, as a new version
    (kept; a blob names its version in its first byte), so blobs never need repacking.
    Versions live in this process only: packed bytes are not for another process.
    """

    SAMPLE = 4096
    """Bytes of a first object of its kind taken into the dictionary."""
    WINDOW = 32768
    """deflate's window: a dictionary longer than this is cut from the front."""
    VERSIONS = 255

    def __init__(self) -> None:
        self.versions: list[bytes] = [b""]
        """Version 0 is the empty start the first kind extends; no blob names it."""
        self._families: set[str] = set()
        self._lock = threading.Lock()

    def version_for(self, family: str, data: bytes) -> int:
        """The dictionary to pack ``data`` with, extended first if ``family`` is new."""
        if family not in self._families and len(self.versions) < self.VERSIONS:
            with self._lock:
                if family not in self._families and len(self.versions) < self.VERSIONS:
                    self.versions.append((self.versions[-1] + data[: self.SAMPLE])[-self.WINDOW :])
                    self._families.add(family)
        return len(self.versions) - 1

    def pack(self, family: str, data: bytes) -> bytes:
        version = self.version_for(family, data)
        deflate = zlib.compressobj(1, zdict=self.versions[version])
        return bytes((version,)) + deflate.compress(data) + deflate.flush()

    def unpack(self, blob: bytes) -> bytes:
        inflate = zlib.decompressobj(zdict=self.versions[blob[0]])
        return inflate.decompress(blob[1:]) + inflate.flush()


DICTIONARIES = Dictionaries()
"""This process's dictionaries: the informers, the own-writes record and the kube sink's
staged write lists pack through them."""


def pack(obj: dict[str, Any]) -> bytes:
    """One object as compact JSON, deflated against its kind (:class:`Dictionaries`).

    As Python dicts an applied object costs several times its JSON; 90 000 of them (a
    10 000-site fleet) would be most of the daemon's memory. Packed, the informers and
    the record of the daemon's own writes hold bytes, and a reconcile unpacks one site
    at a time (:class:`~gitops_edge.live.cache.PackedSites`).
    """
    data = json.dumps(obj, separators=(",", ":")).encode()
    return DICTIONARIES.pack(str(obj.get("kind") or ""), data)


def unpack(blob: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(DICTIONARIES.unpack(blob))
    return value


def site_of_object(obj: dict[str, Any]) -> str:
    """The site a live object belongs to: its ``gitops-edge.io/site`` label ("" if none)."""
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(SITE_LABEL) or "")


def group_by_site(objs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        site = site_of_object(obj)
        if site:
            out.setdefault(site, []).append(obj)
    return out
