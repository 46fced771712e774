"""Unregistering a province cluster before eggo cleans it up, or when its site is removed.

A removed site (its directory gone, ``deletionPolicy: Cleanup``) or a rebuild ends with
``eggo cleanup``; a Karmada ``Cluster`` left behind would keep a binding pointing at a
cluster that no longer exists, and karmada-agent would be killed mid-flight. So the
cleanup is held while karmada-apiserver still has the site's Cluster, and a Job on
the edge node runs ``karmadactl unregister <site id> --cluster-kubeconfig admin.conf``
(``pkg/karmadactl/unregister/unregister.go`` ``NewCmdUnregister``, karmada-io/karmada
0533b555e040596f4fff9b6a344efbaeed71d0cc: the karmada-apiserver config is fetched
from the member's ``karmada-system/karmada-kubeconfig`` when ``--karmada-config`` is
not given, so the Job carries no centre credentials). It deletes the Cluster and the
agent's objects in the member.

A removed site has no spec any more, so the Job is placed from the site's last eggo
Job (the same node selector, node name and tolerations): it lands where eggo ran and
where ``admin.conf`` is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from gitops_edge.federation.registration import (
    ADMIN_CONF,
    AFTER_RUN,
    FEDERATION_LABEL,
    record_labels,
)
from gitops_edge.live.progress import job_failure, job_outcome
from gitops_edge.plan.eggo_lifecycle import applied_cluster, eggo_runs
from gitops_edge.plan.model import HISTORY_COMPONENTS, EggoStep, SitePlan
from gitops_edge.render import meta
from gitops_edge.render.eggo_job import STATE_HOST_DIR

COMPONENT = "karmada-unregister"
State = Literal["unregistered", "to unregister", "unregistering", "failed"]


@dataclass(frozen=True)
class Unregistration:
    site: str
    state: State
    detail: str = ""

    def line(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.site}: karmada {self.state}{tail}"

    @property
    def holds_cleanup(self) -> bool:
        """eggo cleanup must wait: the Cluster is (or may still be) registered."""
        return self.state != "unregistered"


def cleanup_hold(site: str, cluster: Mapping[str, Any] | None) -> str | None:
    """Why an eggo cleanup of ``site`` must wait, or None: the planner's check."""
    if cluster is None:
        return None
    return (
        f"site {site} is still registered with Karmada (Cluster {site}); gitops-edge "
        "unregisters it first, then cleans the cluster up"
    )


CleanupHold = Callable[[str], str | None]
"""site id -> why its eggo cleanup must wait (None: it may go): the planner's hook."""


def hold_for_unregistration(sp: SitePlan, hold: CleanupHold) -> SitePlan:
    """``sp`` with an eggo cleanup it would start held back while ``hold`` says so.

    The planner calls this for every site it plans (``make_plan(hold_cleanup=...)``).
    Only a cleanup about to be *started* is held (a rebuild's, or a removed site's
    with ``deletionPolicy: Cleanup``): the eggo run objects it would create are
    dropped and the site is ``blocked`` like any refused eggo step, so nothing of it
    is emitted this run; a cleanup already running is eggo's and left alone. The
    site is planned again when its Cluster goes (a Karmada view event).
    """
    if sp.eggo is None or sp.eggo.operation != "cleanup":
        return sp
    reason = hold(sp.site)
    if reason is None:
        return sp
    changes = tuple(
        c
        for c in sp.changes
        if not (
            c.action == "create"
            and ((c.desired or {}).get("metadata", {}).get("labels") or {}).get(meta.COMPONENT)
            in HISTORY_COMPONENTS
        )
    )
    gate = "blocked" if sp.gate in ("ready", "failed", "removed") else sp.gate
    return replace(
        sp, gate=gate, reason=reason, changes=changes, eggo=EggoStep("none", reason), done=False
    )


def unregistration_state(
    site: str, *, cluster: Mapping[str, Any] | None, job: Mapping[str, Any] | None
) -> Unregistration:
    if cluster is None:
        return Unregistration(site, "unregistered")
    if job is None:
        return Unregistration(site, "to unregister")
    outcome = job_outcome(job)
    if outcome == "failed":
        return Unregistration(
            site,
            "failed",
            f"Job {job['metadata']['name']} failed ({job_failure(job)}); run karmadactl "
            f"unregister {site} by hand, then delete the Job",
        )
    return Unregistration(site, "unregistering", f"Job {job['metadata']['name']} {outcome}")


def unregistration_job(
    site: str, eggo_objects: Iterable[dict[str, Any]], images: Mapping[str, str] | str
) -> dict[str, Any] | None:
    """The unregister Job, placed like the site's last eggo Job; None without one.

    ``images``: the registration image (one string or one per arch); the arch comes
    from the eggo Job's ``kubernetes.io/arch`` node selector, else amd64.
    """
    runs = eggo_runs(eggo_objects, assume_success=False)
    if not runs:
        return None
    cluster, _ = applied_cluster(runs)
    last = runs[-1].job
    cluster_id = (
        cluster.cluster_id
        if cluster is not None
        else last["metadata"].get("labels", {}).get(meta.CLUSTER_ID, "")
    )
    if not cluster_id:
        return None
    pod_from = (last.get("spec") or {}).get("template", {}).get("spec") or {}
    arch = (pod_from.get("nodeSelector") or {}).get("kubernetes.io/arch", "amd64")
    image = images if isinstance(images, str) else images.get(arch)
    if image is None:
        return None
    labels = record_labels(site, COMPONENT)
    pod_labels = {meta.SITE: site, FEDERATION_LABEL: COMPONENT}
    command = ["karmadactl", "unregister", site, "--cluster-kubeconfig", ADMIN_CONF]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [
            {
                "name": "unregister",
                "image": image,
                "command": command,
                "volumeMounts": [{"name": "admin-conf", "mountPath": ADMIN_CONF, "readOnly": True}],
                "securityContext": {
                    "runAsUser": 0,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [
            {
                "name": "admin-conf",
                "hostPath": {"path": f"{STATE_HOST_DIR}/{cluster_id}/admin.conf", "type": "File"},
            }
        ],
    }
    for key in ("nodeName", "nodeSelector", "tolerations"):
        if key in pod_from:
            pod[key] = copy.deepcopy(pod_from[key])
    after = str(last["metadata"].get("name", ""))
    name = (
        f"karmada-unregister-{meta.digest({'c': command, 'id': cluster_id, 'after': after})[:10]}"
    )
    job = meta.k8s_object(
        "batch/v1",
        "Job",
        meta.metadata(
            name,
            str(last["metadata"].get("namespace")),
            labels,
            {meta.CLUSTER_ID: cluster_id, AFTER_RUN: after},
        ),
        spec={
            "backoffLimit": 0,
            "activeDeadlineSeconds": 600,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        },
    )
    return meta.finish(job, "unregister")
