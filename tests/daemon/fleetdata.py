"""The sample fleet's edge nodes as CloudCore reports them, relative to one ``now``.

Every site of a repo gets the edge node its spec targets (``edge.nodeName`` or the
``nodeSelector``, with the declared arch), Ready for two days and with a fresh Lease;
``offline`` sites' Leases stopped two hours before ``now``; ``failed`` sites carry an
eggo Job that failed. The fleet page's unit and browser tests share this, so both look
at the same fleet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gitops_edge.live.inventory import build_inventory
from gitops_edge.live.snapshot import LiveState, group_by_site
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.status import intent_of
from tests.live.objects import eggo_job, lease, namespace, node

Obj = dict[str, Any]
FAILURE = "host <js-master-01> unreachable && <script>alert(1)</script>"
"""A Job message with markup in it: the page must show it as text."""


def edge_node_name(repo: RepoSpec, site_id: str) -> str:
    site = repo.site(site_id)
    assert site is not None, site_id
    return intent_of(site).node_name or f"{site_id}-edge-01"


def fleet_objects(
    repo: RepoSpec,
    now: datetime,
    *,
    offline: tuple[str, ...] = (),
    failed: tuple[str, ...] = (),
) -> list[Obj]:
    """Nodes and Leases for every valid site, plus a failed eggo Job per ``failed`` site."""
    out: list[Obj] = []
    for site in repo.sites:
        intent = intent_of(site)
        if not intent.valid:
            continue
        name = edge_node_name(repo, site.id)
        labels = dict(intent.selector or {})
        out.append(
            node(
                name,
                arch=intent.arch or "arm64",
                ready_since=now - timedelta(days=2),
                labels=labels,
            )
        )
        renewed = now - timedelta(hours=2) if site.id in offline else now + timedelta(hours=1)
        out.append(lease(name, renewed))
    for i, site_id in enumerate(failed):
        out.append(namespace(site_id))
        job = eggo_job(
            "eggo-deploy-1", site_id, outcome="failed", created=now - timedelta(minutes=30)
        )
        job["status"]["conditions"][0]["message"] = FAILURE
        job["metadata"].update(uid=f"failed-{i}", resourceVersion=str(900 + i))
        out.append(job)
    return out


def live_state(objs: list[Obj], now: datetime) -> LiveState:
    """The LiveState a daemon's informers would hold for ``objs``, observed at ``now``."""
    nodes = [o for o in objs if o["kind"] == "Node"]
    leases = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Lease"}
    rest = [o for o in objs if o["kind"] not in ("Node", "Lease")]
    return LiveState(
        observed_at=now,
        nodes=build_inventory(nodes, leases, now=now),
        objects=group_by_site(rest),
    )
