"""Label selectors and last sync for ``status``: Kubernetes' selector syntax, Argo CD's fields."""

from __future__ import annotations

import importlib.util
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from gitops_edge.commands.status import render_text
from gitops_edge.live.inventory import build_inventory
from gitops_edge.live.state import LiveState, group_by_site
from gitops_edge.specs.repo import load_repo
from gitops_edge.status import build_report
from gitops_edge.statusview import (
    Filter,
    SelectorError,
    apply_filter,
    last_sync,
    parse_selector,
    site_labels,
)
from tests.live.objects import NOW, application, eggo_job, lease, node, ts

ROOT = Path(__file__).resolve().parents[1]


def _match(selector: str, labels: dict[str, str]) -> bool:
    return all(r.matches(labels) for r in parse_selector(selector))


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("region=south", {"region": "south"}, True),
        ("region==south", {"region": "north"}, False),
        ("region!=south", {}, True),  # a missing label is not equal to anything
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": "x"}, False),
        ("region in (south, east),tier notin (test)", {"region": "east", "tier": "prod"}, True),
        ("region in (south, east),tier notin (test)", {"region": "east", "tier": "test"}, False),
        (
            "gitops-edge.io/wave=1, region=south",
            {"gitops-edge.io/wave": "1", "region": "south"},
            True,
        ),
    ],
)
def test_selectors_match_like_kubernetes(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert _match(selector, labels) is expected


@pytest.mark.parametrize("bad", ["region in south", "=south", "region=(a)", "a,,b"])
def test_bad_selectors_name_the_part(bad: str) -> None:
    with pytest.raises(SelectorError, match="cannot parse"):
        parse_selector(bad)


def test_last_sync_is_the_newest_argo_sync_or_eggo_run() -> None:
    app = application("base", "gd")
    app["status"]["operationState"] = {"finishedAt": ts(NOW - timedelta(minutes=5))}
    app["status"]["reconciledAt"] = ts(NOW - timedelta(minutes=2))
    job = eggo_job("eggo-deploy-1", "gd", created=NOW - timedelta(hours=1))
    assert last_sync([app, job]) == ts(NOW - timedelta(minutes=2))
    assert last_sync([job]) == ts(NOW - timedelta(minutes=51))
    assert last_sync([eggo_job("eggo-join-2", "gd", outcome="failed", created=NOW)]) is None


def test_3000_sites_filtered_by_state_and_wave(tmp_path: Path) -> None:
    """The whole path below the API: a generated fleet, live objects, the report, the table."""
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    fleet = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fleet
    spec.loader.exec_module(fleet)
    ids = fleet.generate(tmp_path, 3000)
    repo = load_repo(tmp_path)
    failed = set(ids[100:3000:400])
    nodes, leases, objs = [], {}, []
    arch = {s.id: (s.spec.spec.edge.arch if s.spec else None) or "arm64" for s in repo.sites}
    for i, site in enumerate(ids):
        nodes.append(
            node(f"edge-{i}", site=site, arch=arch[site], ready_since=NOW - timedelta(days=1))
        )
        leases[f"edge-{i}"] = lease(f"edge-{i}", NOW)
        outcome = "failed" if site in failed else "succeeded"
        objs.append(
            eggo_job("eggo-deploy-1", site, outcome=outcome, created=NOW - timedelta(hours=1))
        )
    live = LiveState(
        observed_at=NOW,
        nodes=build_inventory(nodes, leases, now=NOW),
        objects=group_by_site(objs),
    )
    full = build_report(repo, live, revision="c0ffee")
    everything = render_text(full)
    shown = apply_filter(full, Filter(states=frozenset({"failed"})), site_labels(repo))
    text = render_text(full, shown, Filter(states=frozenset({"failed"})))
    assert sorted(s.site for s in shown.sites) == sorted(failed)
    assert text.splitlines()[0].startswith(
        "revision c0ffee, observed 2026-11-27T03:12:00Z: 3000 site(s): "
    )
    assert f"{len(failed)} failed" in text.splitlines()[0]
    assert text.splitlines()[1] == f"showing {len(failed)} of 3000 site(s): state failed"
    assert len(text.splitlines()) < len(everything.splitlines()) / 50
    wave1 = apply_filter(full, Filter(waves=frozenset({1})), site_labels(repo))
    expected = {s.id for s in repo.sites if s.spec is not None and s.spec.spec.rollout.wave == 1}
    assert {s.site for s in wave1.sites} == expected and 0 < len(expected) < 3000
