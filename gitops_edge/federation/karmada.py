"""karmada-apiserver: a second API server, reached through the same :class:`KubeClient`.

The daemon's credentials for it live in a Secret of the central cluster
(``spec.federation.karmada.kubeconfigSecret``), read at connect time and never
written anywhere else, so rotating them is replacing that Secret. Everything else
(retries, the circuit breaker, error messages) is the central client's.

``Cluster`` (``cluster.karmada.io/v1alpha1``) is served by karmada-aggregated-apiserver
(no CRD upstream; its schema is ``api/openapi-spec/swagger.json``, karmada-io/karmada
0533b555). gitops-edge never creates one: karmada-agent does, on registration.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from gitops_edge.federation.bootstrap import (
    DEFAULT_TTL,
    ca_cert_hash,
    kubeconfig_ca,
    new_token,
    token_secret,
)
from gitops_edge.federation.documents import FederationDocs
from gitops_edge.federation.labels import cluster_name, federated
from gitops_edge.federation.policies import desired_policy
from gitops_edge.federation.registration import (
    CA_HASH_KEY,
    COMPONENT,
    FEDERATION_LABEL,
    TOKEN_KEY,
    TOKEN_SECRET,
    Registration,
    after,
    latest_run,
    record_labels,
    registration_job,
    registration_state,
)
from gitops_edge.federation.unregistration import COMPONENT as UNREGISTER
from gitops_edge.federation.unregistration import (
    Unregistration,
    unregistration_job,
    unregistration_state,
)
from gitops_edge.kinds import JOBS, SECRETS, Resource, resource_for
from gitops_edge.labels import EXPIRES
from gitops_edge.live.client import KubeClient, KubeError, RetryPolicy
from gitops_edge.render import meta
from gitops_edge.render.context import RenderContext, site_namespace
from gitops_edge.specs.opsrepo import KarmadaSettings
from gitops_edge.specs.sites import Site

CLUSTERS = Resource("cluster.karmada.io", "v1alpha1", "clusters", "Cluster", False)
RESOURCE_BINDINGS = Resource(
    "work.karmada.io", "v1alpha2", "resourcebindings", "ResourceBinding", True
)
POLICY_RESOURCES = {
    "PropagationPolicy": Resource(
        "policy.karmada.io", "v1alpha1", "propagationpolicies", "PropagationPolicy", True
    ),
    "ClusterPropagationPolicy": Resource(
        "policy.karmada.io",
        "v1alpha1",
        "clusterpropagationpolicies",
        "ClusterPropagationPolicy",
        False,
    ),
    "OverridePolicy": Resource(
        "policy.karmada.io", "v1alpha1", "overridepolicies", "OverridePolicy", True
    ),
    "ClusterOverridePolicy": Resource(
        "policy.karmada.io", "v1alpha1", "clusteroverridepolicies", "ClusterOverridePolicy", False
    ),
}


def kubeconfig_from_secret(central: KubeClient, settings: KarmadaSettings) -> dict[str, Any]:
    """The kubeconfig for karmada-apiserver, read from its Secret in the central cluster."""
    ref = settings.kubeconfigSecret
    if ref is None:
        raise KubeError("spec.federation.karmada.kubeconfigSecret is not set in gitops-edge.yaml")
    where = f"Secret {ref.namespace}/{ref.name}"
    secret = central.get(SECRETS, ref.name, namespace=ref.namespace)
    if secret is None:
        raise KubeError(
            f"{where} (spec.federation.karmada.kubeconfigSecret) does not exist: create it with "
            f"kubectl -n {ref.namespace} create secret generic {ref.name} "
            f"--from-file={ref.key}=karmada-apiserver.config"
        )
    raw = (secret.get("data") or {}).get(ref.key)
    if not isinstance(raw, str):
        raise KubeError(f"{where} has no data key {ref.key!r}; put the kubeconfig under that key")
    try:
        config = yaml.safe_load(base64.b64decode(raw, validate=True))
    except (binascii.Error, yaml.YAMLError, UnicodeDecodeError):
        raise KubeError(f"{where} key {ref.key!r} is not a base64-encoded kubeconfig") from None
    if not isinstance(config, dict):
        raise KubeError(f"{where} key {ref.key!r} is not a kubeconfig (a YAML mapping)")
    return config


def client_from_kubeconfig(
    config: Mapping[str, Any], *, retry: RetryPolicy | None = None, timeout: float = 30.0
) -> KubeClient:
    """A :class:`KubeClient` for the kubeconfig's current context."""
    configuration = k8s.Configuration()
    try:
        k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
            config_dict=dict(config), client_configuration=configuration
        )
    except (ConfigException, KeyError, TypeError) as exc:
        raise KubeError(f"the karmada-apiserver kubeconfig cannot be used: {exc}") from None
    configuration.retries = 0
    return KubeClient(k8s.ApiClient(configuration), retry=retry, timeout=timeout)


