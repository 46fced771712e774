"""The daemon's Prometheus metrics, in one object the daemon passes around.

Every metric lives in a registry owned by a :class:`Metrics` instance, never in
``prometheus_client``'s global one: tests build many daemons in one process, and a
library that registers globally at import time makes the second one fail with
"Duplicated timeseries".

Label values that are known in advance (results, site states, actions) are created at
construction, so a dashboard shows ``0`` rather than "no data" before the first event
and a ``rate()`` over a counter that starts late does not miss its first increments.

Memory is the documented scaling limit, so the registry also carries prometheus-client's
process (``process_resident_memory_bytes``, open fds, CPU), platform
(``python_info``) and garbage-collector (``python_gc_*``) collectors, and
``gitops_edge_build_info`` says which release a replica runs.

The fleet is also summarised without a ``site`` label (``gitops_edge_sites``,
``gitops_edge_wave_sites``, ``gitops_edge_sites_failed``, the oldest deferral), so
alerts and dashboards work with ``per_site=False`` (``--metrics-per-site=false``),
which drops the one per-site series for fleets where 10 000 of them cost more than
they tell.
"""

from __future__ import annotations

import contextlib
import platform
import re
import time
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from gitops_edge import __version__
from gitops_edge.plan.model import Plan, SitePlan

__all__ = [
    "ACTIONS",
    "HALTED",
    "RECONCILE_BUCKETS",
    "RESULTS",
    "SITE_STATES",
    "FleetRow",
    "Metrics",
    "site_state",
]

