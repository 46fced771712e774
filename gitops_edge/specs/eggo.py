"""eggo's ``deploy -f`` config, mirrored key for key, and eggo's own checker rules.

The model follows the Go struct tags of eggo ``cmd/api.go`` (openeuler-mirror/eggo at
cb51e25b), not its docs: the docs say ``plugin-args`` and ``TimeOut`` where the code
reads ``pluginargs`` and ``timeout``, and ``ServiceClusterConfig`` carries *json*
tags, so gopkg.in/yaml.v1 reads its fields by lower-cased Go name (``cidr``,
``dnsaddr``, ``gateway``, ``dns``).

eggo parses with yaml.v1, which silently ignores unknown keys and silently drops
values of the wrong type; both only surface at deploy time on an edge node. Here they
are errors (``extra="forbid"``, ``strict=True``), and :func:`check` applies every rule
of eggo's ``RunChecker`` (``cmd/checker.go``), reporting all problems instead of the
first one. Rules that need the deploying machine (``srcpath`` files exist, hook files)
cannot be checked at review time and are left to eggo.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from gitops_edge.specs.k8s import SUBDOMAIN_BODY

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str]

ARCHES = ("amd64", "arm64", "aarch64", "x86_64", "riscv64", "loong64")
"""Architectures eggo hosts are declared with (eggo defaults an empty arch to amd64)."""

K8S_ARCH = {"aarch64": "arm64", "x86_64": "amd64"}
"""eggo accepts kernel arch names; Kubernetes' ``kubernetes.io/arch`` uses Go names."""

ROLES = ("master", "worker", "etcd", "loadbalance")
"""Keys of ``open-ports`` and ``install.addition`` (eggo ``toTypeInt``); others are dropped."""

PACKAGE_TYPES = ("repo", "pkg", "bin", "file", "dir", "image", "yaml", "shell")
"""Package types eggo's installer knows (``pkg/utils/dependency``)."""

SCHEDULES = ("prejoin", "postjoin", "precleanup", "postcleanup")
"""eggo ``api.ParseScheduleType``."""

EXTRA_ARGS_NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "container-engine",
)
"""eggo ``fillExtrArgs``: any other name is logged and ignored by eggo."""

CREDENTIAL_KEYS = ("username", "password")


# --- value formats, shared by the checker and the JSON Schemas ---------------------
# Each is a regular expression body in the subset Python and ECMA-262 (what editors'
# JSON Schema validators run) read alike: explicit classes ([0-9], never \d), plain
# groups, no flags. The checker below compiles the same strings, so an editor flags a
# value exactly when `gitops-edge validate` does (tests/specs/test_schemas.py checks
# the ones the checker answers another way, IPv6 through ``ipaddress``).

_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_BODY = rf"({_OCTET}\.){{3}}{_OCTET}"
"""Dotted-quad IPv4 without leading zeros (Go ``net.ParseIP``)."""
_H16 = "[0-9A-Fa-f]{1,4}"


def _ipv6_body() -> str:
    """RFC 4291 text forms without a zone: eight groups, ``::`` for a run of zeros, an
    IPv4 tail in the last 32 bits."""
    forms = [rf"({_H16}:){{7}}{_H16}", "::", rf"::({_H16}:){{0,5}}{IPV4_BODY}"]
    forms.append(rf"::{_H16}(:{_H16}){{0,6}}")
    for k in range(1, 8):  # k groups before "::", at most 7 - k after it
        after = rf"({_H16}(:{_H16}){{0,{6 - k}}})?" if k < 7 else ""
        forms.append(rf"({_H16}:){{{k}}}:{after}")
    forms.append(rf"({_H16}:){{6}}{IPV4_BODY}")
    for k in range(1, 6):  # with an IPv4 tail: k groups, "::", at most 5 - k groups
        forms.append(rf"({_H16}:){{{k}}}:({_H16}:){{0,{5 - k}}}{IPV4_BODY}")
    return "|".join(f"({f})" for f in forms)


