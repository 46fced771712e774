"""The light identity scan claims what a full load's identities claim, for every valid site."""

from __future__ import annotations

from pathlib import Path

from gitops_edge.specs.fleet import clashes, identity_of
from gitops_edge.specs.repo import index_repo, load_repo, scan_identities
from tests.builders import province, write_settings, write_site

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"


def test_the_scan_of_the_sample_repo_equals_the_loaded_identities() -> None:
    loaded = sorted(
        (i for i in map(identity_of, load_repo(SAMPLE).sites) if i is not None),
        key=lambda i: i.site,
    )
    scanned = sorted(scan_identities(index_repo(SAMPLE)), key=lambda i: i.site)
    assert loaded and scanned == loaded


def test_the_scan_merges_the_defaults_and_skips_what_it_is_told(tmp_path: Path) -> None:
    write_settings(tmp_path, {"defaults": {"edge": {"nodeName": "edge-shared"}}})
    write_site(tmp_path, "guangdong", province("guangdong"))
    write_site(tmp_path, "guangxi", province("guangxi"))
    write_site(tmp_path, "hunan", "spec: [broken\n")
    index = index_repo(tmp_path)
    scanned = {i.site: i for i in scan_identities(index, ["guangxi"])}
    assert sorted(scanned) == ["guangdong"]  # guangxi skipped, hunan unreadable
    assert scanned["guangdong"].node_name == "edge-shared"  # from gitops-edge.yaml
    both = scan_identities(index)
    assert set(clashes(both)) == {"guangdong", "guangxi"}  # the defaulted node is shared
