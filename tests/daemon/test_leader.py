"""Leader election against the test API server: one leader, failover, release, races, errors.

Most tests drive real electors in threads with a 2 s lease, as two daemon replicas
would; the expiry rules are pinned with injected clocks and single rounds.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitops_edge.daemon.leader import LeaderElector, format_micro, parse_time
from gitops_edge.live.client import KubeClient
from tests.clock import FakeClock
from tests.kubeapi import KubeAPIServer

pytestmark = pytest.mark.kubeapi

NS = "gitops-edge"
NAME = "gitops-edge"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}"
LEASES_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases$"
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lease(kube_api: KubeAPIServer) -> dict[str, Any]:
    obj = kube_api.store.get("coordination.k8s.io/v1", "Lease", NAME, NS)
    assert obj is not None, "the Lease was never created"
    return obj["spec"]  # type: ignore[no-any-return]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


@dataclass
class Candidate:
    """One replica: an elector running in its own thread with its own API client."""

    elector: LeaderElector
    stop: threading.Event = field(default_factory=threading.Event)
    events: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Candidate:
        self.thread = threading.Thread(
            target=self.elector.run,
            args=(self.stop,),
            kwargs={
                "on_started": lambda: self.events.append("started"),
                "on_stopped": lambda: self.events.append("stopped"),
            },
            daemon=True,
        )
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()

    @property
    def identity(self) -> str:
        return self.elector.identity


@pytest.fixture
def make_candidate(kube_api: KubeAPIServer) -> Iterator[Callable[..., Candidate]]:
    made: list[Candidate] = []
    clients: list[Any] = []

    def make(identity: str, **kw: Any) -> Candidate:
        api_client = kube_api.api_client()
        clients.append(api_client)
        kw.setdefault("lease_duration", 2.0)
        kw.setdefault("renew_period", 0.5)
        elector = LeaderElector(KubeClient(api_client), namespace=NS, identity=identity, **kw)
        candidate = Candidate(elector)
        made.append(candidate)
        return candidate

    yield make
    for candidate in made:
        if candidate.thread is not None and candidate.thread.is_alive():
            candidate.halt()
    for api_client in clients:
        api_client.close()


# -- two replicas, real time ----------------------------------------------------------


def test_exactly_one_of_two_leads_and_the_lease_reads_like_client_go(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a, b = make_candidate("pod-a").start(), make_candidate("pod-b").start()
    wait_for(lambda: a.elector.is_leader or b.elector.is_leader, 3, "a leader")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # several renew periods: never two, always one
        assert a.elector.is_leader != b.elector.is_leader
        time.sleep(0.05)
    leader = a if a.elector.is_leader else b
    follower = b if leader is a else a
    spec = lease(kube_api)
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert MICRO.match(spec["renewTime"]) and MICRO.match(spec["acquireTime"])
    assert spec["renewTime"] > spec["acquireTime"]  # renewed, and acquireTime kept
    assert leader.events == ["started"]
    assert follower.events == []


def test_crashed_leader_is_replaced_once_its_lease_expires(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a", release_on_cancel=False).start()
    wait_for(lambda: a.elector.is_leader, 3, "pod-a to lead")
    b = make_candidate("pod-b").start()
    time.sleep(0.8)
    assert not b.elector.is_leader

    a.halt()  # renewals stop; nothing is released, as when the process is killed
    crashed = time.monotonic()
    assert lease(kube_api)["holderIdentity"] == "pod-a"
    took = wait_for(lambda: b.elector.is_leader, 2.0 + 2.0, "pod-b to take over")
    assert took > 1.0, "pod-b took over before pod-a's lease could have expired"
    spec = lease(kube_api)
    assert spec["holderIdentity"] == "pod-b"
    assert spec["leaseTransitions"] == 1
    assert parse_time(spec["acquireTime"]) is not None
    assert b.events == ["started"]
    assert time.monotonic() - crashed < 4.0


def test_graceful_stop_releases_and_the_standby_takes_over_at_once(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a").start()
    wait_for(lambda: a.elector.is_leader, 3, "pod-a to lead")
    b = make_candidate("pod-b").start()
    time.sleep(0.3)

    a.halt()
    assert a.events == ["started", "stopped"]
    assert not a.elector.is_leader
    spec = lease(kube_api)
    assert spec["holderIdentity"] in ("", "pod-b")  # released (or already taken)
    took = wait_for(lambda: b.elector.is_leader, 1.5, "pod-b to take over")
    assert took < 1.5  # one retry period, not a lease duration
    assert lease(kube_api)["holderIdentity"] == "pod-b"


def test_released_lease_is_empty_with_a_one_second_duration(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a").start()
    wait_for(lambda: a.elector.is_leader, 3, "pod-a to lead")
    a.halt()
    spec = lease(kube_api)
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert MICRO.match(spec["renewTime"])
    a.elector.release()  # idempotent once released


def test_api_errors_shorter_than_the_deadline_do_not_end_leadership(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a", lease_duration=3.0, renew_period=0.5).start()
    wait_for(lambda: a.elector.is_leader, 3, "pod-a to lead")
    rule = kube_api.faults.error(LEASE_PATH, 500, times=2)
    wait_for(lambda: rule.exhausted, 3, "two failed renewals")
    time.sleep(0.6)
    assert a.elector.is_leader
    assert a.events == ["started"]
    assert kube_api.requests.count(path=LEASE_PATH, status=500) == 2


def test_leadership_ends_when_renewal_fails_past_the_deadline_and_comes_back(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a").start()
    wait_for(lambda: a.elector.is_leader, 3, "pod-a to lead")
    rule = kube_api.faults.error(LEASE_PATH, 503)
    took = wait_for(lambda: a.events == ["started", "stopped"], 3, "on_stopped")
    assert not a.elector.is_leader
    assert took <= 1.5 + 0.6  # renew_deadline (lease - renew period) plus one period
    kube_api.faults.remove(rule)
    wait_for(lambda: a.events == ["started", "stopped", "started"], 3, "leading again")
    assert a.elector.is_leader


# -- races ----------------------------------------------------------------------------


def test_two_creates_race_and_exactly_one_wins(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    kube_api.faults.latency(LEASES_PATH, 0.2, method="POST")  # both read 404 first
    electors = [make_candidate(f"pod-{i}").elector for i in range(2)]
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def attempt(elector: LeaderElector) -> None:
        barrier.wait()
        results[elector.identity] = elector.try_acquire_or_renew()

    threads = [threading.Thread(target=attempt, args=(e,)) for e in electors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert sorted(results.values()) == [False, True]
    winner = next(i for i, ok in results.items() if ok)
    assert lease(kube_api)["holderIdentity"] == winner
    assert kube_api.requests.count(verb="create", status=409) == 1
    assert kube_api.requests.count(verb="create", status=201) == 1


def test_a_stale_resource_version_409_is_a_lost_round_not_a_crash(
    kube_api: KubeAPIServer, make_candidate: Callable[..., Candidate]
) -> None:
    a = make_candidate("pod-a").elector
    assert a.try_acquire_or_renew()
    kube_api.faults.latency(LEASE_PATH, 0.4, method="PUT", times=1)
    outcome: list[bool] = []
    renew = threading.Thread(target=lambda: outcome.append(a.try_acquire_or_renew()))
    renew.start()
    time.sleep(0.15)  # pod-a has read the Lease; its PUT is held up in the server
    now = format_micro(datetime.now(UTC))
    kube_api.store.touch(
        "coordination.k8s.io/v1",
        "Lease",
        NAME,
        NS,
        patch={"spec": {"holderIdentity": "intruder", "renewTime": now, "acquireTime": now}},
    )
    renew.join(timeout=5)
    assert outcome == [False]
    assert kube_api.requests.count(method="PUT", status=409) == 1
    assert a.is_leader  # one lost round is not the end ...
    assert not a.try_acquire_or_renew()
    assert not a.is_leader  # ... but a live holder other than us is
    assert lease(kube_api)["holderIdentity"] == "intruder"


# -- expiry rules, with injected clocks -----------------------------------------------


@pytest.fixture
def clocked(kube_api: KubeAPIServer) -> Iterator[Callable[..., LeaderElector]]:
    clients: list[Any] = []

    def make(identity: str, clock: FakeClock, **kw: Any) -> LeaderElector:
        api_client = kube_api.api_client()
        clients.append(api_client)
        return LeaderElector(
            KubeClient(api_client),
            namespace=NS,
            identity=identity,
            lease_duration=kw.pop("lease_duration", 10.0),
            renew_period=kw.pop("renew_period", 2.0),
            now=clock.now,
            monotonic=clock.monotonic,
            **kw,
        )

    yield make
    for api_client in clients:
        api_client.close()


def test_a_renewal_keeps_acquire_time_and_transitions(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    a = clocked("pod-a", clock)
    assert a.try_acquire_or_renew()
    first = lease(kube_api)
    clock.advance(2)
    assert a.try_acquire_or_renew()
    second = lease(kube_api)
    assert first["acquireTime"] == second["acquireTime"] == "2026-11-27T03:00:00.000000Z"
    assert second["renewTime"] == "2026-11-27T03:00:02.000000Z"
    assert second["leaseTransitions"] == 0
    assert second["leaseDurationSeconds"] == 10


def test_a_live_holder_is_respected_until_unchanged_for_a_lease_duration(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    a, b = clocked("pod-a", clock), clocked("pod-b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.advance(9.9)
    assert not b.try_acquire_or_renew()
    clock.advance(0.2)
    assert b.try_acquire_or_renew()
    spec = lease(kube_api)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("pod-b", 1)
    assert spec["acquireTime"] == format_micro(clock.now())
    assert not a.try_acquire_or_renew()
    assert not a.is_leader


def test_a_holder_with_a_fast_clock_still_expires_by_our_observation(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    future = format_micro(clock.now() + timedelta(hours=1))
    kube_api.store.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"holderIdentity": "skewed", "leaseDurationSeconds": 5, "renewTime": future},
        }
    )
    b = clocked("pod-b", clock)
    assert not b.try_acquire_or_renew()
    clock.advance(5)
    assert b.try_acquire_or_renew()


def test_a_long_dead_holder_is_replaced_at_once(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    old = format_micro(clock.now() - timedelta(hours=1))
    kube_api.store.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NAME, "namespace": NS, "labels": {"team": "ops"}},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 15,
                "renewTime": old,
                "acquireTime": old,
                "leaseTransitions": 4,
            },
        }
    )
    b = clocked("pod-b", clock)
    assert b.try_acquire_or_renew()
    obj = kube_api.store.get("coordination.k8s.io/v1", "Lease", NAME, NS)
    assert obj is not None
    assert obj["spec"]["holderIdentity"] == "pod-b"
    assert obj["spec"]["leaseTransitions"] == 5
    assert obj["metadata"]["labels"] == {"team": "ops"}  # the rest of the object is kept


def test_a_released_lease_is_taken_without_waiting(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    a, b = clocked("pod-a", clock), clocked("pod-b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader
    assert lease(kube_api)["holderIdentity"] == ""
    assert b.try_acquire_or_renew()
    assert lease(kube_api)["leaseTransitions"] == 1


def test_is_leader_ends_at_the_renew_deadline_while_the_api_is_down(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    clock = FakeClock()
    a = clocked("pod-a", clock, renew_deadline=6.0)
    assert a.try_acquire_or_renew()
    kube_api.faults.error(LEASE_PATH, 500)
    clock.advance(5.9)
    assert not a.try_acquire_or_renew()
    assert a.is_leader
    clock.advance(0.1)
    assert not a.is_leader  # even before the next round returns
    assert not a.try_acquire_or_renew()
    a.release()  # nothing held: no request
    assert kube_api.requests.count(method="PUT", status=500) == 0


def test_the_renew_deadline_counts_from_before_a_slow_renewal(
    kube_api: KubeAPIServer, clocked: Callable[..., LeaderElector]
) -> None:
    """A renewal answered late must not stretch the lease past what the record says."""
    clock = FakeClock()
    a = clocked("pod-a", clock, renew_deadline=6.0)
    real = a._attempt

    def slow() -> Any:
        outcome = real()
        clock.advance(4.0)  # the answer took 4 s to arrive
        return outcome

    a._attempt = slow  # type: ignore[method-assign]
    assert a.try_acquire_or_renew()
    clock.advance(2.0)  # 6 s since the request went out
    assert not a.is_leader


def test_settings_that_cannot_work_are_refused(kube_api: KubeAPIServer) -> None:
    kube = KubeClient(kube_api.api_client())
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(kube, namespace=NS, identity="")
    with pytest.raises(ValueError, match="renew_period"):
        LeaderElector(kube, namespace=NS, identity="a", lease_duration=5, renew_period=5)
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElector(kube, namespace=NS, identity="a", lease_duration=15, renew_deadline=15)
    elector = LeaderElector(kube, namespace=NS, identity="a")
    assert elector.renew_deadline == 10.0  # client-go's 15 s / 10 s shape
    kube.api_client.close()  # type: ignore[no-untyped-call]


def test_times_are_rfc3339_micro_in_utc() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_micro(when) == "2026-01-02T03:04:05.000000Z"
    assert parse_time("2026-01-02T03:04:05.000000Z") == when
    assert parse_time("2026-01-02T11:04:05+08:00") == when
    assert parse_time("") is None
    assert parse_time("yesterday") is None
