"""Render: the pure core that turns a loaded ops repo into edge-targeted manifests.

The modules hold one concept each (placement and context, metadata and spec hash,
the eggo Job, eggops objects, Argo CD Applications, the edge bundle, output); this
package is their public face. Nothing here writes: :mod:`.output` only lays a site out (the directory sink writes it).
"""

from gitops_edge.render.context import Placement, RenderContext, RenderError, placement
from gitops_edge.render.eggo_job import EggoOperation, eggo_run_objects
from gitops_edge.render.meta import spec_hash
from gitops_edge.render.output import dump_site, in_apply_order, read_site
from gitops_edge.render.site import RenderResult, render_repo, render_site

__all__ = [
    "EggoOperation",
    "Placement",
    "RenderContext",
    "RenderError",
    "RenderResult",
    "dump_site",
    "eggo_run_objects",
    "in_apply_order",
    "placement",
    "read_site",
    "render_repo",
    "render_site",
    "spec_hash",
]
