"""The planner reads nothing: every file and every API call of a run is made around it.

``make_plan`` is given a LiveState; what that state does not hold (a partial read of
the cluster, a directory's sites read on access, every site's live cluster for a
deploy or a join) raises ``Unread``, and its caller reads it and plans again
(``read_as_asked``). Here every call of the planner a run makes is watched: opening a
file, listing a directory or sending an HTTP request inside it fails the test, and
the run must still plan what it plans (so the reads happened, outside).
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

import gitops_edge.reconcile as reconcile_mod
from bench.fleet import generate, touch_site
from gitops_edge.emit.dirsink import DirSink
from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import read_live
from gitops_edge.live.state import Unread
from gitops_edge.plan.planner import make_plan
from gitops_edge.reconcile import reconcile
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import eggo_spec, write_site
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import site_plan
from tests.plan.test_safety import W2, fleet, gd_eggo, gd_with

__all__ = ["fleet"]


class Watch:
    """Counts the planner's calls, the Unread they raised and any I/O inside them."""

    def __init__(self) -> None:
        self.plans = 0
        self.asked: list[str] = []
        self.io: list[str] = []

    def planner(self, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
        def watched(*args: Any, **kw: Any) -> Any:
            self.plans += 1
            with pytest.MonkeyPatch.context() as inside:
                for owner, name in _IO:
                    inside.setattr(owner, name, self._refuse(f"{owner.__name__}.{name}"))
                try:
                    return make_plan(*args, **kw)
                except Unread as need:
                    self.asked.append(need.what)
                    raise

        return watched

    def _refuse(self, name: str) -> Callable[..., Any]:
        def refused(*args: Any, **kw: Any) -> Any:
            self.io.append(f"{name}{args[:1]!r}")
            raise AssertionError(f"{name} called inside the planner")

        return refused


_IO: list[tuple[Any, str]] = [
    (builtins, "open"),
    (io, "open"),
    (os, "open"),
    (os, "scandir"),
    (os, "listdir"),
    (urllib3.connectionpool.HTTPConnectionPool, "urlopen"),
]


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    w = Watch()
    monkeypatch.setattr(reconcile_mod, "make_plan", w.planner(monkeypatch))
    yield w
    assert not w.io, f"I/O inside the planner: {w.io}"


def test_a_directory_run_reads_its_sites_and_the_fleets_clusters_outside_the_planner(
    tmp_path: Path, watch: Watch
) -> None:
    ids = generate(tmp_path / "ops", 12, seed=5)
    out = tmp_path / "out"
    summary, result = reconcile(tmp_path / "ops", DirSink(out), revision="r1", jobs=1, chunk=5)
    assert result.ok and result.written > 0
    deploys = [s for s in summary.plan.sites if s.eggo and s.eggo.operation == "deploy"]
    assert deploys  # a deploy checks every site's live cluster: asked, then read outside
    assert any("every site's live eggo cluster" in a for a in watch.asked)
    # every chunk again, now that each site has files to read; one site's app changed
    touch_site(tmp_path / "ops", ids[2], 0)
    summary, result = reconcile(tmp_path / "ops", DirSink(out), revision="r2", jobs=1, chunk=5)
    assert result.ok and result.written > 0
    # a one-site commit that adds a worker (a join), as a named run
    touch_site(tmp_path / "ops", ids[3], 1)
    summary, result = reconcile(
        tmp_path / "ops", DirSink(out), revision="r3", sites={ids[3]}, jobs=1
    )
    assert result.ok
    assert site_plan(summary.plan, ids[3]).eggo.operation == "join"  # type: ignore[union-attr]
    assert any("the live objects of the sites planned" in a for a in watch.asked)
    assert watch.plans >= 6


def test_a_partial_read_of_the_cluster_is_widened_outside_the_planner(
    fleet: Path, kube: KubeClient, kube_api: KubeAPIServer, watch: Watch
) -> None:
    hb = yaml.safe_load((fleet / "provinces/hb/cluster.yaml").read_text())
    taken = {**hb["spec"]["eggo"]["workers"].pop(1), "name": "w9"}
    write_site(fleet, "hb", hb)
    write_site(fleet, "gd", gd_with(eggo=gd_eggo([*eggo_spec()["workers"], W2, taken])))
    plan = plan_against(load_repo(fleet), read_live(kube, sites={"gd"}), revision="r", sites={"gd"})
    assert site_plan(plan, "gd").gate == "blocked"  # hb's live cluster holds the machine
    assert watch.asked and watch.plans == len(watch.asked) + 1
