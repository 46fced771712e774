"""The work queue between triggers and workers, keyed by site (plus one ALL key).

Why a keyed queue rather than a list of events: events are hints that a site needs
looking at, so ten commits touching Guangdong while a worker is busy become *one*
Guangdong reconcile; one site is never reconciled by two workers at once (they would
race on its objects); and one site that keeps failing backs off on its own clock
(5 s doubling to 5 min) without holding back the other sites.

``ALL`` stands for every site (a repo-wide change, the periodic resync). It runs alone:
it waits for the site keys in flight to finish, no site key starts while it runs, and
taking it absorbs the waiting site keys it covers. A site that failed inside an ALL
run is handed back as its own key, so its backoff is per site too.

New events cut a backoff short (a new commit may be the fix); only retries wait.
The clock is injectable so the policy is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ALL = "*"
"""The key meaning every site; ``*`` can never be a site id (DNS-1123 label)."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential delay before retrying a key that failed ``failures`` times."""

    base: float = 5.0
    cap: float = 300.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (failures - 1)))


class WorkQueue:
    """Coalescing, per-key exclusive, per-key backoff; safe to share between threads."""

    def __init__(
        self, *, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        """Waiting keys and the earliest time each may start."""
        self._active: set[str] = set()
        self._again: set[str] = set()
        """Keys that got an event while in flight: they run again once done."""
        self._failures: dict[str, int] = {}
        self._closed = False

    # -- producers ---------------------------------------------------------------

    def add(self, key: str) -> None:
        """An event for ``key``: due now (an earlier backoff is cut short)."""
        self.add_many((key,))

    def add_many(self, keys: Iterable[str]) -> None:
        with self._cond:
            if self._closed:
                return
            now = self._clock()
            for key in keys:
                if key in self._active:
                    self._again.add(key)
                else:
                    self._due[key] = now
            self._cond.notify_all()

    # -- consumers ---------------------------------------------------------------

    def take(self, *, max_batch: int = 100) -> list[str]:
        """Due keys marked in flight (``[ALL]`` alone, or up to ``max_batch`` sites); [] if none."""
        with self._cond:
            return self._take(max_batch)

    def get(self, timeout: float | None = None, *, max_batch: int = 100) -> list[str]:
        """Block until a batch is due, the queue is closed, or ``timeout`` passes ([] then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                batch = self._take(max_batch)
                if batch:
                    return batch
                wait = self._next_due_in()
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return []

    def done(self, batch: Iterable[str], *, failed: Iterable[str] = ()) -> None:
        """Finish ``batch``; every key in ``failed`` (sites of an ALL run too) retries later."""
        failed_set = set(failed)
        with self._cond:
            now = self._clock()
            keys = list(batch)
            for key in keys:
                self._active.discard(key)
            if ALL in keys:
                for key in list(self._failures):
                    if key not in failed_set:
                        del self._failures[key]
            for key in keys:
                if key not in failed_set:
                    self._failures.pop(key, None)
            for key in failed_set:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                retry_at = now + self.backoff.delay(n)
                self._due[key] = min(self._due.get(key, retry_at), retry_at)
            for key in keys:
                if key in self._again:
                    self._again.discard(key)
                    self._due[key] = now
            self._cond.notify_all()

    def close(self) -> None:
        """Stop handing out work; ``get`` returns [] at once from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- looking ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def depth(self) -> int:
        """Keys waiting (including those backing off) or due again after their run."""
        with self._cond:
            return len(self._due) + len(self._again)

    def idle(self, *, besides: Iterable[str] = ()) -> bool:
        """Nothing waiting, retrying or in flight (other than the caller's own ``besides``)."""
        with self._cond:
            return not self._due and not self._again and self._active <= set(besides)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def due_in(self, key: str) -> float | None:
        """Seconds until ``key`` may start (0 when due), None when it is not waiting."""
        with self._cond:
            at = self._due.get(key)
            return None if at is None else max(0.0, at - self._clock())

    def active(self) -> frozenset[str]:
        with self._cond:
            return frozenset(self._active)

    # -- internals (lock held) -------------------------------------------------

    def _take(self, max_batch: int) -> list[str]:
        now = self._clock()
        if ALL in self._active:
            return []
        all_at = self._due.get(ALL)
        if all_at is not None and all_at <= now:
            if self._active:
                return []  # ALL waits for the sites in flight; nothing new starts meanwhile
            self._due.clear()  # every waiting site is covered by this run
            self._active.add(ALL)
            return [ALL]
        ready = sorted(
            (at, key) for key, at in self._due.items() if at <= now and key not in self._active
        )
        batch = [key for _at, key in ready[: max(1, max_batch)]]
        for key in batch:
            del self._due[key]
            self._active.add(key)
        return batch

    def _next_due_in(self) -> float | None:
        """Seconds until a key could start; None when only ``done`` can unblock anything."""
        if not self._due or ALL in self._active:
            return None
        now = self._clock()
        all_at = self._due.get(ALL)
        if all_at is not None and all_at <= now and self._active:
            return None
        return max(0.0, min(self._due.values()) - now)
