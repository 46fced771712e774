"""Deferred sites and hysteresis: a flapping edge link releases its site once, when it settles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gitops_edge.daemon.deferred import DeferredSites
from gitops_edge.live.inventory import DEFAULT_GRACE, LEASE_NAMESPACE
from gitops_edge.render.context import Placement
from tests.live.objects import lease, node

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
WHERE = Placement({"gitops-edge.io/site": "hebei"}, None, ())


@dataclass
class Index:
    objs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def items(self) -> list[dict[str, Any]]:
        return list(self.objs.values())

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objs.get((namespace, name))


@dataclass
class Cache:
    nodes: Index = field(default_factory=Index)
    leases: Index = field(default_factory=Index)
    grace: timedelta = DEFAULT_GRACE

    def heartbeat(self, at: datetime) -> None:
        self.leases.objs[(LEASE_NAMESPACE, "hb-edge-01")] = lease("hb-edge-01", at)


def fleet() -> Cache:
    cache = Cache()
    cache.nodes.objs[("", "hb-edge-01")] = node("hb-edge-01", site="hebei")
    cache.heartbeat(T0 - timedelta(hours=1))
    return cache


def test_released_at_once_without_settle() -> None:
    cache = fleet()
    deferred = DeferredSites()
    deferred.defer("hebei", WHERE)
    assert deferred.ready(cache, node="hb-edge-01", now=T0) == []  # type: ignore[arg-type]
    cache.heartbeat(T0)
    assert deferred.ready(cache, node="hb-edge-01", now=T0) == ["hebei"]  # type: ignore[arg-type]


def test_flapping_node_is_released_only_after_it_settles() -> None:
    cache = fleet()
    deferred = DeferredSites(settle=30)
    deferred.defer("hebei", WHERE)
    released: list[datetime] = []
    t = T0
    # 4 minutes of a link that is up 20 s, then down 70 s (lease goes stale)
    for _cycle in range(3):
        for step in range(0, 21, 10):
            cache.heartbeat(t + timedelta(seconds=step))
            if deferred.ready(cache, node="hb-edge-01", now=t + timedelta(seconds=step)):  # type: ignore[arg-type]
                released.append(t)
        t += timedelta(seconds=20 + 70)
        assert deferred.ready(cache, node="hb-edge-01", now=t) == []  # type: ignore[arg-type]
    assert released == []  # never online for 30 s in a row: no thrash
    # the link comes back for good: released once it has been up for 30 s
    for step in range(0, 41, 10):
        cache.heartbeat(t + timedelta(seconds=step))
        if deferred.ready(cache, node="hb-edge-01", now=t + timedelta(seconds=step)):  # type: ignore[arg-type]
            released.append(t + timedelta(seconds=step))
    assert released[0] == t + timedelta(seconds=30)
