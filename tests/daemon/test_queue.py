"""The keyed work queue, on a fake clock: coalescing, exclusivity, per-site backoff, ALL."""

from __future__ import annotations

import threading
import time

import pytest

from gitops_edge.daemon.queue import ALL, Backoff, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def q(clock: Clock) -> WorkQueue:
    return WorkQueue(backoff=Backoff(base=5.0, cap=300.0), clock=clock)


def test_events_for_a_waiting_key_coalesce(q: WorkQueue) -> None:
    for _ in range(10):
        q.add("gd")
    q.add("bj")
    assert q.depth() == 2
    assert sorted(q.take()) == ["bj", "gd"]
    assert q.take() == []


def test_a_key_in_flight_is_never_handed_out_twice_and_runs_again_after(q: WorkQueue) -> None:
    q.add("gd")
    assert q.take() == ["gd"]
    q.add("gd")
    q.add("gd")
    assert q.take() == []
    q.done(["gd"])
    assert q.take() == ["gd"]  # once, for both events
    q.done(["gd"])
    assert q.take() == [] and q.idle()


def test_failures_back_off_per_site_exponentially_to_the_cap(q: WorkQueue, clock: Clock) -> None:
    delays = []
    q.add("gd")
    for _ in range(9):
        assert q.take() == ["gd"]
        q.done(["gd"], failed=["gd"])
        delay = q.due_in("gd")
        assert delay is not None
        delays.append(delay)
        clock.now += delay - 1.0
        assert q.take() == [], "taken before its backoff ended"
        clock.now += 1.0
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert q.failures("gd") == 9


def test_backoff_is_exact_and_success_resets_it(q: WorkQueue, clock: Clock) -> None:
    q.add("gd")
    q.take()
    q.done(["gd"], failed=["gd"])
    clock.now += 4.9
    assert q.take() == []
    clock.now += 0.1
    assert q.take() == ["gd"]
    q.done(["gd"])
    assert q.failures("gd") == 0 and q.due_in("gd") is None


def test_a_failing_site_never_blocks_the_others(q: WorkQueue) -> None:
    q.add_many(["gd", "bj"])
    batch = q.take()
    assert batch == ["bj", "gd"]
    q.done(batch, failed=["gd"])
    q.add("hb")
    assert q.take() == ["hb"]


def test_a_new_event_cuts_a_backoff_short(q: WorkQueue) -> None:
    q.add("gd")
    q.take()
    q.done(["gd"], failed=["gd"])
    assert q.take() == []
    q.add("gd")  # a new commit may be the fix
    assert q.take() == ["gd"]


def test_all_runs_alone_and_absorbs_waiting_sites(q: WorkQueue) -> None:
    q.add("gd")
    assert q.take() == ["gd"]
    q.add_many([ALL, "bj"])
    assert q.take() == []  # ALL waits for gd, and nothing new starts meanwhile
    q.done(["gd"])
    assert q.take() == [ALL]
    q.add("hb")  # arrived during the ALL run: may have missed it
    assert q.take() == []
    q.done([ALL])
    assert q.take() == ["hb"]  # bj was covered by ALL


def test_sites_failing_inside_all_back_off_as_their_own_keys(q: WorkQueue, clock: Clock) -> None:
    q.add(ALL)
    assert q.take() == [ALL]
    q.done([ALL], failed=["gd"])
    assert q.due_in(ALL) is None
    assert q.due_in("gd") == 5.0 and q.failures("gd") == 1
    clock.now += 5.0
    assert q.take() == ["gd"]


def test_all_failing_whole_is_retried_with_backoff(q: WorkQueue, clock: Clock) -> None:
    q.add(ALL)
    q.take()
    q.done([ALL], failed=[ALL])
    assert q.take() == []
    clock.now += 5.0
    assert q.take() == [ALL]


def test_batches_are_bounded(q: WorkQueue) -> None:
    q.add_many(f"s{i:02d}" for i in range(10))
    assert len(q.take(max_batch=4)) == 4
    assert len(q.take(max_batch=100)) == 6


def test_idle_besides_the_callers_own_batch(q: WorkQueue) -> None:
    q.add("gd")
    batch = q.take()
    assert q.idle(besides=batch) and not q.idle()
    q.add("bj")
    assert not q.idle(besides=batch)


def test_get_blocks_until_work_and_close_releases_waiters() -> None:
    q = WorkQueue()
    got: list[list[str]] = []
    waiter = threading.Thread(target=lambda: got.append(q.get(timeout=10)))
    waiter.start()
    q.add("gd")
    waiter.join(10)
    assert got == [["gd"]]
    closer = threading.Thread(target=lambda: got.append(q.get(timeout=10)))
    started = time.monotonic()
    closer.start()
    q.close()
    closer.join(10)
    assert got[-1] == [] and time.monotonic() - started < 5
    q.add("bj")  # ignored once closed
    assert q.get(timeout=0.01) == []


def test_get_waits_for_a_backoff_to_end_on_the_real_clock() -> None:
    q = WorkQueue(backoff=Backoff(base=0.2, cap=1.0))
    q.add("gd")
    q.done(q.take(), failed=["gd"])
    started = time.monotonic()
    assert q.get(timeout=5) == ["gd"]
    assert 0.15 <= time.monotonic() - started < 4
    assert q.get(timeout=0.05) == []
