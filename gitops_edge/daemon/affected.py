"""Which sites a commit touches: changed paths in, site ids out (pure).

This is what makes a one-province commit cost one province's work (ARCHITECTURE.md).
The rules mirror what the loader reads, and nothing more:

* ``gitops-edge.yaml`` and ``edge-bundle/**`` are merged into every site -> all sites;
* ``provinces/<site>/cluster.yaml`` is the site (added, changed or deleted: a deleted
  one is how a site's removal gets planned);
* ``provinces/<site>/edge/**`` is that site's own edge bundle. Discovery never enters a
  directory named ``edge``, so the site directory is everything before the first
  ``edge`` component: ``provinces/guangdong/edge/x.yaml`` is ``guangdong``, while
  ``provinces/guangdong/shenzhen-1/edge/x.yaml`` is only ``guangdong-shenzhen-1``;
* anything else (``apps/``, READMEs, non-YAML files, YAML the loader never opens) is
  not read by gitops-edge and affects nothing.

Paths are relative to the ops tree (``--path``), in git's ``/`` spelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitops_edge.daemon.queue import ALL
from gitops_edge.federation.documents import FEDERATION_DIR
from gitops_edge.specs.bundle import SHARED_DIR
from gitops_edge.specs.repo import SETTINGS_FILE
from gitops_edge.specs.sites import CLUSTER_FILE, EDGE_DIR, PROVINCES, site_id_for

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Change:
    """One line of ``git diff --name-status -M``: a rename has both paths."""

    status: str
    path: str
    old_path: str = ""

    def paths(self) -> tuple[str, ...]:
        return (self.old_path, self.path) if self.old_path else (self.path,)


def site_of(path: str) -> str | None:
    """The site id a file belongs to, ``ALL`` for repo-wide files, None when it is not read."""
    if path == SETTINGS_FILE:
        return ALL
    if not path.endswith(YAML_SUFFIXES):
        return None
    parts = path.split("/")
    if parts[0] in (SHARED_DIR, FEDERATION_DIR) and len(parts) > 1:
        return ALL  # federation/: the federation pass runs with a reconcile of every site
    if parts[0] != PROVINCES or len(parts) < 3:
        return None
    below = parts[1:]
    if EDGE_DIR in below:
        cut = below.index(EDGE_DIR)
        if cut == 0 or cut == len(below) - 1:
            return None  # provinces/edge/... is nobody's; an "edge" file is not a dir
        return site_id_for("/".join(below[:cut]))
    if below[-1] == CLUSTER_FILE:
        return site_id_for("/".join(below[:-1]))
    return None


def affected_sites(changes: Iterable[Change | str]) -> frozenset[str]:
    """Site ids whose desired state may have changed; ``{ALL}`` when every site's may have."""
    out: set[str] = set()
    for change in changes:
        paths = change.paths() if isinstance(change, Change) else (change,)
        for path in paths:
            site = site_of(path)
            if site == ALL:
                return frozenset({ALL})
            if site is not None:
                out.add(site)
    return frozenset(out)


def parse_name_status(output: str) -> list[Change]:
    """``git diff --name-status -M -z`` output -> changes (NUL-separated, any file name)."""
    fields = output.split("\0")
    changes: list[Change] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if not status:
            i += 1
            continue
        if status[0] in "RC" and i + 2 < len(fields):
            changes.append(Change(status[0], fields[i + 2], fields[i + 1]))
            i += 3
        elif i + 1 < len(fields):
            changes.append(Change(status[0], fields[i + 1]))
            i += 2
        else:
            break
    return changes


def strip_prefix(changes: Iterable[Change], prefix: str) -> list[Change]:
    """Paths made relative to the ops tree ``prefix``; paths outside it are dropped."""
    base = prefix.strip("/")
    if not base or base == ".":
        return list(changes)
    lead = base + "/"
    out: list[Change] = []
    for c in changes:
        new = c.path[len(lead) :] if c.path.startswith(lead) else ""
        old = c.old_path[len(lead) :] if c.old_path.startswith(lead) else ""
        if new or old:
            out.append(Change(c.status, new or old, old if new else ""))
    return out
