"""One reconcile of an ops repo into a sink, in bounded memory: what ``apply`` runs.

The plain way (load every site, render every site, plan, emit) holds the whole fleet
at once: at 10 000 sites that is every spec, every rendered object and every live
copy, well over a gigabyte. With a sink that can stage (``capabilities.stages``, a
:class:`~gitops_edge.emit.protocol.StagingSink`: the directory, git and kube sinks),
the run is cut into chunks of sites instead, each loaded, rendered, planned and
*staged* (written where no reader looks, or for the cluster kept as a compressed
write list) and then dropped; only a light plan of each site (actions, object keys,
gates; no bodies) is kept. The run-wide rules still see the whole run before anything
changes: waves are gated over the merged light plans (a wave is held by sites of
other chunks, so chunks are planned ungated, see
:func:`gitops_edge.plan.waves.gate_waves`), the mass-deletion guard is applied to the
merged plan, and only then are the sites that emit committed (a site a wave holds
back, or a whole refused run, is discarded). The light plans carry everything waves
count (gate, done, failed, pending actions), so the gated plan is the one the plain
way makes.

Chunks are independent, so a large cold run of a sink that allows it
(``capabilities.parallel``: the directory sink) spreads them over worker processes
(``jobs``; default: one per CPU when there are more than :data:`PARALLEL_MIN_SITES`
sites). Each worker stages its own sites through a copy of the sink; the parent
merges the light plans in site order, so the plan, the report and every byte written
are the same as in-process, and the same as the plain way. Other staging sinks
stage every chunk in this process against one live snapshot (``live``, e.g. the
daemon's informers, or one :meth:`~gitops_edge.emit.protocol.StagingSink.snapshot`).

Sinks that cannot stage, and runs of named sites, take the plain way; which way is
decided by the sink's declared capabilities, never by its type.
A run of named sites (``apply --site``, or an incremental ``apply``) loads only those
sites: the others are checked for clashes by what they claim, taken from ``known``
(the sink's record of an earlier run, for the sites unchanged since) or, for the rest,
read by a light scan of their files (:func:`~gitops_edge.specs.repo.scan_identities`).
With ``expand`` (an incremental run), a site that clashes with a named one is planned
too, as the invalid site a full run would report. A named run that removes a site
loads every site unless all the others are known clean from the record, because a
removal goes out only in a run in which every site loaded cleanly; so does one into
a sink that reports outcomes (waves wait for the waves before them: every site),
unless the record holds every other site's ``standing``, what waves read of it
(:mod:`gitops_edge.plan.standing`).
Either way the fleet is checked as a whole (two sites sharing a cluster id, a host or
an edge node are both invalid) and a site is removed only in a run in which every
site loaded cleanly: the staged way collects each chunk's light identities for that.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitops_edge.emit.protocol import (
    Sink,
    Staged,
    StagingSink,
    add_notes,
    capability_notes,
    staging,
)
from gitops_edge.emit.result import EmitResult
from gitops_edge.federation.unregistration import CleanupHold
from gitops_edge.live.state import LiveState, read_as_asked
from gitops_edge.plan.model import ObjectChange, Plan, SitePlan
from gitops_edge.plan.planner import guard_deletions, make_plan
from gitops_edge.plan.standing import Standing, standing_of
from gitops_edge.plan.waves import gate_waves
from gitops_edge.specs.fleet import Identity, clashes, identity_of, with_clashes
from gitops_edge.specs.repo import RepoIndex, RepoSpec, index_repo, load_sites, scan_identities
from gitops_edge.specs.sites import Site, SiteDir
from gitops_edge.specs.yamlsafe import DEFAULT_LIMITS, Limits

CHUNK = 500
"""Sites per chunk: enough to amortise a worker round trip, few enough to stay small."""
PARALLEL_MIN_SITES = 200
"""Below this, starting worker processes costs more than it saves."""


def plan_against(repo: RepoSpec, live: LiveState, **kw: Any) -> Plan:
    """:func:`~gitops_edge.plan.planner.make_plan` of ``repo`` against ``live``, with what
    it asks that ``live`` does not hold read first (:func:`~gitops_edge.live.state.read_as_asked`).

    How every caller plans: the pipeline here, ``plan``, ``status`` and the daemon's
    batches. The planner reads nothing; the reads it names happen in this call, at the edge.
    """
    return read_as_asked(lambda lv: make_plan(repo, lv, **kw), live)


@dataclass(frozen=True)
class Summary:
    """What a reconcile did, for reports: the plan (object bodies dropped) and its shape."""

    plan: Plan
    sites: int
    """Sites planned (removed sites included)."""
    chunks: int = 1
    jobs: int = 1
    staged: bool = False
    """True when the run was staged chunk by chunk (a sink that can stage)."""
    identities: tuple[Identity, ...] = ()
    """What the sites this run loaded claim in the fleet (for the sink's record)."""
    standing: tuple[Standing, ...] = ()
    """What waves read of the sites this run loaded (for the sink's record)."""


def reconcile(
    repo_root: Path,
    sink: Sink,
    *,
    revision: str,
    sites: Iterable[str] | None = None,
    known: Mapping[str, Identity] | None = None,
    standing: Mapping[str, Standing] | None = None,
    expand: bool = False,
    chunk: int = CHUNK,
    jobs: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[int], Callable[[int], None]] | None = None,
    hold_cleanup: CleanupHold | None = None,
    live: LiveState | None = None,
    before_commit: Callable[[], None] | None = None,
    index: RepoIndex | None = None,
) -> tuple[Summary, EmitResult]:
    """Plan ``repo_root`` (or only ``sites``) against ``sink`` and emit; see the module doc.

    ``known``: what the sites not named claim in the fleet, from a record that says
    they are in sync and loaded cleanly, and ``standing`` what waves read of them;
    ``expand``: plan the sites that clash with a named one too (see the module doc).
    ``jobs`` None means one worker per CPU for a large run; 1 means in this process.
    ``progress(total)``, when given, returns a callback told how many more sites are done.
    ``hold_cleanup``: federation's veto on eggo cleanups (see :func:`make_plan`).
    ``live`` is the live state to plan against (default: the sink's own). ``before_commit``
    is called once the run passed its guards, right before anything is written; what
    it raises stops the run with nothing written (a daemon that lost its Lease).
    ``index``: the repo's index when the caller already made it (of the same checkout,
    with the same ``limits``), so the tree is walked once.
    """
    if index is None:
        index = index_repo(repo_root, limits=limits)
    wanted = None if sites is None else set(sites)
    dirs = list(index.dirs)
    stager = staging(sink)
    if wanted is not None:
        summary, result = _named(
            index, sink, wanted, known, expand, revision, limits, progress,
            live=live, before_commit=before_commit, hold_cleanup=hold_cleanup,
            standing=standing or {},
        )  # fmt: skip
    elif stager is None:
        tick = None if progress is None else progress(len(dirs))
        repo = load_sites(index, limits=limits, progress=tick and (lambda: tick(1)))
        plan = plan_against(
            repo,
            sink.read_live() if live is None else live,
            revision=revision,
            hold_cleanup=hold_cleanup,
        )
        if before_commit is not None and not plan.refused:
            before_commit()
        summary = Summary(
            plan, len(plan.sites), identities=_identities(repo.sites), standing=_stood(repo.sites)
        )
        result = sink.emit(plan)
    else:
        tick = None if progress is None else progress(len(dirs))
        summary, result = _staged(
            index, dirs, stager, revision, chunk, jobs, limits, tick, live, before_commit,
            hold_cleanup,
        )  # fmt: skip
    add_notes(result, capability_notes(summary.plan, sink.capabilities, sink.describe()))
    return summary, result