IPV6_BODY = _ipv6_body()
IP_BODY = f"{IPV4_BODY}|{IPV6_BODY}"
PORT_BODY = (
    "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
"""1-65535 in decimal (eggo ``endpoint.ValidPort``; Go's Atoi takes leading zeros)."""
CIDR_BODY = rf"({IPV4_BODY})/0*(3[0-2]|[12]?[0-9])|({IPV6_BODY})/0*(12[0-8]|1[01][0-9]|[1-9]?[0-9])"
"""Go ``net.ParseCIDR``: an address, ``/``, a decimal prefix length that fits it."""
DURATION_BODY = r"[-+]?((([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|0)"
"""Go ``time.ParseDuration`` syntax (``300ms``, ``1h30m``, ``0``)."""
HOST_PORT_BODY = rf"(\[({IPV6_BODY}|{SUBDOMAIN_BODY})\]|{SUBDOMAIN_BODY}):({PORT_BODY})?"
"""``apiserver-endpoint``: Go ``net.SplitHostPort`` of an IP or DNS name and a port."""
SHELL_SAFE_BODY = "[-A-Za-z0-9._+:/@=%,]+"
ABS_PATH_BODY = "/.*"
SAFE_ABS_PATH_BODY = "/[-A-Za-z0-9._+:/@=%,]*"
MOUNTABLE_PATH_BODY = r"(?!(.*/)?\.\.(/|$))/.*"
"""An absolute path without a ``..`` segment (a hostPath Kubernetes accepts)."""


def exact(body: str, *, empty: bool = False) -> str:
    """``body`` anchored as a JSON Schema ``pattern``; ``empty``: ``""`` (eggo's unset) too."""
    return f"^({body})?$" if empty else f"^({body})$"


def _pattern(body: str, *, empty: bool = False, **more: Any) -> JsonDict:
    return {"pattern": exact(body, empty=empty), **more}


PORT_SCHEMA: JsonDict = {"minimum": 1, "maximum": 65535}
PORT_OR_UNSET_SCHEMA: JsonDict = {"minimum": 0, "maximum": 65535}


class _Eggo(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


ArchName = Annotated[
    str,
    Field(
        description="amd64 | arm64 (aarch64, x86_64 accepted); eggo's default is amd64",
        json_schema_extra={"enum": [*ARCHES, ""]},
    ),
]
Port = Annotated[int, Field(description="1-65535")]


class HostConfig(_Eggo):
    """One machine (``cmd.HostConfig``): eggo logs in over SSH at ``ip:port``."""

    model_config = ConfigDict(json_schema_extra={"required": ["name", "ip", "port"]})

    name: str = Field(
        "",
        description="DNS-1123 subdomain, unique within its list",
        json_schema_extra=_pattern(SUBDOMAIN_BODY, maxLength=253),
    )
    ip: str = Field("", description="IPv4 or IPv6 address", json_schema_extra=_pattern(IP_BODY))
    port: Port = Field(0, description="SSH port, 1-65535", json_schema_extra=PORT_SCHEMA)
    arch: ArchName = ""


class LoadBalance(_Eggo):
    """``cmd.LoadBalance``: an ``ip`` requires both ``port`` and ``bind-port``."""

    name: str = ""
    ip: str = Field("", json_schema_extra=_pattern(IP_BODY, empty=True))
    port: Port = Field(0, json_schema_extra=PORT_OR_UNSET_SCHEMA)
    arch: ArchName = ""
    bind_port: Port = Field(0, alias="bind-port", json_schema_extra=PORT_OR_UNSET_SCHEMA)


class DnsConfig(_Eggo):
    corednstype: str = ""
    imageversion: str = ""
    replicas: int = 0


class ServiceClusterConfig(_Eggo):
    """``cmd.ServiceClusterConfig`` (json tags, so yaml.v1 keys are lower-cased Go names)."""

    cidr: str = Field("", json_schema_extra=_pattern(CIDR_BODY, empty=True))
    dnsaddr: str = Field("", json_schema_extra=_pattern(IP_BODY, empty=True))
    gateway: str = Field("", json_schema_extra=_pattern(IP_BODY, empty=True))
    dns: DnsConfig = DnsConfig()


class NetworkConfig(_Eggo):
    podcidr: str = Field("", json_schema_extra=_pattern(CIDR_BODY, empty=True))
    plugin: str = ""
    pluginargs: dict[str, str] = Field(default_factory=dict)


class Sans(_Eggo):
    dnsnames: list[
        Annotated[str, Field(json_schema_extra=_pattern(SUBDOMAIN_BODY, maxLength=253))]
    ] = Field(default_factory=list)
    ips: list[Annotated[str, Field(json_schema_extra=_pattern(IP_BODY))]] = Field(
        default_factory=list
    )


class OpenPorts(_Eggo):
    model_config = ConfigDict(json_schema_extra={"required": ["port", "protocol"]})

    port: Port = Field(0, json_schema_extra=PORT_SCHEMA)
    protocol: str = Field("", description="tcp | udp", json_schema_extra={"enum": ["tcp", "udp"]})


class PackageSrcConfig(_Eggo):
    type: str = Field("", description="archive type, e.g. tar.gz")
    dstpath: str = Field(
        "",
        description="absolute untar path on each node",
        json_schema_extra=_pattern(SAFE_ABS_PATH_BODY, empty=True),
    )
    srcpath: dict[str, Annotated[str, Field(json_schema_extra=_pattern(MOUNTABLE_PATH_BODY))]] = (
        Field(
            default_factory=dict,
            description="absolute package path per arch; must cover every node arch",
        )
    )


class PackageConfig(_Eggo):
    model_config = ConfigDict(json_schema_extra={"required": ["name", "type"]})

    name: str = Field("", json_schema_extra=_pattern(SHELL_SAFE_BODY))
    type: str = Field(
        "",
        description="repo | pkg | bin | file | dir | image | yaml | shell",
        json_schema_extra={"enum": list(PACKAGE_TYPES)},
    )
    dst: str = Field("", json_schema_extra=_pattern(SAFE_ABS_PATH_BODY, empty=True))
    schedule: str = Field(
        "",
        description="prejoin | postjoin | precleanup | postcleanup",
        json_schema_extra={"enum": [*SCHEDULES, ""]},
    )
    timeout: str = Field(
        "",
        description="Go duration, e.g. 30s",
        json_schema_extra=_pattern(DURATION_BODY, empty=True),
    )


PackageList = list[PackageConfig]


class InstallConfig(_Eggo):
    package_source: PackageSrcConfig | None = Field(None, alias="package-source")
    kubernetes_master: PackageList = Field(default_factory=list, alias="kubernetes-master")
    kubernetes_worker: PackageList = Field(default_factory=list, alias="kubernetes-worker")
    network: PackageList = Field(default_factory=list)
    etcd: PackageList = Field(default_factory=list)
    loadbalance: PackageList = Field(default_factory=list)
    container: PackageList = Field(default_factory=list)
    image: PackageList = Field(default_factory=list)
    dns: PackageList = Field(default_factory=list)
    addition: dict[str, PackageList] = Field(
        default_factory=dict, json_schema_extra={"propertyNames": {"enum": list(ROLES)}}
    )


class ConfigExtraArgs(_Eggo):
    model_config = ConfigDict(json_schema_extra={"required": ["name"]})

    name: str = Field("", json_schema_extra={"enum": list(EXTRA_ARGS_NAMES)})
    extra_args: dict[str, str] = Field(default_factory=dict, alias="extra-args")


class DeployConfig(_Eggo):
    """eggo ``cmd.DeployConfig`` minus credentials: what ``eggo deploy -f`` reads."""

    cluster_id: str = Field(
        "",
        alias="cluster-id",
        description="DNS-1123 subdomain",
        json_schema_extra=_pattern(SUBDOMAIN_BODY, maxLength=253),
    )
    private_key_path: str = Field(
        "",
        alias="private-key-path",
        description="ignored in Git: gitops-edge points it at the mounted SSH key Secret",
        json_schema_extra=_pattern(ABS_PATH_BODY, empty=True),
    )
    masters: list[HostConfig] = Field(default_factory=list)
    workers: list[HostConfig] = Field(default_factory=list)
    etcds: list[HostConfig] = Field(default_factory=list)
    loadbalance: LoadBalance = LoadBalance()
    external_ca: bool = Field(False, alias="external-ca")
    external_ca_path: str = Field(
        "", alias="external-ca-path", json_schema_extra=_pattern(ABS_PATH_BODY, empty=True)
    )
    service: ServiceClusterConfig = ServiceClusterConfig()
    network: NetworkConfig = NetworkConfig()
    apiserver_endpoint: str = Field(
        "",
        alias="apiserver-endpoint",
        description="host:port, no scheme",
        json_schema_extra=_pattern(HOST_PORT_BODY, empty=True),
    )
    apiserver_cert_sans: Sans = Field(Sans(), alias="apiserver-cert-sans")
    apiserver_timeout: str = Field(
        "",
        alias="apiserver-timeout",
        description="Go duration",
        json_schema_extra=_pattern(DURATION_BODY, empty=True),
    )
    etcd_external: bool = Field(False, alias="etcd-external")
    etcd_token: str = Field("", alias="etcd-token")
    dns_vip: str = Field("", alias="dns-vip", json_schema_extra=_pattern(IP_BODY, empty=True))
    dns_domain: str = Field(
        "",
        alias="dns-domain",
        json_schema_extra=_pattern(SUBDOMAIN_BODY, empty=True, maxLength=253),
    )
    pause_image: str = Field("", alias="pause-image")
    network_plugin: str = Field("", alias="network-plugin")
    enable_kubelet_serving: bool = Field(False, alias="enable-kubelet-serving")
    cni_bin_dir: str = Field(
        "", alias="cni-bin-dir", json_schema_extra=_pattern(ABS_PATH_BODY, empty=True)
    )
    runtime: str = ""
    runtime_endpoint: str = Field("", alias="runtime-endpoint")
    registry_mirrors: list[str] = Field(default_factory=list, alias="registry-mirrors")
    insecure_registries: list[str] = Field(default_factory=list, alias="insecure-registries")
    config_extra_args: list[ConfigExtraArgs] = Field(
        default_factory=list, alias="config-extra-args"
    )
    open_ports: dict[str, list[OpenPorts]] = Field(
        default_factory=dict,
        alias="open-ports",
        json_schema_extra={"propertyNames": {"enum": list(ROLES)}},
    )
    install: InstallConfig = InstallConfig()

    def all_hosts(self) -> Iterator[HostConfig]:
        yield from self.masters
        yield from self.workers
        yield from self.etcds

    def node_arches(self) -> set[str]:
        """Arches eggo's checker collects (an empty arch is eggo's amd64 default)."""
        arches = {h.arch or "amd64" for h in (*self.masters, *self.workers)}
        if self.loadbalance.arch:
            arches.add(self.loadbalance.arch)
        return arches

    def api_endpoint(self) -> str:
        """The site cluster's API endpoint the way eggo's ``fillAPIEndPoint`` derives it."""
        if self.apiserver_endpoint:
            host, port = split_host_port(self.apiserver_endpoint)
            if host and port:
                return self.apiserver_endpoint
        if self.loadbalance.ip and self.loadbalance.bind_port:
            return join_host_port(self.loadbalance.ip, str(self.loadbalance.bind_port))
        if self.masters:
            return join_host_port(self.masters[0].ip, "6443")
        return ""


# --- the checker -------------------------------------------------------------------

_DNS1123_SUBDOMAIN = re.compile(exact(SUBDOMAIN_BODY))
# Patterns are used with ``fullmatch`` (``$`` also matches before a final newline) and
# spell digits [0-9] (``\d`` also matches fullwidth and other Unicode digits).
_GO_DURATION = re.compile(DURATION_BODY)
_SHELL_SAFE = re.compile(SHELL_SAFE_BODY)
"""Characters eggo may paste unquoted into ``/bin/sh -c "..."`` on the cluster's machines.

eggo's installer (``pkg/utils/dependency``) builds shell strings from package names,
``dst`` and the ``package-source`` paths without quoting (``yum install -y <name>``,
``cd <dstpath> && ...``, ``mkdir -p <dst>``): a ``;`` or ``$(...)`` there runs on
every machine of the cluster, as root.
"""
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode category Cc (control characters), exactly."""
_CONTROL_IN_JSON = re.compile(r"\\[bfnrtu]|[\x7f-\x9f]")
"""In ``json.dumps(..., ensure_ascii=False)`` text: every Cc character (and a few others)."""
_IPV4 = re.compile(IPV4_BODY)
"""Dotted-quad IPv4 without leading zeros: what ``ipaddress`` accepts, checked without it."""


def is_dns1123_subdomain(value: str) -> bool:
    """k8s ``validation.IsDNS1123Subdomain``: lower-case, <= 253 chars."""
    return 0 < len(value) <= 253 and bool(_DNS1123_SUBDOMAIN.fullmatch(value))


def is_ip(value: str) -> bool:
    """Go ``net.ParseIP``: a bare IPv4 or IPv6 address (no zone, no prefix)."""
    if _IPV4.fullmatch(value):
        return True
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value


def is_cidr(value: str) -> bool:
    """Go ``net.ParseCIDR``: address/prefix, host bits allowed, the prefix a decimal length.

    ``ipaddress`` alone would also take a netmask (``10.0.0.0/255.0.0.0``), which Go
    refuses.
    """
    addr, sep, prefix = value.partition("/")
    if not sep or not (prefix.isascii() and prefix.isdigit()) or not is_ip(addr):
        return False
    return int(prefix) <= (128 if ":" in addr else 32)


def is_duration(value: str) -> bool:
    """Go ``time.ParseDuration`` syntax (``300ms``, ``1h30m``, ``0``)."""
    return bool(_GO_DURATION.fullmatch(value))


def is_abs(value: str) -> bool:
    return value.startswith("/")


def valid_port(port: int) -> bool:
    """eggo ``endpoint.ValidPort``."""
    return 1 <= port <= 65535


def split_host_port(value: str) -> tuple[str, str]:
    """Go ``net.SplitHostPort``; raises ValueError the way Go returns an error."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or not value[end + 1 :].startswith(":"):
            raise ValueError("missing port in address")
        return value[1:end], value[end + 2 :]
    if value.count(":") != 1:
        raise ValueError("missing port in address" if ":" not in value else "too many colons")
    host, port = value.split(":")
    return host, port


def join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check(conf: DeployConfig) -> list[Finding]:
    """Every rule of eggo's ``RunChecker``, all findings at once, with field locations."""
    out: list[Finding] = []
    out.extend(_check_cluster(conf))
    out.extend(_check_nodes(conf))
    out.extend(_check_service(conf.service))
    if conf.network.podcidr and not is_cidr(conf.network.podcidr):
        out.append(
            (("network", "podcidr"), f"{conf.network.podcidr!r} is not a CIDR (e.g. 10.244.0.0/16)")
        )
    out.extend(_check_sans(conf.apiserver_cert_sans))
    out.extend(_check_open_ports(conf.open_ports))
    out.extend(_check_install(conf.install, conf.node_arches(), conf))
    out.extend(_check_extra_args(conf.config_extra_args))
    dumped = conf.model_dump(by_alias=True, exclude_defaults=True)
    if _may_have_control(dumped):
        out.extend(_check_control(dumped, ()))  # the walk that says where, only when needed
    return out


def _may_have_control(value: Any) -> bool:
    """False when no string in ``value`` holds a control character (one C-speed scan)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return True
    return _CONTROL_IN_JSON.search(text) is not None


def _check_control(value: Any, loc: Loc) -> Iterator[Finding]:
    """No control characters anywhere: eggo writes values into shell commands, unit files
    and config files on the cluster's machines, where a newline starts a new line."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _check_control(key, loc)
            yield from _check_control(child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _check_control(child, (*loc, i))
    elif isinstance(value, str) and _CONTROL.search(value):
        yield (loc, f"{value!r} contains a control character (newline, tab, NUL...); remove it")


def _shell_unsafe(value: str) -> str | None:
    """Why eggo must not paste ``value`` into a shell command, or None."""
    if _SHELL_SAFE.fullmatch(value):
        return None
    return (
        f"{value!r}: eggo pastes it unquoted into a shell command on every machine of the "
        "cluster; use only letters, digits and . _ + : / @ = % , -"
    )


def _check_cluster(conf: DeployConfig) -> Iterator[Finding]:
    if not is_dns1123_subdomain(conf.cluster_id):
        yield (
            ("cluster-id",),
            f"{conf.cluster_id!r} is not a DNS-1123 subdomain: use lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit",
        )
    if conf.private_key_path and not is_abs(conf.private_key_path):
        yield (("private-key-path",), f"{conf.private_key_path!r} must be an absolute path")
    if not conf.masters:
        yield (("masters",), "at least one master is required")
    if conf.external_ca_path and not is_abs(conf.external_ca_path):
        yield (("external-ca-path",), f"{conf.external_ca_path!r} must be an absolute path")
    if conf.apiserver_endpoint:
        yield from _check_endpoint(conf.apiserver_endpoint)
    if conf.apiserver_timeout and not is_duration(conf.apiserver_timeout):
        yield (
            ("apiserver-timeout",),
            f"{conf.apiserver_timeout!r} is not a Go duration (e.g. 120s, 2m)",
        )
    if conf.dns_vip and not is_ip(conf.dns_vip):
        yield (("dns-vip",), f"{conf.dns_vip!r} is not an IP address")
    if conf.dns_domain and not is_dns1123_subdomain(conf.dns_domain):
        yield (("dns-domain",), f"{conf.dns_domain!r} is not a DNS-1123 subdomain")
    if conf.cni_bin_dir and not is_abs(conf.cni_bin_dir):
        yield (("cni-bin-dir",), f"{conf.cni_bin_dir!r} must be an absolute path")
    if conf.runtime_endpoint and any(c in conf.runtime_endpoint for c in " \t\n\x7f"):
        yield (("runtime-endpoint",), f"{conf.runtime_endpoint!r} is not a URL")


def _check_endpoint(value: str) -> Iterator[Finding]:
    loc: Loc = ("apiserver-endpoint",)
    if "://" in value:
        yield (loc, f"{value!r} must be host:port without a scheme (e.g. 10.0.0.10:6443)")
        return
    try:
        host, port = split_host_port(value)
    except ValueError as exc:
        yield (loc, f"{value!r} is not host:port ({exc}); e.g. 10.0.0.10:6443")
        return
    if not is_ip(host) and not is_dns1123_subdomain(host):
        yield (loc, f"host {host!r} is neither an IP address nor a DNS-1123 subdomain")
    if port and not (port.isascii() and port.isdigit() and valid_port(int(port))):
        yield (loc, f"port {port!r} must be a number from 1 to 65535")


def _check_host(host: HostConfig, loc: Loc) -> Iterator[Finding]:
    if not host.name:
        yield ((*loc, "name"), "host name is required")
    elif not is_dns1123_subdomain(host.name):
        yield (
            (*loc, "name"),
            f"{host.name!r} is not a DNS-1123 subdomain (lower-case, digits, '-', '.')",
        )
    if not host.ip:
        yield ((*loc, "ip"), "host ip is required")
    elif not is_ip(host.ip):
        yield ((*loc, "ip"), f"{host.ip!r} is not an IP address")
    if not valid_port(host.port):
        yield ((*loc, "port"), f"SSH port {host.port} must be from 1 to 65535 (usually 22)")
    if host.arch and host.arch not in ARCHES:
        yield (
            (*loc, "arch"),
            f"{host.arch!r} is not an architecture eggo installs: {', '.join(ARCHES)}",
        )


def _check_nodes(conf: DeployConfig) -> Iterator[Finding]:
    seen_ip: dict[str, tuple[Loc, HostConfig]] = {}
    for list_name in ("masters", "workers", "etcds"):
        hosts: list[HostConfig] = getattr(conf, list_name)
        ips: dict[str, int] = {}
        names: dict[str, int] = {}
        for i, host in enumerate(hosts):
            loc: Loc = (list_name, i)
            yield from _check_host(host, loc)
            if host.ip in ips:
                yield ((*loc, "ip"), f"duplicate ip {host.ip} (also {list_name}[{ips[host.ip]}])")
            ips.setdefault(host.ip, i)
            if host.name in names:
                yield (
                    (*loc, "name"),
                    f"duplicate name {host.name!r} (also {list_name}[{names[host.name]}])",
                )
            names.setdefault(host.name, i)
            first = seen_ip.get(host.ip)
            if first is None:
                seen_ip[host.ip] = (loc, host)
            elif first[0][0] != list_name and first[1] != host:
                where = f"{first[0][0]}[{first[0][1]}]"
                yield (
                    loc,
                    f"ip {host.ip} is also {where} with a different name, port or arch; "
                    "one machine must be described the same way in every list",
                )
    lb = conf.loadbalance
    if lb.ip:
        if not is_ip(lb.ip):
            yield (("loadbalance", "ip"), f"{lb.ip!r} is not an IP address")
        if lb.port == 0 or lb.bind_port == 0:
            yield (("loadbalance",), "a load balancer ip needs both port and bind-port")
    if lb.port and not valid_port(lb.port):
        yield (("loadbalance", "port"), f"{lb.port} must be from 1 to 65535")
    if lb.bind_port and not valid_port(lb.bind_port):
        yield (("loadbalance", "bind-port"), f"{lb.bind_port} must be from 1 to 65535")
    if lb.arch and lb.arch not in ARCHES:
        yield (("loadbalance", "arch"), f"{lb.arch!r} is not one of {', '.join(ARCHES)}")


def _check_service(svc: ServiceClusterConfig) -> Iterator[Finding]:
    if svc.cidr and not is_cidr(svc.cidr):
        yield (("service", "cidr"), f"{svc.cidr!r} is not a CIDR (e.g. 10.32.0.0/16)")
    if svc.dnsaddr and not is_ip(svc.dnsaddr):
        yield (("service", "dnsaddr"), f"{svc.dnsaddr!r} is not an IP address")
    if svc.gateway and not is_ip(svc.gateway):
        yield (("service", "gateway"), f"{svc.gateway!r} is not an IP address")


def _check_sans(sans: Sans) -> Iterator[Finding]:
    for i, name in enumerate(sans.dnsnames):
        if not is_dns1123_subdomain(name):
            yield (("apiserver-cert-sans", "dnsnames", i), f"{name!r} is not a DNS-1123 subdomain")
    for i, ip in enumerate(sans.ips):
        if not is_ip(ip):
            yield (("apiserver-cert-sans", "ips", i), f"{ip!r} is not an IP address")


def _check_open_ports(open_ports: dict[str, list[OpenPorts]]) -> Iterator[Finding]:
    for role, ports in open_ports.items():
        if role not in ROLES:
            yield (
                ("open-ports", role),
                f"unknown role {role!r}: eggo only reads {', '.join(ROLES)}",
            )
        for i, p in enumerate(ports):
            if not valid_port(p.port):
                yield (("open-ports", role, i, "port"), f"{p.port} must be from 1 to 65535")
            if p.protocol not in ("tcp", "udp"):
                yield (("open-ports", role, i, "protocol"), f"{p.protocol!r} must be tcp or udp")


def _check_package(pc: PackageConfig, loc: Loc) -> Iterator[Finding]:
    if not pc.name:
        yield ((*loc, "name"), "package name is required")
    elif unsafe := _shell_unsafe(pc.name):
        yield ((*loc, "name"), unsafe)
    if not pc.type:
        yield ((*loc, "type"), f"package {pc.name!r} needs a type ({', '.join(PACKAGE_TYPES)})")
    elif pc.type not in PACKAGE_TYPES:
        yield ((*loc, "type"), f"{pc.type!r} is not a package type: {', '.join(PACKAGE_TYPES)}")
    if pc.dst and not is_abs(pc.dst):
        yield ((*loc, "dst"), f"{pc.dst!r} must be an absolute path")
    elif pc.dst and (unsafe := _shell_unsafe(pc.dst)):
        yield ((*loc, "dst"), unsafe)
    if pc.timeout and not is_duration(pc.timeout):
        yield ((*loc, "timeout"), f"{pc.timeout!r} is not a Go duration (e.g. 30s, 5m)")
    if pc.schedule and pc.schedule not in SCHEDULES:
        yield ((*loc, "schedule"), f"{pc.schedule!r} is not a schedule: {', '.join(SCHEDULES)}")


def _check_install(
    install: InstallConfig, arches: set[str], conf: DeployConfig
) -> Iterator[Finding]:
    base: Loc = ("install",)
    src = install.package_source
    if src is not None:
        if src.dstpath and not is_abs(src.dstpath):
            yield (
                (*base, "package-source", "dstpath"),
                f"{src.dstpath!r} must be an absolute path",
            )
        elif src.dstpath and (unsafe := _shell_unsafe(src.dstpath)):
            yield ((*base, "package-source", "dstpath"), unsafe)
        for arch, path in src.srcpath.items():
            if not is_abs(path):
                yield (
                    (*base, "package-source", "srcpath", arch),
                    f"{path!r} must be an absolute path",
                )
            elif ".." in path.split("/"):
                yield (
                    (*base, "package-source", "srcpath", arch),
                    f"{path!r} must not contain '..': it is mounted from the edge node as a "
                    "hostPath, which Kubernetes refuses with '..'",
                )
        if src.srcpath:
            for arch in sorted(arches - set(src.srcpath)):
                yield (
                    (*base, "package-source", "srcpath"),
                    f"no source package for arch {arch}, which a node of this cluster has; "
                    f"add srcpath.{arch}",
                )
    lists: Iterable[tuple[str, PackageList]] = (
        ("kubernetes-master", install.kubernetes_master),
        ("kubernetes-worker", install.kubernetes_worker),
        ("network", install.network),
        ("etcd", install.etcd),
        ("loadbalance", install.loadbalance),
        ("container", install.container),
        ("image", install.image),
        ("dns", install.dns),
    )
    for key, pkgs in lists:
        for i, pc in enumerate(pkgs):
            yield from _check_package(pc, (*base, key, i))
    for role, pkgs in install.addition.items():
        if role not in ROLES:
            yield (
                (*base, "addition", role),
                f"unknown role {role!r}: eggo only reads {', '.join(ROLES)}",
            )
        for i, pc in enumerate(pkgs):
            yield from _check_package(pc, (*base, "addition", role, i))


def _check_extra_args(items: list[ConfigExtraArgs]) -> Iterator[Finding]:
    for i, item in enumerate(items):
        if item.name not in EXTRA_ARGS_NAMES:
            yield (
                ("config-extra-args", i, "name"),
                f"{item.name!r} is not a component eggo passes args to: {', '.join(EXTRA_ARGS_NAMES)}",
            )


def credential_findings(raw: Any) -> list[Finding]:
    """``username``/``password`` in Git are refused before the model sees them."""
    if not isinstance(raw, dict):
        return []
    return [
        (
            (key,),
            f"{key} must not be stored in Git: eggo logs in with the SSH key in spec.sshKeySecret",
        )
        for key in CREDENTIAL_KEYS
        if key in raw
    ]
