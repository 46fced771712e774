"""What a sink keeps of its last ``apply``, so the next one can start from there (pure).

A one-shot ``apply`` may plan only the sites a commit touched when it knows three
things about the sink, kept together in one :class:`Record` the sink stores
(:class:`~gitops_edge.emit.protocol.RecordingSink`):

* ``revision``: the commit every site of the sink was brought to. Any site the run did
  not bring there (invalid, blocked, deferred, failed, a write error, a held-back
  removal, or one ``apply --site`` brought to another commit) is in ``pending`` and is
  planned again by the next run, whatever changed. A suspended site is where its
  commit says (nothing goes out for it), and un-suspending it changes its file.
* ``identities``: what each site claims in the fleet (cluster id, host IPs, edge node
  name; :class:`~gitops_edge.specs.fleet.Identity`), as loaded at ``revision``. A site
  whose ``cluster.yaml`` and ``edge/`` did not change since, under the same
  ``gitops-edge.yaml`` and the same shared bundle (otherwise the run is a full run), has
  the same identity now: its inputs are byte for byte the same. So the fleet-wide
  uniqueness check (:func:`~gitops_edge.specs.fleet.clashes`) of an incremental run
  needs to load only the changed sites and take the others from here.
* ``standing``: for the same sites and by the same argument, what waves read of each
  (:class:`~gitops_edge.plan.standing.Standing`: wave, suspend, edge node, eggo and
  Application counts), so an incremental run into a sink that reports outcomes gates
  its sites on the rest of the fleet without loading it.
* ``settings`` and ``problems``: the digest of ``gitops-edge.yaml`` and how many repo
  problems that run reported. A run with repo problems is followed by a full run:
  some (federation settings against a site) concern sites a later commit may not touch.

A run at a commit that is not a plain commit (uncommitted changes, no git) leaves the
sink in a state no commit describes: the record is dropped, and the next run is full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import Plan, SitePlan
from gitops_edge.plan.standing import Standing
from gitops_edge.specs.fleet import Identity

if TYPE_CHECKING:
    from gitops_edge.emit.protocol import RecordingSink

COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
"""A commit id as ``describe_revision`` gives it (SHA-1 or SHA-256 object names)."""
FORMAT = 2
"""Bumped when the layout changes: a record of another format is ignored (a full run)."""

RunKind = Literal["full", "incremental", "named"]
"""``full``: every site planned; ``incremental``: the sites changed since the record;
``named``: ``apply --site`` (the others stay at the record's revision)."""


@dataclass(frozen=True)
class Record:
    revision: str
    settings: str = ""
    problems: int = 0
    pending: frozenset[str] = frozenset()
    identities: Mapping[str, Identity] = field(default_factory=dict)
    standing: Mapping[str, Standing] = field(default_factory=dict)


def is_commit(revision: str) -> bool:
    """A plain commit id: what a record may name (not ``-dirty``, not ``unversioned``)."""
    return COMMIT.fullmatch(revision) is not None


def dumps(record: Record) -> bytes:
    doc = {
        "format": FORMAT,
        "revision": record.revision,
        "settings": record.settings,
        "problems": record.problems,
        "pending": sorted(record.pending),
        "sites": {
            sid: [
                i.file,
                i.cluster_id,
                [list(h) for h in i.hosts],
                i.node_name,
                _standing_doc(record.standing.get(sid)),
            ]
            for sid, i in sorted(record.identities.items())
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _standing_doc(st: Standing | None) -> list[Any] | None:
    if st is None:
        return None
    selector = None if st.node_selector is None else dict(st.node_selector)
    return [st.wave, st.suspended, st.eggo, st.applications, st.node_name, selector, st.arch]


def _standing(sid: str, doc: Any) -> Standing | None:
    if doc is None:
        return None
    wave, suspended, eggo, apps, node, selector, arch = doc
    pairs = (
        None if selector is None else tuple(sorted((str(k), str(v)) for k, v in selector.items()))
    )
    return Standing(
        sid, int(wave), bool(suspended), bool(eggo), int(apps), str(node), pairs, str(arch)
    )


def loads(data: bytes | None) -> Record | None:
    """The record in ``data``; None when there is none or it cannot be read whole."""
    if not data:
        return None
    try:
        doc: Any = json.loads(data)
        if doc.get("format") != FORMAT or not is_commit(str(doc["revision"])):
            return None
        identities = {
            str(sid): Identity(
                str(sid),
                str(file),
                str(cluster),
                tuple((str(ip), str(p)) for ip, p in hosts),
                str(node),
            )
            for sid, (file, cluster, hosts, node, _st) in doc["sites"].items()
        }
        standing = {
            str(sid): st
            for sid, entry in doc["sites"].items()
            if (st := _standing(str(sid), entry[4])) is not None
        }
        return Record(
            str(doc["revision"]),
            str(doc["settings"]),
            int(doc["problems"]),
            frozenset(str(s) for s in doc["pending"]),
            identities,
            standing,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def in_sync(site: SitePlan, result: EmitResult) -> bool:
    """The run left ``site`` exactly as its plan's commit says (nothing to redo later)."""
    errors = result.sites.get(site.site)
    if errors is not None and errors.errors:
        return False
    if site.gate == "removed":
        return site.emits  # a held-back removal is still to do
    if site.gate == "suspended":
        return True  # what its commit says: nothing goes out until its file changes
    if site.gate != "ready" or site.held:
        return False
    return not site.pending() or site.emits


def after_run(
    plan: Plan,
    result: EmitResult,
    *,
    scope: RunKind,
    settings: str,
    identities: Iterable[Identity],
    standing: Iterable[Standing] = (),
    previous: Record | None,
) -> Record | None:
    """The record to keep after a run; None to keep none (the next run is full).

    ``identities`` and ``standing``: of the sites this run loaded (every site for a full run).
    """
    if plan.refused:
        return previous  # nothing was written
    if not is_commit(plan.revision):
        return None
    planned = {s.site for s in plan.sites}
    unsynced = {s.site for s in plan.sites if not in_sync(s, result)}
    fresh = {i.site: i for i in identities}
    stand = {st.site: st for st in standing if st.site in fresh}
    if scope == "full":
        return Record(
            plan.revision, settings, len(plan.problems), frozenset(unsynced), fresh, stand
        )
    if previous is None:
        return None
    if scope == "named":  # brought to another commit than the rest: planned again next time
        same = plan.revision == previous.revision
        pending = (previous.pending | planned) - (planned - unsynced if same else set())
        return Record(
            previous.revision,
            previous.settings,
            previous.problems,
            frozenset(pending),
            previous.identities,
            previous.standing,
        )
    # an incremental run planned every pending site too, so what is pending now is new
    kept = {sid: i for sid, i in previous.identities.items() if sid not in planned}
    kept.update(fresh)
    held = {sid: st for sid, st in previous.standing.items() if sid not in planned}
    held.update(stand)
    return Record(plan.revision, settings, len(plan.problems), frozenset(unsynced), kept, held)


def keep(keeper: RecordingSink, record: Record | None) -> str:
    """Store ``record`` (None: forget it) in ``keeper`` unless it holds those bytes already.

    Returns the sink's note when it could not keep it (:meth:`RecordingSink.write_record`).
    Read back first: a run that changed nothing leaves the record, and a directory's
    stamp, as they were.
    """
    data = None if record is None else dumps(record)
    if keeper.read_record() == data:
        return ""
    return keeper.write_record(data)