def _named(
    index: RepoIndex,
    sink: Sink,
    wanted: set[str],
    known: Mapping[str, Identity] | None,
    expand: bool,
    revision: str,
    limits: Limits,
    progress: Callable[[int], Callable[[int], None]] | None,
    *,
    live: LiveState | None,
    before_commit: Callable[[], None] | None,
    hold_cleanup: CleanupHold | None,
    standing: Mapping[str, Standing],
) -> tuple[Summary, EmitResult]:
    """Plan and emit only ``wanted``, loading only them (and, with ``expand``, their clashes)."""
    live = sink.read_live(sites=wanted) if live is None else live
    ids = index.ids
    known = known or {}
    removes = any(sid not in ids for sid in wanted if sid in live.objects)
    unknown = ids - wanted - set(known)  # neither named nor known clean: scanned, not validated
    # A removal needs every site to have loaded cleanly, and waves gated on live
    # outcomes need every other site's standing and progress: both load the whole
    # repo, unless the record holds what they need.
    unstood = sink.capabilities.reports_outcomes and not ids - wanted <= set(standing)
    if (removes and unknown) or unstood:
        chosen = list(index.dirs)
    else:
        chosen = [d for d in index.dirs if d.id in wanted]
    tick = None if progress is None else progress(len(chosen))
    repo = load_sites(index, chosen, limits=limits, progress=tick and (lambda: tick(1)))
    loaded = {s.id for s in repo.sites}
    others = [i for sid, i in known.items() if sid not in loaded and sid in ids]
    rest = unknown - loaded
    if rest:
        others += scan_identities(index, ids - rest, limits=limits)
    own = _identities(repo.sites)
    found = clashes([*own, *others])
    extra = {sid for sid in found if sid not in loaded} if expand else set()
    if extra:  # planned as the invalid sites a full run would show
        more = load_sites(index, [d for d in index.dirs if d.id in extra], limits=limits)
        repo = replace(repo, sites=(*repo.sites, *more.sites))
        own += _identities(more.sites)
        others = [i for i in others if i.site not in extra]
        wanted |= extra
    repo = replace(repo, sites=tuple(with_clashes(repo.sites, found)))
    fleet = [i for i in (*own, *others) if i.site not in found]
    plan = plan_against(
        repo, live, revision=revision, sites=wanted, fleet=fleet, hold_cleanup=hold_cleanup,
        standing={sid: st for sid, st in standing.items() if sid in ids},
    )  # fmt: skip
    if before_commit is not None and not plan.refused:
        before_commit()
    kept = tuple(i for i in own if i.site not in found)
    stood = _stood(s for s in repo.sites if s.id not in found)
    summary = Summary(plan, len(plan.sites), identities=kept, standing=stood)
    return summary, sink.emit(plan)