def connect_karmada(
    central: KubeClient, settings: KarmadaSettings, *, retry: RetryPolicy | None = None
) -> KubeClient:
    """The daemon's client for karmada-apiserver (credentials from the central Secret)."""
    return client_from_kubeconfig(kubeconfig_from_secret(central, settings), retry=retry)


@dataclass(frozen=True)
class LabelResult:
    cluster: str
    outcome: str
    """``applied``, ``unchanged`` or ``not registered`` (no Cluster: nothing is created)."""


def apply_cluster_labels(
    karmada: KubeClient, name: str, labels: Mapping[str, str], *, dry_run: bool = False
) -> LabelResult:
    """Server-side apply ``metadata.labels`` of an existing Cluster; never create one.

    The apply carries only ``metadata.labels`` under field manager ``gitops-edge``, so
    labels others set stay theirs, and a label gitops-edge no longer wants is removed
    by the apply itself. It is never forced: a label another field manager owns with a
    different value is a 409 from the API server, reported as ``conflict: ...`` naming
    that manager, and left as it is. An absent Cluster (not registered yet, or
    unregistered) is reported, not created: the Cluster belongs to karmada-agent. A
    Cluster deleted in the instant between the read and the apply would be re-created
    label-only; the next read reports it, and karmada-agent re-registers on top of it.
    """
    current = karmada.get(CLUSTERS, name)
    if current is None:
        return LabelResult(name, "not registered")
    have = (current.get("metadata") or {}).get("labels") or {}
    if all(have.get(k) == v for k, v in labels.items()) and _owned(current) == set(labels):
        return LabelResult(name, "unchanged")
    body = {
        "apiVersion": CLUSTERS.api_version,
        "kind": CLUSTERS.kind,
        "metadata": {"name": name, "labels": dict(labels)},
    }
    try:
        karmada.apply(body, CLUSTERS, dry_run=dry_run)
    except KubeError as exc:
        if exc.status != 409:
            raise
        return LabelResult(name, f"conflict: {exc}")
    return LabelResult(name, "applied")


def _owned(obj: dict[str, Any]) -> set[str]:
    """Label keys field manager ``gitops-edge`` owns on ``obj`` (from managedFields)."""
    out: set[str] = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != "gitops-edge" or entry.get("operation") != "Apply":
            continue
        labels = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:labels") or {}
        out.update(k.removeprefix("f:") for k in labels)
    return out


def registered(karmada: KubeClient, name: str) -> dict[str, Any] | None:
    """The site's Cluster, when registered (the one definition of "registered")."""
    return karmada.get(CLUSTERS, name)


def resource_of(body: Mapping[str, Any]) -> Resource:
    """The REST resource of a ``federation/`` document (a policy or a managed kind)."""
    kind = str(body.get("kind"))
    if body.get("apiVersion") == "policy.karmada.io/v1alpha1" and kind in POLICY_RESOURCES:
        return POLICY_RESOURCES[kind]
    res = resource_for(str(body.get("apiVersion")), kind)
    if res is None:
        raise KubeError(f"{body.get('apiVersion')} {kind} is not a kind gitops-edge federates")
    return res


