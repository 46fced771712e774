"""What waves read of a site a run does not plan: its wave, edge node and what "done" needs.

Waves see the whole fleet even when a commit plans one site (:mod:`gitops_edge.plan.waves`):
a site of wave 2 waits until wave 1 is done, and "done" is read from live state (the
last eggo run, the Applications' health, the edge node). What the live state is
compared with comes from the site's spec: its wave, whether it is suspended, which
edge node(s) run it and their arch, whether it has an eggo cluster and how many
Applications it delivers. That is a :class:`Standing`: a few fields, kept in the sink's
record (:mod:`gitops_edge.record`) for every site in sync, so an incremental run loads
the sites it plans and takes the rest of the fleet's standing from there.

Pure: built from a loaded :class:`~gitops_edge.specs.sites.Site`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_edge.specs.sites import Site


@dataclass(frozen=True)
class Standing:
    site: str
    wave: int = 0
    suspended: bool = False
    eggo: bool = False
    """The site declares an eggo cluster (``spec.eggo``): done needs a succeeded run."""
    applications: int = 0
    """How many Applications the site delivers: done needs that many Synced and Healthy."""
    node_name: str = ""
    node_selector: tuple[tuple[str, str], ...] | None = None
    """``spec.edge.nodeSelector``; None for the default (the site label)."""
    arch: str = ""


def standing_of(site: Site) -> Standing | None:
    """The site's standing; None when it has no spec (it is planned as invalid)."""
    if site.spec is None:
        return None
    spec = site.spec.spec
    edge = spec.edge
    selector = None if edge.nodeSelector is None else tuple(sorted(edge.nodeSelector.items()))
    return Standing(
        site.id,
        spec.rollout.wave,
        spec.suspend,
        spec.eggo is not None,
        len(spec.applications),
        edge.nodeName or "",
        selector,
        edge.arch or "",
    )
