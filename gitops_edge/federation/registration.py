"""Registering a province cluster with Karmada (pull mode), only once eggo built it.

``karmadactl register`` (``pkg/karmadactl/register/register.go``, karmada-io/karmada
0533b555e040596f4fff9b6a344efbaeed71d0cc) takes the karmada-apiserver endpoint as
its one positional argument and ``--token``, ``--discovery-token-ca-cert-hash``,
``--cluster-name``, ``--kubeconfig`` (the *member's*) and ``--karmada-agent-replicas``
among its flags (``NewCmdRegister``, lines 182-200). It has **no**
``--report-secrets`` flag: that is karmada-agent's (``cmd/agent/app/options/options.go``
line 202, default ``KubeCredentials,KubeImpersonator``, i.e. upload the member's
credentials to the centre), and register starts the agent without it. So the Job
registers with ``--karmada-agent-replicas 0`` (register's rollout wait is then
immediate, ``cmdutil.WaitForDeploymentRollout``), and a second step adds
``--report-secrets=None`` to the agent's command and scales it to one with
``karmadactl patch`` (kubectl's patch, ``pkg/karmadactl/patch/patch.go``), so the agent
never runs with the default and the member's credentials stay in the province.

Register is not idempotent: its preflight refuses a member that already has
``karmada-system/karmada-kubeconfig``, the ``karmada-agent-sa`` ServiceAccount or the
``karmada-agent`` Deployment, and then *exits 0* after printing the errors (``Run``:
``return nil``). A succeeded Job is therefore not "registered": registered means a
``Cluster`` named after the site exists in karmada-apiserver (the agent creates it).
A Job that ended without that Cluster is a half-done registration, reported with what
to clean up, never retried by itself.

The token is never in Git, in the Job's spec or in logs: the Job reads it from a
Secret through environment variables that the kubelet expands into the command
(``$(KARMADA_TOKEN)``); karmadactl has no other way to take it, so it is in the
register process's argv on the edge node for the seconds the process runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gitops_edge.federation.labels import cluster_name, federated, site_arch
from gitops_edge.labels import AFTER_EGGO_RUN, FEDERATION
from gitops_edge.live.progress import job_failure, job_outcome
from gitops_edge.plan.eggo_lifecycle import applied_cluster, eggo_runs, failure_of
from gitops_edge.problems import Problem
from gitops_edge.render import meta
from gitops_edge.render.context import (
    SETTINGS_FILE,
    RenderContext,
    RenderError,
    placement,
    site_namespace,
    spec_of,
)
from gitops_edge.render.eggo_job import STATE_HOST_DIR
from gitops_edge.specs.sites import Site

COMPONENT = "karmada-register"
FEDERATION_LABEL = FEDERATION
"""The registration Job and Secret (and the unregistration Job) carry this label, the
site label and ``app.kubernetes.io/managed-by: gitops-edge`` like everything else
gitops-edge creates, so ``kubectl get -l app.kubernetes.io/managed-by=gitops-edge``
finds them too. The central planner keeps live objects with this label
(:func:`federation_record`): they are owned by :mod:`gitops_edge.federation`, never
pruned as "no longer rendered" while the site exists, and removed with its site."""


def federation_record(obj: Mapping[str, Any]) -> bool:
    """True for a live object owned by the federation step (never pruned by the planner)."""
    return FEDERATION_LABEL in ((obj.get("metadata") or {}).get("labels") or {})


def record_labels(site_id: str, component: str) -> dict[str, str]:
    """The labels of a federation Job or Secret on the central cluster."""
    return {
        meta.MANAGED_BY: meta.MANAGER,
        meta.SITE: site_id,
        meta.COMPONENT: component,
        FEDERATION_LABEL: component,
    }


AFTER_RUN = AFTER_EGGO_RUN
"""On a registration or unregistration Job: the eggo run (Job name) it followed. Only
the Jobs after the site's latest eggo run count: after a rebuild (cleanup, deploy) the
old, finished Jobs are records of the previous cluster, not a half-done registration
of the new one, and they never hold the next unregistration."""


def latest_run(objs: Iterable[dict[str, Any]], reports: Mapping[str, str] | None = None) -> str:
    """The name of the site's latest eggo run ("" without one)."""
    runs = eggo_runs(objs, assume_success=False, reports=reports)
    return runs[-1].name if runs else ""


def after(jobs: Iterable[Mapping[str, Any]], run: str) -> list[Mapping[str, Any]]:
    """The Jobs that followed eggo run ``run`` (see :data:`AFTER_RUN`)."""
    return [
        j
        for j in jobs
        if ((j.get("metadata") or {}).get("annotations") or {}).get(AFTER_RUN) == run
    ]


