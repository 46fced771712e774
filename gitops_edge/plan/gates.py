"""Per-site gates read from live state: is the site's edge node there, online, the right arch?"""

from __future__ import annotations

from gitops_edge.live.inventory import EdgeNode, format_time, nodes_for_site
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Gate
from gitops_edge.render.meta import SITE as SITE_LABEL
from gitops_edge.specs.sites import Site


def edge_gate(site: Site, live: LiveState) -> tuple[Gate, str, list[EdgeNode]]:
    """``ready``, ``deferred`` (node absent or offline: say which and since when) or ``blocked`` (arch)."""
    assert site.spec is not None
    if not live.has_nodes:
        return "ready", "", []
    edge = site.spec.spec.edge
    # The arch is checked below, not matched: a wrong-arch node is "blocked", not "absent".
    selector = None if edge.nodeName else dict(edge.nodeSelector or {SITE_LABEL: site.id})
    nodes = nodes_for_site(live.nodes, node_selector=selector, node_name=edge.nodeName)
    if not nodes:
        target = f"nodeName {edge.nodeName}" if edge.nodeName else f"nodeSelector {selector}"
        return "deferred", f"no edge node matches {target}", []
    online = [n for n in nodes if n.state == "online"]
    if not online:
        parts = []
        for n in nodes:
            since = f" since {format_time(n.since)}" if n.since else ""
            parts.append(f"edge node {n.name} {n.state}{since} ({n.reason})")
        return "deferred", "; ".join(parts), nodes
    declared = site.spec.spec.edge.arch
    if declared:
        wrong = [n for n in online if n.arch and n.arch != declared]
        if wrong:
            n = wrong[0]
            return (
                "blocked",
                f"edge node {n.name} is {n.arch} but spec.edge.arch is {declared}; fix the spec or the node label",
                nodes,
            )
    return "ready", "", nodes
