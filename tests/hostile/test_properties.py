"""Properties of loading and rendering, over inputs hypothesis makes up.

- Loading never crashes: any bytes as a repo file, any text as YAML, any parsed value as
  a site document give a value or Problems, never an exception.
- Any realistic, valid ProvinceCluster (hosts with random names, addresses, ports and
  arches; random applications; optional load balancer and API endpoint) validates,
  renders, renders to the same bytes twice, and its ``deploy.yaml`` reads back as the
  spec eggo was given.
- Any spec that validates renders, including specs drawn from a looser strategy where
  most fail validation.
"""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_edge.problems import Problem
from gitops_edge.render import RenderContext, dump_site, render_site
from gitops_edge.render.eggo_job import PRIVATE_KEY_PATH
from gitops_edge.specs import yamlsafe
from gitops_edge.specs.bundle import parse_documents
from gitops_edge.specs.eggo import ARCHES, DeployConfig
from gitops_edge.specs.repo import load_repo
from gitops_edge.specs.sites import Site, SiteDir, validate_site
from tests.builders import province, write_site

Doc = dict[str, Any]

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

RENDERING = settings(PROPERTY, max_examples=40)
"""Examples that validate and render a whole site (twice) cost more than parsing."""

# --- loading never crashes ---------------------------------------------------------------

YAML_BITS = (
    ": ", "- ", "\n", "  ", "&a ", "*a ", "<<: ", "{", "}", "[", "]", ", ", "? ", "---\n",
    "...\n", "!!binary ", "!!python/object:os.system ", "!Ref ", "!!set ", "!!str ", "!!map ",
    "'", '"', "\\u", "#", "|\n", ">\n", "%YAML 1.1\n", "key", "spec", "eggo", "0x1F", "1e3",
    "no", "~", "2024-01-01", "\t", "\x00", "\x85", "\ufeff", "é",
)  # fmt: skip
_no_tags = st.characters(exclude_categories=("Cs",), exclude_characters="!")
"""Tags come from YAML_BITS only (misfit core tags have their own test); no lone
surrogates (text read from a file is valid UTF-8, so it never holds one)."""
yaml_ish = st.lists(
    st.one_of(st.sampled_from(YAML_BITS), st.text(_no_tags, max_size=5)), max_size=40
).map("".join)


def _loads_or_refuses(text: str) -> None:
    try:
        yamlsafe.parse_text(text)
    except yamlsafe.YamlRefused as exc:
        assert exc.message
    try:
        parse_documents(text)
    except yamlsafe.YamlRefused as exc:
        assert exc.message


@PROPERTY
@given(yaml_ish)
def test_yaml_text_parses_or_is_refused(text: str) -> None:
    _loads_or_refuses(text)


@PROPERTY
@given(st.text(_no_tags))
def test_any_text_parses_or_is_refused(text: str) -> None:
    _loads_or_refuses(text)


TAG_MISMATCHES = ["!!int twenty-two", "!!float x", "!!bool maybe", "!!timestamp someday"]
"""Explicit core tags on values that do not fit them: PyYAML raises plain Python errors."""


@pytest.mark.parametrize("value", TAG_MISMATCHES)
def test_tag_mismatch_in_a_bundle_is_refused(value: str) -> None:
    with pytest.raises(yamlsafe.YamlRefused, match="does not fit its explicit tag"):
        parse_documents(f"a: {value}\n")


@pytest.mark.parametrize("value", TAG_MISMATCHES)
def test_tag_mismatch_in_a_site_file_is_refused(value: str) -> None:
    with pytest.raises(yamlsafe.YamlRefused):
        yamlsafe.parse_text(f"a: {value}\n")


@PROPERTY
@given(data=st.one_of(st.binary(max_size=300), yaml_ish.map(str.encode)))
def test_any_file_loads_or_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_bytes(data)
    try:
        yamlsafe.load_file(tmp_path, path)
    except yamlsafe.YamlRefused as exc:
        assert isinstance(yamlsafe.problem_for(tmp_path, path, exc), Problem)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _spliced(base: Doc, path: list[str], value: Any) -> Doc:
    doc = copy.deepcopy(base)
    node: Any = doc
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return doc


FIELDS = st.sampled_from(
    [
        ["metadata"], ["metadata", "labels"], ["spec"], ["spec", "edge"], ["spec", "eggo"],
        ["spec", "eggo", "masters"], ["spec", "eggo", "service"], ["spec", "eggo", "install"],
        ["spec", "eggo", "open-ports"], ["spec", "applications"], ["spec", "rollout"],
        ["spec", "sshKeySecret"], ["spec", "eggo", "cluster-id"], ["kind"],
    ]
)  # fmt: skip


