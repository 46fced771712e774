"""Per-site gates read from live state: is the site's edge node there, online, the right arch?"""

from __future__ import annotations

from gitops_edge.live.inventory import EdgeNode, format_time, nodes_for_site
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Gate
from gitops_edge.plan.standing import Standing
from gitops_edge.render.meta import SITE as SITE_LABEL


def edge_gate(site: Standing, live: LiveState) -> tuple[Gate, str, list[EdgeNode]]:
    """``ready``, ``deferred`` (node absent or offline: say which and since when) or ``blocked`` (arch)."""
    if not live.has_nodes:
        return "ready", "", []
    name = site.node_name or None
    # The arch is checked below, not matched: a wrong-arch node is "blocked", not "absent".
    selector = None if name else dict(site.node_selector or {SITE_LABEL: site.site})
    nodes = nodes_for_site(live.nodes, node_selector=selector, node_name=name)
    if not nodes:
        target = f"nodeName {name}" if name else f"nodeSelector {selector}"
        return "deferred", f"no edge node matches {target}", []
    online = [n for n in nodes if n.state == "online"]
    if not online:
        parts = []
        for n in nodes:
            since = f" since {format_time(n.since)}" if n.since else ""
            parts.append(f"edge node {n.name} {n.state}{since} ({n.reason})")
        return "deferred", "; ".join(parts), nodes
    declared = site.arch
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
