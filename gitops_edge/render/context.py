"""What every renderer needs besides the site: settings, revision, bundle, placement.

Rendering is a pure function of the repo at a commit (SPEC.md), so everything a
renderer may read is in :class:`RenderContext`; nothing reads files or clocks.
Placement (node selector, node name, tolerations) and the eggo image live here because
the eggo Job, the eggops Cluster and the edge bundle must all land on the same edge
node and agree on its architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitops_edge.problems import Problem
from gitops_edge.specs import k8s
from gitops_edge.specs.bundle import EMPTY_BUNDLE, EdgeBundle
from gitops_edge.specs.eggo import K8S_ARCH
from gitops_edge.specs.opsrepo import DEFAULT_SETTINGS, OpsRepo
from gitops_edge.specs.province import SITE_LABEL, ProvinceSpec
from gitops_edge.specs.sites import Site

SETTINGS_FILE = "gitops-edge.yaml"

PARTITION_TOLERATIONS: tuple[dict[str, Any], ...] = (
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
)
"""No ``tolerationSeconds``: a province link going down must not evict work from its edge node."""


@dataclass(frozen=True)
class RenderContext:
    """Inputs shared by every site of one render."""

    settings: OpsRepo = DEFAULT_SETTINGS
    revision: str = "unversioned"
    bundle: EdgeBundle = EMPTY_BUNDLE


class RenderError(Exception):
    """A valid site that still cannot be rendered; ``problems`` say why and where."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Placement:
    """How a pod reaches the site's edge node."""

    node_selector: dict[str, str] | None
    node_name: str | None
    tolerations: tuple[dict[str, Any], ...]

    def apply(self, pod_spec: dict[str, Any]) -> dict[str, Any]:
        """Merge into a pod spec in place: selector keys win, tolerations are added once."""
        if self.node_name is not None:
            pod_spec["nodeName"] = self.node_name
        if self.node_selector:
            pod_spec["nodeSelector"] = {
                **(pod_spec.get("nodeSelector") or {}),
                **self.node_selector,
            }
        pod_spec["tolerations"] = merge_tolerations(
            pod_spec.get("tolerations") or [], self.tolerations
        )
        return pod_spec


def merge_tolerations(existing: list[Any], added: tuple[dict[str, Any], ...]) -> list[Any]:
    """``existing`` kept as written, then each of ``added`` not already there."""
    out = list(existing)
    out.extend(t for t in added if t not in out)
    return out


def spec_of(site: Site) -> ProvinceSpec:
    """The site's validated spec; renderers only ever see valid sites."""
    if site.spec is None or site.problems:
        raise ValueError(f"site {site.id!r} is not valid and cannot be rendered")
    return site.spec.spec


def site_namespace(site: Site, ctx: RenderContext) -> str:
    """``namespacePrefix + site id``; a RenderError when that is no valid namespace name."""
    name = ctx.settings.spec.namespacePrefix + site.id
    if not k8s.is_dns1123_label(name):
        raise RenderError(
            [
                Problem(
                    site.file,
                    "",
                    f"namespace {name!r} (namespacePrefix + site id) is longer than 63 "
                    "characters; shorten spec.namespacePrefix in gitops-edge.yaml or the "
                    "site directory name",
                )
            ]
        )
    return name


def edge_arch(site: Site) -> str | None:
    """The edge node's declared ``kubernetes.io/arch``, if any."""
    return spec_of(site).edge.arch


def placement(site: Site) -> Placement:
    """nodeSelector (default: the site label) or nodeName, the arch, the tolerations."""
    edge = spec_of(site).edge
    selector: dict[str, str] | None = None
    if edge.nodeName is None:
        selector = dict(edge.nodeSelector or {SITE_LABEL: site.id})
    if edge.arch is not None:
        selector = {**(selector or {}), "kubernetes.io/arch": edge.arch}
    extra = tuple(t.model_dump(exclude_none=True, mode="json") for t in edge.tolerations)
    tolerations = tuple(merge_tolerations(list(PARTITION_TOLERATIONS), extra))
    return Placement(selector, edge.nodeName, tolerations)


def eggo_image(site: Site, ctx: RenderContext) -> str:
    """The eggo runner image; a per-arch map is resolved for the node eggo runs on.

    Without a declared edge arch the first master's arch stands in (eggo treats an
    empty arch as amd64), which is right whenever the edge node is the same hardware
    as the province's cluster, the common case.
    """
    image = ctx.settings.spec.eggo.image
    if isinstance(image, str):
        return image
    arch = edge_arch(site)
    if arch is None:
        conf = spec_of(site).eggo
        first = conf.masters[0].arch if conf is not None and conf.masters else ""
        arch = K8S_ARCH.get(first, first) or "amd64"
    chosen = {str(k): v for k, v in image.items()}.get(arch)
    if chosen is None:
        raise RenderError(
            [
                Problem(
                    SETTINGS_FILE,
                    "spec.eggo.image",
                    f"no eggo image for arch {arch!r}, which site {site.id!r} needs; "
                    f"add spec.eggo.image.{arch}",
                )
            ]
        )
    return chosen
