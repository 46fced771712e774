"""Which site holds which live eggo cluster: the fleet-wide view behind moves and swaps.

A site may deploy or join only machines no other site's live cluster holds, and a
removed site whose cluster reappears under another site id has *moved*: neither an
``eggo cleanup`` of the old site nor an ``eggo deploy`` of the new one may follow
(both would act on a live cluster: the first destroys it, the second reinstalls its
machines). The live record of each site's cluster is its last completed eggo run
(:func:`gitops_edge.plan.eggo_lifecycle.applied_cluster`).

Built lazily: reading every site's record costs a YAML parse per site, and only a
run that deploys or joins (rare: new clusters and scaling) or removes a site needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitops_edge.live.state import LiveState
from gitops_edge.plan import eggo_lifecycle as lifecycle
from gitops_edge.specs.eggo import DeployConfig


@dataclass(frozen=True)
class Holding:
    """A live cluster of one site: its id and its machines' IPs."""

    site: str
    cluster_id: str
    ips: frozenset[str]


def holding_of(site: str, live: LiveState, *, assume_success: bool) -> Holding | None:
    """The cluster ``site`` holds according to its live run records, if any."""
    runs = lifecycle.eggo_runs(
        live.site_objects(site), assume_success=assume_success, reports=live.run_reports
    )
    cluster, _readable = lifecycle.applied_cluster(runs)
    if cluster is None:
        return None
    return Holding(site, cluster.cluster_id, _ips(cluster))


def _ips(conf: DeployConfig) -> frozenset[str]:
    ips = {h.ip for h in conf.all_hosts() if h.ip}
    if conf.loadbalance.ip:
        ips.add(conf.loadbalance.ip)
    return frozenset(ips)


@dataclass
class Holders:
    """Live clusters of every site, indexed by cluster id and by host IP."""

    live: LiveState
    assume_success: bool
    _by_id: dict[str, str] | None = field(default=None, init=False)
    _by_ip: dict[str, str] = field(default_factory=dict, init=False)

    def _index(self) -> None:
        if self._by_id is not None:
            return
        self._by_id = {}
        for site in sorted(self.live.objects):
            held = holding_of(site, self.live, assume_success=self.assume_success)
            if held is None:
                continue
            self._by_id.setdefault(held.cluster_id, site)
            for ip in held.ips:
                self._by_ip.setdefault(ip, site)

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
