"""Argo CD Applications for the site's own Argo CD instance (delivered by the edge bundle).

Each site runs Argo CD on its edge node, watching the site namespace, so every
Application goes there. Sources, sync policy and ignoreDifferences are the operator's
and pass through unchanged; the one thing gitops-edge fills in is where to deploy:
by default the province cluster eggo built, at the API endpoint eggo itself derives
(``fillAPIEndPoint``), so an operator never repeats an address already in
``spec.eggo``.
"""

from __future__ import annotations

import copy
from typing import Any

from gitops_edge.render import meta
from gitops_edge.render.context import RenderContext, site_namespace, spec_of
from gitops_edge.specs.province import Application, ProvinceSpec
from gitops_edge.specs.sites import Site

API_VERSION = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"


def default_server(spec: ProvinceSpec) -> str:
    """``https://<eggo API endpoint>``, or the in-cluster API when the site has no eggo."""
    endpoint = spec.eggo.api_endpoint() if spec.eggo is not None else ""
    return f"https://{endpoint}" if endpoint else IN_CLUSTER


def application_objects(site: Site, ctx: RenderContext) -> list[dict[str, Any]]:
    """One Application per ``spec.applications`` item, in the order written."""
    spec = spec_of(site)
    namespace = site_namespace(site, ctx)
    return [
        meta.k8s_object(
            API_VERSION,
            "Application",
            meta.metadata(app.name, namespace, meta.site_labels(site.id, "application")),
            spec=_app_spec(app, spec, ctx),
        )
        for app in spec.applications
    ]


def _app_spec(app: Application, spec: ProvinceSpec, ctx: RenderContext) -> dict[str, Any]:
    out: dict[str, Any] = {"project": app.project or ctx.settings.spec.argocd.project}
    if app.source is not None:
        out["source"] = _dump(app.source)
    if app.sources is not None:
        out["sources"] = [_dump(s) for s in app.sources]
    dest = app.destination
    destination: dict[str, Any] = {}
    if dest.name is not None:
        destination["name"] = dest.name
    else:
        destination["server"] = dest.server or default_server(spec)
    if dest.namespace is not None:
        destination["namespace"] = dest.namespace
    out["destination"] = destination
    if app.syncPolicy is not None:
        out["syncPolicy"] = _dump(app.syncPolicy)
    if app.ignoreDifferences is not None:
        out["ignoreDifferences"] = copy.deepcopy(app.ignoreDifferences)
    if app.revisionHistoryLimit is not None:
        out["revisionHistoryLimit"] = app.revisionHistoryLimit
    return out


def _dump(model: Any) -> dict[str, Any]:
    """The operator's fields as written; unset (None) and empty defaults left out."""
    data: dict[str, Any] = model.model_dump(mode="json", exclude_defaults=True)
    return data
