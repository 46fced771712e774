"""The committed JSON Schemas match the models, and flag the values the checker flags."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.schemas import SCHEMA_BASE_URL, all_schemas
from gitops_edge.specs import eggo, k8s, province, sites
from gitops_edge.specs.sites import SiteDir, validate_site
from tests.builders import province as province_doc

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIRS = ("schemas", "sample-repo/schemas")
"""The tool's own copy and the sample ops repo's copy (what its modelines point at)."""
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)

Doc = dict[str, Any]


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(all_schemas()[name])
    return schema


PROVINCE = _schema("provincecluster.schema.json")
OPSREPO = _schema("opsrepo.schema.json")


def _schema_errors(doc: Doc, schema: dict[str, Any] = PROVINCE) -> list[str]:
    """Where the schema alone flags ``doc``: dotted paths, as ``validate`` names fields."""
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(
        {
            ".".join(str(p) for p in leaf.absolute_path)
            for e in validator.iter_errors(doc)
            for leaf in _leaves(e)
        }
    )


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The errors inside an ``anyOf`` (``X | None`` fields), without the "not null" branch."""
    inner = [c for c in error.context or () if c.schema != {"type": "null"}]
    return [leaf for c in inner for leaf in _leaves(c)] if inner else [error]


def _checker_fields(doc: Doc) -> list[str]:
    site = validate_site(
        SiteDir("gd", "provinces/gd", "provinces/gd/cluster.yaml"),
        doc,
        defaults={},
        defaults_file="gitops-edge.yaml",
    )
    return [p.field for p in site.problems]


@pytest.mark.parametrize("directory", SCHEMA_DIRS)
@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_committed_schema_matches_models(directory: str, name: str) -> None:
    committed = (ROOT / directory / name).read_text(encoding="utf-8")
    assert committed == all_schemas()[name], (
        f"{directory}/{name} is stale: run `gitops-edge schemas --out {directory}`"
    )


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_every_schema_is_valid_and_has_a_stable_id(name: str) -> None:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"{SCHEMA_BASE_URL}/{name}"
    assert SCHEMA_BASE_URL == "https://gitops-edge.io/schemas/v1alpha1"
    assert province.API_VERSION.endswith("/" + SCHEMA_BASE_URL.rsplit("/", 1)[1])


def test_schema_accepts_a_valid_site_and_rejects_unknown_keys() -> None:
    doc = province_doc("gd")
    assert _schema_errors(doc) == []
    doc["spec"]["eggo"]["bindport"] = 1
    assert _schema_errors(doc) == ["spec.eggo"]


