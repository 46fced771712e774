"""A run of a few sites reads only their live objects, and asks for the fleet when it must.

``read_live(sites=...)`` (:class:`gitops_edge.live.snapshot.PartialSites`,
:class:`gitops_edge.live.snapshot.PartialNodes`) reads the named sites' objects and
edge nodes alone; a question about the rest raises ``Unread``, whose read the
planner's caller makes (``read_as_asked``). Waves read only the waves before the
run's, and a join's fleet-wide check of the machine lists the whole fleet. The plans
must be the ones a full read gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_edge.labels import MANAGED_SELECTOR, SITE
from gitops_edge.live.client import KubeClient
from gitops_edge.live.inventory import EDGE_ROLE_LABEL, nodes_for_site
from gitops_edge.live.snapshot import SELECT_AT_MOST, read_live
from gitops_edge.live.state import LiveState, Unread
from gitops_edge.plan.planner import make_plan
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import eggo_spec, write_site
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node, site_plan
from tests.plan.test_safety import W2, change_hb, fleet, gd_eggo, gd_with

__all__ = ["fleet"]  # the fixture: gd (wave 1) and hb (wave 2), both converged

pytestmark = pytest.mark.kubeapi


def fleet_lists(kube_api: KubeAPIServer) -> int:
    """List requests over every managed object (no site in the selector)."""
    return sum(
        1
        for r in kube_api.requests.records
        if r.method == "GET" and r.query.get("labelSelector") == MANAGED_SELECTOR
    )


def unread(live: LiveState, ask: object) -> LiveState:
    """What ``ask()`` raises for, read (as the planner's caller reads it)."""
    with pytest.raises(Unread) as raised:
        ask()  # type: ignore[operator]
    return raised.value.read(live)


def test_a_named_site_is_read_alone_and_the_rest_only_when_asked(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    full = read_live(kube)
    kube_api.requests.clear()
    live = read_live(kube, sites={"hb"})
    assert live.scope == {"hb"}
    assert live.site_objects("hb") == full.site_objects("hb")
    assert "gitops-edge.io/site in (hb)" in str(
        next(r.query for r in kube_api.requests.records if r.resource == "configmaps")
    )
    assert fleet_lists(kube_api) == 0
    for ask in (lambda: live.site_objects("gd"), lambda: set(live.objects)):
        assert fleet_lists(kube_api) == 0  # asking reads nothing: it says what to read
        whole = unread(live, ask)
        assert fleet_lists(kube_api) > 0 and whole.scope is None
        assert whole.objects == full.objects
        kube_api.requests.clear()


def fleet_node_lists(kube_api: KubeAPIServer) -> int:
    """Lists of every edge node or every lease (no site in the selector)."""
    return sum(
        1
        for r in kube_api.requests.records
        if r.method == "GET"
        and r.name is None
        and (
            (r.resource == "nodes" and r.query.get("labelSelector") == EDGE_ROLE_LABEL)
            or r.resource == "leases"
        )
    )


def test_a_named_sites_edge_nodes_are_read_alone_and_the_fleets_only_when_asked(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    add_edge_node(kube_api, "hb-edge-02", "hb", online=False)
    full = read_live(kube)
    kube_api.requests.clear()
    live = read_live(kube, sites={"hb"})
    mine = nodes_for_site(live.nodes, node_selector={SITE: "hb"}, node_name=None)
    assert mine == nodes_for_site(full.nodes, node_selector={SITE: "hb"}, node_name=None)
    assert [n.state for n in mine] == ["online", "offline"]  # each with its own lease
    assert fleet_node_lists(kube_api) == 0
    # another site's nodes, the keys: the fleet's (nodes and leases) when read
    for ask in (
        lambda: nodes_for_site(live.nodes, node_selector={SITE: "gd"}, node_name=None),
        lambda: dict(live.nodes.items()),
    ):
        whole = unread(live, ask)
        assert fleet_node_lists(kube_api) == 2 and whole.nodes == full.nodes
        kube_api.requests.clear()


def test_a_node_named_outside_the_read_is_looked_up_in_the_fleet(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    live = read_live(kube, sites={"hb"})
    whole = unread(
        live, lambda: nodes_for_site(live.nodes, node_selector=None, node_name="gd-edge-01")
    )
    assert nodes_for_site(whole.nodes, node_selector=None, node_name="gd-edge-01")[0].name == (
        "gd-edge-01"
    )


def test_a_run_of_no_site_lists_no_managed_object(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    kube_api.requests.clear()
    live = read_live(kube, sites=set())
    assert live.scope == frozenset()
    selectors = [str(r.query.get("labelSelector")) for r in kube_api.requests.records]
    assert not any(" in (" in sel for sel in selectors)
    assert fleet_lists(kube_api) == 0 and fleet_node_lists(kube_api) == 0
    whole = unread(live, lambda: live.site_objects("gd"))
    assert whole.site_objects("gd") == read_live(kube).site_objects("gd")


def test_a_large_run_reads_the_whole_fleet(kube: KubeClient) -> None:
    live = read_live(kube, sites={f"s{i}" for i in range(SELECT_AT_MOST + 1)})
    assert live.scope is None


def test_a_site_of_an_early_wave_reads_no_later_wave_and_says_so(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    gd = yaml.safe_load((fleet / "provinces/gd/cluster.yaml").read_text())
    gd["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(fleet, "gd", gd)
    repo = load_repo(fleet)
    full = make_plan(repo, read_live(kube), revision="r", sites={"gd"})
    kube_api.requests.clear()
    plan = make_plan(repo, read_live(kube, sites={"gd"}), revision="r", sites={"gd"})
    assert fleet_lists(kube_api) == 0  # hb is of wave 2: not read
    assert fleet_node_lists(kube_api) == 0
    assert plan.sites == full.sites
    assert any("waves read before wave 1" in n for n in plan.notes)
    assert not full.notes


def test_a_site_of_a_later_wave_is_gated_on_the_earlier_waves_as_with_a_full_read(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    change_hb(fleet)
    # gd (wave 1) changes in the repo too, and is not planned: its live state gates hb
    write_site(fleet, "gd", gd_with(eggo=gd_eggo(eggo_spec()["workers"])))
    repo = load_repo(fleet)
    kube_api.requests.clear()
    partial = read_live(kube, sites={"hb"})
    with pytest.raises(Unread):  # the planner reads nothing: it asks
        make_plan(repo, partial, revision="r", sites={"hb"})
    assert fleet_lists(kube_api) == 0
    plan = plan_against(repo, partial, revision="r", sites={"hb"})
    assert fleet_lists(kube_api) > 0  # the earlier wave was read
    full = plan_against(repo, read_live(kube), revision="r", sites={"hb"})
    assert plan.sites == full.sites and plan.current_wave == full.current_wave
    assert site_plan(plan, "hb").gate == "ready"  # gd is done live


def test_a_join_of_a_machine_another_site_holds_is_blocked_on_a_partial_read(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    hb = yaml.safe_load((fleet / "provinces/hb/cluster.yaml").read_text())
    # hb's worker leaves hb's file for gd's: hb's live cluster still holds it
    taken = {**hb["spec"]["eggo"]["workers"].pop(1), "name": "w9"}
    write_site(fleet, "hb", hb)
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2, taken])))
    repo = load_repo(fleet)
    kube_api.requests.clear()
    plan = plan_against(repo, read_live(kube, sites={"gd"}), revision="r", sites={"gd"})
    gd = site_plan(plan, "gd")
    assert gd.gate == "blocked"
    assert f"{taken['ip']} are in the live cluster of site hb" in gd.reason
    assert fleet_lists(kube_api) > 0  # the join asked for the fleet
