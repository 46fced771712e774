"""Render one site, or every site of a repo: the pure core of ``gitops-edge render``.

Work is keyed by site (ARCHITECTURE.md): a site that cannot be rendered gets its
problems and no objects, and never holds back the others. The order of a site's
objects is the order they can be applied in: the namespace, the edge bundle (Argo CD
itself among it), eggo, then the Applications that Argo CD delivers; it is defined
once, by :func:`gitops_edge.render.output.in_apply_order`, which every sink names and
applies objects by, so a render and an apply lay a site out the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_edge.problems import Problem, sorted_unique
from gitops_edge.render import meta
from gitops_edge.render.argocd import application_objects
from gitops_edge.render.bundle import bundle_objects
from gitops_edge.render.context import RenderContext, RenderError, site_namespace, spec_of
from gitops_edge.render.eggo_job import DEPLOY, eggo_run_objects
from gitops_edge.render.eggo_operator import eggops_objects
from gitops_edge.render.output import in_apply_order
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import PROVINCES, Site

Origin = tuple[str, str]
"""(file, field) an emitted object comes from, for collision messages."""


@dataclass(frozen=True)
class RenderResult:
    """Per-site objects for the sites that rendered, per-site problems for the others."""

    revision: str
    objects: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)
    repo_problems: tuple[Problem, ...] = ()
    suspended: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.problems and not self.repo_problems


def namespace_object(site: Site, ctx: RenderContext) -> dict[str, Any]:
    """The site's own namespace: the only cluster-scoped object gitops-edge emits.

    It carries the site's ``deletionPolicy``: once the directory is gone from Git, the
    live namespace is the only place left that says whether eggo cleans the cluster up.
    """
    return meta.k8s_object(
        "v1",
        "Namespace",
        meta.metadata(
            site_namespace(site, ctx),
            None,
            meta.site_labels(site.id, "namespace"),
            {meta.DELETION_POLICY: spec_of(site).deletionPolicy},
        ),
    )


def render_site(site: Site, ctx: RenderContext) -> list[dict[str, Any]]:
    """Every object of a valid site, stamped, in apply order; RenderError if impossible."""
    spec = spec_of(site)
    pairs: list[tuple[Origin, dict[str, Any]]] = [((site.file, ""), namespace_object(site, ctx))]
    pairs.extend(((doc.where, ""), obj) for doc, obj in bundle_objects(site, ctx))
    if spec.eggo is not None:
        if ctx.settings.spec.eggo.mode == "operator":
            eggo_objs = eggops_objects(site, ctx)
        else:
            eggo_objs = eggo_run_objects(site, ctx, DEPLOY)
        pairs.extend(((site.file, "spec.eggo"), obj) for obj in eggo_objs)
    pairs.extend(
        ((site.file, f"spec.applications[{i}]"), obj)
        for i, obj in enumerate(application_objects(site, ctx))
    )
    _check_unique(pairs)
    return in_apply_order(meta.finish(obj, ctx.revision) for _, obj in pairs)


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    api = str(obj["apiVersion"])
    return (api.split("/")[0] if "/" in api else "", str(obj["kind"]), obj["metadata"]["name"])


def _check_unique(pairs: list[tuple[Origin, dict[str, Any]]]) -> None:
    """Two objects with one identity would overwrite each other on apply."""
    seen: dict[tuple[str, str, str], Origin] = {}
    problems: list[Problem] = []
    for origin, obj in pairs:
        key = _key(obj)
        if key in seen:
            first = seen[key]
            where = f"{first[0]} {first[1]}".strip()
            problems.append(
                Problem(
                    origin[0],
                    origin[1] or "metadata.name",
                    f"{key[1]} {key[2]!r} is also produced by {where}; rename one",
                )
            )
        seen.setdefault(key, origin)
    if problems:
        raise RenderError(problems)


def render_repo(
    repo: RepoSpec,
    *,
    revision: str,
    sites: Iterable[str] | None = None,
    progress: Callable[[], None] | None = None,
) -> RenderResult:
    """Render every valid site of ``repo`` (or only ``sites``); no I/O.

    ``progress`` is called once per site, for a progress bar on a long run.
    """
    ctx = RenderContext(repo.settings, revision, repo.bundle)
    wanted = None if sites is None else list(dict.fromkeys(sites))
    chosen = repo.sites if wanted is None else tuple(s for s in repo.sites if s.id in wanted)
    objects: dict[str, list[dict[str, Any]]] = {}
    problems: dict[str, tuple[Problem, ...]] = {}
    for site_id in wanted or ():
        if repo.site(site_id) is None:
            problems[site_id] = (
                Problem(
                    PROVINCES, "", f"no site {site_id!r}: no {PROVINCES}/**/cluster.yaml maps to it"
                ),
            )
    suspended: set[str] = set()
    for site in sorted(chosen, key=lambda s: s.id):
        if progress is not None:
            progress()
        if not site.valid:
            problems[site.id] = site.problems
            continue
        try:
            objects[site.id] = render_site(site, ctx)
        except RenderError as exc:
            problems[site.id] = tuple(sorted_unique(exc.problems))
            continue
        if spec_of(site).suspend:
            suspended.add(site.id)
    return RenderResult(
        revision,
        objects,
        dict(sorted(problems.items())),
        tuple(repo.problems),
        frozenset(suspended),
    )