APPLIED = "resource"
"""``gitops-edge.io/federation`` on what gitops-edge applies to karmada-apiserver."""
APPLIED_SELECTOR = f"{meta.MANAGED_BY}={meta.MANAGER},{FEDERATION_LABEL}={APPLIED}"
"""What gitops-edge applied to karmada-apiserver: the only objects it may remove there."""


def with_applied_labels(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``federation/`` document labelled as applied by gitops-edge."""
    out = dict(body)
    md = dict(out.get("metadata") or {})
    md["labels"] = {**(md.get("labels") or {}), meta.MANAGED_BY: meta.MANAGER}
    md["labels"][FEDERATION_LABEL] = APPLIED
    out["metadata"] = md
    return out


@dataclass(frozen=True)
class Applied:
    """What one apply of ``federation/`` did: objects applied, and conflicts left alone."""

    applied: list[str]
    conflicts: list[str]


def describe_doc(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def apply_federation(
    karmada: KubeClient,
    docs: FederationDocs,
    cluster_waves: Mapping[str, int],
    released_through: int | None,
    *,
    dry_run: bool = False,
) -> Applied:
    """Server-side apply every template, then every policy as gitops-edge completes it.

    Templates go first so a policy never propagates a template that is not there yet.
    Each object carries ``app.kubernetes.io/managed-by: gitops-edge`` and
    ``gitops-edge.io/federation: resource`` (:data:`APPLIED_SELECTOR`), which is how
    :mod:`gitops_edge.federation.prune` later tells what it may remove. Applies are
    never forced: a field another manager owns is a 409, reported in ``conflicts``
    with that manager's name (from the API server's message) and not overwritten; the
    other objects still go. Nothing is deleted here.
    """
    applied: list[str] = []
    conflicts: list[str] = []
    bodies = [dict(doc.body) for doc in docs.templates] + [
        desired_policy(doc.body, cluster_waves, released_through) for doc in docs.policies
    ]
    for body in bodies:
        md = body.get("metadata") or {}
        what = describe_doc(str(body.get("kind")), md.get("namespace"), str(md.get("name")))
        try:
            karmada.apply(with_applied_labels(body), resource_of(body), dry_run=dry_run)
        except KubeError as exc:
            if exc.status != 409:
                raise
            conflicts.append(f"{what}: {exc}; not overwritten (gitops-edge never forces)")
            continue
        applied.append(what)
    return Applied(applied, conflicts)


NOISE = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


def _content(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An object without what the API server writes (status, versions, managedFields)."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in NOISE}
    return out


def preview_federation(
    karmada: KubeClient,
    docs: FederationDocs,
    cluster_waves: Mapping[str, int],
    released_through: int | None,
) -> list[tuple[str, str]]:
    """(object, ``to create`` / ``to update`` / ``unchanged`` / ``conflict: ...``), writing nothing.

    Each object goes to karmada-apiserver as a server-side apply with ``dryRun=All``, so
    the answer is the server's: defaulting, what other field managers own, a conflict
    the real apply would hit. Compared with the live object without server-written
    fields.
    """
    out: list[tuple[str, str]] = []
    bodies = [dict(doc.body) for doc in docs.templates] + [
        desired_policy(doc.body, cluster_waves, released_through) for doc in docs.policies
    ]
    for body in bodies:
        md = body.get("metadata") or {}
        res = resource_of(body)
        what = describe_doc(str(body.get("kind")), md.get("namespace"), str(md.get("name")))
        live = karmada.get(res, str(md.get("name")), namespace=md.get("namespace"))
        try:
            after = karmada.apply(with_applied_labels(body), res, dry_run=True)
        except KubeError as exc:
            if exc.status != 409:
                raise
            out.append((what, f"conflict: {exc}"))
            continue
        if live is None:
            out.append((what, "to create"))
        elif _content(after) != _content(live):
            out.append((what, "to update"))
        else:
            out.append((what, "unchanged"))
    return out


def registration_jobs(central: KubeClient, site: Site, ctx: RenderContext) -> list[dict[str, Any]]:
    """The site's registration Jobs in its namespace on the central cluster, newest last."""
    selector = f"{meta.SITE}={site.id},{FEDERATION_LABEL}={COMPONENT}"
    jobs, _ = central.list(JOBS, namespace=site_namespace(site, ctx), label_selector=selector)
    return sorted(jobs, key=lambda j: str(j["metadata"].get("creationTimestamp", "")))


