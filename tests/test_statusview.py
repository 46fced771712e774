"""Label selectors and last sync for ``status``: Kubernetes' selector syntax, Argo CD's fields."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gitops_edge.statusview import SelectorError, last_sync, parse_selector
from tests.live.objects import NOW, application, eggo_job, ts


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
