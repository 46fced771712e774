"""The runner's lifecycle: a stop waits for the reconcile in flight, then exits 0."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from gitops_edge.daemon.http import Request
from gitops_edge.daemon.queue import ALL
from gitops_edge.emit.protocol import Staged
from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import Plan
from tests.builders import province, write_site
from tests.daemon.harness import InProcess, daemon_options, wait_for


class HeldSink:
    """Wraps the runner's sink; its write (``commit`` of a staged run, or ``emit``) waits
    until the test lets it finish."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def emit(self, plan: Plan) -> EmitResult:
        self.entered.set()
        self.release.wait(30)
        result: EmitResult = self.inner.emit(plan)  # type: ignore[attr-defined]
        self.finished.set()
        return result

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult:
        self.entered.set()
        self.release.wait(30)
        done: EmitResult = self.inner.commit(staged, result)  # type: ignore[attr-defined]
        self.finished.set()
        return done


def test_stop_finishes_the_site_in_flight_before_exiting(tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    write_site(ops, "beijing", province("beijing"))
    daemon = InProcess(daemon_options(str(ops), tmp_path, workers=1))
    held = HeldSink(daemon.runner.sink)
    daemon.runner.controller.sink = held  # type: ignore[assignment]
    thread = threading.Thread(target=daemon._run)
    thread.start()
    try:
        assert held.entered.wait(30), "no reconcile started"
        daemon.runner.stop()
        thread.join(0.5)
        assert thread.is_alive(), "exited with a reconcile in flight"
        held.release.set()
        thread.join(30)
        assert not thread.is_alive() and daemon.exit_code == 0
        assert held.finished.is_set()
        record = daemon.records[-1]
        assert record.batch == (ALL,) and record.emitted == ("beijing",) and not record.failed
        assert (tmp_path / "out" / "beijing").is_dir()
    finally:
        held.release.set()
        daemon.runner.stop()
        thread.join(30)


def test_readiness_and_health_while_running(tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    write_site(ops, "beijing", province("beijing"))
    with InProcess(daemon_options(str(ops), tmp_path)) as d:
        http = d.runner.http
        assert http is not None
        wait_for(lambda: d.records, what="the first reconcile")
        handle = http.handle
        ready, _ = handle(Request("GET", "/readyz", {}, {}, b""))
        healthy, _ = handle(Request("GET", "/healthz", {}, {}, b""))
        webhook, _ = handle(Request("POST", "/webhook", {}, {}, b""))
        assert (ready.status, healthy.status) == (200, 200)
        assert webhook.status == 404  # no secret: no webhook route at all
        metrics, _ = handle(Request("GET", "/metrics", {}, {}, b""))
        assert b'gitops_edge_sites{state="ready"} 1.0' in metrics.body
        assert b"gitops_edge_leader 1.0" in metrics.body
