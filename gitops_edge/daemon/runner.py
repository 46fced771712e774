"""Assemble the daemon and run it: source, sink, queue, controller, triggers, HTTP, Lease.

The runner owns lifecycles, nothing else. Reconciling is switched on and off as a
unit (``_activate`` / ``_deactivate``) because leadership comes and goes: only the
leader polls, watches and writes, while every replica serves ``/healthz``,
``/readyz`` and ``/metrics`` and stays ready, so a rolling update never leaves the
Service without endpoints. The elector's callbacks run on its renewal thread and
must return at once, so they only *ask*; the main thread makes the switch (joining
workers can take a reconcile's time).

Shutdown (SIGTERM/SIGINT): stop the triggers, let each worker finish the batch in
flight, stop the informers, and only then release the Lease, so the next leader
never overlaps with our last write; exit 0.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, cast

import structlog
from prometheus_client import CollectorRegistry

from gitops_edge.daemon.config import RunOptions, open_sink, open_source
from gitops_edge.daemon.controller import Controller
from gitops_edge.daemon.fleetpage import FleetPage, runner_snapshot
from gitops_edge.daemon.http import WEBHOOK, DaemonHTTP
from gitops_edge.daemon.leader import LeaderElector
from gitops_edge.daemon.localtree import LocalSource
from gitops_edge.daemon.queue import ALL, WorkQueue
from gitops_edge.daemon.source import ForcePush, SourceError, Update
from gitops_edge.daemon.triggers import (
    Poller,
    Schedule,
    TreeWatcher,
    TriggerMetrics,
    webhook_handler,
)
from gitops_edge.emit.kubesink import OwnWrites
from gitops_edge.live.cache import LiveCache
from gitops_edge.live.client import KubeClient
from gitops_edge.observe.metrics import Metrics
from gitops_edge.sinks import SinkSpecError

if TYPE_CHECKING:
    from gitops_edge.sinks import KubeLive

log = structlog.get_logger()

TICK = 0.25
"""Longest time the main loop goes without looking at a stop requested by a signal."""


class Runner:
    """One daemon: ``once()`` for a single full reconcile, ``run()`` until :meth:`stop`."""

    def __init__(
        self, opts: RunOptions, *, kube: KubeClient | None = None, metrics: Metrics | None = None
    ) -> None:
        if opts.leader_elect and kube is None:
            raise SinkSpecError("--leader-elect needs a cluster connection for its Lease")
        self.opts = opts
        self.kube = kube
        self.metrics = metrics or Metrics(CollectorRegistry(), per_site=opts.metrics_per_site)
        self.trigger_metrics = TriggerMetrics(self.metrics.registry)
        self.source = open_source(opts)
        self.sink = open_sink(opts, kube)
        self.queue = WorkQueue(backoff=opts.retry)
        own_writes: OwnWrites | None = None
        cluster = self._cluster()
        if cluster is not None:
            # every object write is fenced: the Lease deadline, then the newer commit
            own_writes = OwnWrites()
            cluster.sink.may_write = self._may_write
            cluster.sink.newer = getattr(self.source, "supersedes", None)
            cluster.sink.own_writes = own_writes
        self.controller = Controller(
            source=self.source,
            sink=self.sink,
            queue=self.queue,
            metrics=self.metrics,
            may_write=self._may_write,
            edge_settle=opts.edge_settle,
            own_writes=own_writes,
            request_poll=self._poll_soon,
        )
        self.http: DaemonHTTP | None = None
        self.elector: LeaderElector | None = None
        self.poller: Poller | None = None
        self.started = threading.Event()
        """Set once HTTP is up and election (or reconciling) has begun."""
        self._stop = threading.Event()
        self._signalled = False
        self._want = threading.Event()
        self._changed = threading.Event()
        self._active = False
        self._workers: list[threading.Thread] = []
        self._schedule: Schedule | None = None
        self._watcher: TreeWatcher | None = None
        self._live: LiveCache | None = None

    def _cluster(self) -> KubeLive | None:
        """The sink when it is the cluster, told by what it declares, not by its type.

        A sink that reports outcomes (nodes, run status) is the central API: its writes
        are fenced by the Lease and its live state is watched by informers.
        """
        return cast("KubeLive", self.sink) if self.sink.capabilities.reports_outcomes else None

    # -- one shot ------------------------------------------------------------------

    def once(self) -> set[str]:
        """One full reconcile into the sink; the keys that failed (empty: all good)."""
        # Nothing plans again after this one reconcile, so no write of it needs laying
        # over a later read: without a record, 90 000 writes are not kept in memory.
        cluster = self._cluster()
        if cluster is not None:
            cluster.sink.own_writes = None
        self.controller.own_writes = None
        update = self.source.prepare()
        if isinstance(update, ForcePush):
            log.warning("commit refused", detail=update.describe(), revision=update.served)
            if update.served == "":
                return {ALL}  # nothing verified to serve: reconcile nothing, delete nothing
        return self.controller.reconcile([ALL])

    # -- the daemon ----------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to shut down, from another thread."""
        self._stop.set()
        self._changed.set()

    def stop_from_signal(self) -> None:
        """Ask :meth:`run` to shut down, from a signal handler.

        A handler runs between two bytecodes of the main thread, possibly while that
        thread holds an Event's internal lock, so it only flips a flag; the main loop
        looks at it at least every :data:`TICK` seconds.
        """
        self._signalled = True

    def request_poll(self) -> bool:
        """Poll the remote soon; False when this replica is not reconciling."""
        poller = self.poller
        if not self._active or poller is None:
            return False
        poller.request(force=True)
        return True

    def _poll_soon(self) -> None:
        poller = self.poller
        if self._active and poller is not None:
            poller.request()

    @property
    def active(self) -> bool:
        return self._active

    def run(self) -> int:
        """Serve until :meth:`stop`; returns the exit status (0 after a clean shutdown)."""
        opts = self.opts
        self.http = DaemonHTTP(
            opts.host,
            opts.port,
            registry=self.metrics.registry,
            ready=lambda: self.started.is_set(),
            healthy=self._healthy,
            webhook=None if opts.webhook_port is None else (opts.webhook_host, opts.webhook_port),
        )
        if opts.webhook_secret:
            self.http.route(
                "POST",
                "/webhook",
                webhook_handler(
                    secret=opts.webhook_secret,
                    branch=opts.branch,
                    request_poll=self.request_poll,
                    metrics=self.trigger_metrics,
                ),
                listener=WEBHOOK,
            )
        else:
            log.warning(
                "webhooks disabled: no secret (--webhook-secret-file or GITOPS_EDGE_WEBHOOK_SECRET)"
            )
        if opts.fleet_page:  # read-only; belongs on the probes/metrics listener
            self.http.mount(FleetPage(runner_snapshot(self)).routes(credentials=opts.ui_basic_auth))
        self.http.start()
        elector_stop = threading.Event()
        elector_thread: threading.Thread | None = None
        if opts.leader_elect:
            assert self.kube is not None
            self.elector = LeaderElector(
                self.kube,
                namespace=opts.lease_namespace,
                name=opts.lease_name,
                identity=opts.identity or f"{socket.gethostname()}-{os.getpid()}",
                lease_duration=opts.lease_duration,
                renew_period=opts.renew_period,
            )
            elector_thread = threading.Thread(
                target=self.elector.run,
                args=(elector_stop,),
                kwargs={"on_started": self._lead, "on_stopped": self._follow},
                name="leader-election",
                daemon=True,
            )
            elector_thread.start()
        else:
            self._lead()
        self.started.set()
        log.info("daemon started", source=self.source.describe(), sink=self.sink.describe())
        try:
            while not self._stop.is_set():
                self._changed.wait(TICK)
                self._changed.clear()
                if self._stop.is_set() or self._signalled:
                    break
                if self._want.is_set() and not self._active:
                    self._activate()
                elif not self._want.is_set() and self._active:
                    self._deactivate()
        finally:
            log.info("stopping: finishing the work in flight")
            self._deactivate()
            elector_stop.set()
            if elector_thread is not None:
                elector_thread.join(opts.lease_duration + 5)
            self.http.stop()
            close = getattr(self.source, "close", None)
            if close is not None:
                close()
        log.info("daemon stopped")
        return 0

    def _lead(self) -> None:
        self._want.set()
        self._changed.set()

    def _follow(self) -> None:
        self._want.clear()
        self._changed.set()

    def _may_write(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def _healthy(self) -> bool:
        if not self._active:
            return True
        poller_ok = self.poller is None or self.poller.alive
        return poller_ok and all(w.is_alive() for w in self._workers)

    def _activate(self) -> None:
        opts = self.opts
        if self.queue.closed:
            self.queue = WorkQueue(backoff=opts.retry)
            self.controller.queue = self.queue
        cluster = self._cluster()
        if cluster is not None:
            own = self.controller.own_writes
            self._live = LiveCache(
                cluster.kube,
                on_node_event=self.controller.on_node_event,
                on_progress=self.controller.on_progress,
                # what the informers now show, the record of our own writes drops
                on_managed=None if own is None else own.seen,
            )
            self._live.start()
            self.controller.live_cache = self._live
        self.poller = Poller(
            self.source,
            on_update=self.controller.on_update,
            on_prepared=self._prepared,
            on_error=self._git_error,
            metrics=self.trigger_metrics,
        )
        self.poller.start()
        self._schedule = Schedule(
            poll=self.poller.request,
            resync=lambda: self.queue.add(ALL),
            poll_interval=opts.poll_interval,
            resync_interval=opts.resync_interval,
        )
        self._schedule.start()
        if isinstance(self.source, LocalSource) and self.source.root.is_dir():
            self._watcher = TreeWatcher(
                self.source.root, self.controller.on_paths, debounce=opts.debounce
            )
            self._watcher.start()
        self._workers = [
            threading.Thread(target=self._work, args=(self.queue,), name=f"worker-{i}", daemon=True)
            for i in range(max(1, opts.workers))
        ]
        for w in self._workers:
            w.start()
        self._active = True
        self.metrics.leader.set(1)
        log.info("reconciling", workers=len(self._workers), poll_interval=opts.poll_interval)

    def _deactivate(self) -> None:
        if not self._active:
            return
        self._active = False
        self.metrics.leader.set(0)
        if self._schedule is not None:
            self._schedule.stop()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self.poller is not None:
            self.poller.stop()
        self.queue.close()
        for w in self._workers:
            w.join()
        self._workers = []
        if self.controller.federation is not None:
            self.controller.federation.stop()
        if self._live is not None:
            self._live.stop()
            self._live = None
            self.controller.live_cache = None
        log.info("stopped reconciling")

    def _prepared(self, update: Update | ForcePush | None) -> None:
        """The first poll is done: reconcile what is checked out (every site, or what
        changed since the sink's record: :meth:`Controller.start_keys`)."""
        self.controller.on_update(update, first=True)
        if self.source.served is not None:
            self.queue.add_many(self.controller.start_keys())

    def _git_error(self, exc: SourceError) -> None:
        self.metrics.git_errors.inc()
        log.warning(
            "cannot read the ops repo; serving the last good commit",
            error=str(exc),
            revision=self.source.served,
            failures=getattr(self.source, "failures", None),
        )

    def _work(self, queue: WorkQueue) -> None:
        while True:
            batch = queue.get()
            if not batch:
                return
            failed: set[str] = set(batch)
            try:
                failed = self.controller.reconcile(batch)
            finally:
                queue.done(batch, failed=failed)
                self.metrics.queue_depth.set(queue.depth())
