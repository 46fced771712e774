"""eggo operator mode: eggops Cluster / Machine / Infrastructure objects."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_edge.render.context import RenderError
from gitops_edge.render.eggo_operator import ROLE_LABEL, eggops_objects

from .helpers import RepoFactory, context, only_site, site_spec

OPERATOR = {"eggo": {"mode": "operator"}}


def objects(make_repo: RepoFactory, **kw: Any) -> dict[str, list[dict[str, Any]]]:
    repo = make_repo({"gd": site_spec(**kw)}, settings=OPERATOR)
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in eggops_objects(only_site(repo), context(repo)):
        out.setdefault(obj["kind"], []).append(obj)
    return out


def test_objects_mirror_the_deploy_config(make_repo: RepoFactory) -> None:
    objs = objects(make_repo, edge={"nodeName": "gd-edge-01", "arch": "arm64"})
    (cluster,) = objs["Cluster"]
    (infra,) = objs["Infrastructure"]
    machines = objs["Machine"]
    assert cluster["metadata"]["name"] == "k8s-openeuler"  # eggops uses it as cluster-id
    assert cluster["metadata"]["namespace"] == "edge-gd"
    spec = cluster["spec"]
    assert spec["machineLoginSecret"] == {"name": "eggo-ssh"}
    assert spec["infrastructure"] == {"name": infra["metadata"]["name"]}
    assert spec["masterRequire"]["number"] == 1
    assert spec["workerRequire"]["number"] == 1  # the master is a worker in eggops anyway
    assert spec["runtime"] == {
        "runtime": "iSulad",
        "runtime-endpoint": "unix:///var/run/isulad.sock",
    }
    assert spec["eggoImageVersion"] == "hub.oepkgs.net/openeuler/eggo:1.0.0"
    term = spec["eggoAffinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]
    assert term["matchFields"] == [
        {"key": "metadata.name", "operator": "In", "values": ["gd-edge-01"]}
    ]
    assert term["matchExpressions"] == [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}
    ]
    assert [m["spec"] for m in machines] == [
        {"hostname": "openeuler1", "arch": "arm64", "ip": "192.168.0.1", "port": 22},
        {"hostname": "openeuler2", "arch": "arm64", "ip": "192.168.0.2", "port": 22},
    ]
    # each requirement selects exactly the machines playing that role
    for role, require in (("master", spec["masterRequire"]), ("worker", spec["workerRequire"])):
        selected = [
            m
            for m in machines
            if all(m["metadata"]["labels"].get(k) == v for k, v in require["features"].items())
        ]
        assert require["features"][ROLE_LABEL + role] == "true"
        assert len(selected) >= require["number"]
    install = infra["spec"]["install"]
    assert (
        install["package-source"]["srcPackages"]["arm64"] == "root/packages/packages-arm64.tar.gz"
    )
    assert install["addition"] == {"master": [{"name": "calico.yaml", "type": "yaml"}]}
    assert infra["spec"]["open-ports"]["worker"][0] == {"port": 111, "protocol": "tcp"}
    assert infra["spec"]["packagePersistentVolumeClaim"] == {"name": "eggo-packages"}


def test_loadbalancer_gets_its_own_machine(make_repo: RepoFactory) -> None:
    spec = site_spec()
    spec["eggo"]["loadbalance"] = {"name": "lb", "ip": "192.168.0.9", "port": 22, "bind-port": 8443}
    objs = objects(make_repo, eggo=spec["eggo"])
    cluster = objs["Cluster"][0]["spec"]
    assert cluster["loadbalanceRequires"]["number"] == 1
    assert cluster["loadbalance-bindport"] == 8443
    (lb,) = [m for m in objs["Machine"] if m["spec"]["ip"] == "192.168.0.9"]
    assert lb["metadata"]["labels"][ROLE_LABEL + "loadbalance"] == "true"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dns-domain": "cluster.local"}, "spec.eggo.dns-domain"),
        ({"apiserver-endpoint": "192.168.0.1:6443"}, "spec.eggo.apiserver-endpoint"),
        ({"etcds": [{"name": "e1", "ip": "192.168.0.5", "port": 22}]}, "spec.eggo.etcds"),
        (
            {"workers": [{"name": "openeuler2", "ip": "192.168.0.2", "port": 22, "arch": "arm64"}]},
            "spec.eggo.masters[0]",
        ),
    ],
)
def test_what_eggops_cannot_carry_is_refused(
    make_repo: RepoFactory, change: dict[str, Any], field: str
) -> None:
    spec = site_spec()
    spec["eggo"].update(change)
    repo = make_repo({"gd": spec}, settings=OPERATOR)
    with pytest.raises(RenderError) as err:
        eggops_objects(only_site(repo), context(repo))
    assert field in [p.field for p in err.value.problems]
    assert all(p.file == "provinces/gd/cluster.yaml" for p in err.value.problems)
