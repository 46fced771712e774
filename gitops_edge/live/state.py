"""LiveState: one consistent value of what the central API says about the fleet.

A plain value, importable by the pure core (the planner, ``status``) without pulling in
the client: :mod:`gitops_edge.live.snapshot` builds it from the API, the file sinks
from their last render.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitops_edge.labels import EGGO_POD_SELECTOR
from gitops_edge.labels import MANAGED_SELECTOR as MANAGED_BY
from gitops_edge.labels import SITE as SITE_LABEL
from gitops_edge.live.inventory import EdgeNode

__all__ = ["EGGO_POD_SELECTOR", "MANAGED_BY", "SITE_LABEL", "LiveState", "group_by_site"]


@dataclass(frozen=True)
class LiveState:
    """What the cluster holds: edge nodes, gitops-edge's objects per site, ObjectSync acks."""

    observed_at: datetime
    nodes: dict[str, EdgeNode] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    syncs: dict[str, str] = field(default_factory=dict)
    has_nodes: bool = True
    """False when the source cannot see nodes (a directory sink): no edge gates apply."""
    run_reports: dict[str, str] = field(default_factory=dict)
    """eggo's own summary per run, ``<namespace>/<job>`` -> the eggo container's
    termination message (see :func:`gitops_edge.live.progress.run_reports`)."""

    def site_objects(self, site_id: str) -> list[dict[str, Any]]:
        return self.objects.get(site_id, [])


def group_by_site(objs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        site = ((obj.get("metadata") or {}).get("labels") or {}).get(SITE_LABEL)
        if site:
            out.setdefault(site, []).append(obj)
    return out
