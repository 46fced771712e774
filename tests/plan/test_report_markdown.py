"""``plan -o markdown`` as a reviewer reads it: what hurts first, the same change once, short.

Small repos are applied to a directory sink and then changed the way operators change
them (a worker replaced, a CIDR changed, a site removed); the 3 000-site cases use the
benchmark fleet generator with an edge-bundle change.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gitops_edge.emit.dirsink import DirSink
from gitops_edge.live.state import LiveState
from gitops_edge.plan.eggo_story import repo_eggo
from gitops_edge.plan.model import Plan
from gitops_edge.plan.report import LIMIT, to_markdown
from gitops_edge.render.meta import SPEC_HASH
from gitops_edge.render.site import render_repo
from gitops_edge.specs.repo import RepoSpec, load_repo
from gitops_edge.testing import plan_against
from tests.builders import eggo_spec, province, write_site

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)


def _fleet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _plan(root: Path, out: Path) -> tuple[Plan, RepoSpec]:
    repo = load_repo(root)
    return plan_against(repo, DirSink(out).read_live(now=NOW), revision="c0ffee"), repo


def _apply(root: Path, out: Path) -> None:
    plan, _ = _plan(root, out)
    assert DirSink(out).emit(plan).ok


def _markdown(root: Path, out: Path) -> str:
    plan, repo = _plan(root, out)
    return to_markdown(plan, **repo_eggo(repo))


def _two_sites(tmp_path: Path) -> tuple[Path, Path]:
    root, out = tmp_path / "ops", tmp_path / "out"
    write_site(root, "gd", province("gd"))
    write_site(root, "hn", province("hn", eggo=eggo_spec("hn-paas", net=30)))
    _apply(root, out)
    return root, out


def test_a_new_cluster_says_what_will_be_built(tmp_path: Path) -> None:
    root = tmp_path / "ops"
    write_site(root, "gd", province("gd"))
    md = _markdown(root, tmp_path / "out")
    assert "new cluster `gd-paas`: 1 master(s) (m1), 2 worker(s) (m1, w1)" in md
    assert "API endpoint `10.20.0.11:6443`" in md
    assert "1. deploy: deploy cluster gd-paas" in md
    assert "Destructive" not in md


def test_a_worker_replacement_shows_the_join_and_the_delete_after_it(tmp_path: Path) -> None:
    root, out = _two_sites(tmp_path)
    doc = province("gd")
    doc["spec"]["eggo"]["workers"][1] = {
        "name": "w2",
        "ip": "10.20.0.22",
        "port": 22,
        "arch": "arm64",
    }
    write_site(root, "gd", doc)
    md = _markdown(root, out)
    assert "1. join: join w2 (10.20.0.22) → 2. delete: delete w1 (10.20.0.21)" in md
    # the delete that follows is destructive: listed first, under the warning, not collapsed
    warning = md.index("#### :warning: Destructive actions")
    assert warning < md.index("#### Changes")
    assert "- `gd`: **eggo delete** (host deletion): delete w1 (10.20.0.21)" in md
    head = md[:warning]
    assert "<details>" not in head and "<details>" not in md[warning : md.index("#### Changes")]


def test_a_rebuild_is_destructive_and_a_blocked_change_shows_old_and_new(tmp_path: Path) -> None:
    root, out = _two_sites(tmp_path)
    gd = province("gd", allowRebuild=True)
    gd["spec"]["eggo"]["service"] = {"cidr": "10.33.0.0/16", "dnsaddr": "10.33.0.10"}
    write_site(root, "gd", gd)
    hn = province("hn", eggo=eggo_spec("hn-paas", net=30))
    hn["spec"]["eggo"]["service"] = {"cidr": "10.44.0.0/16", "dnsaddr": "10.44.0.10"}
    write_site(root, "hn", hn)
    md = _markdown(root, out)
    destructive = md[md.index(":warning: Destructive") : md.index("| Site | Wave |")]
    assert "`gd`: **eggo cleanup** (rebuild): destroy cluster gd-paas" in destructive
    assert "then deploy it anew" in destructive
    assert "hn" not in destructive  # blocked: nothing is destroyed in this run
    blocked = md[md.index("#### :no_entry_sign: Blocked") :]
    assert "`service.cidr` `10.32.0.0/16` → `10.44.0.0/16`" in blocked
    assert "set spec.allowRebuild: true" in blocked


def test_a_removed_site_lists_its_namespace_deletion_first(tmp_path: Path) -> None:
    root, out = _two_sites(tmp_path)
    (root / "provinces" / "hn" / "cluster.yaml").unlink()
    (root / "provinces" / "hn").rmdir()
    md = _markdown(root, out)
    assert md.index("Destructive actions") < md.index("#### Changes")
    assert "- `hn`: **Namespace deletion**: edge-hn (site removed from the repo)" in md
    ready_summaries = [line for line in md.splitlines() if line.startswith("<summary>")]
    assert all("ready" not in line for line in ready_summaries)


def test_diffs_leave_out_revision_and_hash_annotations(tmp_path: Path) -> None:
    root, out = _two_sites(tmp_path)
    doc = province("gd")
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(root, "gd", doc)
    md = _markdown(root, out)
    assert "-    targetRevision: main" in md and "+    targetRevision: v2" in md
    assert "source-revision" not in md and SPEC_HASH not in md


def test_an_unknown_gate_is_shown_not_crashed_on(tmp_path: Path) -> None:
    root, out = _two_sites(tmp_path)
    plan, _ = _plan(root, out)
    odd = Plan(plan.revision, (plan.sites[0].__class__("gd", 1, "failed", "eggo join failed"),))  # type: ignore[arg-type]
    md = to_markdown(odd)
    assert "Failed (1)" in md and "`gd`: eggo join failed" in md


# -- 3 000 sites -------------------------------------------------------------

NEW_FILE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: fleet-proxy
data:
  no_proxy: 10.0.0.0/8,.cluster.local
"""


