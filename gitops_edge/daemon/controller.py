"""One reconcile of a batch of queued sites, and the per-site memory between reconciles.

The same pure core as ``gitops-edge apply`` (load, plan, emit); what the daemon adds
is *which* sites and *when*:

* a batch of site keys plans only those sites (``ALL``: every site, removals too, in
  bounded memory: chunk by chunk through :func:`gitops_edge.reconcile.reconcile`,
  as ``apply`` does, with the waves and the deletion guard over the whole run);
* a site whose edge node is offline is deferred, not failed: it is remembered with
  its placement, and a node or lease event that brings a matching node online queues
  it again at once, instead of waiting for the next resync;
* the last reconciled commit moves only after a reconcile succeeded with nothing else
  pending, so the next diff starts from work that really reached the sink (a crash
  re-does work, never skips it);
* nothing raised by a reconcile kills a worker: it becomes a failure of the batch,
  which the queue retries with backoff.

Per-site state (gate, reason, last successful sync) feeds metrics and logs.

Waves advance on their own: after a reconcile that wrote something, the sites a wave
held back are re-planned at once (the kube sink remembers what it just wrote, so that
plan sees the applied wave even before the informer's event arrives). A change with
no Job or Application to report on (an edge-bundle ConfigMap) moves wave by wave in
seconds, not one wave per resync.

Logs stay proportional to what changed: one line per reconcile with counts and the
first few names, never the whole batch; repo problems (invalid sites, problems that
hold removals back) are logged once per commit at warning, with file and field, and
counted in ``gitops_edge_problems{kind}``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from gitops_edge.daemon.affected import affected_sites
from gitops_edge.daemon.deferred import DeferredSites
from gitops_edge.daemon.queue import ALL, WorkQueue
from gitops_edge.daemon.sitestate import SiteStates, SiteStatus
from gitops_edge.daemon.source import ForcePush, Source, SourceError, Update
from gitops_edge.emit.gitsink import GitSinkError
from gitops_edge.emit.kubesink import Fenced, OwnWrites
from gitops_edge.emit.protocol import Sink, add_notes, capability_notes, recording
from gitops_edge.emit.result import EmitResult
from gitops_edge.federation.holds import CleanupHolds
from gitops_edge.federation.loop import FederationLoop
from gitops_edge.incremental import full_run, plan_scope
from gitops_edge.live.cache import LiveCache
from gitops_edge.live.client import KubeError
from gitops_edge.live.progress import app_status, job_outcome
from gitops_edge.live.state import LiveState
from gitops_edge.observe.metrics import Metrics
from gitops_edge.plan.model import Plan
from gitops_edge.reconcile import Summary, plan_against, reconcile
from gitops_edge.record import after_run, keep, loads
from gitops_edge.render.context import placement
from gitops_edge.specs.repo import RepoSpec, SiteCache, index_repo, load_repo, load_sites

log = structlog.get_logger()


class NotLeader(Exception):
    """Leadership ended between planning and emitting."""


EXPECTED = (SourceError, KubeError, GitSinkError, OSError, NotLeader, Fenced)
"""Failures of the world (git, API, disk), logged without a traceback."""


LiveSink = Sink
"""Every sink reads back what it holds (:class:`gitops_edge.emit.protocol.Sink`)."""


SHOWN = 10
"""How many names a log line lists before it only counts."""


def few(names: Iterable[str], limit: int = SHOWN) -> list[str]:
    """The first ``limit`` names, and ``+N more`` for the rest: a log field, not a dump."""
    items = list(names)
    if len(items) <= limit:
        return items
    return [*items[:limit], f"+{len(items) - limit} more"]


@dataclass(frozen=True)
class Record:
    """What one reconcile did: for logs, and for tests that check a commit's cost."""

    revision: str
    batch: tuple[str, ...]
    planned: tuple[str, ...] = ()
    emitted: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()
    error: str = ""
    seconds: float = 0.0


