"""``gitops-edge validate`` on real directories: mixed good and broken sites."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import province, write_site
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e

Doc = dict[str, Any]


def _eggo(change: Callable[[Doc], None]) -> Callable[[Doc], None]:
    return lambda d: change(d["spec"]["eggo"])


BROKEN: dict[str, tuple[Any, str]] = {
    # name -> (mutation of a good doc, or raw bytes; field expected in the report)
    "cluster-id": (_eggo(lambda e: e.update({"cluster-id": "GD_1"})), "spec.eggo.cluster-id"),
    "no-masters": (_eggo(lambda e: e.update({"masters": []})), "spec.eggo.masters"),
    "bad-ip": (
        _eggo(lambda e: e["workers"][1].update({"ip": "300.1.1.1"})),
        "spec.eggo.workers[1].ip",
    ),
    "bad-port": (_eggo(lambda e: e["workers"][1].update({"port": 0})), "spec.eggo.workers[1].port"),
    "dup-ip": (
        _eggo(lambda e: e["workers"][1].update({"ip": e["workers"][0]["ip"]})),
        "spec.eggo.workers[1].ip",
    ),
    "dup-name": (
        _eggo(lambda e: e["workers"][1].update({"name": "m1"})),
        "spec.eggo.workers[1].name",
    ),
    "ip-clash": (
        _eggo(lambda e: e["workers"][0].update({"arch": "amd64"})),
        "spec.eggo.workers[0]",
    ),
    "svc-cidr": (
        _eggo(lambda e: e["service"].update({"cidr": "10.0.0.0/40"})),
        "spec.eggo.service.cidr",
    ),
    "pod-cidr": (
        _eggo(lambda e: e["network"].update({"podcidr": "x"})),
        "spec.eggo.network.podcidr",
    ),
    "timeout": (
        _eggo(lambda e: e.update({"apiserver-timeout": "soon"})),
        "spec.eggo.apiserver-timeout",
    ),
    "endpoint": (
        _eggo(lambda e: e.update({"apiserver-endpoint": "https://a:1"})),
        "spec.eggo.apiserver-endpoint",
    ),
    "abs-path": (_eggo(lambda e: e.update({"cni-bin-dir": "opt/cni"})), "spec.eggo.cni-bin-dir"),
    "lb-ports": (
        _eggo(lambda e: e.update({"loadbalance": {"ip": "10.1.1.1"}})),
        "spec.eggo.loadbalance",
    ),
    "pkg-type": (
        _eggo(lambda e: e["install"]["container"][0].update({"type": "exe"})),
        "spec.eggo.install.container[0].type",
    ),
    "pkg-schedule": (
        _eggo(lambda e: e["install"]["container"][0].update({"schedule": "x"})),
        "spec.eggo.install.container[0].schedule",
    ),
    "pkg-timeout": (
        _eggo(lambda e: e["install"]["container"][0].update({"timeout": "1 h"})),
        "spec.eggo.install.container[0].timeout",
    ),
    "srcpath-arch": (
        _eggo(lambda e: e["install"]["package-source"].update({"srcpath": {"amd64": "/p"}})),
        "spec.eggo.install.package-source.srcpath",
    ),
    "unknown-key": (_eggo(lambda e: e.update({"podcidr": "10.0.0.0/8"})), "spec.eggo.podcidr"),
    "wrong-type": (
        _eggo(lambda e: e["masters"][0].update({"port": "22"})),
        "spec.eggo.masters[0].port",
    ),
    "password": (_eggo(lambda e: e.update({"password": "123456"})), "spec.eggo.password"),
    "username": (_eggo(lambda e: e.update({"username": "root"})), "spec.eggo.username"),
    "open-port": (
        _eggo(lambda e: e["open-ports"]["worker"][0].update({"protocol": "icmp"})),
        "spec.eggo.open-ports.worker[0].protocol",
    ),
    "deletion-policy": (
        lambda d: d["spec"].update({"deletionPolicy": "Delete"}),
        "spec.deletionPolicy",
    ),
    "wave": (lambda d: d["spec"].update({"rollout": {"wave": -1}}), "spec.rollout.wave"),
    "kind": (lambda d: d.update({"kind": "Cluster"}), "kind"),
    "api-version": (lambda d: d.update({"apiVersion": "v1"}), "apiVersion"),
    "app-source": (lambda d: d["spec"]["applications"][0].pop("source"), "spec.applications[0]"),
    "label": (
        lambda d: d.update({"metadata": {"labels": {"region": "south east"}}}),
        "metadata.labels",
    ),
    "ssh-secret": (lambda d: d["spec"].pop("sshKeySecret"), "spec.sshKeySecret"),
    "dup-keys": (
        b"apiVersion: gitops-edge.io/v1alpha1\nkind: ProvinceCluster\nkind: ProvinceCluster\nspec: {}\n",
        "",
    ),
    "not-utf8": (b"apiVersion: gitops-edge.io/v1alpha1\nkind: Province\xffCluster\n", ""),
    "syntax": (b"spec: {edge: [\n", ""),
    "deep": (("a: " + "[" * 500 + "]" * 500 + "\n").encode(), ""),
    "bomb": (
        (
            "\n".join(
                ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
                + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
            )
            + "\n"
        ).encode(),
        "",
    ),
    "huge": (b"a: '" + b"x" * (2 * 1024 * 1024) + b"'\n", ""),
}

GOOD = ["hebei", "henan", "hunan", "hubei"]


@pytest.fixture
def mixed_repo(tmp_path: Path) -> Path:
    for name in GOOD:
        write_site(tmp_path, name, province(name))
    for name, (change, _field) in BROKEN.items():
        if isinstance(change, bytes):
            write_site(tmp_path, name, change)
        else:
            doc = province(name)
            change(doc)
            write_site(tmp_path, name, doc)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text(yaml.safe_dump(province("escape")))
    (tmp_path / "provinces" / "escape").mkdir()
    (tmp_path / "provinces" / "escape" / "cluster.yaml").symlink_to(outside)
    return tmp_path


def test_mixed_repo_human_output(mixed_repo: Path) -> None:
    res = run_cli("validate", mixed_repo)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = res.stdout.splitlines()
    for name, (_change, field) in BROKEN.items():
        where = re.escape(f"provinces/{name}/cluster.yaml") + r"(:[0-9]+(:[0-9]+)?)?: "
        pattern = re.compile(where + (re.escape(f"{field}: ") if field else ""))
        assert any(pattern.match(line) for line in lines), f"{name}: no line matching {pattern}"
    assert any(line.startswith("provinces/escape/cluster.yaml: ") for line in lines)
    total = len(GOOD) + len(BROKEN) + 1
    assert lines[-1] == f"{total} site(s): {len(GOOD)} valid, {len(BROKEN) + 1} invalid"
    assert len(BROKEN) >= 30


def test_mixed_repo_json_output(mixed_repo: Path) -> None:
    res = run_cli("validate", mixed_repo, "--output", "json")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert set(report) == {"sites", "errors"}
    by_site = {s["site"]: s for s in report["sites"]}
    for name in GOOD:
        assert by_site[name] == {
            "site": name,
            "path": f"provinces/{name}",
            "valid": True,
            "errors": [],
        }
    for name, (_change, field) in BROKEN.items():
        entry = by_site[name]
        assert entry["valid"] is False
        assert entry["errors"], name
        for err in entry["errors"]:
            assert set(err) == {"file", "field", "message", "line", "column"}
            assert err["file"] == f"provinces/{name}/cluster.yaml"
        if field:
            assert field in {e["field"] for e in entry["errors"]}, (name, entry["errors"])


def test_all_valid_exits_zero(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    res = run_cli("validate", tmp_path)
    assert res.returncode == 0
    assert res.stdout.strip() == "1 site(s): 1 valid, 0 invalid"


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    assert run_cli("validate", tmp_path / "missing").returncode == 2
    assert run_cli("validate", "--output", "xml", tmp_path).returncode == 2


SITE_TEXT = """\
apiVersion: gitops-edge.io/v1alpha1
kind: ProvinceCluster
spec:
  sshKeySecret: eggo-ssh
  eggo:
    cluster-id: gd-paas
    masters:
    - {name: m1, ip: 10.0.0.11, port: 70000}
    workers:
    - name: w1
      ip: 10.0.0.256
      port: 22
