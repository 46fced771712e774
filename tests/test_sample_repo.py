"""The bundled sample repo is the product's showcase: it must stay valid and complete.

Every README example and end-to-end test starts from ``sample-repo/``; a model change
that quietly invalidates it, or an edit that drops a province, shows up here first.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gitops_edge.specs.repo import RepoSpec, load_repo

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample-repo"
SCHEMAS = SAMPLE / "schemas"
"""The sample repo's own copy: a copied ops repo keeps its modelines working."""
MODELINE = "# yaml-language-server: $schema="

PROVINCES = (
    *("beijing", "tianjin", "hebei", "shanxi", "neimenggu", "liaoning", "jilin"),
    *("heilongjiang", "shanghai", "jiangsu", "zhejiang", "anhui", "fujian", "jiangxi"),
    *("shandong", "henan", "hubei", "hunan", "guangdong", "guangxi", "hainan"),
    *("chongqing", "sichuan", "guizhou", "yunnan", "xizang", "shaanxi", "gansu"),
    *("qinghai", "ningxia", "xinjiang"),
)


@pytest.fixture(scope="module")
def repo() -> RepoSpec:
    return load_repo(SAMPLE)


def test_every_site_is_valid(repo: RepoSpec) -> None:
    problems = [str(p) for p in repo.problems] + [str(p) for s in repo.sites for p in s.problems]
    assert problems == []
    assert len(repo.sites) >= 37


def test_validate_command_exits_zero() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "validate", str(SAMPLE), "--output", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert len(report["sites"]) >= 37
    assert all(s["valid"] for s in report["sites"])


def test_all_31_provinces_and_nested_sites(repo: RepoSpec) -> None:
    top = {s.dir.removeprefix("provinces/") for s in repo.sites if s.dir.count("/") == 1}
    assert top == set(PROVINCES)
    nested = [s for s in repo.sites if s.dir.count("/") == 2]
    assert len(nested) >= 6
    for site in nested:
        province = site.dir.split("/")[1]
        assert province in PROVINCES
        assert (SAMPLE / "provinces" / province / "cluster.yaml").is_file()


def test_mostly_arm64_with_some_amd64(repo: RepoSpec) -> None:
    arches: Counter[str] = Counter()
    for site in repo.valid_sites:
        assert site.spec is not None
        edge_arch = site.spec.spec.edge.arch
        assert edge_arch is not None, f"{site.file}: spec.edge.arch should be explicit"
        arches[edge_arch] += 1
    assert arches["arm64"] > len(repo.sites) / 2
    assert arches["amd64"] >= 3


def test_machine_addresses_are_unique_across_the_fleet(repo: RepoSpec) -> None:
    owner: dict[str, str] = {}
    for site in repo.valid_sites:
        assert site.spec is not None and site.spec.spec.eggo is not None
        eggo = site.spec.spec.eggo
        ips = {h.ip for h in eggo.all_hosts()} | ({eggo.loadbalance.ip} - {""})
        for ip in ips:
            assert ipaddress.ip_address(ip).is_private
            assert owner.setdefault(ip, site.id) == site.id, f"{ip} in {owner[ip]} and {site.id}"


def test_showcase_features_are_present(repo: RepoSpec) -> None:
    specs = {s.id: s.spec.spec for s in repo.valid_sites if s.spec is not None}
    waves = Counter(spec.rollout.wave for spec in specs.values())
    assert 2 <= waves[0] <= 3 and waves[1] >= 3
    assert sum(spec.suspend for spec in specs.values()) == 1
    assert sum(spec.deletionPolicy == "Cleanup" for spec in specs.values()) == 1
    balanced = [i for i, spec in specs.items() if spec.eggo and spec.eggo.loadbalance.ip]
    assert len(balanced) >= 3
    assert all(2 <= len(spec.applications) <= 4 for spec in specs.values())
    assert len([d for d in (SAMPLE / "provinces").glob("**/edge") if d.is_dir()]) >= 2


def _yaml_files() -> list[Path]:
    return sorted([SAMPLE / "gitops-edge.yaml", *SAMPLE.glob("provinces/**/cluster.yaml")])


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(SAMPLE).as_posix())
def test_schema_modeline_points_at_the_right_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MODELINE), f"{path}: first line must be the schema modeline"
    target = (path.parent / first.removeprefix(MODELINE)).resolve()
    expected = "opsrepo" if path.name == "gitops-edge.yaml" else "provincecluster"
    assert target == (SCHEMAS / f"{expected}.schema.json").resolve()


def test_files_validate_against_the_committed_schemas() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for path in _yaml_files():
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        target = path.parent / first.removeprefix(MODELINE)
        if not target.is_file():
            pytest.skip(f"{target} not generated")
        schema = json.loads(target.read_text(encoding="utf-8"))
        errors = [
            f"{e.json_path}: {e.message}"
            for e in jsonschema.Draft202012Validator(schema).iter_errors(
                yaml.safe_load(path.read_text(encoding="utf-8"))
            )
        ]
        assert errors == [], f"{path.relative_to(SAMPLE)}: {errors}"


def test_edge_manifests_are_namespaced_and_leave_the_namespace_out() -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    files = [*SAMPLE.glob("edge-bundle/*.yaml"), *SAMPLE.glob("provinces/**/edge/*.yaml")]
    assert len(files) >= 4
    for path in files:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert doc["kind"] not in cluster_scoped, path
            assert "namespace" not in doc["metadata"], path
