"""The daemon's federation step: after each central reconcile, one federation pass.

The controller (:mod:`gitops_edge.daemon.controller`) makes three small calls here:

* :meth:`FederationLoop.holds` before planning: the ``hold_cleanup`` veto the planner
  asks before it starts an eggo cleanup (:func:`~.unregistration.cleanup_hold` on the
  Cluster from the watched :class:`~.view.KarmadaView`); a site still registered with
  Karmada is unregistered first;
* :meth:`FederationLoop.after_emit` once the central plan is emitted: the
  unregistration step for each site whose cleanup was held, then
  :func:`~.overview.federation_pass` with ``apply=True`` (registrations, labels,
  ``federation/`` and the removal of what left it);
* :meth:`FederationLoop.stop` when the replica stops reconciling.

Credentials come from the Secret ``spec.federation.karmada.kubeconfigSecret`` names,
read at every pass: replacing the Secret rotates them, the next pass reconnects (and
restarts the view) without a restart of the daemon. While karmada-apiserver cannot be
read, or the view has not listed it yet, every eggo cleanup waits: whether the site is
still registered is not known, and a cleanup cannot be undone.

A failure of the federation side never fails the central reconcile (the province
clusters' own state is already written); it is logged with its cause and the next
reconcile or Karmada event tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from gitops_edge.daemon.queue import ALL
from gitops_edge.federation.documents import FederationDocs, load_federation
from gitops_edge.federation.holds import CleanupHolds
from gitops_edge.federation.karmada import (
    client_from_kubeconfig,
    kubeconfig_from_secret,
    reconcile_unregistration,
)
from gitops_edge.federation.labels import federated
from gitops_edge.federation.overview import FederationReport, federation_pass
from gitops_edge.federation.registration import FEDERATION_LABEL
from gitops_edge.federation.unregistration import Unregistration
from gitops_edge.federation.view import KarmadaView
from gitops_edge.live.client import KubeClient, KubeError, RetryPolicy
from gitops_edge.live.inventory import now_utc
from gitops_edge.live.state import LiveState
from gitops_edge.plan.eggo_lifecycle import eggo_runs
from gitops_edge.plan.model import Plan
from gitops_edge.problems import Problem
from gitops_edge.render import meta
from gitops_edge.specs.repo import RepoSpec

log = structlog.get_logger()


@dataclass
class _Connection:
    config_digest: str
    karmada: KubeClient
    kubeconfig: dict[str, Any]
    view: KarmadaView
    stop: threading.Event


class FederationLoop:
    """Karmada for the daemon: a client, a watched view and one pass per reconcile."""

    def __init__(
        self,
        central: KubeClient,
        *,
        enqueue: Callable[[set[str]], None],
        reading: Callable[[], Any] | None = None,
        may_write: Callable[[], bool] | None = None,
        retry: RetryPolicy | None = None,
        sync_timeout: float = 10.0,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.central = central
        self.enqueue = enqueue
        self.reading = reading
        """The source's ``reading()``: the ops tree held still while ``federation/`` is read."""
        self.may_write = may_write
        """Asked before the pass writes: a replica that lost its Lease must not."""
        self.retry = retry
        self.sync_timeout = sync_timeout
        self.clock = clock
        self.last: FederationReport | None = None
        self.unregistrations: list[Unregistration] = []
        self._conn: _Connection | None = None
        self._error = ""
        self._lock = threading.Lock()

    @classmethod
    def for_sink(
        cls,
        sink: object,
        *,
        enqueue: Callable[[set[str]], None],
        reading: Callable[[], Any],
        may_write: Callable[[], bool] | None = None,
    ) -> FederationLoop | None:
        """The loop for a daemon whose sink is the central cluster (None for dir/git sinks)."""
        central = getattr(sink, "kube", None)
        if not isinstance(central, KubeClient):
            return None
        return cls(central, enqueue=enqueue, reading=reading, may_write=may_write)

    # -- connection ----------------------------------------------------------------

    def _connect(self, repo: RepoSpec) -> _Connection | None:
        """The connection for the repo's settings (None: federation is off); may raise."""
        settings = repo.settings.spec.federation.karmada
        if not settings.enabled:
            self._disconnect()
            return None
        config = kubeconfig_from_secret(self.central, settings)
        digest = meta.digest(config)
        with self._lock:
            conn = self._conn
            if conn is not None and conn.config_digest == digest:
                return conn
            if conn is not None:
                log.info("karmada-apiserver credentials changed: reconnecting")
                conn.stop.set()
                conn.view.interrupt()
            karmada = client_from_kubeconfig(config, retry=self.retry)
            view = KarmadaView(karmada, on_change=self.enqueue)
            stop = threading.Event()
            view.start(stop)
            self._conn = _Connection(digest, karmada, config, view, stop)
            return self._conn

    def _disconnect(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.stop.set()
            conn.view.interrupt()

    def stop(self) -> None:
        """Stop watching karmada-apiserver (the replica stopped reconciling)."""
        self._disconnect()

    def on_job(self, obj: dict[str, Any]) -> None:
        """A Job finished (informer thread): the site of an eggo or federation Job is queued.

        An eggo deploy that succeeded is what a registration waits for; a finished
        registration or unregistration Job is a state to report. Without this they would
        wait for the next resync. Only while federation is connected.
        """
        if self._conn is None or obj.get("kind") != "Job":
            return
        labels = (obj.get("metadata") or {}).get("labels") or {}
        site = labels.get(meta.SITE)
        if site and (labels.get(meta.COMPONENT) == "eggo-run" or FEDERATION_LABEL in labels):
            self.enqueue({str(site)})

    # -- the planner's veto --------------------------------------------------------

    def holds(self, repo: RepoSpec) -> CleanupHolds | None:
        """The ``hold_cleanup`` for this reconcile's plan; None when federation is off."""
        if not repo.settings.spec.federation.karmada.enabled:
            self._disconnect()
            return None
        try:
            conn = self._connect(repo)
        except KubeError as exc:
            self._error = str(exc)
            log.error("cannot connect to karmada-apiserver", error=self._error)
            return CleanupHolds(reason_unknown=f"karmada-apiserver cannot be read ({exc})")
        assert conn is not None
        if not conn.view.wait_synced(self.sync_timeout):
            return CleanupHolds(reason_unknown="karmada-apiserver has not been listed yet")
        if not conn.view.clusters.served:
            return CleanupHolds(
                reason_unknown="the server in the karmada kubeconfig does not serve "
                "clusters.cluster.karmada.io (is it karmada-apiserver?)"
            )
        return CleanupHolds(view=conn.view)

    # -- after the central plan went out ---------------------------------------------

    def concerns(self, repo: RepoSpec, batch: Iterable[str]) -> bool:
        """Whether a reconcile of ``batch`` runs a federation pass (any federated site)."""
        keys = set(batch)
        if ALL in keys:
            return True
        settings = repo.settings
        return any(s.id in keys and federated(s, settings) for s in repo.valid_sites) or any(
            repo.site(k) is None for k in keys
        )

    def after_emit(
        self,
        repo: RepoSpec,
        plan: Plan,
        live: LiveState,
        holds: CleanupHolds | None,
        *,
        batch: Iterable[str] = (ALL,),
    ) -> FederationReport | None:
        """Unregister held sites, then one federation pass; never raises a KubeError."""
        if holds is None or plan.refused or not self.concerns(repo, batch):
            return None
        if self.may_write is not None and not self.may_write():
            return None  # leadership ended since the plan: the next leader runs the pass
        try:
            conn = self._connect(repo)
            if conn is None:
                return None
            self.unregistrations = [self._unregister(conn, repo, site, live) for site in holds.held]
            for u in self.unregistrations:
                log.info("karmada unregistration", site=u.site, state=u.state, detail=u.detail)
            docs = self._docs(repo, plan)
            report = federation_pass(
                self.central,
                conn.karmada,
                conn.kubeconfig,
                repo,
                live,
                now=self.clock(),
                apply=True,
                revision=plan.revision,
                docs=docs,
                deleting=plan.deletions(),
            )
        except KubeError as exc:
            log.error("federation step failed; retried at the next reconcile", error=str(exc))
            return None
        except Exception:  # the central reconcile is done: a federation bug must not undo it
            log.exception("federation step crashed; retried at the next reconcile")
            return None
        self.last = report
        self._log(report)
        return report

    def _docs(self, repo: RepoSpec, plan: Plan) -> FederationDocs:
        """``federation/`` at the plan's commit, read while the source holds the tree still.

        A repo with problems, or with a site that did not load, gives a federation with
        a problem: nothing is applied or removed, since a policy's wave holds are built
        from the sites that loaded, and a site missing from them would be released.
        """
        invalid = [s.id for s in repo.sites if not s.valid]
        if plan.problems or invalid:
            why = plan.problems[0] if plan.problems else f"site {invalid[0]} is invalid"
            return FederationDocs(
                problems=(
                    Problem(
                        "federation",
                        "",
                        f"not applied while the repo has problems ({why}); fix them first",
                    ),
                )
            )
        revision = plan.revision
        if self.reading is None:
            return load_federation(repo.root)
        with self.reading() as (root, served):
            if served != revision:
                # a newer commit is checked out: its reconcile comes next; remove nothing now
                return FederationDocs(
                    problems=(
                        Problem("federation", "", f"commit {served[:12]} replaced {revision[:12]}"),
                    )
                )
            return load_federation(root)

    def _unregister(
        self, conn: _Connection, repo: RepoSpec, site: str, live: LiveState
    ) -> Unregistration:
        objs = live.site_objects(site)
        runs = eggo_runs(objs, assume_success=False, reports=live.run_reports)
        namespace = str(runs[-1].job["metadata"].get("namespace") or "") if runs else ""
        image = repo.settings.spec.federation.karmada.registrationImage or {}
        images = image if isinstance(image, str) else {str(k): v for k, v in image.items()}
        return reconcile_unregistration(self.central, conn.karmada, site, namespace, objs, images)

    def _log(self, report: FederationReport) -> None:
        states: dict[str, int] = {}
        for s in report.sites:
            states[s.registration.state] = states.get(s.registration.state, 0) + 1
        log.info(
            "federation pass",
            registrations=states,
            applied=len(report.applied),
            removed=report.removal.removed[:10],
            released_through=report.released_through,
        )
        for line in [*report.conflicts, *report.problems]:
            log.warning("federation", detail=line)
        if report.removal.held and report.removal.stale:
            log.warning("federation removals held", detail=report.removal.held)
        for s in report.sites:
            if s.registration.state == "half-done":
                log.warning("karmada registration half-done", detail=s.registration.line())