def _identities(sites: Iterable[Site]) -> tuple[Identity, ...]:
    return tuple(i for i in map(identity_of, sites) if i is not None)


def _stood(sites: Iterable[Site]) -> tuple[Standing, ...]:
    return tuple(st for st in map(standing_of, sites) if st is not None)


@dataclass(frozen=True)
class _Task:
    index: RepoIndex
    dirs: tuple[SiteDir, ...]
    sink: StagingSink
    revision: str
    limits: Limits
    live: LiveState | None = None
    """The run's live snapshot, for a chunk staged in this process (None: read its own)."""
    hold_cleanup: CleanupHold | None = None


@dataclass(frozen=True)
class _Done:
    sites: tuple[SitePlan, ...]
    staged: tuple[Staged, ...]
    result: EmitResult
    identities: tuple[Identity, ...] = ()
    """What the chunk's valid sites claim in the fleet (cluster id, IPs, nodeName)."""
    standing: tuple[Standing, ...] = ()


def _staged(
    index: RepoIndex,
    dirs: list[SiteDir],
    sink: StagingSink,
    revision: str,
    chunk: int,
    jobs: int | None,
    limits: Limits,
    tick: Callable[[int], None] | None = None,
    live: LiveState | None = None,
    before_commit: Callable[[], None] | None = None,
    hold_cleanup: CleanupHold | None = None,
) -> tuple[Summary, EmitResult]:
    sink.recover()
    if live is None:
        live = sink.snapshot()
    slim = replace(index, dirs=())  # each task carries its own sites, not all of them
    spans = range(0, len(dirs), max(1, chunk))
    workers = _jobs(jobs, len(dirs), len(spans)) if sink.capabilities.parallel else 1
    here = live if workers <= 1 else None  # a worker reads its own snapshot
    tasks = [
        _Task(slim, tuple(dirs[i : i + chunk]), sink, revision, limits, here, hold_cleanup)
        for i in spans
    ]
    planned: list[SitePlan] = []
    staged: list[Staged] = []
    identities: list[Identity] = []
    stood: list[Standing] = []
    result = EmitResult(sink.describe())
    for done in _run(tasks, workers):
        planned.extend(done.sites)
        staged.extend(done.staged)
        identities.extend(done.identities)
        stood.extend(done.standing)
        result.sites.update(done.result.sites)
        if tick is not None:
            tick(len(done.sites))
    # The fleet as a whole, now that every chunk is in: sites that share a cluster id, a
    # host or an edge node are invalid, and what they staged is dropped.
    found = clashes(identities)
    if found:
        sink.discard(s for s in staged if s.site in found)
        staged = [s for s in staged if s.site not in found]
        for site_id in found:
            result.sites.pop(site_id, None)
        planned = [
            SitePlan(
                s.site, s.wave, "invalid", f"{len(found[s.site])} problem(s): {found[s.site][0]}"
            )
            if s.site in found
            else s
            for s in planned
        ]
        identities = [i for i in identities if i.site not in found]
    # Sites whose directory is gone: planned like make_plan does, against the same repo
    # problems (a broken repo removes nothing) and only when every site loaded cleanly.
    removed = sorted(set(live.objects) - index.ids)
    no_sites = load_sites(index, [], limits=limits)
    clean = not no_sites.problems and not any(s.gate == "invalid" for s in planned)
    rest = plan_against(
        no_sites,
        live,
        revision=revision,
        sites=removed,
        fleet=identities,
        fleet_clean=clean,
        waves=False,
        hold_cleanup=hold_cleanup,
    )
    removals, more, result_removed = _light(rest, sink)
    planned.extend(removals)
    staged.extend(more)
    result.sites.update(result_removed.sites)
    # Waves over the whole run, then the deletion guard: what make_plan does for a
    # fleet planned at once, here over the light plans of every chunk.
    gated, current = gate_waves(
        planned,
        max_failures=no_sites.settings.spec.rollout.maxFailures,
        feedback=live.has_nodes,
    )
    plan = Plan(revision, tuple(gated), current_wave=current, problems=rest.problems)
    plan = guard_deletions(plan, no_sites.settings.spec.prune.maxDeletions)
    stood = [st for st in stood if st.site not in found]
    summary = Summary(
        plan, len(plan.sites), len(tasks), workers, True, tuple(identities), tuple(stood)
    )
    if plan.refused:
        sink.discard(staged)
        refused = EmitResult(sink.describe())
        refused.refused = plan.refused
        return summary, refused
    # A site a wave holds back was staged like any other: drop it, and what its stage said.
    emitting = {s.site for s in plan.emitting()}
    sink.discard(s for s in staged if s.site not in emitting)
    staged = [s for s in staged if s.site in emitting]
    for site_id in [s for s in result.sites if s not in emitting]:
        del result.sites[site_id]
    if before_commit is not None:
        try:
            before_commit()
        except BaseException:
            sink.discard(staged)
            raise
    return summary, sink.commit(staged, result)


