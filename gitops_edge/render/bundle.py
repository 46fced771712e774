"""Stamp the edge bundle for one site: namespace, labels, and the way to its edge node.

The bundle is written once (``edge-bundle/``) and placed on every edge node, so each
copy is made the site's own here: it goes to the site namespace, is labelled like
everything else gitops-edge manages, and every pod it declares is pinned to the
site's edge node with the same partition tolerations as the eggo Job. The operator's
own labels, annotations, node selector keys and tolerations are kept.
"""

from __future__ import annotations

from typing import Any

from gitops_edge.render import meta
from gitops_edge.render.context import Placement, RenderContext, placement, site_namespace
from gitops_edge.specs.bundle import BundleDoc
from gitops_edge.specs.sites import Site

POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each pod-bearing kind keeps its pod spec."""

APPLY_ORDER = (
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Role",
    "RoleBinding",
    "Service",
)
"""Kinds others refer to go first (as ``kubectl apply -f`` and Helm order them); the
rest keep the order they are written in."""


def bundle_objects(site: Site, ctx: RenderContext) -> list[tuple[BundleDoc, dict[str, Any]]]:
    """Each bundle document for the site, stamped, paired with the document it came from."""
    namespace = site_namespace(site, ctx)
    where = placement(site)
    docs = sorted(
        ctx.bundle.for_site(site.id),
        key=lambda d: APPLY_ORDER.index(d.kind) if d.kind in APPLY_ORDER else len(APPLY_ORDER),
    )
    return [(doc, stamp(doc.body, site.id, namespace, where)) for doc in docs]


def stamp(body: dict[str, Any], site_id: str, namespace: str, where: Placement) -> dict[str, Any]:
    """A stamped deep copy of one bundle document (the loaded bundle is never changed)."""
    src = _copy(body)
    old = src.get("metadata") or {}
    labels = {**(old.get("labels") or {}), **meta.site_labels(site_id, "edge-bundle")}
    rest_meta = {k: v for k, v in old.items() if k not in ("name", "labels", "annotations")}
    meta_ = meta.metadata(old["name"], namespace, labels, old.get("annotations") or None)
    meta_.update({k: v for k, v in rest_meta.items() if k != "namespace"})
    rest = {k: v for k, v in src.items() if k not in ("apiVersion", "kind", "metadata")}
    obj = meta.k8s_object(src["apiVersion"], src["kind"], meta_, **rest)
    path = POD_TEMPLATE_PATHS.get(src["kind"])
    if path is not None:
        where.apply(_dig(obj, path))
    if src["kind"] in ("RoleBinding",):
        for subject in obj.get("subjects") or []:
            if isinstance(subject, dict) and subject.get("kind") == "ServiceAccount":
                subject.setdefault("namespace", namespace)
    return obj


def _copy(value: Any) -> Any:
    """A deep copy of plain data (what a bundle document is), without deepcopy's bookkeeping."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _dig(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The mapping at ``path``, created when missing (the API server reports what else is)."""
    current = obj
    for key in path:
        child = current.get(key)
        if not isinstance(child, dict):
            child = {}
            current[key] = child
        current = child
    return current
