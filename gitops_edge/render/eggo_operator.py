"""eggo ``operator`` mode: ``eggo.isula.org/v1`` Cluster, Machine and Infrastructure objects.

eggops (eggo's operator, ``eggops/`` in openeuler-mirror/eggo cb51e25b) rebuilds an
eggo deploy config from these objects (``controllers/tools.go``
``ConvertClusterToEggoConfig``) and runs eggo itself. The mapping below is the inverse
of that function, so what eggops hands to eggo is the site's ``spec.eggo``:

- the Cluster is named after ``cluster-id`` (eggops uses the Cluster's name as the id);
- one Machine per distinct host IP, labelled with the cluster id and each role it
  plays; ``masterRequire``/``workerRequire``/``loadbalanceRequires`` select exactly
  those labels with exactly those counts (eggops' machine filter would otherwise pick
  any free machine in the namespace);
- ``machineLoginSecret`` names ``spec.sshKeySecret`` (eggops wants type
  ``kubernetes.io/ssh-auth``, key ``ssh-privatekey``), never a password;
- packages go to the Infrastructure; eggops mounts them from the PersistentVolumeClaim
  :data:`PACKAGE_PVC`, which the site provides (e.g. in ``provinces/<site>/edge/``),
  and ``srcpath`` archives are read at the same path inside it;
- the eggo Job eggops starts is pinned to the site's edge node by ``eggoAffinity``.

What eggops cannot express is refused (:func:`operator_findings`) instead of being
dropped on the way to eggo: the whole point of review-time checks.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.labels import EGGO_ROLE_PREFIX
from gitops_edge.problems import Problem, field_path
from gitops_edge.render import meta
from gitops_edge.render.context import (
    RenderContext,
    RenderError,
    eggo_image,
    placement,
    site_namespace,
    spec_of,
)
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.sites import Site

API_VERSION = "eggo.isula.org/v1"
PACKAGE_PVC = "eggo-packages"
ROLE_LABEL = EGGO_ROLE_PREFIX

_UNSUPPORTED = (
    "apiserver-endpoint",
    "etcds",
    "external-ca",
    "external-ca-path",
    "apiserver-cert-sans",
    "apiserver-timeout",
    "etcd-external",
    "etcd-token",
    "dns-vip",
    "dns-domain",
    "pause-image",
    "network-plugin",
    "cni-bin-dir",
    "registry-mirrors",
    "insecure-registries",
    "config-extra-args",
)
"""DeployConfig keys eggops' Cluster/Infrastructure have no place for (or, for
``apiserver-endpoint``, turn into a URL that eggo's own checker refuses)."""


