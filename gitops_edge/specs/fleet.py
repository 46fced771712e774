"""The fleet checked as a whole: what two sites may never share.

One site's file can be perfect and still be a disaster: a copy-pasted directory with
the same eggo ``cluster-id`` and the same host IPs would plan ``eggo deploy`` onto
another province's machines. eggo identifies machines by address and keeps each
cluster's state under ``/etc/eggo/<cluster-id>``; an edge node runs one site's work.
So across the repo a ``cluster-id``, a host IP and an edge ``nodeName`` each belong to
one site. Every site involved in a clash is invalid (nothing is planned for it, and
nothing of it is deleted), and each problem names the other site and its file.

Pure: works on loaded :class:`Site` values, or on the light :class:`Identity` of each
(what a chunked reconcile keeps of a site after dropping its spec).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from gitops_edge.problems import Problem, sorted_unique
from gitops_edge.specs.sites import Site


@dataclass(frozen=True)
class Identity:
    """What of a site must be unique in the fleet, with the field paths that say it."""

    site: str
    file: str
    cluster_id: str = ""
    hosts: tuple[tuple[str, str], ...] = ()
    """(ip, field path) for every host of ``spec.eggo``."""
    node_name: str = ""

    @property
    def ips(self) -> frozenset[str]:
        return frozenset(ip for ip, _ in self.hosts)


def identity_of(site: Site) -> Identity | None:
    """The site's identity, or None when it has no valid spec (nothing to clash with)."""
    if site.spec is None or not site.valid:
        return None
    spec = site.spec.spec
    hosts: list[tuple[str, str]] = []
    cluster_id = ""
    if spec.eggo is not None:
        cluster_id = spec.eggo.cluster_id
        for role in ("masters", "workers", "etcds"):
            for i, h in enumerate(getattr(spec.eggo, role)):
                if h.ip:
                    hosts.append((h.ip, f"spec.eggo.{role}[{i}].ip"))
        lb = spec.eggo.loadbalance
        if lb.ip:
            hosts.append((lb.ip, "spec.eggo.loadbalance.ip"))
    return Identity(site.id, site.file, cluster_id, tuple(hosts), spec.edge.nodeName or "")


def identity_of_raw(site_id: str, file: str, spec: object) -> Identity:
    """What a site's merged but unvalidated ``spec`` claims, read as :func:`identity_of` reads it.

    For a scan that must not validate every site (``apply --site`` of one site in a large
    fleet): only string values count, as only they validate. It also reads sites that
    would fail validation, which a full run leaves out of the check, so such a scan may
    report a clash a full run would not (with a site that is itself invalid): it is
    stricter, never looser.
    """
    body = spec if isinstance(spec, dict) else {}
    eggo = body.get("eggo")
    cluster_id = ""
    hosts: list[tuple[str, str]] = []
    if isinstance(eggo, dict):
        cid = eggo.get("cluster-id")
        cluster_id = cid if isinstance(cid, str) else ""
        for role in ("masters", "workers", "etcds"):
            members = eggo.get(role)
            for i, h in enumerate(members if isinstance(members, list) else []):
                ip = h.get("ip") if isinstance(h, dict) else None
                if isinstance(ip, str) and ip:
                    hosts.append((ip, f"spec.eggo.{role}[{i}].ip"))
        lb = eggo.get("loadbalance")
        lb_ip = lb.get("ip") if isinstance(lb, dict) else None
        if isinstance(lb_ip, str) and lb_ip:
            hosts.append((lb_ip, "spec.eggo.loadbalance.ip"))
    edge = body.get("edge")
    node = edge.get("nodeName") if isinstance(edge, dict) else None
    return Identity(site_id, file, cluster_id, tuple(hosts), node if isinstance(node, str) else "")


def clashes(identities: Iterable[Identity]) -> dict[str, list[Problem]]:
    """Problems per site id for every value two sites share."""
    owners: dict[tuple[str, str], list[tuple[Identity, str]]] = {}
    for ident in identities:
        claims: list[tuple[str, str, str]] = []
        if ident.cluster_id:
            claims.append(("cluster-id", ident.cluster_id, "spec.eggo.cluster-id"))
        seen_here: set[str] = set()
        for ip, path in ident.hosts:
            if ip not in seen_here:  # a master that is also a worker is one machine
                seen_here.add(ip)
                claims.append(("host ip", ip, path))
        if ident.node_name:
            claims.append(("edge nodeName", ident.node_name, "spec.edge.nodeName"))
        for what, value, path in claims:
            owners.setdefault((what, value), []).append((ident, path))
    out: dict[str, list[Problem]] = {}
    for (what, value), claimants in owners.items():
        # one claimant is nearly every value of a fleet: no set built for it
        if len(claimants) < 2 or len({c.site for c, _ in claimants}) < 2:
            continue
        for ident, path in claimants:
            others = ", ".join(
                f"site {o.site} ({o.file})" for o, _ in claimants if o.site != ident.site
            )
            out.setdefault(ident.site, []).append(
                Problem(
                    ident.file,
                    path,
                    f"{what} {value} is also used by {others}: two sites may not share a "
                    f"{what} (a copied directory?); give each site its own",
                )
            )
    return out


def apply_clashes(sites: Iterable[Site]) -> list[Site]:
    """``sites`` with every site that clashes with another made invalid."""
    sites = list(sites)
    return with_clashes(sites, clashes(i for i in map(identity_of, sites) if i is not None))


def with_clashes(sites: Iterable[Site], found: dict[str, list[Problem]]) -> list[Site]:
    """``sites`` with each one ``found`` names made invalid by its clash problems."""
    sites = list(sites)
    if not found:
        return sites
    return [
        replace(s, spec=None, problems=tuple(sorted_unique((*s.problems, *found[s.id]))), digest="")
        if s.id in found
        else s
        for s in sites
    ]