def _jobs(jobs: int | None, sites: int, tasks: int) -> int:
    if jobs is None:
        jobs = (os.cpu_count() or 1) if sites > PARALLEL_MIN_SITES else 1
    return max(1, min(jobs, tasks))


def _run(tasks: Sequence[_Task], workers: int) -> Iterator[_Done]:
    """Each task's result, in task order, from this process or a pool of ``workers``."""
    if workers <= 1:
        yield from map(_run_chunk, tasks)
        return
    # fork is cheap and this process holds nothing big yet; a process with other
    # threads running (the daemon) must not fork, so it spawns.
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        yield from pool.map(_run_chunk, tasks)


def _run_chunk(task: _Task) -> _Done:
    """Load, render, plan and stage one chunk of sites; returns the light outcome."""
    sink = task.sink
    repo = load_sites(task.index, task.dirs, limits=task.limits)
    live = sink.snapshot() if task.live is None else task.live
    ids = [d.id for d in task.dirs]
    plan = plan_against(
        repo, live.reading(ids), revision=task.revision, sites=ids, waves=False,
        hold_cleanup=task.hold_cleanup,
    )  # fmt: skip
    sites, staged, result = _light(plan, sink)
    return _Done(sites, staged, result, _identities(repo.sites), _stood(repo.sites))


def _light(
    plan: Plan, sink: StagingSink
) -> tuple[tuple[SitePlan, ...], tuple[Staged, ...], EmitResult]:
    """Stage what ``plan`` emits, then drop the object bodies from its site plans.

    Site plans are staged whatever the chunk's own deletion count and ungated by
    waves: the guard and the waves that count are the ones over the whole run.
    """
    staged, result = sink.stage(replace(plan, refused=""))
    sites = tuple(replace(s, changes=tuple(_bare(c) for c in s.changes)) for s in plan.sites)
    return sites, tuple(staged), result


def _bare(change: ObjectChange) -> ObjectChange:
    """The change without its bodies, its strings shared: a run keeps one per live object
    (90 000 at 10 000 sites), and apiVersion, kind, namespace and reason repeat."""
    api, kind, ns, name = change.key
    key = (sys.intern(api), sys.intern(kind), sys.intern(ns), name)
    return ObjectChange(change.action, key, None, None, sys.intern(change.reason))
