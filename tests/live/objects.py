"""Raw JSON objects as CloudCore, kubelet, the Job controller and Argo CD write them.

Live-state tests seed the test API server (or feed the pure functions) with these, so
every tier sees the same realistic shapes: edge Nodes with conditions and nodeInfo,
their Leases in ``kube-node-lease``, eggo Jobs and Argo CD Applications carrying
gitops-edge's labels and annotations, and KubeEdge ObjectSync records.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

NOW = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)
"""The tests' fixed clock: pass ``now=NOW`` instead of sleeping past a lease's grace."""


def ts(at: datetime) -> str:
    """RFC 3339 with seconds, as in conditions and creationTimestamp."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(at: datetime) -> str:
    """RFC 3339 with microseconds, as in a Lease's renewTime."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node(
    name: str,
    *,
    site: str | None = None,
    arch: str = "arm64",
    ready: str | None = "True",
    ready_since: datetime = NOW - timedelta(days=3),
    edge: bool = True,
    labels: dict[str, str] | None = None,
    now: datetime = NOW,
) -> Obj:
    """An edge Node as CloudCore registers it (role label, arch, Ready, nodeInfo)."""
    all_labels = {
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
    }
    if edge:
        all_labels["node-role.kubernetes.io/edge"] = ""
        all_labels["node-role.kubernetes.io/agent"] = ""
    if site:
        all_labels["gitops-edge.io/site"] = site
    all_labels.update(labels or {})
    conditions = []
    if ready is not None:
        conditions.append(
            {
                "type": "Ready",
                "status": ready,
                "lastHeartbeatTime": ts(now),
                "lastTransitionTime": ts(ready_since),
                "reason": "EdgeReady" if ready == "True" else "NodeStatusUnknown",
                "message": "edge is posting ready status",
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": all_labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [{"key": "node-role.kubernetes.io/edge", "effect": "NoSchedule"}]},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "192.168.10.5"},
                {"type": "Hostname", "address": name},
            ],
            "capacity": {"cpu": "64", "memory": "263567216Ki", "pods": "110"},
            "allocatable": {"cpu": "64", "memory": "263464816Ki", "pods": "110"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}},
            "nodeInfo": {
                "architecture": arch,
                "bootID": "",
                "containerRuntimeVersion": "remote://2.1.5",
                "kernelVersion": "4.19.90-2112.8.0.0131.oe1.aarch64",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.23.17-kubeedge-v1.13.1",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "BigCloud Enterprise Linux For Euler 21.10 LTS",
                "systemUUID": "",
            },
        },
    }


def lease(name: str, renewed: datetime) -> Obj:
    """The node's heartbeat Lease in ``kube-node-lease``."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": "x"}],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": micro(renewed),
        },
    }


def managed(
    api_version: str,
    kind: str,
    name: str,
    site: str,
    *,
    component: str,
    revision: str = "0123456789abcdef0123456789abcdef01234567",
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    **rest: Any,
) -> Obj:
    """An object gitops-edge emitted for ``site`` (its labels and annotations)."""
    meta: Obj = {
        "name": name,
        "labels": {
            "app.kubernetes.io/managed-by": "gitops-edge",
            "gitops-edge.io/site": site,
            "gitops-edge.io/component": component,
            **(labels or {}),
        },
        "annotations": {
            "gitops-edge.io/source-revision": revision,
            "gitops-edge.io/spec-hash": hashlib.sha256(f"{kind}/{name}".encode()).hexdigest()[:16],
        },
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **rest}


def eggo_job(
    name: str,
    site: str,
    *,
    outcome: str = "succeeded",
    operation: str = "deploy",
    created: datetime = NOW - timedelta(hours=1),
    **kw: Any,
) -> Obj:
    """An eggo Job with the status the Job controller writes for ``outcome``."""
    status: Obj = {"startTime": ts(created)}
    if outcome == "succeeded":
        status.update(
            succeeded=1,
            completionTime=ts(created + timedelta(minutes=9)),
            conditions=[{"type": "Complete", "status": "True"}],
        )
    elif outcome == "failed":
        status.update(
            failed=3,
            conditions=[
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ],
        )
    elif outcome == "running":
        status["active"] = 1
    job = managed(
        "batch/v1",
        "Job",
        name,
        site,
        component="eggo-run",
        namespace=f"edge-{site}",
        labels={"gitops-edge.io/eggo-operation": operation},
        spec={"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never"}}},
        status=status,
        **kw,
    )
    job["metadata"]["creationTimestamp"] = ts(created)
    return job


def application(name: str, site: str, *, sync: str = "Synced", health: str = "Healthy") -> Obj:
    """An Argo CD Application with the status its controller writes."""
    return managed(
        "argoproj.io/v1alpha1",
        "Application",
        name,
        site,
        component="application",
        namespace=f"edge-{site}",
        spec={"project": "default", "source": {"repoURL": "https://git.example/ops.git"}},
        status={"sync": {"status": sync}, "health": {"status": health}},
    )


def config_map(name: str, site: str) -> Obj:
    return managed(
        "v1",
        "ConfigMap",
        name,
        site,
        component="eggo-config",
        namespace=f"edge-{site}",
        data={"deploy.yaml": "cluster-id: x\n"},
    )


def namespace(site: str) -> Obj:
    return managed("v1", "Namespace", f"edge-{site}", site, component="namespace")


def object_sync(node_name: str, obj: Obj, resource_version: str | None) -> Obj:
    """CloudCore's record that ``node_name`` acknowledged ``obj`` at ``resource_version``."""
    meta = obj["metadata"]
    sync: Obj = {
        "apiVersion": "reliablesyncs.kubeedge.io/v1alpha1",
        "kind": "ObjectSync",
        "metadata": {"name": f"{node_name}.{meta['uid']}", "namespace": meta["namespace"]},
        "spec": {
            "objectAPIVersion": obj["apiVersion"],
            "objectKind": obj["kind"],
            "objectName": meta["name"],
        },
    }
    if resource_version is not None:
        sync["status"] = {"objectResourceVersion": resource_version}
    return sync