TOKEN_SECRET = "karmada-bootstrap"  # noqa: S105 - a Secret name, not a secret
TOKEN_KEY = "token"  # noqa: S105 - a data key name
CA_HASH_KEY = "ca-cert-hash"
ADMIN_CONF = "/etc/karmada-register/admin.conf"
AGENT_NAMESPACE = "karmada-system"
AGENT_DEPLOYMENT = "karmada-agent"
CLEANUP_HINT = (
    f"in the province cluster remove what karmadactl register left ({AGENT_NAMESPACE}/"
    f"karmada-kubeconfig Secret, karmada-agent-sa ServiceAccount, {AGENT_DEPLOYMENT} "
    "Deployment), then delete the registration Job to let gitops-edge try again"
)

State = Literal[
    "not federated",
    "waiting for eggo",
    "deferred",
    "to register",
    "registering",
    "half-done",
    "registered",
]


@dataclass(frozen=True)
class Registration:
    """Where a site's Karmada registration stands, in one line for plan and status."""

    site: str
    state: State
    detail: str = ""
    ready: bool | None = None

    def line(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        ready = "" if self.ready is None else (" (Ready)" if self.ready else " (not Ready)")
        return f"{self.site}: karmada {self.state}{ready}{tail}"


def cluster_ready(cluster: Mapping[str, Any]) -> bool | None:
    """The Cluster's Ready condition (written by karmada-agent): True, False or unknown."""
    for cond in (cluster.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return {"True": True, "False": False}.get(str(cond.get("status")))
    return None


def eggo_built(
    objs: Iterable[dict[str, Any]], *, reports: Mapping[str, str] | None = None
) -> tuple[bool, str]:
    """(the site's province cluster is built, why not): its latest eggo run succeeded.

    Uses the one definition of the latest run (:func:`eggo_runs`): a run whose summary
    names failed hosts is failed; a cleanup leaves no cluster.
    """
    runs = eggo_runs(objs, assume_success=False, reports=reports)
    if not runs:
        return False, "no eggo run yet"
    latest = runs[-1]
    if latest.outcome != "succeeded":
        why = failure_of(latest) if latest.outcome == "failed" else latest.outcome
        return False, f"eggo {latest.operation} {latest.name} {latest.outcome}" + (
            f" ({why})" if latest.outcome == "failed" else ""
        )
    cluster, readable = applied_cluster(runs)
    if cluster is None:
        return False, "no cluster (cleaned up)" if readable else "eggo's record is unreadable"
    return True, ""


def registration_state(
    site: Site,
    ctx: RenderContext,
    *,
    eggo_objects: Iterable[dict[str, Any]],
    cluster: Mapping[str, Any] | None,
    job: Mapping[str, Any] | None,
    reports: Mapping[str, str] | None = None,
) -> Registration:
    """Decide, purely, from the live records: eggo's runs, the Cluster, the Job."""
    name = cluster_name(site)
    if not federated(site, ctx.settings):
        return Registration(name, "not federated")
    if cluster is not None:
        return Registration(name, "registered", ready=cluster_ready(cluster))
    if job is not None:
        outcome = job_outcome(job)
        if outcome in ("pending", "running"):
            return Registration(name, "registering", f"Job {job['metadata']['name']} {outcome}")
        why = "karmadactl register exited 0 but no Cluster appeared (its preflight refuses a member with a previous registration)"
        if outcome == "failed":
            why = f"Job {job['metadata']['name']} failed ({job_failure(job)})"
        return Registration(name, "half-done", f"{why}; {CLEANUP_HINT}")
    built, why = eggo_built(eggo_objects, reports=reports)
    if not built:
        return Registration(name, "waiting for eggo", why)
    return Registration(name, "to register")


def registration_image(site: Site, ctx: RenderContext) -> str:
    image = ctx.settings.spec.federation.karmada.registrationImage
    if isinstance(image, str):
        return image
    arch = site_arch(site)
    chosen = {str(k): v for k, v in (image or {}).items()}.get(arch)
    if chosen is None:
        raise RenderError(
            [
                Problem(
                    SETTINGS_FILE,
                    "spec.federation.karmada.registrationImage",
                    f"no registration image for arch {arch!r}, which site {site.id!r} needs; "
                    f"add spec.federation.karmada.registrationImage.{arch}",
                )
            ]
        )
    return chosen


def register_command(api_server: str, cluster: str) -> list[str]:
    """karmadactl register's argv; the secrets are ``$(VAR)`` references, never values."""
    return [
        "karmadactl",
        "register",
        api_server,
        "--token",
        "$(KARMADA_TOKEN)",
        "--discovery-token-ca-cert-hash",
        "$(KARMADA_CA_CERT_HASH)",
        "--cluster-name",
        cluster,
        "--kubeconfig",
        ADMIN_CONF,
        "--karmada-agent-replicas",
        "0",
    ]


AGENT_PATCH = json.dumps(
    [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/command/-",
            "value": "--report-secrets=None",
        },
        {"op": "replace", "path": "/spec/replicas", "value": 1},
    ],
    separators=(",", ":"),
)


def agent_patch_command() -> list[str]:
    """Start the agent registered above, with the member's credentials kept home."""
    return [
        "karmadactl",
        "patch",
        "deployment",
        AGENT_DEPLOYMENT,
        "--namespace",
        AGENT_NAMESPACE,
        "--kubeconfig",
        ADMIN_CONF,
        "--type",
        "json",
        "--patch",
        AGENT_PATCH,
    ]


def _proxy_env(site: Site, ctx: RenderContext) -> list[dict[str, str]]:
    """HTTPS_PROXY for the register step only; the province cluster itself is never proxied.

    NO_PROXY lists every address ``admin.conf`` may name for the province's API server:
    its hosts, the load balancer and the host of ``apiserver-endpoint``.
    """
    proxy = ctx.settings.spec.federation.karmada.proxy
    if proxy is None:
        return []
    conf = spec_of(site).eggo
    hosts = ["localhost", "127.0.0.1"]
    if conf is not None:
        hosts += [h.ip for h in (*conf.masters, *conf.workers, *conf.etcds)]
        hosts += [conf.loadbalance.ip] if conf.loadbalance.ip else []
        if conf.apiserver_endpoint:
            hosts.append(conf.apiserver_endpoint.rsplit(":", 1)[0].strip("[]"))
    no_proxy = ",".join(dict.fromkeys(hosts))
    return [
        {"name": "HTTPS_PROXY", "value": proxy},
        {"name": "https_proxy", "value": proxy},
        {"name": "NO_PROXY", "value": no_proxy},
        {"name": "no_proxy", "value": no_proxy},
    ]


def registration_job(site: Site, ctx: RenderContext, *, after_run: str = "") -> dict[str, Any]:
    """The Job that registers the site's province cluster, on the site's edge node.

    Placed and tolerated like the eggo Job (:func:`placement`), host network (the
    edge node's own egress, as eggo), eggo's ``admin.conf`` read-only from the state
    hostPath, the token from the :data:`TOKEN_SECRET` Secret. ``backoffLimit: 0``:
    register is not idempotent, so a failed attempt is reported, not repeated.
    """
    settings = ctx.settings.spec.federation.karmada
    spec = spec_of(site)
    if spec.eggo is None or settings.apiServer is None:
        raise ValueError(f"site {site.id!r} has no eggo cluster or federation is not configured")
    cluster_id = spec.eggo.cluster_id
    namespace = site_namespace(site, ctx)
    image = registration_image(site, ctx)
    command = register_command(settings.apiServer, cluster_name(site))
    key = {"c": command, "i": image, "id": cluster_id, "after": after_run}
    name = f"karmada-register-{meta.digest(key)[:10]}"
    labels = record_labels(site.id, COMPONENT)
    pod_labels = {meta.SITE: site.id, FEDERATION_LABEL: COMPONENT}
    secret_env = [
        {
            "name": var,
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": key}},
        }
        for var, key in (("KARMADA_TOKEN", TOKEN_KEY), ("KARMADA_CA_CERT_HASH", CA_HASH_KEY))
    ]
    proxy = _proxy_env(site, ctx)
    mount = [{"name": "admin-conf", "mountPath": ADMIN_CONF, "readOnly": True}]
    security = {
        "runAsUser": 0,  # admin.conf is root-owned 0600 on the node
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "initContainers": [
            {
                "name": "register",
                "image": image,
                "command": command,
                "env": secret_env + proxy,
                "volumeMounts": mount,
                "securityContext": security,
            }
        ],
        "containers": [
            {
                "name": "start-agent",
                "image": image,
                "command": agent_patch_command(),
                "volumeMounts": mount,
                "securityContext": security,
            }
        ],
        "volumes": [
            {
                "name": "admin-conf",
                "hostPath": {"path": f"{STATE_HOST_DIR}/{cluster_id}/admin.conf", "type": "File"},
            }
        ],
    }
    placement(site).apply(pod)
    job = meta.k8s_object(
        "batch/v1",
        "Job",
        meta.metadata(name, namespace, labels, {meta.CLUSTER_ID: cluster_id, AFTER_RUN: after_run}),
        spec={
            "backoffLimit": 0,
            "activeDeadlineSeconds": 900,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        },
    )
    return meta.finish(job, ctx.revision)