"""


def test_text_output_names_line_and_column(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", SITE_TEXT)
    res = run_cli("validate", tmp_path)
    assert res.returncode == 1
    assert "provinces/gd/cluster.yaml:8:33: spec.eggo.masters[0].port: SSH port 70000" in res.stdout
    assert "provinces/gd/cluster.yaml:11:7: spec.eggo.workers[0].ip: '10.0.0.256'" in res.stdout
    report = json.loads(run_cli("validate", tmp_path, "-o", "json").stdout)
    (site,) = report["sites"]
    located = {(e["field"], e["line"], e["column"]) for e in site["errors"]}
    assert ("spec.eggo.masters[0].port", 8, 33) in located
    assert ("spec.eggo.workers[0].ip", 11, 7) in located


def test_github_annotations(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", SITE_TEXT)
    res = run_cli("validate", ".", "-o", "github", cwd=tmp_path)
    assert res.returncode == 1
    lines = [line for line in res.stdout.splitlines() if line.startswith("::error ")]
    assert (
        "::error file=provinces/gd/cluster.yaml,line=11,col=7,"
        "title=gitops-edge%3A spec.eggo.workers[0].ip::spec.eggo.workers[0].ip: "
        "'10.0.0.256' is not an IP address"
    ) in lines
    assert res.stdout.splitlines()[-1] == "1 site(s): 0 valid, 1 invalid"


def test_github_annotations_from_the_repo_root_escape_values(tmp_path: Path) -> None:
    doc = province("gd")
    doc["spec"]["applications"][0]["name"] = "a,b:c%"
    write_site(tmp_path, "gd", doc)
    res = run_cli("validate", ".", "-o", "github", cwd=tmp_path)
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("::error ")]
    props, _, message = line.removeprefix("::error ").partition("::")
    assert props.startswith("file=provinces/gd/cluster.yaml,line=")
    assert "%25" in message and "\n" not in message


def test_gitlab_code_quality_report(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", SITE_TEXT)
    write_site(tmp_path, "hn", province("hn"))
    res = run_cli("validate", ".", "-o", "codequality", cwd=tmp_path)
    assert res.returncode == 1
    issues = json.loads(res.stdout)
    assert isinstance(issues, list) and len(issues) >= 2
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["path"] == "provinces/gd/cluster.yaml"
        assert isinstance(issue["location"]["lines"]["begin"], int)
    port = next(i for i in issues if "masters[0].port" in i["description"])
    assert port["location"]["lines"]["begin"] == 8
    again = json.loads(run_cli("validate", ".", "-o", "codequality", cwd=tmp_path).stdout)
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in issues]
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_a_typo_in_defaults_is_reported_once_at_its_own_path(tmp_path: Path) -> None:
    for name in ("gd", "hn", "hb"):
        doc = province(name)
        doc["spec"]["eggo"].pop("service")
        write_site(tmp_path, name, doc)
    (tmp_path / "gitops-edge.yaml").write_text(
        "apiVersion: gitops-edge.io/v1alpha1\n"
        "kind: OpsRepo\n"
        "spec:\n"
        "  defaults:\n"
        "    eggo:\n"
        "      service: {cidr: 10.32.0.0/16, dnsaddress: 10.32.0.10}\n"
    )
    res = run_cli("validate", tmp_path)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    typo = [line for line in lines if "dnsaddress" in line]
    assert typo == [
        "gitops-edge.yaml:6:37: spec.defaults.eggo.service.dnsaddress: "
        "unknown field 'dnsaddress'; did you mean 'dnsaddr'?"
    ]
    assert len(lines) == 3, lines  # the problem, one line for the 3 sites, the summary
    report = json.loads(run_cli("validate", tmp_path, "-o", "json").stdout)
    assert [e["field"] for e in report["errors"]] == ["spec.defaults.eggo.service.dnsaddress"]
    assert all(not s["valid"] for s in report["sites"])


def test_a_bad_default_value_is_reported_once_at_its_own_path(tmp_path: Path) -> None:
    for name in ("gd", "hn"):
        doc = province(name)
        doc["spec"]["eggo"].pop("service")
        write_site(tmp_path, name, doc)
    (tmp_path / "gitops-edge.yaml").write_text(
        "apiVersion: gitops-edge.io/v1alpha1\n"
        "kind: OpsRepo\n"
        "spec:\n"
        "  defaults:\n"
        "    eggo:\n"
        "      service:\n"
        "        dnsaddr: 10.32.0.300\n"
    )
    report = json.loads(run_cli("validate", tmp_path, "-o", "json").stdout)
    assert report["errors"] == [
        {
            "file": "gitops-edge.yaml",
            "field": "spec.defaults.eggo.service.dnsaddr",
            "message": "'10.32.0.300' is not an IP address",
            "line": 7,
            "column": 9,
        }
    ]
    for site in report["sites"]:
        assert site["valid"] is False
        assert [e["message"] for e in site["errors"]] == [
            "not valid: gitops-edge.yaml spec.defaults has errors for this site (reported there)"
        ]


def test_edge_objects_are_checked_against_their_kubernetes_schema(tmp_path: Path) -> None:
    write_site(tmp_path, "gd", province("gd"))
    edge = tmp_path / "provinces" / "gd" / "edge" / "settings.yaml"
    edge.parent.mkdir()
    edge.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: 1}\n")
    res = run_cli("validate", tmp_path)
    assert res.returncode == 1
    assert (
        "provinces/gd/edge/settings.yaml:5:8: data.a: must be a string, got a number 1; quote it"
        in res.stdout
    )