@PROPERTY
@given(st.one_of(json_values, st.tuples(FIELDS, json_values)))
def test_any_document_validates_to_a_site(value: Any) -> None:
    """Whatever the YAML held (a value, or a good document with one field replaced)."""
    doc = _spliced(province("gd"), *value) if isinstance(value, tuple) else value
    site = validate_site(_dir("gd"), doc, defaults={}, defaults_file="gitops-edge.yaml")
    assert site.valid or all(isinstance(p, Problem) and p.file for p in site.problems)
    if site.valid:
        _render_twice(site)


@settings(max_examples=15, deadline=None, database=None)
@given(data=st.one_of(st.binary(max_size=200), yaml_ish.map(str.encode)))
def test_any_file_costs_only_its_site(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("repo")
    write_site(root, "hebei", province("hebei"))
    write_site(root, "bad", data)
    repo = load_repo(root)
    assert [s.id for s in repo.valid_sites] in (["hebei"], ["bad", "hebei"])


# --- valid specs render, deterministically -------------------------------------------------

dns_label = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=16).map(
    lambda s: s.strip("-") or "x"
)
dns_subdomain = st.lists(dns_label, min_size=1, max_size=3).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(1, 65535)
arches = st.sampled_from(("", *ARCHES))


def _host(name: str, ip: str, port: int, arch: str) -> Doc:
    host: Doc = {"name": name, "ip": ip, "port": port}
    if arch:
        host["arch"] = arch
    return host


RESERVED_BUG = (
    "validate accepts cluster-id 'ssh' or 'config', which render refuses (render/eggo_job.py "
    "mounts the eggo config and SSH key at /etc/eggo/config and /etc/eggo/ssh): a spec passes "
    "review, then is not rendered. Fix: refuse them in specs/eggo.py _check_cluster (and move "
    "tests/render/test_eggo_job.py::test_reserved_cluster_id_is_a_problem to validation)"
)
cluster_ids = dns_subdomain.filter(lambda c: c not in ("ssh", "config"))  # see RESERVED_BUG

machines = st.lists(
    st.builds(_host, dns_subdomain, st.one_of(ipv4, ipv6), ports, arches),
    min_size=1,
    max_size=8,
    unique_by=(lambda h: h["name"], lambda h: h["ip"]),
)


@st.composite
def eggo_configs(draw: st.DrawFn) -> Doc:
    pool = draw(machines)
    n_masters = draw(st.integers(1, len(pool)))
    masters = pool[:n_masters]
    workers = draw(st.lists(st.sampled_from(pool), unique_by=lambda h: h["ip"], max_size=len(pool)))
    conf: Doc = {
        "cluster-id": draw(cluster_ids),
        "masters": masters,
    }
    if workers:
        conf["workers"] = workers
    if draw(st.booleans()):
        conf["loadbalance"] = {
            "name": draw(dns_subdomain),
            "ip": draw(ipv4),
            "port": draw(ports),
            "bind-port": draw(ports),
        }
    if draw(st.booleans()):
        host = draw(st.one_of(ipv4, dns_subdomain))
        conf["apiserver-endpoint"] = f"{host}:{draw(ports)}"
    if draw(st.booleans()):
        conf["service"] = {"cidr": "10.32.0.0/16", "dnsaddr": "10.32.0.10"}
        conf["network"] = {
            "podcidr": "10.244.0.0/16",
            "plugin": draw(st.sampled_from(["calico", "flannel"])),
        }
    if draw(st.booleans()):
        conf["install"] = {
            "package-source": {
                "type": "tar.gz",
                "dstpath": "/root/pkgs",
                "srcpath": {a: f"/root/packages/{a}.tar.gz" for a in ARCHES},
            },
            "container": [{"name": "iSulad", "type": "repo", "timeout": "30s"}],
        }
    if draw(st.booleans()):
        conf["runtime"] = draw(st.sampled_from(["iSulad", "docker", "containerd"]))
    return conf


app_path = st.lists(
    st.text(string.ascii_lowercase + "0123456789_.-", min_size=1, max_size=10),
    min_size=1,
    max_size=3,
).map("/".join)


@st.composite
def applications(draw: st.DrawFn) -> list[Doc]:
    names = draw(st.lists(dns_subdomain, unique=True, max_size=4))
    apps: list[Doc] = []
    for name in names:
        app: Doc = {
            "name": name,
            "source": {
                "repoURL": "https://git.example/ops.git",
                "path": draw(app_path.filter(lambda p: ".." not in p.split("/"))),
                "targetRevision": draw(st.sampled_from(["main", "v1.2.3", "HEAD"])),
            },
            "destination": {"namespace": draw(dns_label)},
        }
        if draw(st.booleans()):
            app["project"] = draw(dns_label)
        if draw(st.booleans()):
            app["syncPolicy"] = {"automated": {"prune": draw(st.booleans()), "selfHeal": True}}
        apps.append(app)
    return apps


