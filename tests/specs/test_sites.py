"""Site discovery, ids, collisions and defaults merging (gitops-edge.yaml)."""

from __future__ import annotations

from pathlib import Path

from gitops_edge.specs.attribute import through_defaults
from gitops_edge.specs.merge import deep_merge
from gitops_edge.specs.repo import load_repo
from tests.builders import eggo_spec, province, site_net, write_settings, write_site


def test_nested_site_ids(tmp_path: Path) -> None:
    write_site(tmp_path, "guangdong", province("guangdong"))
    write_site(tmp_path, "guangdong/shenzhen-1", province("guangdong-shenzhen-1"))
    repo = load_repo(tmp_path)
    assert [(s.id, s.dir) for s in repo.sites] == [
        ("guangdong", "provinces/guangdong"),
        ("guangdong-shenzhen-1", "provinces/guangdong/shenzhen-1"),
    ]
    assert all(s.valid for s in repo.sites)


def test_edge_dir_is_not_a_site(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    write_site(tmp_path, "gd/edge", province("gd-edge"))
    assert [s.id for s in load_repo(tmp_path).sites] == ["gd"]


def test_id_collision_is_an_error_for_both(tmp_path: Path) -> None:
    write_site(tmp_path, "a-b/c", province("a-b-c"))
    write_site(tmp_path, "a/b-c", province("a-b-c"))
    sites = load_repo(tmp_path).sites
    assert len(sites) == 2
    assert all(not s.valid and "also produced by" in s.problems[0].message for s in sites)


def test_bad_site_ids(tmp_path: Path) -> None:
    write_site(tmp_path, "Guangdong", province("x"))
    write_site(tmp_path, "guangd\u043eng", province("x"))  # Cyrillic o
    write_site(tmp_path, "x" * 60, province("x"))
    write_site(tmp_path, "ok", province("ok"))
    by_id = {s.id: s for s in load_repo(tmp_path).sites}
    assert by_id["ok"].valid
    bad = [s for s in by_id.values() if s.id != "ok"]
    assert len(bad) == 3
    assert all("DNS-1123 label" in s.problems[0].message for s in bad)
    assert "\\u043e" in next(s for s in bad if "\u043e" in s.id).problems[0].message


def test_metadata_name_must_match(tmp_path: Path) -> None:
    doc = province("gd")
    doc["metadata"] = {"name": "guangdong"}
    write_site(tmp_path, "gd", doc)
    (site,) = load_repo(tmp_path).sites
    assert site.problems[0].field == "metadata.name"


def test_deep_merge_site_wins_lists_replace() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    over = {"a": {"y": [3]}, "c": 2}
    assert deep_merge(base, over) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}


def test_defaults_merge_under_sites(tmp_path: Path) -> None:
    shared = eggo_spec()
    for key in ("cluster-id", "masters", "workers"):
        shared.pop(key)
    write_settings(
        tmp_path, {"defaults": {"sshKeySecret": "eggo-ssh", "eggo": shared, "rollout": {"wave": 3}}}
    )
    write_site(
        tmp_path,
        "gd",
        {
            "apiVersion": "gitops-edge.io/v1alpha1",
            "kind": "ProvinceCluster",
            "spec": {
                "eggo": {
                    "cluster-id": "gd-paas",
                    "masters": [{"name": "m1", "ip": "10.0.0.1", "port": 22, "arch": "arm64"}],
                    "network": {"plugin": "flannel"},
                },
                "rollout": {"wave": 0},
            },
        },
    )
    (site,) = load_repo(tmp_path).sites
    assert site.valid, site.problems
    assert site.spec is not None
    eggo = site.spec.spec.eggo
    assert eggo is not None
    assert eggo.network.plugin == "flannel"
    assert eggo.network.podcidr == "10.244.0.0/16"  # from defaults
    assert eggo.runtime == "iSulad"
    assert site.spec.spec.rollout.wave == 0
    assert site.spec.spec.sshKeySecret == "eggo-ssh"


def test_error_in_defaults_names_the_settings_file(tmp_path: Path) -> None:
    write_settings(tmp_path, {"defaults": {"eggo": {"service": {"cidr": "nope"}}}})
    write_site(tmp_path, "gd", province("gd"))
    write_site(
        tmp_path, "hb", province("hb", eggo={**eggo_spec("hb", net=site_net("hb")), "service": {"cidr": "10.1.0.0/16"}})
    )
    by_id = {s.id: s for s in load_repo(tmp_path).sites}
    # gd inherits the bad default (its own spec does not set service.cidr... it does: builders set it)
    assert by_id["hb"].valid
    write_site(
        tmp_path,
        "sx",
        province("sx", eggo={k: v for k, v in eggo_spec("sx", net=site_net("sx")).items() if k != "service"}),
    )
    repo = load_repo(tmp_path)
    sx = {s.id: s for s in repo.sites}["sx"]
    assert not sx.valid
    assert [(p.file, p.field, p.message) for p in sx.problems] == [
        ("provinces/sx/cluster.yaml", "", through_defaults("gitops-edge.yaml"))
    ]
    # the default itself: once, at its own path and line in the settings file
    assert [(p.file, p.field, p.line) for p in repo.problems] == [
        ("gitops-edge.yaml", "spec.defaults.eggo.service.cidr", 7)
    ]


def test_unknown_key_in_defaults_is_a_settings_error(tmp_path: Path) -> None:
    write_settings(tmp_path, {"defaults": {"eggo": {"service": {"dnsaddress": "10.32.0.10"}}}})
    write_site(tmp_path, "gd", province("gd"))
    write_site(tmp_path, "hn", province("hn"))
    repo = load_repo(tmp_path)
    assert [(p.file, p.field) for p in repo.problems] == [
        ("gitops-edge.yaml", "spec.defaults.eggo.service.dnsaddress")
    ]
    assert "did you mean 'dnsaddr'" in repo.problems[0].message
    assert all(not s.valid for s in repo.sites)
    assert all(p.file.startswith("provinces/") for s in repo.sites for p in s.problems)


def test_broken_settings_file_marks_every_site(tmp_path: Path) -> None:
    (tmp_path / "gitops-edge.yaml").write_text(
        "apiVersion: gitops-edge.io/v1alpha1\nkind: OpsRepo\nspec: {prune: {maxDeletion: 3}}\n"
    )
    write_site(tmp_path, "gd", province("gd"))
    repo = load_repo(tmp_path)
    assert repo.problems[0].field == "spec.prune.maxDeletion"
    assert "did you mean 'maxDeletions'" in repo.problems[0].message
    assert not repo.sites[0].valid


def test_spec_level_rules(tmp_path: Path) -> None:
    doc = province("gd", sshKeySecret=None)
    del doc["spec"]["sshKeySecret"]
    doc["spec"]["applications"].append(dict(doc["spec"]["applications"][0]))
    doc["spec"]["edge"] = {"nodeName": "gd-edge-01", "nodeSelector": {"a": "b"}}
    write_site(tmp_path, "gd", doc)
    (site,) = load_repo(tmp_path).sites
    fields = {p.field for p in site.problems}
    assert {"spec.sshKeySecret", "spec.applications[1].name", "spec.edge"} <= fields