def test_opsrepo_schema_describes_defaults() -> None:
    doc: Doc = {
        "apiVersion": "gitops-edge.io/v1alpha1",
        "kind": "OpsRepo",
        "spec": {"defaults": {"eggo": {"runtime": "iSulad"}}},
    }
    assert _schema_errors(doc, OPSREPO) == []
    doc["spec"]["defaults"]["eggo"]["runtimee"] = "x"
    assert _schema_errors(doc, OPSREPO) == ["spec.defaults.eggo"]
    doc["spec"]["defaults"]["eggo"] = {"service": {"dnsaddr": "10.32.0.300"}}
    assert _schema_errors(doc, OPSREPO) == ["spec.defaults.eggo.service.dnsaddr"]
    doc["spec"]["defaults"]["eggo"] = {"service": {"dnsaddr": "10.32.0.10"}}
    doc["spec"]["namespacePrefix"] = "Edge_"
    assert _schema_errors(doc, OPSREPO) == ["spec.namespacePrefix"]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """A mutation setting ``path`` (dots, ``[i]`` for list items) below ``spec``."""

    def apply(doc: Doc) -> None:
        parts = [int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", path) if p]
        node: Any = doc["spec"]
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value

    return apply


BAD_VALUES: dict[str, tuple[str, Any]] = {
    # the values the issue names first: each flagged by the schema alone
    "port 70000": ("eggo.masters[0].port", 70000),
    "bad ip": ("eggo.workers[1].ip", "10.0.0.256"),
    "arch arm65": ("eggo.masters[0].arch", "arm65"),
    # and the rest of eggo's checker
    "cluster-id": ("eggo.cluster-id", "GD_Paas"),
    "host name": ("eggo.workers[1].name", "W1"),
    "port 0": ("eggo.workers[1].port", 0),
    "service cidr": ("eggo.service.cidr", "10.32.0.0/33"),
    "cidr netmask": ("eggo.network.podcidr", "10.244.0.0/255.255.0.0"),
    "dnsaddr": ("eggo.service.dnsaddr", "10.32.0"),
    "duration": ("eggo.apiserver-timeout", "2 minutes"),
    "endpoint scheme": ("eggo.apiserver-endpoint", "https://10.0.0.1:6443"),
    "endpoint port": ("eggo.apiserver-endpoint", "10.0.0.1:70000"),
    "endpoint v6 unbracketed": ("eggo.apiserver-endpoint", "fd00::1:6443"),
    "relative path": ("eggo.cni-bin-dir", "opt/cni/bin"),
    "lb bind-port": ("eggo.loadbalance", {"ip": "10.0.0.9", "port": 22, "bind-port": 65536}),
    "protocol": ("eggo.open-ports.worker[0].protocol", "sctp"),
    "open-ports role": ("eggo.open-ports", {"workers": [{"port": 179, "protocol": "tcp"}]}),
    "package type": ("eggo.install.container[0].type", "rpm"),
    "package name shell": ("eggo.install.container[0].name", "iSulad;reboot"),
    "package timeout": ("eggo.install.container[0].timeout", "5 min"),
    "schedule": ("eggo.install.container[0].schedule", "afterjoin"),
    "srcpath dotdot": ("eggo.install.package-source.srcpath.arm64", "/root/../etc/x.tar.gz"),
    "extra args name": ("eggo.config-extra-args", [{"name": "kubeproxy", "extra-args": {}}]),
    "sans ip": ("eggo.apiserver-cert-sans", {"ips": ["10.0.0.1.1"]}),
    "nodeName": ("edge", {"nodeName": "GD_EDGE"}),
    "edge arch": ("edge", {"arch": "arm65"}),
    "app name": ("applications[0].name", "Base"),
    "secret name": ("sshKeySecret", "eggo_ssh"),
    "label value": ("edge", {"nodeSelector": {"site": "not valid!"}}),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_the_schema_alone_flags_what_the_checker_flags(case: str) -> None:
    path, value = BAD_VALUES[case]
    doc = province_doc("gd")
    _set(path, value)(doc)
    flagged = _schema_errors(doc)
    assert flagged, f"{case}: the schema accepts {value!r} at spec.{path}"
    top = "spec." + re.split(r"\.|\[", path)[0]
    assert all(f.startswith(top) for f in flagged), flagged
    assert any(f.startswith(top) for f in _checker_fields(doc)), "the checker flags it too"


def test_port_70000_bad_ip_and_arm65_each_at_their_field() -> None:
    doc = province_doc("gd")
    doc["spec"]["eggo"]["masters"][0].update({"port": 70000, "ip": "10.0.0.256", "arch": "arm65"})
    assert _schema_errors(doc) == [
        "spec.eggo.masters.0.arch",
        "spec.eggo.masters.0.ip",
        "spec.eggo.masters.0.port",
    ]


GOOD_VALUES: dict[str, tuple[str, Any]] = {
    "ipv6 host": ("eggo.workers[1].ip", "fd00:10:20::21"),
    "ipv4-mapped": ("eggo.workers[1].ip", "::ffff:10.20.0.21"),
    "unset arch": ("eggo.workers[1].arch", ""),
    "endpoint name": ("eggo.apiserver-endpoint", "api.gd.example:6443"),
    "endpoint v6": ("eggo.apiserver-endpoint", "[fd00::10]:6443"),
    "duration": ("eggo.apiserver-timeout", "1h30m0.5s"),
    "v6 cidr": ("eggo.service.cidr", "fd00:32::/108"),
    "lb unset ports": ("eggo.loadbalance", {"name": "lb"}),
    "package": ("eggo.install.container[0]", {"name": "iSulad", "type": "repo", "dst": "/opt"}),
}


@pytest.mark.parametrize("case", sorted(GOOD_VALUES))
def test_the_schema_accepts_what_the_checker_accepts(case: str) -> None:
    path, value = GOOD_VALUES[case]
    doc = province_doc("gd")
    _set(path, value)(doc)
    assert _checker_fields(doc) == []
    assert _schema_errors(doc) == []


def _matches(body: str, value: str) -> bool:
    """What a JSON Schema validator does with ``pattern``: ``re.search`` of the anchored body."""
    return re.search(eggo.exact(body), value) is not None


_ADDRESS_TEXT = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=4).map(lambda a: f"64:ff9b::{a}"),
    st.text(alphabet="0123456789abcdefABCDEF:.%/", max_size=45),
)


