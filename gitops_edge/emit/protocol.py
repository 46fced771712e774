"""What every sink is, and what it says it can do: one protocol, declared capabilities.

The reconcile pipeline, the daemon and the commands never ask *which* sink they hold
(no type tests); they ask what it can do:

* ``reports_outcomes``: the sink's live state has nodes, Job and Application status
  and edge acks (the cluster). Waves wait for the wave before them and an offline
  edge is deferred. A directory or a branch reports nothing back, so every wave goes
  at once there, and the run's report says so (:func:`capability_notes`).
* ``stages``: the sink can write a run chunk by chunk where no reader looks and swap
  it in (or drop it) once the whole run passed its guards: a :class:`StagingSink`.
  Such a run holds one chunk at a time; the others are planned whole. Every sink
  gitops-edge ships stages: a directory into ``.tmp-<site>``, a branch into its
  clone's work tree (one commit at the end), the cluster into a compressed write list
  per site that is applied only once the whole run is known.
* ``parallel``: a staging sink whose chunks may be staged in worker processes, each
  through a pickled copy that reads its own :meth:`StagingSink.snapshot` (a directory
  listing). The cluster's live state is one round of lists (or the daemon's
  informers), so its chunks are staged in one process against one snapshot.
* ``keeps_history``: past eggo runs (Jobs and their ConfigMaps) stay as records; a
  directory keeps only the newest run. The planner reads this from the live state
  (``LiveState.has_nodes``), which each sink sets from the same capabilities.
* ``exclusive``: the sink is one work tree (a directory, a clone), so its reads and
  writes must not overlap: the daemon uses it from one worker at a time.
* ``records``: the sink keeps a record of the commit it was last brought to (and what
  a one-shot ``apply`` needs to start from there: :mod:`gitops_edge.record`), and can
  tell when something else changed it since: a :class:`RecordingSink`.

Sinks live in :mod:`gitops_edge.emit` and are independent of each other (an import
contract in ``pyproject.toml``): they share only this protocol and the one site layout,
:func:`gitops_edge.render.output.dump_site`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

from gitops_edge.emit.result import EmitResult
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan


@dataclass(frozen=True)
class Capabilities:
    reports_outcomes: bool
    """Live feedback (nodes, run outcomes): waves enforced, offline edges deferred."""
    stages: bool
    """Stage a run chunk by chunk, then commit or discard it whole (:class:`StagingSink`)."""
    keeps_history: bool
    """Past eggo runs stay live as records (a directory keeps only the newest)."""
    exclusive: bool
    """One work tree: reads and writes must not overlap."""
    parallel: bool = True
    """A staged run may stage its chunks in worker processes (see the module doc)."""
    records: bool = False
    """Keeps the record of the last run (:class:`RecordingSink`): ``apply`` can be incremental."""


@dataclass(frozen=True)
class Staged:
    """One site of a staged run: written where no reader looks, or to be removed."""

    site: str
    remove: bool
    written: int = 0
    deleted: int = 0
    payload: bytes = field(default=b"", repr=False)
    """What the sink needs to commit the site, opaque to the caller: the kube sink's
    compressed write list (the directory sink stages into files and keeps nothing)."""


@runtime_checkable
class Sink(Protocol):
    """Where a plan's changes go; also what it already holds, as live state to plan against."""

    @property
    def capabilities(self) -> Capabilities: ...

    def describe(self) -> str: ...

    def read_live(
        self, *, now: datetime | None = None, sites: Collection[str] | None = None
    ) -> LiveState:
        """What the sink holds, as live state; ``sites``: the sites the caller plans.

        A sink that lists what it holds may list only ``sites`` up front and the rest
        on first use (:func:`gitops_edge.live.snapshot.read_live`); one whose reads are
        lazy already (the file sinks) ignores it.
        """
        ...

    def emit(self, plan: Plan) -> EmitResult: ...


class StagingSink(Sink, Protocol):
    """A sink with ``capabilities.stages``: a run in two passes, any number of processes.

    It must pickle (worker processes stage their own chunks through a copy of it).
    """

    def recover(self) -> list[str]:
        """Finish or undo what a crash interrupted; clear staged leftovers."""
        ...

    def snapshot(self, *, now: datetime | None = None) -> LiveState:
        """:meth:`read_live` without recovering: safe while other processes stage."""
        ...

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]: ...

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult: ...

    def discard(self, staged: Iterable[Staged]) -> None: ...


class RecordingSink(Sink, Protocol):
    """A sink with ``capabilities.records``: it keeps one opaque record for ``apply``.

    ``read_record`` answers None when there is none, or when the sink was changed by
    anything else since the record was written (then the record no longer describes
    what the sink holds).
    """

    def read_record(self) -> bytes | None: ...

    def write_record(self, data: bytes | None) -> str:
        """Keep ``data`` as the record (None: forget it); written after the run's writes.

        Returns "" or, when the sink could not keep it for a reason that is not an
        error of the run (the record's place does not exist), a note for the report.
        """
        ...


def recording(sink: Sink) -> RecordingSink | None:
    """``sink`` as a :class:`RecordingSink` when it declares it keeps a record, else None."""
    return cast(RecordingSink, sink) if sink.capabilities.records else None


def staging(sink: Sink) -> StagingSink | None:
    """``sink`` as a :class:`StagingSink` when it declares it can stage, else None."""
    return cast(StagingSink, sink) if sink.capabilities.stages else None


def capability_notes(plan: Plan, capabilities: Capabilities, sink: str) -> list[str]:
    """What the plan's report must say because of what the sink cannot do."""
    notes: list[str] = []
    waves = sorted({s.wave for s in plan.sites if s.in_repo})
    if not capabilities.reports_outcomes and len(waves) > 1:
        notes.append(
            f"waves not enforced: {sink} reports no run outcomes, so waves "
            f"{', '.join(map(str, waves))} are emitted at once (emit to kube for a wave-by-wave rollout)"
        )
    return notes


def add_notes(result: EmitResult, notes: Iterable[str]) -> EmitResult:
    """``notes`` appended to ``result.note`` (what the report prints after the counts)."""
    result.note = "; ".join(n for n in (result.note, *notes) if n)
    return result