class Controller:
    """Reconciles batches of site keys from ``queue`` into ``sink``; thread-safe."""

    def __init__(
        self,
        *,
        source: Source,
        sink: Sink,
        queue: WorkQueue,
        metrics: Metrics,
        live_cache: LiveCache | None = None,
        exclusive_sink: bool | None = None,
        sync_timeout: float = 60.0,
        may_write: Callable[[], bool] | None = None,
        edge_settle: float = 0.0,
        own_writes: OwnWrites | None = None,
        request_poll: Callable[[], object] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.queue = queue
        self.metrics = metrics
        self.live_cache = live_cache
        self.exclusive_sink = (
            sink.capabilities.exclusive if exclusive_sink is None else exclusive_sink
        )
        """File sinks (dir, git) hold one work tree: reads and writes of it never overlap
        (``capabilities.exclusive`` unless the caller says otherwise)."""
        self.sync_timeout = sync_timeout
        self.may_write = may_write
        """Checked just before emitting: a replica that lost its Lease must not write."""
        self.site_cache = SiteCache()
        self.states = SiteStates(metrics)
        self.records: deque[Record] = deque(maxlen=256)
        self.deferred = DeferredSites(settle=edge_settle)
        self.last: tuple[Plan, EmitResult] | None = None
        self.own_writes = own_writes
        """What the kube sink wrote and the informers may not show yet (laid over them)."""
        self.request_poll = request_poll
        """Asked when a live object comes from a newer commit than the one served."""
        self._loaded: tuple[str, RepoSpec] | None = None
        self._sink_lock = threading.Lock()
        self._reported: tuple[str, set[str]] = ("", set())
        """(revision, problems already logged for it): each is logged once per commit."""
        self._report_lock = threading.Lock()
        self.federation = FederationLoop.for_sink(
            sink,
            enqueue=lambda sites: self.queue.add_many(sites),
            reading=source.reading,
            may_write=lambda: self.may_write is None or self.may_write(),
        )
        """Karmada (``spec.federation.karmada.enabled``): see :mod:`gitops_edge.federation.loop`."""

    # -- reconcile -------------------------------------------------------------------

    def reconcile(self, batch: Collection[str]) -> set[str]:
        """Plan and emit ``batch``; returns the keys to retry (sites, or ALL)."""
        started = time.monotonic()
        keys = tuple(sorted(batch))
        sites = None if ALL in keys else keys
        revision = ""
        try:
            if sites is None:
                repo, plan, result, revision, live, holds = self._resync()
            else:
                repo, revision = self._load()
                live = self._live()
                # federation: a site still registered with Karmada is unregistered first
                holds = self.federation.holds(repo) if self.federation is not None else None
                plan = plan_against(
                    repo, live, revision=revision, sites=sites, hold_cleanup=holds
                )
                self._check_leader()
                if self.exclusive_sink:
                    with self._sink_lock:
                        result = self.sink.emit(plan)
                else:
                    result = self.sink.emit(plan)
                add_notes(
                    result, capability_notes(plan, self.sink.capabilities, self.sink.describe())
                )
        except Fenced as exc:
            error = str(exc)
            log.warning(
                "reconcile stopped: not the leader any more", revision=revision, error=error
            )
            self._finish(Record(revision, keys, failed=keys, error=error), started, ok=False)
            return set(keys)
        except EXPECTED as exc:
            error = str(exc) or type(exc).__name__
            log.error("reconcile failed", revision=revision, batch=few(keys), error=error)
            self._finish(Record(revision, keys, failed=keys, error=error), started, ok=False)
            return set(keys)
        except Exception as exc:  # a worker must survive any reconcile; the bug is logged
            error = f"internal error: {exc!r}"
            log.exception("reconcile crashed", revision=revision, batch=few(keys))
            self._finish(Record(revision, keys, failed=keys, error=error), started, ok=False)
            return set(keys)
        if self.federation is not None and holds is not None:
            # after the central plan is out: one federation pass (live read again only
            # then: a resync without informers must not list the whole cluster for it)
            live = live if live is not None else self._live()
            self.federation.after_emit(repo, plan, live, holds, batch=keys)
        failed = self._account(repo, plan, result, keys)
        self._report_problems(repo, plan)
        if result.superseded:
            log.warning(
                "live objects come from a newer commit; left alone",
                revision=revision,
                objects=result.superseded,
            )
            if self.request_poll is not None:
                self.request_poll()
        if plan.refused:
            log.error("plan refused", revision=revision, reason=plan.refused)
            failed = set(keys)
        self.last = (plan, result)
        record = Record(
            revision,
            keys,
            planned=tuple(s.site for s in plan.sites),
            emitted=tuple(s for s, r in sorted(result.sites.items()) if r.written or r.deleted),
            failed=tuple(sorted(failed)),
            deferred=tuple(s.site for s in plan.sites if s.gate == "deferred"),
            error=plan.refused,
        )
        self._finish(record, started, ok=not failed)
        if not failed and self.queue.idle(besides=keys):
            self.source.mark_reconciled(revision)
        if (result.written or result.deleted) and not plan.refused:
            self._advance_waves()
        return failed

    def _check_leader(self) -> None:
        if self.may_write is not None and not self.may_write():
            raise NotLeader("not the leader any more: nothing emitted")

    def _resync(
        self,
    ) -> tuple[RepoSpec, Plan, EmitResult, str, LiveState | None, CleanupHolds | None]:
        """Every site, in bounded memory: :func:`gitops_edge.reconcile.reconcile`.

        The run is planned and staged a chunk at a time, waves and the deletion guard
        over the whole run, exactly what ``apply`` does; the checkout is held still
        for the whole run (its chunks read it as they go). What comes back is the
        light plan (gates, actions, keys) and, for the bookkeeping that needs a site's
        spec (a deferred site's placement, an invalid site's problems), those sites
        alone, loaded again: never the whole fleet at once. With federation on, the
        federation pass that follows needs every site's spec (specs, not renders), so
        then the repo is loaded whole.
        """
        with self.source.reading() as (root, revision):
            if not root.is_dir():
                raise SourceError(f"the ops tree {root.name!r} is missing at {revision[:12]}")
            live = self._live() if self.live_cache is not None else None
            index = index_repo(root)
            holds = None
            if self.federation is not None:  # the settings decide; no site is loaded here
                holds = self.federation.holds(load_sites(index, []))
            with self._sink_lock if self.exclusive_sink else contextlib.nullcontext():
                summary, result = reconcile(
                    root,
                    self.sink,
                    revision=revision,
                    live=live,
                    before_commit=self._check_leader,
                    hold_cleanup=holds,
                    index=index,
                )
            plan = summary.plan
            self._keep_record(summary, result, index.settings_digest)
            if holds is not None:
                repo = load_repo(root, cache=self.site_cache)
            else:
                wanted = {s.site for s in plan.sites if s.gate in ("deferred", "invalid")}
                repo = load_sites(index, [d for d in index.dirs if d.id in wanted])
        return repo, plan, result, revision, live, holds

    def _keep_record(self, summary: Summary, result: EmitResult, settings: str) -> None:
        """After a full resync: the sink's record of the commit it was brought to.

        What a restarted daemon (:meth:`start_keys`) and a one-shot ``apply`` start from.
        Only a full run writes it; the batches after it leave it at its commit, which
        stays true: every change since is in the diff from there. A record that cannot
        be written is logged, never a failed reconcile (the next start is a full run).
        """
        keeper = recording(self.sink)
        plan = summary.plan
        if keeper is None or plan.refused or (self.may_write is not None and not self.may_write()):
            return
        record = after_run(
            plan,
            result,
            scope="full",
            settings=settings,
            identities=summary.identities,
            standing=summary.standing,
            previous=None,
        )
        try:
            note = keep(keeper, record)
            if note:
                log.warning("sink record not kept", revision=plan.revision, reason=note)
        except EXPECTED as exc:
            log.warning("sink record not kept", revision=plan.revision, error=str(exc))

    def start_keys(self) -> set[str]:
        """What the first reconcile after a start plans: ALL, or what changed since the record.

        When the sink's record names a commit that is an ancestor of the one served (and
        nothing else casts doubt: :func:`gitops_edge.incremental.plan_scope`), a
        restarted daemon plans only the sites changed since, plus those the record left
        out of sync, at once; the periodic resync (``--resync-interval``) still brings
        every site, repairs drift and fills in the states of the others. Anything else is
        a full reconcile now, as before.
        """
        keeper = recording(self.sink)
        try:
            with self.source.reading() as (root, revision):
                with self._sink_lock if self.exclusive_sink else contextlib.nullcontext():
                    record = loads(keeper.read_record()) if keeper is not None else None
                scope = (
                    plan_scope(root, revision, record, index_repo(root))
                    if record is not None
                    else full_run("the sink keeps no record of the commit it was brought to")
                )
        except EXPECTED as exc:
            scope = full_run(f"the sink's record cannot be read ({exc})")
        if scope.full or scope.sites is None:
            log.info("first reconcile: every site", reason=scope.line)
            return {ALL}
        log.info(
            "first reconcile: from the sink's record",
            scope=scope.line,
            sites=few(sorted(scope.sites)),
        )
        if not scope.sites:  # the sink is at this commit already: the next diff starts here
            self.source.mark_reconciled(revision)
        return set(scope.sites)

    def _advance_waves(self) -> None:
        """Something was applied: the sites a wave held back are planned again now.

        Their plan decides whether the wave before them is done (applied, and its Jobs
        and Applications finished where it has any); if not, they stay waiting and the
        next Job or Application event, or the next apply, asks again.
        """
        waiting = self.states.with_gate("waiting")
        if waiting:
            log.info("applied; re-planning sites waiting for a wave", sites=len(waiting))
            self.queue.add_many(waiting)

    def _report_problems(self, repo: RepoSpec, plan: Plan) -> None:
        """Invalid sites and repo problems: one warning each per commit, and the gauge."""
        invalid = [sp for sp in plan.sites if sp.gate == "invalid"]
        with self._report_lock:
            revision, seen = self._reported
            if revision != plan.revision:
                seen = set()
                self._reported = (plan.revision, seen)
            for sp in invalid:
                if sp.site in seen:
                    continue
                seen.add(sp.site)
                site = repo.site(sp.site)
                problems = [str(p) for p in site.problems] if site is not None else []
                log.warning(
                    "site invalid: nothing planned for it",
                    site=sp.site,
                    revision=plan.revision,
                    problems=few(problems or [sp.reason], 5),
                )
            repo_problems = list(plan.problems)
            if repo_problems and "" not in seen:
                seen.add("")
                log.warning(
                    "repo problems: removals held back until they are fixed",
                    revision=plan.revision,
                    count=len(repo_problems),
                    problems=few(repo_problems, 5),
                )
        self.metrics.problems.labels(kind="repo").set(len(plan.problems))
        self.metrics.problems.labels(kind="site").set(len(self.states.with_gate("invalid")))

    def _load(self) -> tuple[RepoSpec, str]:
        """The repo at the served commit; an immutable checkout is loaded once per commit."""
        with self.source.reading() as (root, revision):
            loaded = self._loaded
            if self.source.immutable and loaded is not None and loaded[0] == revision:
                return loaded[1], revision
            if not root.is_dir():
                raise SourceError(f"the ops tree {root.name!r} is missing at {revision[:12]}")
            repo = load_repo(root, cache=self.site_cache)
        keep = {id(s) for s in repo.sites}
        self.site_cache.entries = {
            k: v for k, v in self.site_cache.entries.items() if id(v) in keep
        }
        if self.source.immutable:
            self._loaded = (revision, repo)
        return repo, revision

    def _live(self) -> LiveState:
        if self.live_cache is not None:
            if not self.live_cache.wait_synced(self.sync_timeout):
                raise SourceError("the cluster's live state is not synced yet (informers)")
            state = self.live_cache.state()
            if self.own_writes is not None:
                state = replace(state, objects=self.own_writes.overlay(state.objects))
            return state
        if self.exclusive_sink:
            with self._sink_lock:
                return self.sink.read_live()
        return self.sink.read_live()

    def _account(
        self, repo: RepoSpec, plan: Plan, result: EmitResult, keys: tuple[str, ...]
    ) -> set[str]:
        """Per-site state, deferred sites, metrics; returns the sites that failed."""
        self.states.record(plan, result, full=ALL in keys)
        newly_deferred: list[str] = []
        for sp in plan.sites:
            site = repo.site(sp.site)
            if sp.gate == "deferred" and site is not None and site.spec is not None:
                if self.deferred.defer(sp.site, placement(site)):
                    newly_deferred.append(sp.site)
            else:
                self.deferred.release(sp.site)
        if newly_deferred and self.live_cache is not None:
            # a node may have come back between the plan's snapshot and now
            self._release(self.deferred.ready(self.live_cache, sites=newly_deferred))
        return {s for s, r in result.sites.items() if r.errors}

    def _finish(self, record: Record, started: float, *, ok: bool) -> None:
        seconds = time.monotonic() - started
        record = replace(record, seconds=round(seconds, 4))
        self.records.append(record)
        self.metrics.reconcile_seconds.labels(result="ok" if ok else "error").observe(seconds)
        self.metrics.queue_depth.set(self.queue.depth())
        log.info(
            "reconciled" if ok else "reconcile incomplete",
            revision=record.revision,
            batch=few(record.batch),
            planned=len(record.planned),
            emitted=few(record.emitted),
            failed=few(record.failed),
            counts={"emitted": len(record.emitted), "failed": len(record.failed)},
            seconds=record.seconds,
        )

    # -- events ----------------------------------------------------------------------

    def on_update(self, update: Update | ForcePush | None, *, first: bool = False) -> None:
        """A poll's outcome: queue the sites a new commit touches (ALL when unknown).

        ``first``: the poll made at start, before anything was reconciled: what the first
        reconcile plans is :meth:`start_keys`' answer, not ALL.
        """
        if isinstance(update, ForcePush):
            log.warning("commit refused", detail=update.describe(), revision=update.served)
            return
        if update is None:
            return
        keys = {ALL} if update.changes is None else set(affected_sites(update.changes))
        log.info(
            "new commit",
            revision=update.revision,
            previous=update.previous,
            forced=update.forced,
            paths=None if update.changes is None else len(update.changes),
            sites=few(sorted(keys)),
        )
        if first and update.changes is None:
            return
        if keys:
            self.queue.add_many(keys)
        elif self.queue.idle():
            self.source.mark_reconciled(update.revision)

    def on_paths(self, paths: Iterable[str]) -> None:
        """Files changed in a local tree (the file watcher): queue the sites they belong to."""
        paths = set(paths)
        keys = frozenset({ALL}) if ALL in paths else affected_sites(paths)
        if keys:
            log.info("files changed", sites=few(sorted(keys)))
            self.queue.add_many(keys)

    def on_node_event(self, kind: str, obj: dict[str, Any]) -> None:
        """A Node or node Lease changed: queue the deferred sites its node now serves.

        Runs on the informer thread for every heartbeat: returns at once when nothing
        is deferred, and otherwise classifies the one node the event is about.
        """
        if not self.deferred or self.live_cache is None or kind == "DELETED":
            return
        name = "" if kind == "SYNC" else str((obj.get("metadata") or {}).get("name") or "")
        if kind != "SYNC" and not name:
            return
        self._release(self.deferred.ready(self.live_cache, node=name or None), node=name)

    def on_progress(self, kind: str, obj: dict[str, Any]) -> None:
        """A Job finished, an Application's health settled, an edge acked: a wave may advance.

        Without this, sites waiting for an earlier wave would move only at the next full
        resync. Runs on the informer thread: cheap unless something is waiting.
        """
        if obj.get("kind") == "ObjectSync":
            if kind not in ("ADDED", "MODIFIED"):
                return
        elif kind != "MODIFIED":
            return
        elif obj.get("kind") == "Job":
            if job_outcome(obj) not in ("succeeded", "failed"):
                return
        elif obj.get("kind") == "Application":
            if app_status(obj)[1] not in ("Healthy", "Degraded"):
                return
        else:
            return
        if self.federation is not None:  # a finished eggo or federation Job: register now
            self.federation.on_job(obj)
        waiting = self.states.with_gate("waiting")
        if waiting:
            meta = obj.get("metadata") or {}
            # edge acks come one per object and node: only worth a debug line each
            say = log.debug if obj.get("kind") == "ObjectSync" else log.info
            say(
                "progress reported; re-planning waiting sites",
                kind=obj.get("kind"),
                name=meta.get("name"),
                sites=len(waiting),
            )
            self.queue.add_many(waiting)

    def _release(self, sites: list[str], *, node: str = "") -> None:
        if sites:
            log.info("edge node back online", node=node, sites=few(sites))
            self.queue.add_many(sites)

    # -- looking ---------------------------------------------------------------------

    def status(self, site: str) -> SiteStatus | None:
        """The site's gate, reason and last successful sync, as of its last reconcile."""
        return self.states.get(site)