@settings(max_examples=400, deadline=None)
@given(_ADDRESS_TEXT)
def test_ip_pattern_agrees_with_the_checker(value: str) -> None:
    assert _matches(eggo.IP_BODY, value) == eggo.is_ip(value), value


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.tuples(st.ip_addresses(), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
        st.tuples(_ADDRESS_TEXT, st.integers(-1, 140)).map(lambda t: f"{t[0]}/{t[1]}"),
        st.text(alphabet="0123456789abcdef:./", max_size=30),
    )
)
def test_cidr_pattern_agrees_with_the_checker(value: str) -> None:
    assert _matches(eggo.CIDR_BODY, value) == eggo.is_cidr(value), value


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.+-nsuµmh :[]/abz", max_size=14))
def test_duration_and_endpoint_patterns_agree_with_the_checker(value: str) -> None:
    assert _matches(eggo.DURATION_BODY, value) == eggo.is_duration(value), value
    endpoint_ok = not list(eggo._check_endpoint(value))
    assert _matches(eggo.HOST_PORT_BODY, value) == endpoint_ok, value


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abz09-._/A", max_size=20))
def test_name_patterns_agree_with_the_checks(value: str) -> None:
    assert (re.search(k8s.DNS1123_SUBDOMAIN, value) is not None and len(value) <= 253) == (
        k8s.is_dns1123_subdomain(value)
    )
    assert (re.search(k8s.LABEL_VALUE, value) is not None and len(value) <= 63) == (
        k8s.label_value_error(value) is None
    )


def test_ipv6_forms_the_pattern_must_know() -> None:
    for text in ("::", "::1", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4"):
        ipaddress.ip_address(text)
        assert _matches(eggo.IP_BODY, text), text
    for text in ("1:2:3:4:5:6:7:8:9", "1::2::3", "fe80::1%eth0", ":::", "1:2:3:4:5:6:7:1.2.3.4"):
        assert not _matches(eggo.IP_BODY, text), text


def test_site_name_bound_is_the_discovery_bound() -> None:
    assert province.MAX_SITE_ID == sites.MAX_SITE_ID


def _modeline_target(path: Path) -> Path:
    found = MODELINE.search(path.read_text(encoding="utf-8"))
    assert found, f"{path}: no yaml-language-server modeline"
    target = (path.parent / found.group(1)).resolve()
    assert target.is_relative_to((ROOT / "sample-repo").resolve()), (
        f"{path}: the modeline must point inside the ops repo, not at {found.group(1)}"
    )
    return target


SAMPLE_FILES = sorted(
    [
        ROOT / "sample-repo" / "gitops-edge.yaml",
        *(ROOT / "sample-repo" / "provinces").rglob("cluster.yaml"),
    ]
)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_sample_files_validate_against_the_schema_their_modeline_names(path: Path) -> None:
    target = _modeline_target(path)
    schema = json.loads(target.read_text(encoding="utf-8"))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert schema["$id"].endswith(f"/{doc['kind'].lower()}.schema.json")
    assert _schema_errors(copy.deepcopy(doc), schema) == []


def _patterns(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(_patterns(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_patterns(v) for v in node))
    return set()


PATTERN_SAMPLES = [
    "", "gd-paas-01", "GD_1", "a..b", "10.0.0.1", "10.0.0.256", "01.2.3.4", "::", "fe80::1",
    "fe80::1%eth0", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "10.0.0.0/8", "10.0.0.0/33",
    "fd00::/108", "30s", "1h30m", "2 minutes", "0", "/opt/cni/bin", "opt/cni", "/root/../x",
    "10.0.0.1:6443", "[fd00::1]:6443", "fd00::1:6443", "api.example:70000", "https://a:1",
    "iSulad", "iSulad;reboot", "gitops-edge.io/site", "not valid!", "edge-", "Edge_", "µs",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("node") is None, reason="node (an ECMA-262 engine) not installed")
def test_patterns_mean_the_same_to_an_editors_regex_engine() -> None:
    """yaml-language-server runs ``pattern`` as a JavaScript RegExp with the ``u`` flag."""
    patterns = sorted(_patterns(PROVINCE) | _patterns(OPSREPO))
    assert len(patterns) >= 10
    script = (
        "const {patterns, samples} = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(patterns.map(p => {const r = new RegExp(p, 'u');"
        " return samples.map(s => r.test(s));})));"
    )
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"patterns": patterns, "samples": PATTERN_SAMPLES}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    in_js = json.loads(proc.stdout)
    for pattern, js_row in zip(patterns, in_js, strict=True):
        py_row = [re.search(pattern, s) is not None for s in PATTERN_SAMPLES]
        assert py_row == js_row, pattern