def reconcile_registration(
    central: KubeClient,
    karmada: KubeClient,
    kubeconfig: Mapping[str, Any],
    site: Site,
    ctx: RenderContext,
    *,
    eggo_objects: list[dict[str, Any]],
    now: datetime,
    reports: Mapping[str, str] | None = None,
    ttl: timedelta = DEFAULT_TTL,
    dry_run: bool = False,
    edge_online: bool = True,
) -> Registration:
    """One registration step for one site; what it did (or would do) as a Registration.

    ``to register``: mint a bootstrap token in karmada-apiserver, hand it (and the CA
    hash) to the site as the ``karmada-bootstrap`` Secret in its central namespace
    (KubeEdge syncs it to the edge node), emit the registration Job. ``registered``:
    the site's copy of the token is deleted. Nothing else is ever retried by itself.
    The token is in no return value, message or log line.
    """
    name = cluster_name(site)
    cluster = registered(karmada, name) if federated(site, ctx.settings) else None
    run = latest_run(eggo_objects, reports)
    jobs = after(registration_jobs(central, site, ctx), run) if cluster is None else []
    state = registration_state(
        site,
        ctx,
        eggo_objects=eggo_objects,
        cluster=cluster,
        job=jobs[-1] if jobs else None,
        reports=reports,
    )
    namespace = site_namespace(site, ctx) if site.valid else ""
    if state.state == "registered" and not dry_run:
        central.delete(SECRETS, TOKEN_SECRET, namespace=namespace)
        return state
    if state.state != "to register":
        return state
    if not edge_online:
        return Registration(
            name, "deferred", "no edge node of the site is online; registers when one is back"
        )
    job = registration_job(site, ctx, after_run=run)
    if dry_run:
        return Registration(name, "to register", f"would create Job {job['metadata']['name']}")
    ca_hash = ca_cert_hash(kubeconfig_ca(dict(kubeconfig)))
    token_id, token_value = new_token()
    karmada.apply(token_secret(token_id, token_value, now=now, ttl=ttl, site=site.id), SECRETS)
    handed = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": namespace,
            "labels": record_labels(site.id, COMPONENT),
            "annotations": {EXPIRES: (now + ttl).isoformat()},
        },
        "type": "Opaque",
        "data": {
            TOKEN_KEY: base64.b64encode(f"{token_id}.{token_value}".encode()).decode(),
            CA_HASH_KEY: base64.b64encode(ca_hash.encode()).decode(),
        },
    }
    central.apply(handed, SECRETS)
    central.apply(job, JOBS)
    return Registration(name, "registering", f"Job {job['metadata']['name']} created")


def reconcile_unregistration(
    central: KubeClient,
    karmada: KubeClient,
    site_id: str,
    namespace: str,
    eggo_objects: list[dict[str, Any]],
    images: Mapping[str, str] | str,
    *,
    dry_run: bool = False,
) -> Unregistration:
    """One unregistration step for a removed or ``Cleanup`` site (see :mod:`.unregistration`)."""
    cluster = registered(karmada, site_id)
    job = None
    if cluster is not None:
        selector = f"{meta.SITE}={site_id},{FEDERATION_LABEL}={UNREGISTER}"
        jobs, _ = central.list(JOBS, namespace=namespace, label_selector=selector)
        current = after(jobs, latest_run(eggo_objects))
        job = dict(current[-1]) if current else None
    state = unregistration_state(site_id, cluster=cluster, job=job)
    if state.state != "to unregister":
        return state
    body = unregistration_job(site_id, eggo_objects, images)
    if body is None:
        return Unregistration(
            site_id,
            "failed",
            "no eggo run record to place the unregister Job; run karmadactl unregister by hand",
        )
    if not dry_run:
        central.apply(body, JOBS)
    return Unregistration(site_id, "unregistering", f"Job {body['metadata']['name']} created")
