"""Everything that can start work, all feeding the one keyed queue.

* the **poller**: one thread that polls the source when asked, so a webhook storm or
  a slow remote never runs two polls at once and a request that arrives mid-poll
  causes exactly one more poll (coalesced, not lost);
* the **schedule** (APScheduler): asks for a poll every ``--poll-interval`` (jittered,
  so a fleet of daemons does not hit one Git server in step) and queues ALL every
  ``--resync-interval``, which repairs drift in live objects nobody committed;
* the **webhook** route: verifies, answers 202 at once and only asks for a poll;
* the **file watcher** (watchdog) on a local tree: debounced, queues the sites of the
  paths that changed;
* the **edge node watch** is the LiveCache's ``on_node_event`` hook, wired to
  :meth:`Controller.on_node_event` by the runner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from gitops_edge.daemon.http import Request, Response
from gitops_edge.daemon.localtree import schedule_tree
from gitops_edge.daemon.queue import ALL
from gitops_edge.daemon.source import ForcePush, Source, SourceError, Update
from gitops_edge.daemon.webhooks import decide

log = structlog.get_logger()
logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one INFO line per job run


class TriggerMetrics:
    """Series about triggers, next to :class:`gitops_edge.observe.metrics.Metrics`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = Counter(
            "gitops_edge_source_polls", "Polls of the ops repo's branch head.", registry=registry
        )
        self.webhooks = Counter(
            "gitops_edge_webhooks",
            "Webhook deliveries by decision (accept, ignore, refuse).",
            ["result"],
            registry=registry,
        )
        self.blocked = Gauge(
            "gitops_edge_source_force_push_blocked",
            "1 while a force-pushed head is refused and the last good commit is served.",
            registry=registry,
        )
        for result in ("accept", "ignore", "refuse"):
            self.webhooks.labels(result=result)


class Poller:
    """Runs ``source.prepare()`` once, then one ``source.poll()`` per :meth:`request`.

    The first outcome goes to ``on_prepared`` (the start decides what it plans), every
    later one to ``on_update``; after a failed poll either is told None."""

    def __init__(
        self,
        source: Source,
        *,
        on_update: Callable[[Update | ForcePush | None], None],
        on_prepared: Callable[[Update | ForcePush | None], None],
        on_error: Callable[[SourceError], None],
        metrics: TriggerMetrics,
    ) -> None:
        self.source = source
        self.on_update = on_update
        self.on_prepared = on_prepared
        self.on_error = on_error
        self.metrics = metrics
        self.polls = 0
        self.completed = 0
        """Polls finished, outcome handed over (tests wait on this rather than sleeping)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._forced = False
        self._thread: threading.Thread | None = None

    def request(self, *, force: bool = False) -> None:
        """Poll soon; ``force`` (a verified push webhook) also cuts a git backoff short.

        A push says the remote answered a moment ago, so waiting out a backoff earned
        while it was down would only delay the change it announces.
        """
        if force:
            self._forced = True
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; a git call in flight is left to its own timeout (it is read-only)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        self._once(self.source.prepare, self.on_prepared)
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            forced, self._forced = self._forced, False
            if forced:
                reset = getattr(self.source, "reset_backoff", None)
                if reset is not None:
                    reset()
                self._once(lambda: self.source.poll(force=True), self.on_update)
            else:
                self._once(self.source.poll, self.on_update)

    def _once(
        self,
        fn: Callable[[], Update | ForcePush | None],
        deliver: Callable[[Update | ForcePush | None], None],
    ) -> None:
        """One poll; its outcome (None after an error) goes to ``deliver``."""
        self.polls += 1
        self.metrics.polls.inc()
        update = None
        try:
            try:
                update = fn()
            except SourceError as exc:
                self.on_error(exc)
            finally:
                self.metrics.blocked.set(1 if self.source.blocked is not None else 0)
        except Exception:  # the poller must outlive any bug; the next request retries
            log.exception("poll crashed")
        try:
            deliver(update)
        except Exception:
            log.exception("poll crashed")
        finally:
            self.completed += 1


class Schedule:
    """Interval poll (jittered) and periodic full resync on an APScheduler thread."""

    def __init__(
        self,
        *,
        poll: Callable[[], None],
        resync: Callable[[], None],
        poll_interval: float,
        resync_interval: float,
    ) -> None:
        self._scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
        jitter = max(0.0, min(poll_interval * 0.1, 30.0))
        self._scheduler.add_job(
            poll,
            "interval",
            seconds=poll_interval,
            jitter=jitter,
            id="poll",
            coalesce=True,
            max_instances=1,
        )
        if resync_interval > 0:
            self._scheduler.add_job(
                resync,
                "interval",
                seconds=resync_interval,
                id="resync",
                coalesce=True,
                max_instances=1,
            )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def webhook_handler(
    *,
    secret: bytes,
    branch: str,
    request_poll: Callable[[], bool],
    metrics: TriggerMetrics,
) -> Callable[[Request], Response]:
    """The ``POST /webhook`` handler: verify, count, ask for a poll, answer at once.

    ``request_poll`` returns False on a replica that is not reconciling (not the
    leader): it answers 503 so the sender's delivery log shows the push was not taken.
    """
    if not secret:
        raise ValueError("webhooks need a secret")

    def handle(request: Request) -> Response:
        decision = decide(request.headers, request.body, secret=secret, branch=branch)
        metrics.webhooks.labels(result=decision.action).inc()
        status, reason = decision.status, decision.reason
        if decision.action == "accept" and not request_poll():
            status, reason = 503, "not the leader: the leading replica polls on its own"
        log.info(
            "webhook",
            provider=decision.provider,
            decision=decision.action,
            status=status,
            reason=reason,
            revision=decision.after or None,
        )
        return Response(status, (reason + "\n").encode())

    return handle


class TreeWatcher(FileSystemEventHandler):
    """watchdog on a local ops tree; paths are handed over after ``debounce`` s of quiet.

    Editors save in bursts (temp file, rename, chmod), so paths are collected until
    the tree has been quiet for ``debounce`` seconds. A directory created, moved or
    deleted may carry whole sites with it: that is reported as ALL.
    """

    def __init__(
        self, root: Path, on_paths: Callable[[set[str]], None], *, debounce: float = 0.5
    ) -> None:
        self.root = root.resolve()
        self.on_paths = on_paths
        self.debounce = debounce
        self._pending: set[str] = set()
        self._last = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: Any = None  # watchdog's Observer is a platform-chosen alias
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        observer = Observer()
        schedule_tree(observer, self, self.root)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self._run, name="tree-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self._thread is not None:
            self._thread.join(5)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "attrib"):
            return
        paths = []
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            rel = self._relative(text)
            if rel is not None:
                paths.append(rel)
        if not paths:
            return
        if event.is_directory:
            if event.event_type == "modified":
                return
            paths = [ALL]
        with self._lock:
            self._pending.update(paths)
            self._last = time.monotonic()
        self._wake.set()

    def _relative(self, path: str) -> str | None:
        if not path:
            return None
        try:
            rel = Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return None
        if rel == "." or rel.split("/")[0] == ".git":
            return None
        return rel

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            while not self._stop.is_set():
                with self._lock:
                    quiet = self.debounce - (time.monotonic() - self._last)
                if quiet <= 0:
                    break
                self._stop.wait(quiet)
            if self._stop.is_set():
                return
            with self._lock:
                paths, self._pending = self._pending, set()
                self._wake.clear()
            if paths:
                try:
                    self.on_paths(paths)
                except Exception:
                    log.exception("file event handling failed")
