"""One test per eggo checker rule (cmd/checker.go RunChecker) and per thing eggo swallows."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gitops_edge.specs.sites import SiteDir, validate_site
from tests.builders import eggo_spec, province

SITE = SiteDir("gd", "provinces/gd", "provinces/gd/cluster.yaml")
Mutate = Callable[[dict[str, Any]], None]


def problems(mutate: Mutate) -> dict[str, str]:
    doc = province("gd")
    mutate(doc["spec"]["eggo"])
    site = validate_site(SITE, doc, defaults={}, defaults_file="gitops-edge.yaml")
    return {p.field: p.message for p in site.problems}


def test_baseline_spec_is_valid() -> None:
    assert problems(lambda e: None) == {}


def _set(path: str, value: Any) -> Mutate:
    def mutate(e: dict[str, Any]) -> None:
        parts = path.split(".")
        target: Any = e
        for p in parts[:-1]:
            target = target[int(p)] if p.isdigit() else target.setdefault(p, {})
        last = parts[-1]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


RULES: list[tuple[str, Mutate, str, str]] = [
    ("cluster-id not DNS-1123", _set("cluster-id", "GD_Paas"), "spec.eggo.cluster-id", "DNS-1123"),
    ("cluster-id empty", _set("cluster-id", ""), "spec.eggo.cluster-id", "DNS-1123"),
    (
        "private key path relative",
        _set("private-key-path", "id_rsa"),
        "spec.eggo.private-key-path",
        "absolute",
    ),
    ("no masters", _set("masters", []), "spec.eggo.masters", "at least one master"),
    (
        "external ca path relative",
        _set("external-ca-path", "ca"),
        "spec.eggo.external-ca-path",
        "absolute",
    ),
    (
        "endpoint with scheme",
        _set("apiserver-endpoint", "https://10.0.0.1:6443"),
        "spec.eggo.apiserver-endpoint",
        "without a scheme",
    ),
    (
        "endpoint without port",
        _set("apiserver-endpoint", "10.0.0.1"),
        "spec.eggo.apiserver-endpoint",
        "host:port",
    ),
    (
        "endpoint bad host",
        _set("apiserver-endpoint", "Bad_Host:6443"),
        "spec.eggo.apiserver-endpoint",
        "DNS-1123",
    ),
    (
        "endpoint bad port",
        _set("apiserver-endpoint", "api.gd.example:http"),
        "spec.eggo.apiserver-endpoint",
        "port",
    ),
    (
        "apiserver timeout not a duration",
        _set("apiserver-timeout", "2 minutes"),
        "spec.eggo.apiserver-timeout",
        "Go duration",
    ),
    ("dns vip not an ip", _set("dns-vip", "10.32.0"), "spec.eggo.dns-vip", "IP address"),
    ("dns domain invalid", _set("dns-domain", "Cluster_Local"), "spec.eggo.dns-domain", "DNS-1123"),
    (
        "cni bin dir relative",
        _set("cni-bin-dir", "opt/cni/bin"),
        "spec.eggo.cni-bin-dir",
        "absolute",
    ),
    (
        "runtime endpoint not a url",
        _set("runtime-endpoint", "unix:///var/run/a b.sock"),
        "spec.eggo.runtime-endpoint",
        "URL",
    ),
    ("host name empty", _set("masters.0.name", ""), "spec.eggo.masters[0].name", "required"),
    (
        "host name invalid",
        _set("masters.0.name", "Master_1"),
        "spec.eggo.masters[0].name",
        "DNS-1123",
    ),
    ("host ip empty", _set("workers.1.ip", ""), "spec.eggo.workers[1].ip", "required"),
    (
        "host ip invalid",
        _set("workers.1.ip", "10.20.0.300"),
        "spec.eggo.workers[1].ip",
        "not an IP",
    ),
    ("host port zero", _set("workers.1.port", 0), "spec.eggo.workers[1].port", "1 to 65535"),
    ("host port too big", _set("workers.1.port", 65536), "spec.eggo.workers[1].port", "1 to 65535"),
    (
        "host arch unknown",
        _set("workers.1.arch", "arm"),
        "spec.eggo.workers[1].arch",
        "architecture",
    ),
    (
        "duplicate ip in list",
        _set("workers.1.ip", "10.20.0.11"),
        "spec.eggo.workers[1].ip",
        "duplicate ip",
    ),
    (
        "duplicate name in list",
        _set("workers.1.name", "m1"),
        "spec.eggo.workers[1].name",
        "duplicate name",
    ),
    (
        "same ip different host across lists",
        _set("workers.0.port", 2222),
        "spec.eggo.workers[0]",
        "different name, port or arch",
    ),
    (
        "lb ip invalid",
        _set("loadbalance", {"ip": "10.0.0", "port": 22, "bind-port": 8443}),
        "spec.eggo.loadbalance.ip",
        "not an IP",
    ),
    (
        "lb ip without ports",
        _set("loadbalance", {"ip": "10.20.0.5"}),
        "spec.eggo.loadbalance",
        "port and bind-port",
    ),
    (
        "lb port invalid",
        _set("loadbalance", {"port": 70000}),
        "spec.eggo.loadbalance.port",
        "1 to 65535",
    ),
    (
        "lb bind port invalid",
        _set("loadbalance", {"bind-port": 70000}),
        "spec.eggo.loadbalance.bind-port",
        "1 to 65535",
    ),
    ("service cidr invalid", _set("service.cidr", "10.32.0.0"), "spec.eggo.service.cidr", "CIDR"),
    (
        "service dnsaddr invalid",
        _set("service.dnsaddr", "x"),
        "spec.eggo.service.dnsaddr",
        "IP address",
    ),
    (
        "service gateway invalid",
        _set("service.gateway", "10.32.0.256"),
        "spec.eggo.service.gateway",
        "IP address",
    ),
    (
        "pod cidr invalid",
        _set("network.podcidr", "10.244.0.0/33"),
        "spec.eggo.network.podcidr",
        "CIDR",
    ),
    (
        "san dns invalid",
        _set("apiserver-cert-sans", {"dnsnames": ["API.GD"]}),
        "spec.eggo.apiserver-cert-sans.dnsnames[0]",
        "DNS-1123",
    ),
    (
        "san ip invalid",
        _set("apiserver-cert-sans", {"ips": ["1.2.3"]}),
        "spec.eggo.apiserver-cert-sans.ips[0]",
        "IP address",
    ),
    (
        "open port invalid",
        _set("open-ports.worker.0.port", 0),
        "spec.eggo.open-ports.worker[0].port",
        "1 to 65535",
    ),
    (
        "open port protocol",
        _set("open-ports.worker.0.protocol", "sctp"),
        "spec.eggo.open-ports.worker[0].protocol",
        "tcp or udp",
    ),
    (
        "open port role",
        _set("open-ports", {"gpu": [{"port": 1, "protocol": "tcp"}]}),
        "spec.eggo.open-ports.gpu",
        "unknown role",
    ),
    (
        "srcpath relative",
        _set("install.package-source.srcpath.arm64", "pkgs/arm64.tgz"),
        "spec.eggo.install.package-source.srcpath.arm64",
        "absolute",
    ),
    (
        "dstpath relative",
        _set("install.package-source.dstpath", "opt"),
        "spec.eggo.install.package-source.dstpath",
        "absolute",
    ),
    (
        "srcpath misses an arch",
        _set("install.package-source.srcpath", {"amd64": "/p/amd64.tgz"}),
        "spec.eggo.install.package-source.srcpath",
        "arch arm64",
    ),
    (
        "package name empty",
        _set("install.container.0.name", ""),
        "spec.eggo.install.container[0].name",
        "required",
    ),
    (
        "package type empty",
        _set("install.container.0.type", ""),
        "spec.eggo.install.container[0].type",
        "needs a type",
    ),
    (
        "package type unknown",
        _set("install.container.0.type", "exe"),
        "spec.eggo.install.container[0].type",
        "package type",
    ),
    (
        "package dst relative",
        _set("install.container.0.dst", "usr/bin"),
        "spec.eggo.install.container[0].dst",
        "absolute",
    ),
    (
        "package schedule",
        _set("install.container.0.schedule", "later"),
        "spec.eggo.install.container[0].schedule",
        "prejoin",
    ),
    (
        "package timeout",
        _set("install.container.0.timeout", "5 min"),
        "spec.eggo.install.container[0].timeout",
        "Go duration",
    ),
    (
        "addition role",
        _set("install.addition", {"gpu": [{"name": "x", "type": "yaml"}]}),
        "spec.eggo.install.addition.gpu",
        "unknown role",
    ),
    (
        "extra args component",
        _set("config-extra-args", [{"name": "kubeadm", "extra-args": {}}]),
        "spec.eggo.config-extra-args[0].name",
        "not a component",
    ),
    # what eggo's yaml.v1 silently swallows
    ("unknown key", _set("bindport", 1), "spec.eggo.bindport", "unknown field"),
    (
        "docs key name plugin-args",
        _set("network.plugin-args", {}),
        "spec.eggo.network.plugin-args",
        "did you mean 'pluginargs'",
    ),
    (
        "docs key name TimeOut",
        _set("install.container.0.TimeOut", "30s"),
        "spec.eggo.install.container[0].TimeOut",
        "did you mean 'timeout'",
    ),
    (
        "json tag dnsaddress",
        _set("service.dnsaddress", "10.32.0.10"),
        "spec.eggo.service.dnsaddress",
        "did you mean 'dnsaddr'",
    ),
    (
        "port as string",
        _set("masters.0.port", "22"),
        "spec.eggo.masters[0].port",
        "must be an integer",
    ),
    ("bool as string", _set("external-ca", "yes"), "spec.eggo.external-ca", "true or false"),
    (
        "string as number",
        _set("service.dns", {"imageversion": 1.8}),
        "spec.eggo.service.dns.imageversion",
        "quote it",
    ),
    ("list as mapping", _set("masters", {"name": "m1"}), "spec.eggo.masters", "must be a list"),
    (
        "username in git",
        _set("username", "root"),
        "spec.eggo.username",
        "must not be stored in Git",
    ),
    (
        "password in git",
        _set("password", "123456"),
        "spec.eggo.password",
        "must not be stored in Git",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_rule(mutate: Mutate, field: str, fragment: str) -> None:
    found = problems(mutate)
    assert field in found, f"expected a problem at {field}, got {found}"
    assert fragment in found[field]


def test_all_problems_reported_at_once() -> None:
    def many(e: dict[str, Any]) -> None:
        e["cluster-id"] = "Bad_ID"
        e["masters"][0]["port"] = "22"
        e["workers"][1]["ip"] = "nope"
        e["service"]["cidr"] = "x"

    found = problems(many)
    assert {
        "spec.eggo.cluster-id",
        "spec.eggo.masters[0].port",
        "spec.eggo.workers[1].ip",
        "spec.eggo.service.cidr",
    } <= set(found)


def test_same_host_in_masters_and_workers_is_fine() -> None:
    # eggo's own sample lists the master again as a worker, identically
    spec = eggo_spec()
    assert spec["masters"][0] == spec["workers"][0]
    assert problems(lambda e: None) == {}


def test_ipv6_hosts_and_endpoint() -> None:
    def v6(e: dict[str, Any]) -> None:
        e["masters"][0]["ip"] = "fd00::11"
        e["workers"] = [{"name": "w1", "ip": "fd00::21", "port": 22, "arch": "arm64"}]
        e["apiserver-endpoint"] = "[fd00::11]:6443"

    assert problems(v6) == {}


def test_srcpath_covers_loadbalancer_arch() -> None:
    def lb(e: dict[str, Any]) -> None:
        e["loadbalance"] = {
            "name": "lb",
            "ip": "10.20.0.5",
            "port": 22,
            "bind-port": 8443,
            "arch": "riscv64",
        }

    found = problems(lb)
    assert "arch riscv64" in found["spec.eggo.install.package-source.srcpath"]


def test_reference_sample_config_validates() -> None:
    import yaml

    from tests.builders import REFERENCE

    sample = REFERENCE / "eggo" / "config" / "openEuler.config"
    if not sample.is_file():
        pytest.skip(
            f"eggo reference config not present at {sample} (../shared/reference is absent)"
        )
    conf = yaml.safe_load(sample.read_text())
    conf.pop("username")
    conf.pop("password")
    found = problems(lambda e: (e.clear(), e.update(copy.deepcopy(conf))))
    assert found == {}
