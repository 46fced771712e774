"""Which site holds which live eggo cluster: the fleet-wide view behind moves and swaps.

A site may deploy or join only machines no other site's live cluster holds, and a
removed site whose cluster reappears under another site id has *moved*: neither an
``eggo cleanup`` of the old site nor an ``eggo deploy`` of the new one may follow
(both would act on a live cluster: the first destroys it, the second reinstalls its
machines). The live record of each site's cluster is its last completed eggo run
(:func:`gitops_edge.plan.eggo_lifecycle.applied_cluster`).

Indexed at the edge: reading every site's record costs a YAML parse per site (and,
for a directory, reading its files), and only a run that deploys or joins (rare: new
clusters and scaling) needs it. The planner asks for :attr:`LiveState.holdings
<gitops_edge.live.state.LiveState.holdings>`; until its caller indexed them
(:func:`index_holdings`, through :func:`~gitops_edge.live.state.read_as_asked`) that
raises :class:`~gitops_edge.live.state.Unread`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gitops_edge.live.state import Holding, LazySites, LiveState, Unread
from gitops_edge.plan import eggo_lifecycle as lifecycle
from gitops_edge.specs.eggo import DeployConfig

__all__ = ["Holders", "Holding", "holding_of", "index_holdings"]


def holding_of(site: str, live: LiveState, *, assume_success: bool) -> Holding | None:
    """The cluster ``site`` holds according to its live run records, if any."""
    return _held(site, live.site_objects(site), live, assume_success=assume_success)


def _held(
    site: str, objs: list[dict[str, Any]], live: LiveState, *, assume_success: bool
) -> Holding | None:
    runs = lifecycle.eggo_runs(objs, assume_success=assume_success, reports=live.run_reports)
    cluster, _readable = lifecycle.applied_cluster(runs)
    if cluster is None:
        return None
    return Holding(site, cluster.cluster_id, _ips(cluster))


def _ips(conf: DeployConfig) -> frozenset[str]:
    ips = {h.ip for h in conf.all_hosts() if h.ip}
    if conf.loadbalance.ip:
        ips.add(conf.loadbalance.ip)
    return frozenset(ips)


def index_holdings(live: LiveState) -> LiveState:
    """``live`` with every site's live cluster indexed (:attr:`LiveState.holdings`).

    Reads every site's objects, one at a time (a lazy source reads each here, at the
    edge, and keeps nothing); a partial read raises :class:`Unread` for the full one.
    """
    objects = live.objects
    pairs: Iterable[tuple[str, list[dict[str, Any]]]] = (
        objects.each() if isinstance(objects, LazySites) else objects.items()
    )
    assume = not live.has_nodes
    held = (_held(site, objs, live, assume_success=assume) for site, objs in pairs)
    found = sorted((h for h in held if h is not None), key=lambda h: h.site)
    return replace(live, holdings=tuple(found))


@dataclass
class Holders:
    """Live clusters of every site, indexed by cluster id and by host IP."""

    live: LiveState
    _by_id: dict[str, str] | None = field(default=None, init=False)
    _by_ip: dict[str, str] = field(default_factory=dict, init=False)

    def _index(self) -> None:
        if self._by_id is not None:
            return
        holdings = self.live.holdings
        if holdings is None:
            raise Unread("every site's live eggo cluster", index_holdings)
        self._by_id = {}
        for held in holdings:
            self._by_id.setdefault(held.cluster_id, held.site)
            for ip in held.ips:
                self._by_ip.setdefault(ip, held.site)

    def conflicts(self, site: str, cluster_id: str, ips: frozenset[str]) -> list[str]:
        """Sentences for every part of (cluster id, IPs) another site's live cluster holds."""
        self._index()
        assert self._by_id is not None
        out = []
        other = self._by_id.get(cluster_id)
        if other is not None and other != site:
            out.append(f"cluster {cluster_id} is live under site {other}")
        by_site: dict[str, list[str]] = {}
        for ip in sorted(ips):
            holder = self._by_ip.get(ip)
            if holder is not None and holder != site:
                by_site.setdefault(holder, []).append(ip)
        out.extend(
            f"host(s) {', '.join(held)} are in the live cluster of site {holder}"
            for holder, held in sorted(by_site.items())
        )
        return out
