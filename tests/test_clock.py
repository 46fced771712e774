"""One clock: status, plan, inventory and leader election take "now" as a value.

Every test here runs the same scenario at the tests' fixed clock and a year later (and
at the machine's real clock), so none of them can depend on the calendar: a test that
mixes a fixed clock with ``datetime.now()`` flips its premise as the date moves on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.daemon.leader import LeaderElector, format_micro
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.inventory import build_inventory
from gitops_edge.live.state import LiveState, group_by_site
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import build_report
from gitops_edge.testing import plan_against
from tests.builders import province, write_site
from tests.clock import FakeClock
from tests.kubeapi import KubeAPIServer
from tests.live.objects import NOW, application, eggo_job, lease, namespace, node

CLOCKS = {
    "fixed": NOW,
    "a-year-on": NOW + timedelta(days=365),
    "real": datetime.now(UTC).replace(microsecond=0),
}


@pytest.fixture(params=sorted(CLOCKS))
def now(request: pytest.FixtureRequest) -> datetime:
    return CLOCKS[request.param]


def live_at(now: datetime) -> LiveState:
    """gd online with a finished deploy and a healthy app; hn's edge silent for an hour."""
    nodes = [
        node("gd-edge-01", site="gd", ready_since=now - timedelta(days=2), now=now),
        node("hn-edge-01", site="hn", ready_since=now - timedelta(days=2), now=now),
    ]
    leases = {
        "gd-edge-01": lease("gd-edge-01", now - timedelta(seconds=5)),
        "hn-edge-01": lease("hn-edge-01", now - timedelta(hours=1)),
    }
    objs: list[dict[str, Any]] = [
        namespace("gd"),
        eggo_job("eggo-deploy-1", "gd", created=now - timedelta(hours=3)),
        application("base", "gd"),
        namespace("hn"),
        eggo_job("eggo-deploy-1", "hn", outcome="running", created=now - timedelta(minutes=5)),
    ]
    return LiveState(
        observed_at=now,
        nodes=build_inventory(nodes, leases, now=now),
        objects=group_by_site(objs),
    )


def test_inventory_reads_leases_against_the_given_now(now: datetime) -> None:
    inventory = live_at(now).nodes
    assert inventory["gd-edge-01"].state == "online"
    hn = inventory["hn-edge-01"]
    assert hn.state == "offline" and hn.since == now - timedelta(hours=1)
    assert hn.reason == "lease not renewed for 3600s"


def test_status_and_plan_agree_at_any_date(now: datetime, tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    write_site(tmp_path, "hn", province("hn"))
    repo = load_repo(tmp_path)
    live = live_at(now)
    report = build_report(repo, live)
    states = {s.site: s.state for s in report.sites}
    assert states == {"gd": "progressing", "hn": "deferred"}  # gd: objects not delivered
    assert report.observed_at == now.strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = plan_against(repo, live, revision="c0ffee")
    gates = {s.site: s.gate for s in plan.sites}
    assert gates["hn"] == "deferred"
    assert f"since {(now - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}" in next(
        s.reason for s in plan.sites if s.site == "hn"
    )
    assert gates["gd"] != "deferred"  # its edge node renewed 5 s before "now"


@pytest.fixture
def electors(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path
) -> Iterator[list[Any]]:
    clients: list[Any] = []
    yield clients
    for c in clients:
        c.api_client.close()


def test_leader_election_expires_by_the_given_clock(
    now: datetime, kube_api: KubeAPIServer, kube_api_kubeconfig: Path, electors: list[Any]
) -> None:
    clock = FakeClock(now)

    def elector(identity: str) -> LeaderElector:
        kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=2, base=0.01))
        electors.append(kube)
        return LeaderElector(
            kube,
            namespace="gitops-edge",
            identity=identity,
            lease_duration=10.0,
            renew_period=2.0,
            now=clock.now,
            monotonic=clock.monotonic,
        )

    a, b = elector("pod-a"), elector("pod-b")
    assert a.try_acquire_or_renew()
    held = kube_api.store.get("coordination.k8s.io/v1", "Lease", "gitops-edge", "gitops-edge")
    assert held is not None and held["spec"]["renewTime"] == format_micro(now)
    assert not b.try_acquire_or_renew()
    clock.advance(10.1)
    assert b.try_acquire_or_renew()
