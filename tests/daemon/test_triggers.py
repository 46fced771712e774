"""Triggers: the webhook route, poll coalescing, and the debounced file watcher."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from gitops_edge.daemon.http import Request
from gitops_edge.daemon.queue import ALL
from gitops_edge.daemon.source import ForcePush, SourceError, Update
from gitops_edge.daemon.triggers import Poller, TreeWatcher, TriggerMetrics, webhook_handler
from tests.daemon.harness import github_signature, wait_for

SECRET = b"secret"
BODY = b'{"ref": "refs/heads/main"}'


def request(headers: dict[str, str], body: bytes = BODY) -> Request:
    return Request("POST", "/webhook", {}, headers, body)


def test_webhook_accepts_asks_for_a_poll_and_answers_202() -> None:
    asked: list[bool] = []

    def request_poll() -> bool:
        asked.append(True)
        return True

    metrics = TriggerMetrics(CollectorRegistry())
    handle = webhook_handler(
        secret=SECRET, branch="main", request_poll=request_poll, metrics=metrics
    )
    signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(SECRET, BODY)}
    assert handle(request(signed)).status == 202 and asked == [True]
    forged = {**signed, "X-Hub-Signature-256": github_signature(b"x", BODY)}
    assert handle(request(forged)).status == 403 and asked == [True]
    assert metrics.webhooks.labels(result="refuse")._value.get() == 1


def test_webhook_on_a_replica_that_does_not_reconcile_is_503() -> None:
    handle = webhook_handler(
        secret=SECRET,
        branch="main",
        request_poll=lambda: False,
        metrics=TriggerMetrics(CollectorRegistry()),
    )
    signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(SECRET, BODY)}
    response = handle(request(signed))
    assert response.status == 503 and b"not the leader" in response.body


class SlowSource:
    """A source whose polls block until released, counting them."""

    immutable = True
    served: str | None = "a" * 40
    blocked: ForcePush | None = None
    git_calls = errors = 0
    last_error = ""
    backing_off = False

    def __init__(self) -> None:
        self.polls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def prepare(self) -> Update | ForcePush | None:
        return None

    def poll(self, *, force: bool = False) -> Update | ForcePush | None:
        self.polls += 1
        self.entered.set()
        self.release.wait(10)
        if self.polls == 3:
            raise SourceError("remote went away")
        return None


def test_requests_during_a_poll_coalesce_into_exactly_one_more() -> None:
    src = SlowSource()
    errors: list[SourceError] = []
    poller = Poller(
        src,  # type: ignore[arg-type]
        on_update=lambda _u: None,
        on_prepared=lambda _u: None,
        on_error=errors.append,
        metrics=TriggerMetrics(CollectorRegistry()),
    )
    poller.start()
    try:
        poller.request()
        assert src.entered.wait(10)
        for _ in range(5):  # a webhook storm while the first poll runs
            poller.request()
        src.release.set()
        wait_for(lambda: poller.completed == 3, what="prepare + two polls")
        assert src.polls == 2
        poller.request()
        wait_for(lambda: errors, what="the failing poll to be reported")
        assert poller.alive  # an error never kills the poller
    finally:
        poller.stop()
    assert not poller.alive


def test_file_watcher_debounces_bursts_and_ignores_git_metadata(tmp_path: Path) -> None:
    batches: list[set[str]] = []
    (tmp_path / "provinces/beijing").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    watcher = TreeWatcher(tmp_path, batches.append, debounce=0.3)
    watcher.start()
    try:
        for i in range(5):
            (tmp_path / "provinces/beijing/cluster.yaml").write_text(f"v: {i}\n")
        (tmp_path / ".git/index").write_text("x")
        wait_for(lambda: batches, what="one batch of paths")
        assert batches[0] == {"provinces/beijing/cluster.yaml"}
        (tmp_path / "provinces/hebei").mkdir()
        wait_for(lambda: len(batches) == 2, what="a directory event")
        assert batches[1] == {ALL}
    finally:
        watcher.stop()