def operator_findings(conf: DeployConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Parts of ``conf`` eggops would silently drop or change, each with its location."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    data = conf.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    hint = "eggops cannot pass it to eggo; remove it or use eggo mode job in gitops-edge.yaml"
    out.extend(((key,), hint) for key in _UNSUPPORTED if key in data)
    if "dns" in data.get("service", {}):
        out.append((("service", "dns"), hint))
    worker_ips = {h.ip for h in conf.workers}
    for i, host in enumerate(conf.masters):
        if host.ip not in worker_ips:
            out.append(
                (
                    ("masters", i),
                    "eggops makes every master a worker too; list it under workers as well, "
                    "or use eggo mode job",
                )
            )
    lb = conf.loadbalance
    if lb.ip and lb.ip in {h.ip for h in (*conf.masters, *conf.workers)}:
        out.append(
            (
                ("loadbalance", "ip"),
                "eggops cannot use one machine as load balancer and cluster node; "
                "use a separate machine or eggo mode job",
            )
        )
    return out


def eggops_objects(site: Site, ctx: RenderContext) -> list[dict[str, Any]]:
    """Infrastructure, Machines, then the Cluster that binds them (order of need)."""
    spec = spec_of(site)
    conf = spec.eggo
    if conf is None or spec.sshKeySecret is None:
        raise ValueError(f"site {site.id!r} has no eggo cluster")
    findings = operator_findings(conf)
    if findings:
        raise RenderError(
            [Problem(site.file, field_path(("spec", "eggo", *loc)), msg) for loc, msg in findings]
        )
    namespace = site_namespace(site, ctx)
    cid = conf.cluster_id

    def obj(kind: str, name: str, spec_body: dict[str, Any], **labels: str) -> dict[str, Any]:
        meta_ = meta.metadata(
            name,
            namespace,
            meta.site_labels(site.id, "eggo-operator", **{meta.CLUSTER_ID: cid}, **labels),
        )
        return meta.k8s_object(API_VERSION, kind, meta_, spec=spec_body)

    objects = [obj("Infrastructure", cid, _infrastructure(conf))]
    for name, host, roles in _machines(conf):
        machine = {"hostname": host.name, "arch": host.arch, "ip": host.ip, "port": host.port}
        role_labels = {ROLE_LABEL + r: "true" for r in roles}
        objects.append(
            obj("Machine", name, {k: v for k, v in machine.items() if v != ""}, **role_labels)
        )
    objects.append(obj("Cluster", cid, _cluster(site, ctx, conf, spec.sshKeySecret)))
    return objects


def _machines(conf: DeployConfig) -> list[tuple[str, HostConfig, list[str]]]:
    """One Machine per distinct IP, first description wins (the checker made them equal)."""
    hosts: dict[str, HostConfig] = {}
    roles: dict[str, list[str]] = {}
    lists: list[tuple[str, list[HostConfig]]] = [("master", conf.masters), ("worker", conf.workers)]
    lb = conf.loadbalance
    if lb.ip:
        lb_host = HostConfig(name=lb.name, ip=lb.ip, port=lb.port, arch=lb.arch)
        lists.append(("loadbalance", [lb_host]))
    for role, members in lists:
        for host in members:
            hosts.setdefault(host.ip, host)
            if role not in roles.setdefault(host.ip, []):
                roles[host.ip].append(role)
    out = []
    for ip, host in hosts.items():
        name = meta.label_value(f"{conf.cluster_id}-{ip.replace('.', '-').replace(':', '-')}")
        out.append((name.lower(), host, roles[ip]))
    return out


def _require(conf: DeployConfig, role: str, number: int) -> dict[str, Any]:
    return {
        "number": number,
        "features": {meta.CLUSTER_ID: meta.label_value(conf.cluster_id), ROLE_LABEL + role: "true"},
    }


def _cluster(site: Site, ctx: RenderContext, conf: DeployConfig, secret: str) -> dict[str, Any]:
    master_ips = {h.ip for h in conf.masters}
    workers_only = len({h.ip for h in conf.workers} - master_ips)
    body: dict[str, Any] = {
        "masterRequire": _require(conf, "master", len(master_ips)),
        "workerRequire": _require(conf, "worker", workers_only),
    }
    if conf.loadbalance.ip:
        body["loadbalanceRequires"] = _require(conf, "loadbalance", 1)
        body["loadbalance-bindport"] = conf.loadbalance.bind_port
    body["eggoAffinity"] = {"nodeAffinity": _node_affinity(site)}
    body["machineLoginSecret"] = {"name": secret}
    body["infrastructure"] = {"name": conf.cluster_id}
    runtime = {"runtime": conf.runtime, "runtime-endpoint": conf.runtime_endpoint}
    if any(runtime.values()):
        body["runtime"] = {k: v for k, v in runtime.items() if v}
    body["enableKubeletServing"] = conf.enable_kubelet_serving
    network: dict[str, Any] = {
        "service-cidr": conf.service.cidr,
        "service-dns-ip": conf.service.dnsaddr,
        "service-gateway": conf.service.gateway,
        "pod-cidr": conf.network.podcidr,
    }
    if conf.network.plugin:
        network["pod-plugin"] = conf.network.plugin
    if conf.network.pluginargs:
        network["pod-plugin-args"] = dict(conf.network.pluginargs)
    body["network"] = network
    body["eggoImageVersion"] = eggo_image(site, ctx)
    return body


def _node_affinity(site: Site) -> dict[str, Any]:
    """The edge node as a required node affinity (eggops' Job takes no nodeSelector)."""
    where = placement(site)
    term: dict[str, Any] = {}
    if where.node_selector:
        term["matchExpressions"] = [
            {"key": k, "operator": "In", "values": [v]} for k, v in where.node_selector.items()
        ]
    if where.node_name is not None:
        term["matchFields"] = [
            {"key": "metadata.name", "operator": "In", "values": [where.node_name]}
        ]
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}


def _infrastructure(conf: DeployConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"packagePersistentVolumeClaim": {"name": PACKAGE_PVC}}
    ports = conf.model_dump(by_alias=True, mode="json")["open-ports"]
    if ports:
        body["open-ports"] = ports
    install = conf.install.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    src = install.get("package-source")
    if src is not None:
        # eggops joins each archive path onto the PVC's mount path.
        paths = src.pop("srcpath", {})
        if paths:
            src["srcPackages"] = {arch: p.lstrip("/") for arch, p in paths.items()}
    if install:
        body["install"] = install
    return body