@pytest.fixture(scope="module")
def bundle_change(tmp_path_factory: pytest.TempPathFactory) -> tuple[RepoSpec, Any, LiveState]:
    """3 000 sites; live is the render from before ``edge-bundle/fleet-proxy.yaml`` was added."""
    root = tmp_path_factory.mktemp("fleet3000")
    _fleet().generate(root, 3000)
    (root / "edge-bundle" / "fleet-proxy.yaml").write_text(NEW_FILE, encoding="utf-8")
    repo = load_repo(root)
    rendered = render_repo(repo, revision="c0ffee")
    live = {
        site: [o for o in objs if o["metadata"]["name"] != "fleet-proxy"]
        for site, objs in rendered.objects.items()
    }
    return repo, rendered, LiveState(observed_at=NOW, objects=live, has_nodes=False)


def test_3000_sites_bundle_change_is_one_group_under_the_limit(
    bundle_change: tuple[RepoSpec, Any, LiveState],
) -> None:
    repo, rendered, live = bundle_change
    plan = plan_against(repo, live, revision="c0ffee", rendered=rendered)
    md = to_markdown(plan, **repo_eggo(repo))
    assert len(md) < LIMIT
    assert "**3 000 site(s)**" in md
    # the 13 suspended sites are their own group: nothing is emitted for them
    assert "##### Same change on 2 987 sites — ready, waves 0, 1, 2, 3: 1 to create" in md
    assert "##### Same change on 13 sites — suspended" in md
    assert "- `+` ConfigMap edge-<site>/fleet-proxy" in md
    assert md.count("```diff") == 2 and "+  no_proxy: 10.0.0.0/8,.cluster.local" in md
    assert "cut to stay under" not in md


def test_3000_distinct_changes_are_cut_with_a_pointer_to_the_full_plan(
    bundle_change: tuple[RepoSpec, Any, LiveState],
) -> None:
    repo, rendered, live = bundle_change
    drifted: dict[str, list[dict[str, Any]]] = {}
    for site, objs in live.objects.items():
        drifted[site] = []
        for obj in objs:  # a different hotfix on every site: nothing to group
            if obj["kind"] == "Application":
                obj = copy.deepcopy(obj)
                obj["spec"]["source"]["targetRevision"] = f"hotfix-{len(drifted)}"
                obj["metadata"]["annotations"][SPEC_HASH] = "0" * 16
            drifted[site].append(obj)
    plan = plan_against(
        repo, LiveState(NOW, objects=drifted, has_nodes=False), revision="c0ffee", rendered=rendered
    )
    md = to_markdown(plan, full_report="the `plan.json` artifact of this job")
    assert len(md) < LIMIT
    assert "**3 000 site(s)**" in md
    assert md.rstrip().endswith("The full plan: the `plan.json` artifact of this job._")
    assert "more section(s) not shown" in md
