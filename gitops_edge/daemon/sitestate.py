"""What the daemon remembers per site between reconciles, and the metrics made from it.

A daemon reconciles a few sites at a time, but an operator asks about the fleet:
"which sites are deferred, and since when was Hebei last in sync?". So every
partial plan updates a per-site table, and the fleet-wide series
(``gitops_edge_sites{state}``) are computed from the table rather than from the last
plan, which may have held a single site. Removed sites are dropped, series included.

A site is logged when something happened to it (written, failed differently, newly
deferred), not on every resync that found it unchanged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import structlog

from gitops_edge.emit.result import EmitResult
from gitops_edge.observe.metrics import SITE_STATES, Metrics, site_state
from gitops_edge.plan.model import Plan

log = structlog.get_logger()

SYNCED_GATES = frozenset({"ready", "removed"})
"""Gates that count as a successful sync; ``failed`` is not one, whatever was written."""


@dataclass
class SiteStatus:
    gate: str = ""
    state: str = ""
    """The metrics ``state`` label: the gate, with ``ready`` and nothing to do as ``unchanged``."""
    reason: str = ""
    revision: str = ""
    last_sync: float | None = None
    """Wall-clock time of the last reconcile that left the site in sync with its commit."""
    error: str = ""
    wave: int = 0
    deferred_since: float | None = None
    """Wall-clock time the site was first deferred, this time round (None: not deferred)."""
    changes: int | None = None
    """Object changes of the last plan still not applied (0 once emitted without error)."""
    held: str = ""
    """The last plan's :attr:`~gitops_edge.plan.model.SitePlan.held`."""


class SiteStates:
    """Per-site status table; thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._by_site: dict[str, SiteStatus] = {}
        self._lock = threading.Lock()

    def get(self, site: str) -> SiteStatus | None:
        with self._lock:
            status = self._by_site.get(site)
            return None if status is None else replace(status)

    def with_gate(self, gate: str) -> list[str]:
        """Sites whose last plan left them at ``gate`` (e.g. ``waiting`` for a wave)."""
        with self._lock:
            return sorted(site for site, st in self._by_site.items() if st.gate == gate)

    def record(self, plan: Plan, result: EmitResult, *, full: bool) -> None:
        """Fold one plan and what the sink did with it into the table and the metrics."""
        now = time.time()
        with self._lock:
            for sp in plan.sites:
                status = self._by_site.setdefault(sp.site, SiteStatus())
                was_gate, was_error = status.gate, status.error
                status.gate, status.reason, status.revision = sp.gate, sp.reason, plan.revision
                status.state, status.wave = site_state(sp), sp.wave
                if sp.gate != "deferred":
                    status.deferred_since = None
                elif status.deferred_since is None:
                    status.deferred_since = now
                emitted = result.sites.get(sp.site)
                status.error = "; ".join(emitted.errors) if emitted else ""
                status.held = sp.held
                applied = sp.emits and not plan.refused and not status.error
                status.changes = 0 if applied else len(sp.pending())
                if status.error:
                    self.metrics.emit_errors.inc()
                    if status.error != was_error:  # a retry failing the same way is no news
                        log.warning(
                            "site failed", site=sp.site, revision=plan.revision, error=status.error
                        )
                    continue
                if sp.gate == "deferred" and was_gate != "deferred":
                    log.info(
                        "site deferred", site=sp.site, revision=plan.revision, reason=sp.reason
                    )
                if sp.gate not in SYNCED_GATES or plan.refused:
                    continue
                status.last_sync = now
                if emitted is not None and (emitted.written or emitted.deleted):
                    log.info(
                        "site synced",
                        site=sp.site,
                        revision=plan.revision,
                        written=emitted.written,
                        deleted=emitted.deleted,
                    )
                    for action, n in sp.counts().items():
                        if action != "unchanged" and n:
                            self.metrics.emitted_objects.labels(action=action).inc(n)
                if sp.gate == "removed":
                    del self._by_site[sp.site]
                    self.metrics.forget_site(sp.site)
                else:
                    self.metrics.mark_synced(sp.site, now)
            if full:
                self.metrics.observe_plan(plan)
            else:
                counts = dict.fromkeys(SITE_STATES, 0)
                for status in self._by_site.values():
                    counts[status.state] = counts.get(status.state, 0) + 1
                for state, n in counts.items():
                    self.metrics.sites_by_state.labels(state=state).set(n)
            self.metrics.observe_fleet(self._by_site.values(), current_wave=plan.current_wave)
