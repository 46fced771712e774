"""Changed paths -> affected sites: a one-province commit must cost one province."""

from __future__ import annotations

import pytest

from gitops_edge.daemon.affected import (
    Change,
    affected_sites,
    parse_name_status,
    site_of,
    strip_prefix,
)
from gitops_edge.daemon.queue import ALL


@pytest.mark.parametrize(
    ("path", "site"),
    [
        ("provinces/guangdong/cluster.yaml", "guangdong"),
        ("provinces/guangdong/shenzhen-1/cluster.yaml", "guangdong-shenzhen-1"),
        ("provinces/guangdong/edge/argocd.yaml", "guangdong"),
        ("provinces/guangdong/edge/sub/dir/x.yml", "guangdong"),
        ("provinces/guangdong/shenzhen-1/edge/x.yaml", "guangdong-shenzhen-1"),
        ("provinces/a/b/c/cluster.yaml", "a-b-c"),
        ("gitops-edge.yaml", ALL),
        ("edge-bundle/argocd/install.yaml", ALL),
        ("edge-bundle/x.yml", ALL),
        # not read by gitops-edge
        ("apps/base/deployment.yaml", None),
        ("README.md", None),
        ("provinces/guangdong/README.md", None),
        ("provinces/guangdong/edge/notes.txt", None),
        ("edge-bundle/README.md", None),
        ("provinces/guangdong/notes.yaml", None),
        ("provinces/cluster.yaml", None),
        ("provinces/edge/x.yaml", None),
        ("provinces/guangdong/edge/cluster.yaml", "guangdong"),
        ("gitops-edge.yml", None),
        ("sub/gitops-edge.yaml", None),
    ],
)
def test_site_of(path: str, site: str | None) -> None:
    assert site_of(path) == site


def test_one_province_commit_affects_that_province_only() -> None:
    changes = [
        Change("M", "provinces/guangdong/shenzhen-1/cluster.yaml"),
        Change("A", "provinces/guangdong/shenzhen-1/edge/cm.yaml"),
        Change("M", "apps/base/x.yaml"),
    ]
    assert affected_sites(changes) == {"guangdong-shenzhen-1"}


def test_deleted_and_renamed_sites_affect_both_ids() -> None:
    changes = [
        Change("D", "provinces/hebei/cluster.yaml"),
        Change("R", "provinces/beijing2/cluster.yaml", "provinces/beijing/cluster.yaml"),
    ]
    assert affected_sites(changes) == {"hebei", "beijing", "beijing2"}


def test_repo_wide_files_affect_all_sites() -> None:
    assert affected_sites(["provinces/hebei/cluster.yaml", "gitops-edge.yaml"]) == {ALL}
    assert affected_sites([Change("D", "edge-bundle/argocd.yaml")]) == {ALL}
    assert affected_sites([]) == frozenset()


def test_parse_name_status_handles_renames_and_odd_names() -> None:
    out = "M\0provinces/a/cluster.yaml\0R100\0old dir/x.yaml\0new\tdir/x.yaml\0D\0edge-bundle/é.yaml\0"
    assert parse_name_status(out) == [
        Change("M", "provinces/a/cluster.yaml"),
        Change("R", "new\tdir/x.yaml", "old dir/x.yaml"),
        Change("D", "edge-bundle/é.yaml"),
    ]
    assert parse_name_status("") == []


def test_strip_prefix_keeps_paths_inside_the_ops_tree() -> None:
    changes = [
        Change("M", "ops/provinces/a/cluster.yaml"),
        Change("M", "apps/x.yaml"),
        Change("R", "elsewhere/b.yaml", "ops/provinces/b/cluster.yaml"),
        Change("M", "opsfoo/provinces/c/cluster.yaml"),
    ]
    assert strip_prefix(changes, "ops") == [
        Change("M", "provinces/a/cluster.yaml"),
        Change("R", "provinces/b/cluster.yaml"),
    ]
    assert strip_prefix(changes, ".") == changes
