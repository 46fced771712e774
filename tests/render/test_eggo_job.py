"""The eggo Job mode: ConfigMap + Job, per operation, pure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.plan.eggo_lifecycle import failed_hosts_of
from gitops_edge.render.context import RenderError
from gitops_edge.render.eggo_job import (
    DEPLOY,
    PRIVATE_KEY_PATH,
    EggoOperation,
    eggo_argv,
    eggo_run_objects,
)
from gitops_edge.specs import eggo
from gitops_edge.specs.eggo import DeployConfig, HostConfig

from .helpers import RepoFactory, context, only_site, site_spec

NEW_WORKER = {"name": "openeuler3", "ip": "192.168.0.3", "port": 22, "arch": "arm64"}


def run(make_repo: RepoFactory, op: EggoOperation = DEPLOY, **kw: Any) -> list[dict[str, Any]]:
    settings = kw.pop("settings", None)
    repo = make_repo({"gd": site_spec(**kw)}, settings=settings)
    return eggo_run_objects(only_site(repo), context(repo), op)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def test_deploy_emits_configmap_then_job_with_one_hashed_name(make_repo: RepoFactory) -> None:
    cm, job = run(make_repo)
    assert (cm["kind"], job["kind"]) == ("ConfigMap", "Job")
    assert cm["metadata"]["name"] == job["metadata"]["name"]
    assert cm["metadata"]["name"].startswith("eggo-deploy-")
    assert len(cm["metadata"]["name"]) == len("eggo-deploy-") + 10
    assert cm["immutable"] is True
    assert job["metadata"]["annotations"]["gitops-edge.io/eggo-config"] == cm["metadata"]["name"]
    for obj in (cm, job):
        assert obj["metadata"]["namespace"] == "edge-gd"
        labels = obj["metadata"]["labels"]
        assert labels["gitops-edge.io/eggo-operation"] == "deploy"
        assert labels["gitops-edge.io/cluster-id"] == "k8s-openeuler"
    assert cm["metadata"]["annotations"]["gitops-edge.io/eggo-operation"] == "deploy"
    assert cm["metadata"]["labels"]["gitops-edge.io/component"] == "eggo-config"
    assert job["metadata"]["labels"]["gitops-edge.io/component"] == "eggo-run"


def test_deploy_yaml_is_the_spec_in_eggo_format(make_repo: RepoFactory) -> None:
    repo = make_repo({"gd": site_spec()})
    site = only_site(repo)
    cm, _ = eggo_run_objects(site, context(repo), DEPLOY)
    text = cm["data"]["deploy.yaml"]
    parsed = yaml.safe_load(text)
    assert list(parsed)[:3] == ["cluster-id", "private-key-path", "masters"]
    assert parsed["private-key-path"] == PRIVATE_KEY_PATH
    assert "username" not in parsed and "password" not in parsed
    conf = DeployConfig.model_validate(parsed)
    assert eggo.check(conf) == []
    assert site.spec is not None and site.spec.spec.eggo is not None
    expected = site.spec.spec.eggo.model_copy(update={"private_key_path": PRIVATE_KEY_PATH})
    assert conf.model_dump() == expected.model_dump()


def test_private_key_path_from_git_is_overridden(make_repo: RepoFactory) -> None:
    spec = site_spec()
    spec["eggo"]["private-key-path"] = "/home/ops/.ssh/id_rsa"
    repo = make_repo({"gd": spec})
    cm, _ = eggo_run_objects(only_site(repo), context(repo), DEPLOY)
    assert yaml.safe_load(cm["data"]["deploy.yaml"])["private-key-path"] == PRIVATE_KEY_PATH


def test_job_runs_eggo_on_the_edge_node(make_repo: RepoFactory) -> None:
    _, job = run(make_repo, edge={"arch": "arm64"})
    pod = pod_spec(job)
    assert pod["nodeSelector"] == {"gitops-edge.io/site": "gd", "kubernetes.io/arch": "arm64"}
    assert "nodeName" not in pod
    assert pod["restartPolicy"] == "Never"
    partition = [t for t in pod["tolerations"] if t["key"].startswith("node.kubernetes.io/")]
    assert {t["key"] for t in partition} == {
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    }
    for t in partition:
        assert t == {"key": t["key"], "operator": "Exists", "effect": "NoExecute"}
    (container,) = pod["containers"]
    assert eggo_argv(container["command"]) == ["eggo", "deploy", "-f", "/etc/eggo/config/deploy.yaml"]
    assert container["image"] == "hub.oepkgs.net/openeuler/eggo:1.0.0"
    assert container["securityContext"]["runAsUser"] == 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_job_mounts_key_config_state_and_packages(make_repo: RepoFactory) -> None:
    cm, job = run(make_repo)
    pod = pod_spec(job)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert volumes["ssh-key"]["secret"] == {
        "secretName": "eggo-ssh",
        "defaultMode": 0o400,
        "items": [{"key": "ssh-privatekey", "path": "ssh-privatekey"}],
    }
    assert mounts["ssh-key"] == {"name": "ssh-key", "mountPath": "/etc/eggo/ssh", "readOnly": True}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    assert mounts["config"]["mountPath"] == "/etc/eggo/config" and mounts["config"]["readOnly"]
    assert volumes["state"]["hostPath"] == {
        "path": "/var/lib/gitops-edge/eggo",
        "type": "DirectoryOrCreate",
    }
    # not the cluster's own directory: eggo deploy refuses one that exists (a mount point)
    assert mounts["state"]["mountPath"] == "/etc/eggo"
    # only the arch this cluster's nodes have (all arm64) is read by eggo
    packages = [v["hostPath"] for k, v in volumes.items() if k.startswith("package-")]
    assert packages == [{"path": "/root/packages/packages-arm64.tar.gz", "type": "File"}]


def test_job_settings_come_from_gitops_edge_yaml(make_repo: RepoFactory) -> None:
    settings = {
        "eggo": {
            "activeDeadlineSeconds": 600,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 86400,
            "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}},
        }
    }
    _, job = run(make_repo, settings=settings)
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert pod_spec(job)["containers"][0]["resources"] == {
        "requests": {"cpu": "1"},
        "limits": {"memory": "2Gi"},
    }


def test_node_name_and_extra_tolerations(make_repo: RepoFactory) -> None:
    toleration = {"key": "edge", "operator": "Exists", "effect": "NoSchedule"}
    _, job = run(make_repo, edge={"nodeName": "gd-edge-01", "tolerations": [toleration]})
    pod = pod_spec(job)
    assert pod["nodeName"] == "gd-edge-01"
    assert "nodeSelector" not in pod
    assert toleration in pod["tolerations"]
    assert len(pod["tolerations"]) == 3


@pytest.mark.parametrize(
    ("edge", "first_arch", "expected"),
    [
        ({"arch": "amd64"}, "arm64", "eggo-amd"),
        ({}, "arm64", "eggo-arm"),
        ({}, "aarch64", "eggo-arm"),
        ({}, "x86_64", "eggo-amd"),
        ({}, "", "eggo-amd"),
    ],
)
def test_per_arch_image(
    make_repo: RepoFactory, edge: dict[str, Any], first_arch: str, expected: str
) -> None:
    spec = site_spec(edge=edge)
    spec["eggo"]["masters"][0]["arch"] = first_arch
    spec["eggo"]["workers"] = []
    del spec["eggo"]["install"]
    settings = {"eggo": {"image": {"arm64": "eggo-arm", "amd64": "eggo-amd"}}}
    repo = make_repo({"gd": spec}, settings=settings)
    _, job = eggo_run_objects(only_site(repo), context(repo), DEPLOY)
    assert pod_spec(job)["containers"][0]["image"] == expected


def test_per_arch_image_missing_is_a_problem(make_repo: RepoFactory) -> None:
    settings = {"eggo": {"image": {"amd64": "eggo-amd"}}}
    repo = make_repo({"gd": site_spec()}, settings=settings)
    with pytest.raises(RenderError) as err:
        eggo_run_objects(only_site(repo), context(repo), DEPLOY)
    (problem,) = err.value.problems
    assert (problem.file, problem.field) == ("gitops-edge.yaml", "spec.eggo.image")
    assert "arm64" in problem.message


def test_new_spec_new_name_same_spec_same_name(make_repo: RepoFactory) -> None:
    first = run(make_repo)[1]["metadata"]["name"]
    again = run(make_repo)[1]["metadata"]["name"]
    spec = site_spec()
    spec["eggo"]["workers"].append(NEW_WORKER)
    changed = run(make_repo, eggo=spec["eggo"])[1]["metadata"]["name"]
    assert first == again != changed


def test_join_writes_only_added_hosts(make_repo: RepoFactory) -> None:
    spec = site_spec()
    spec["eggo"]["workers"].append(NEW_WORKER)
    op = EggoOperation("join", (HostConfig.model_validate(NEW_WORKER),))
    cm, job = run(make_repo, op, eggo=spec["eggo"])
    assert cm["metadata"]["name"].startswith("eggo-join-")
    join = yaml.safe_load(cm["data"]["join.yaml"])
    assert join == {"cluster-id": "k8s-openeuler", "workers": [NEW_WORKER]}
    assert "deploy.yaml" in cm["data"]
    assert eggo_argv(pod_spec(job)["containers"][0]["command"]) == [
        "eggo",
        "join",
        "--id",
        "k8s-openeuler",
        "-f",
        "/etc/eggo/config/join.yaml",
    ]
    assert job["metadata"]["labels"]["gitops-edge.io/eggo-operation"] == "join"


def test_join_of_a_host_not_in_the_spec_is_refused(make_repo: RepoFactory) -> None:
    with pytest.raises(ValueError, match="not masters or workers"):
        run(make_repo, EggoOperation("join", (HostConfig.model_validate(NEW_WORKER),)))


def test_delete_and_cleanup_commands(make_repo: RepoFactory) -> None:
    removed = HostConfig.model_validate(NEW_WORKER)
    _, job = run(make_repo, EggoOperation("delete", (removed,)))
    assert eggo_argv(pod_spec(job)["containers"][0]["command"]) == [
        "eggo",
        "delete",
        "--id",
        "k8s-openeuler",
        NEW_WORKER["ip"],  # a host is its IP: eggo delete matches it against ip or name
    ]
    _, job = run(make_repo, EggoOperation("cleanup"))
    assert eggo_argv(pod_spec(job)["containers"][0]["command"]) == [
        "eggo",
        "cleanup",
        "--id",
        "k8s-openeuler",
    ]
    assert job["metadata"]["name"].startswith("eggo-cleanup-")


def test_reserved_cluster_id_is_a_problem(make_repo: RepoFactory) -> None:
    spec = site_spec()
    spec["eggo"]["cluster-id"] = "config"
    repo = make_repo({"gd": spec})
    with pytest.raises(RenderError) as err:
        eggo_run_objects(only_site(repo), context(repo), DEPLOY)
    assert err.value.problems[0].field == "spec.eggo.cluster-id"


FAKE_EGGO = """#!/bin/sh
# what eggo join prints when a host fails (ClusterStatus.Show, pkg/api/tools.go)
echo "join host 10.20.0.199 ..."
printf -- '-------------------------------\\nmessage: join nodes\\nsummary: \\n'
printf '10.20.0.22\\t\\tsuccess\\n10.20.0.199\\t\\tfailure\\n'
printf -- '-------------------------------\\n'
exit "${EGGO_EXIT:-0}"
"""


@pytest.mark.parametrize("code", [0, 3])
def test_container_copies_eggos_summary_to_its_termination_message(
    make_repo: RepoFactory, tmp_path: Path, code: int
) -> None:
    """The rendered container command, run by a real ``sh``: logs stream, failures are kept."""
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no sh on this machine to run the eggo container's command with")
    _, job = run(make_repo, EggoOperation("delete", (HostConfig.model_validate(NEW_WORKER),)))
    container = pod_spec(job)["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    fake = tmp_path / "eggo"
    fake.write_text(FAKE_EGGO)
    fake.chmod(0o755)
    summary = tmp_path / "termination-log"
    argv = [shell, *container["command"][1:]]
    argv[argv.index("eggo")] = str(fake)
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "EGGO_SUMMARY_FILE": str(summary), "EGGO_EXIT": str(code), "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == code
    assert "join host 10.20.0.199 ..." in proc.stdout  # the log is eggo's whole output
    assert summary.read_text() == "message: join nodes\n10.20.0.199\t\tfailure\n"
    assert failed_hosts_of(summary.read_text()) == ("10.20.0.199",)
