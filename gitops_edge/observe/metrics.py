"""The daemon's Prometheus metrics, in one object the daemon passes around.

Every metric lives in a registry owned by a :class:`Metrics` instance, never in
``prometheus_client``'s global one: tests build many daemons in one process, and a
library that registers globally at import time makes the second one fail with
"Duplicated timeseries".

Label values that are known in advance (results, site states, actions) are created at
construction, so a dashboard shows ``0`` rather than "no data" before the first event
and a ``rate()`` over a counter that starts late does not miss its first increments.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gitops_edge.plan.model import Plan, SitePlan

__all__ = ["ACTIONS", "RECONCILE_BUCKETS", "RESULTS", "SITE_STATES", "Metrics", "site_state"]

SITE_STATES = (
    "ready",
    "unchanged",
    "deferred",
    "blocked",
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


def site_state(site: SitePlan) -> str:
    """The ``state`` label for one site of a plan."""
    if site.gate == "ready" and not site.pending():
        return "unchanged"
    return site.gate


class Metrics:
    """All gitops-edge series; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
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
            "Sites of the last plan by state (ready, unchanged, deferred, blocked, suspended, "
            "invalid, waiting, removed).",
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

    def mark_synced(self, site: str, at: float | None = None) -> None:
        """Record a site's successful reconcile (now, unless ``at`` is given)."""
        self.last_sync.labels(site=site).set(time.time() if at is None else at)

    def forget_site(self, site: str) -> None:
        """Drop a removed site's series so 10 000 sites do not leave 10 000 ghosts behind."""
        with contextlib.suppress(KeyError):
            self.last_sync.remove(site)