SITE_STATES = (
    "ready",
    "unchanged",
    "deferred",
    "blocked",
    "failed",
    "suspended",
    "invalid",
    "waiting",
    "removed",
)
"""The plan gates, with ``ready`` split: ``unchanged`` is ready with nothing to write."""
RESULTS = ("ok", "error")
PROBLEM_KINDS = ("site", "repo")
ACTIONS = ("create", "update", "delete")
RECONCILE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""A one-site reconcile takes well under a second; a full 10 000-site one, minutes."""


HALTED = re.compile(r"^wave (\d+) halted: ")
"""How :func:`gitops_edge.plan.waves.gate_waves` words the hold of a wave over its failures."""


class FleetRow(Protocol):
    """What the fleet-wide series need to know about one site (``SiteStatus`` has it)."""

    @property
    def state(self) -> str: ...
    @property
    def wave(self) -> int: ...
    @property
    def gate(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def error(self) -> str: ...
    @property
    def deferred_since(self) -> float | None: ...


def site_state(site: SitePlan) -> str:
    """The ``state`` label for one site of a plan."""
    if site.gate == "ready" and not site.pending():
        return "unchanged"
    return site.gate


class Metrics:
    """All gitops-edge series; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None, *, per_site: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.per_site = per_site
        reg = self.registry
        _process_collectors(reg)
        self.build_info = Gauge(
            "gitops_edge_build_info",
            "Always 1; the labels say which gitops-edge release and Python run this replica.",
            ["version", "python_version", "python_implementation"],
            registry=reg,
        )
        self.build_info.labels(
            version=__version__,
            python_version=platform.python_version(),
            python_implementation=platform.python_implementation(),
        ).set(1)
        self.reconcile_seconds = Histogram(
            "gitops_edge_reconcile_duration_seconds",
            "Time one reconcile took, from reading the source to the last emitted object.",
            ["result"],
            buckets=RECONCILE_BUCKETS,
            registry=reg,
        )
        self.queue_depth = Gauge(
            "gitops_edge_queue_depth",
            "Sites waiting in the work queue.",
            registry=reg,
        )
        self.sites_by_state = Gauge(
            "gitops_edge_sites",
            "Sites of the last plan by state (ready, unchanged, deferred, blocked, failed, "
            "suspended, invalid, waiting, removed); failed: the latest eggo run failed or eggo "
            "reported failed hosts (its last-successful-sync timestamp stops advancing).",
            ["state"],
            registry=reg,
        )
        self.git_errors = Counter(
            "gitops_edge_git_errors",
            "Failed fetches or reads of the ops repository.",
            registry=reg,
        )
        self.last_sync = Gauge(
            "gitops_edge_last_successful_sync_timestamp_seconds",
            "Unix time a site was last reconciled without error.",
            ["site"],
            registry=reg,
        )
        self.leader = Gauge(
            "gitops_edge_leader",
            "1 while this replica holds the leader Lease and reconciles, else 0.",
            registry=reg,
        )
        self.emitted_objects = Counter(
            "gitops_edge_emitted_objects",
            "Objects written to the sink, by action (create, update, delete).",
            ["action"],
            registry=reg,
        )
        self.emit_errors = Counter(
            "gitops_edge_emit_errors",
            "Site writes to the sink (Kubernetes API, git, directory) that failed.",
            registry=reg,
        )
        self.sites_failed = Gauge(
            "gitops_edge_sites_failed",
            "Sites whose last write to the sink failed.",
            registry=reg,
        )
        self.wave_sites = Gauge(
            "gitops_edge_wave_sites",
            "Sites by rollout wave and state (the states of gitops_edge_sites).",
            ["wave", "state"],
            registry=reg,
        )
        self.wave_current = Gauge(
            "gitops_edge_wave_current",
            "The rollout wave in progress (later waves wait for it); -1 when none is.",
            registry=reg,
        )
        self.wave_halted = Gauge(
            "gitops_edge_wave_halted",
            "1 while a wave has more failed sites than rollout.maxFailures and later waves "
            "are held, else 0.",
            registry=reg,
        )
        self.oldest_deferral = Gauge(
            "gitops_edge_oldest_deferral_timestamp_seconds",
            "Unix time the longest-deferred site was deferred (its edge node offline); "
            "0 when no site is deferred.",
            registry=reg,
        )
        self.wave_current.set(-1)
        self._wave_cells: set[tuple[str, str]] = set()
        # -- reliability (fencing, problems, API outages) ------------------------------
        self.problems = Gauge(
            "gitops_edge_problems",
            "Problems in the served commit: invalid sites (kind=site) and repo-level "
            "problems that hold removals back (kind=repo).",
            ["kind"],
            registry=reg,
        )
        for kind in PROBLEM_KINDS:
            self.problems.labels(kind=kind).set(0)
        # ---------------------------------------------------------------------------------
        for result in RESULTS:
            self.reconcile_seconds.labels(result=result)
        for state in SITE_STATES:
            self.sites_by_state.labels(state=state).set(0)
        for action in ACTIONS:
            self.emitted_objects.labels(action=action)

    def observe_plan(self, plan: Plan) -> None:
        """Set ``gitops_edge_sites{state}`` from ``plan``: every state, absent ones to 0."""
        counts = dict.fromkeys(SITE_STATES, 0)
        for site in plan.sites:
            state = site_state(site)
            counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            self.sites_by_state.labels(state=state).set(count)

    def observe_fleet(self, rows: Iterable[FleetRow], *, current_wave: int | None) -> None:
        """Set the label-free fleet summary from every site's last known status.

        ``current_wave`` is the last plan's: planned against the whole fleet's live
        state, so a one-site reconcile knows it as well as a full one.
        """
        by_wave: dict[tuple[str, str], int] = {}
        failed = 0
        halted = False
        oldest: float | None = None
        for row in rows:
            key = (str(row.wave), row.state)
            by_wave[key] = by_wave.get(key, 0) + 1
            failed += bool(row.error)
            halted = halted or (row.gate == "waiting" and HALTED.match(row.reason) is not None)
            since = row.deferred_since
            if row.gate == "deferred" and since is not None:
                oldest = since if oldest is None else min(oldest, since)
        # every (wave, state) once seen stays, at 0, so a drained cell reads 0, not "no data"
        for labels in list(self._wave_cells):
            if labels not in by_wave:
                self.wave_sites.labels(wave=labels[0], state=labels[1]).set(0)
        for (wave, state), n in by_wave.items():
            self.wave_sites.labels(wave=wave, state=state).set(n)
            self._wave_cells.add((wave, state))
        self.sites_failed.set(failed)
        self.wave_halted.set(1 if halted else 0)
        self.wave_current.set(-1 if current_wave is None else current_wave)
        self.oldest_deferral.set(0 if oldest is None else oldest)

    def mark_synced(self, site: str, at: float | None = None) -> None:
        """Record a site's successful reconcile (now, unless ``at`` is given)."""
        if self.per_site:
            self.last_sync.labels(site=site).set(time.time() if at is None else at)

    def forget_site(self, site: str) -> None:
        """Drop a removed site's series so 10 000 sites do not leave 10 000 ghosts behind."""
        with contextlib.suppress(KeyError):
            self.last_sync.remove(site)


def _process_collectors(registry: CollectorRegistry) -> None:
    """prometheus-client's process, platform and GC collectors, on ``registry``.

    The library registers one of each on its global registry at import; the daemon
    exposes its own registry only, so it gets fresh instances. ``ProcessCollector``
    reads ``/proc`` and exports nothing where there is none (macOS).
    """
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
