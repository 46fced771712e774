"""Edge inventory from raw Node + Lease JSON: online / offline / unknown, arch, site matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gitops_edge.live.inventory import (
    build_inventory,
    edge_node,
    format_time,
    nodes_for_site,
    parse_time,
)
from tests.live.objects import NOW, lease, node


def test_ready_and_fresh_lease_is_online_since_ready_transition() -> None:
    n = edge_node(node("gd-edge-01"), lease("gd-edge-01", NOW - timedelta(seconds=10)), now=NOW)
    assert n.state == "online"
    assert n.since == NOW - timedelta(days=3)
    assert n.arch == "arm64"


def test_stale_lease_is_offline_since_last_renewal_even_when_ready_still_says_true() -> None:
    renewed = NOW - timedelta(minutes=10)
    n = edge_node(node("gd-edge-01"), lease("gd-edge-01", renewed), now=NOW)
    assert n.state == "offline"
    assert n.since == renewed
    assert "600s" in n.reason
    assert n.describe() == "edge node gd-edge-01 offline since 2026-11-27T03:02:00Z"


def test_grace_is_the_boundary() -> None:
    obj, held = node("n"), lease("n", NOW - timedelta(seconds=60))
    assert edge_node(obj, held, now=NOW).state == "online"
    assert edge_node(obj, held, now=NOW + timedelta(seconds=1)).state == "offline"
    assert edge_node(obj, held, now=NOW, grace=timedelta(seconds=30)).state == "offline"


def test_ready_false_is_offline_since_its_transition() -> None:
    since = NOW - timedelta(hours=2)
    n = edge_node(node("n", ready="False", ready_since=since), lease("n", NOW), now=NOW)
    assert (n.state, n.since) == ("offline", since)
    assert "Ready condition is False" in n.reason


def test_ready_unknown_from_node_controller_is_offline() -> None:
    n = edge_node(node("n", ready="Unknown"), None, now=NOW)
    assert n.state == "offline"


def test_no_signal_at_all_is_unknown() -> None:
    n = edge_node(node("n", ready=None), None, now=NOW)
    assert (n.state, n.since) == ("unknown", None)


def test_fresh_lease_without_ready_condition_is_online() -> None:
    n = edge_node(node("n", ready=None), lease("n", NOW - timedelta(seconds=5)), now=NOW)
    assert n.state == "online"
    assert n.since is None


def test_ready_without_lease_is_online() -> None:
    assert edge_node(node("n"), None, now=NOW).state == "online"


def test_arch_falls_back_to_node_info() -> None:
    raw = node("n", arch="amd64")
    del raw["metadata"]["labels"]["kubernetes.io/arch"]
    assert edge_node(raw, None, now=NOW).arch == "amd64"


def test_inventory_keeps_only_edge_nodes_and_pairs_leases_by_name() -> None:
    nodes = [node("e1"), node("e2"), node("master-1", edge=False)]
    leases = {"e1": lease("e1", NOW), "e2": lease("e2", NOW - timedelta(hours=1))}
    inv = build_inventory(nodes, leases, now=NOW)
    assert sorted(inv) == ["e1", "e2"]
    assert inv["e1"].state == "online"
    assert inv["e2"].state == "offline"


def test_nodes_for_site_by_selector_sorted_and_by_name() -> None:
    inv = build_inventory(
        [node("b", site="gd"), node("a", site="gd"), node("c", site="hn")], {}, now=NOW
    )
    picked = nodes_for_site(inv, node_selector={"gitops-edge.io/site": "gd"}, node_name=None)
    assert [n.name for n in picked] == ["a", "b"]
    assert [n.name for n in nodes_for_site(inv, node_selector=None, node_name="c")] == ["c"]
    assert nodes_for_site(inv, node_selector=None, node_name="missing") == []
    assert nodes_for_site(inv, node_selector={"x": "y"}, node_name=None) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-27T03:12:00Z", datetime(2026, 11, 27, 3, 12, tzinfo=UTC)),
        ("2026-11-27T03:12:00.123456Z", datetime(2026, 11, 27, 3, 12, 0, 123456, tzinfo=UTC)),
        ("2026-11-27T11:12:00+08:00", datetime(2026, 11, 27, 3, 12, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_time(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


def test_format_time_is_rfc3339_z() -> None:
    assert format_time(datetime(2026, 11, 27, 11, 12, tzinfo=UTC)) == "2026-11-27T11:12:00Z"


def test_selector_matching_through_the_label_index_equals_a_scan() -> None:
    raw = [
        node(f"n{i}", site=f"s{i % 7}", labels={"zone": f"z{i % 3}", "odd": str(i % 2)})
        for i in range(60)
    ]
    inv = build_inventory(raw, {}, now=NOW)
    plain = dict(inv)  # a plain mapping: matched by scanning every node
    selectors: list[dict[str, str]] = [
        {"gitops-edge.io/site": "s3"},
        {"gitops-edge.io/site": "s3", "zone": "z1"},
        {"zone": "z2", "odd": "1"},
        {"zone": "nowhere"},
        {},
    ]
    for sel in selectors:
        got = nodes_for_site(inv, node_selector=sel, node_name=None)
        assert got == nodes_for_site(plain, node_selector=sel, node_name=None), sel
    assert [
        n.name
        for n in nodes_for_site(inv, node_selector={"zone": "z2", "odd": "1"}, node_name=None)
    ] == sorted(f"n{i}" for i in range(60) if i % 3 == 2 and i % 2 == 1)
    # a change to the inventory drops the index
    extra = edge_node(node("late", site="s3"), None, now=NOW)
    inv["late"] = extra
    assert extra in nodes_for_site(inv, node_selector={"gitops-edge.io/site": "s3"}, node_name=None)
    inv.pop("late")
    assert extra not in nodes_for_site(
        inv, node_selector={"gitops-edge.io/site": "s3"}, node_name=None
    )
    inv.update({"late": extra})
    assert extra in nodes_for_site(inv, node_selector={"gitops-edge.io/site": "s3"}, node_name=None)
