"""A small fleet in the test API server: edge nodes with leases, and helpers to play eggo/Argo CD."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gitops_edge.emit.kubesink import KubeSink
from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import read_live
from gitops_edge.plan.model import Plan, SitePlan
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.kubeapi.server import KubeAPIServer


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_edge_node(
    kube: KubeAPIServer, name: str, site: str, *, arch: str = "arm64", online: bool = True
) -> None:
    now = datetime.now(UTC)
    renew = now if online else now - timedelta(hours=2)
    kube.store.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "node-role.kubernetes.io/edge": "",
                    "kubernetes.io/arch": arch,
                    "gitops-edge.io/site": site,
                },
            },
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if online else "Unknown",
                        "lastTransitionTime": rfc3339(now - timedelta(days=1)),
                    }
                ],
                "nodeInfo": {"architecture": arch},
            },
        }
    )
    kube.store.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": 40,
                "renewTime": rfc3339(renew),
            },
        }
    )


def bring_online(kube: KubeAPIServer, name: str) -> None:
    now = rfc3339(datetime.now(UTC))
    kube.store.touch(
        "coordination.k8s.io/v1",
        "Lease",
        name,
        "kube-node-lease",
        patch={"spec": {"renewTime": now}},
    )
    kube.store.touch(
        "v1",
        "Node",
        name,
        patch={
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]
            }
        },
    )


def finish_jobs(kube: KubeAPIServer, namespace: str, *, outcome: str = "Complete") -> list[str]:
    """Mark every unfinished Job in ``namespace`` Complete (or Failed), as the Job controller would."""
    names = []
    for job in kube.store.list("batch/v1", "Job", namespace):
        if job.get("status", {}).get("conditions"):
            continue
        status: dict[str, Any] = {
            "conditions": [
                {
                    "type": outcome,
                    "status": "True",
                    "reason": "BackoffLimitExceeded" if outcome == "Failed" else "",
                    "message": "eggo exited 1" if outcome == "Failed" else "",
                }
            ]
        }
        if outcome == "Complete":
            status["succeeded"] = 1
        else:
            status["failed"] = 3
        kube.store.touch(
            "batch/v1", "Job", job["metadata"]["name"], namespace, patch={"status": status}
        )
        names.append(job["metadata"]["name"])
    return names


def heal_apps(kube: KubeAPIServer, namespace: str) -> None:
    for app in kube.store.list("argoproj.io/v1alpha1", "Application", namespace):
        kube.store.touch(
            "argoproj.io/v1alpha1",
            "Application",
            app["metadata"]["name"],
            namespace,
            patch={"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}},
        )


def eggo_pod(
    kube: KubeAPIServer, namespace: str, job: str, *, message: str, exit_code: int = 0
) -> None:
    """The Pod the Job controller ran for ``job``, its eggo container terminated with ``message``.

    ``message`` is what the eggo container wrote to its termination message (eggo's
    summary lines); the kubelet reports it in ``state.terminated.message``.
    """
    now = rfc3339(datetime.now(UTC))
    kube.store.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job}-x7k2p",
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "gitops-edge",
                    "gitops-edge.io/component": "eggo-run",
                    "batch.kubernetes.io/job-name": job,
                    "job-name": job,
                },
            },
            "spec": {"restartPolicy": "Never", "containers": [{"name": "eggo", "image": "eggo"}]},
            "status": {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "containerStatuses": [
                    {
                        "name": "eggo",
                        "ready": False,
                        "restartCount": 0,
                        "image": "eggo",
                        "imageID": "",
                        "state": {
                            "terminated": {
                                "exitCode": exit_code,
                                "reason": "Completed" if exit_code == 0 else "Error",
                                "message": message,
                                "finishedAt": now,
                            }
                        },
                    }
                ],
            },
        }
    )


def plan_for(root: Path, kube: KubeClient) -> Plan:
    """``gitops-edge plan`` of the repo at ``root`` against the API server."""
    return plan_against(load_repo(root), read_live(kube), revision="c0ffee")


def site_plan(plan: Plan, site_id: str) -> SitePlan:
    return next(s for s in plan.sites if s.site == site_id)


def apply(root: Path, kube: KubeClient) -> Plan:
    """``gitops-edge apply --emit kube``: plan, then server-side apply; every write succeeds."""
    plan = plan_for(root, kube)
    result = KubeSink(kube).emit(plan)
    assert result.ok, result.errors()
    return plan