@st.composite
def province_clusters(draw: st.DrawFn) -> Doc:
    spec: Doc = {"sshKeySecret": draw(dns_subdomain)}
    if draw(st.integers(0, 4)):
        spec["eggo"] = draw(eggo_configs())
    apps = draw(applications())
    if apps:
        spec["applications"] = apps
    edge = draw(st.sampled_from(["default", "name", "selector"]))
    if edge == "name":
        spec["edge"] = {"nodeName": draw(dns_subdomain)}
    elif edge == "selector":
        spec["edge"] = {"nodeSelector": {"kubernetes.io/hostname": draw(dns_label)}}
    if draw(st.booleans()):
        spec.setdefault("edge", {})["arch"] = draw(st.sampled_from(["amd64", "arm64"]))
    spec["rollout"] = {"wave": draw(st.integers(0, 1000))}
    spec["suspend"] = draw(st.booleans())
    spec["deletionPolicy"] = draw(st.sampled_from(["Retain", "Cleanup"]))
    doc: Doc = {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "ProvinceCluster", "spec": spec}
    if draw(st.booleans()):
        doc["metadata"] = {"labels": {"region": draw(dns_label)}}
    return doc


site_ids = dns_label


def _dir(site_id: str) -> SiteDir:
    return SiteDir(site_id, f"provinces/{site_id}", f"provinces/{site_id}/cluster.yaml")


def _validate(site_id: str, doc: Doc) -> Site:
    raw = yaml.safe_load(yaml.safe_dump(doc))  # what a file holding the spec loads to
    return validate_site(_dir(site_id), raw, defaults={}, defaults_file="gitops-edge.yaml")


def _render_twice(site: Site) -> dict[str, bytes]:
    first = dump_site(render_site(site, RenderContext(revision="abc123")))
    again = dump_site(render_site(site, RenderContext(revision="abc123")))
    assert first == again
    return first


@RENDERING
@given(site_ids, province_clusters())
def test_valid_specs_validate_render_and_round_trip(site_id: str, doc: Doc) -> None:
    site = _validate(site_id, doc)
    assert site.valid, [str(p) for p in site.problems]
    files = _render_twice(site)
    assert files == _render_twice(_validate(site_id, copy.deepcopy(doc)))
    assert site.spec is not None
    conf = site.spec.spec.eggo
    configs = [f for f in files if "-configmap-eggo-" in f]
    if conf is None:
        assert not configs
        return
    (config,) = configs
    text = yaml.safe_load(files[config])["data"]["deploy.yaml"]
    back = DeployConfig.model_validate(yamlsafe.parse_text(text))
    assert back == conf.model_copy(update={"private_key_path": PRIVATE_KEY_PATH})


# --- whatever validates renders ---------------------------------------------------------------

loose_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-._$;`\n ", min_size=0, max_size=12
)
loose_ips = st.one_of(ipv4, st.text(alphabet="0123456789.:abcdef%", max_size=16))


@st.composite
def loose_specs(draw: st.DrawFn) -> Doc:
    doc = draw(province_clusters())
    spec = doc["spec"]
    if "eggo" in spec:
        for host in spec["eggo"]["masters"]:
            host["name"] = draw(st.one_of(st.just(host["name"]), loose_names))
            host["ip"] = draw(st.one_of(st.just(host["ip"]), loose_ips))
            host["port"] = draw(st.one_of(st.just(host["port"]), st.integers(-1, 70000)))
        spec["eggo"]["cluster-id"] = draw(
            st.one_of(
                st.just(spec["eggo"]["cluster-id"]),
                loose_names.filter(lambda c: c not in ("ssh", "config")),
            )
        )
    for app in spec.get("applications", []):
        app["name"] = draw(st.one_of(st.just(app["name"]), loose_names))
    spec["sshKeySecret"] = draw(st.one_of(st.just(spec["sshKeySecret"]), loose_names))
    return doc


@RENDERING
@given(site_ids, loose_specs())
def test_every_spec_that_validates_renders(site_id: str, doc: Doc) -> None:
    site = _validate(site_id, doc)
    if site.valid:
        _render_twice(site)
    else:
        assert site.problems and all(p.file == site.file for p in site.problems)


@pytest.mark.xfail(strict=True, reason=RESERVED_BUG)
@pytest.mark.parametrize("cluster_id", ["ssh", "config"])
def test_a_reserved_cluster_id_fails_validation_not_render(cluster_id: str) -> None:
    doc = province("gd")
    doc["spec"]["eggo"]["cluster-id"] = cluster_id
    site = _validate("gd", doc)
    if site.valid:
        _render_twice(site)
