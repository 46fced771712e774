"""What ``gitops-edge status`` shows of a report: filters, label selectors, last sync.

A 3 000-site status is only useful filtered (``--state failed``, ``--wave 1``, ``-l
region=south``), so the filters live here, as pure functions of a
:class:`~gitops_edge.status.StatusReport` and the repo, next to the two facts the
table adds per site: when the site last synced and the one-line message to act on.

Label selectors follow Kubernetes' syntax (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
``k in (a,b)``, ``k notin (a,b)``, comma-separated, all must hold), as in
apimachinery's ``pkg/labels/selector.go``, and match a site's ``metadata.labels``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitops_edge.live.inventory import format_time, parse_time
from gitops_edge.live.state import LiveState
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.status import StatusReport

_REQ = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[\w./-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


class SelectorError(ValueError):
    """A label selector that does not parse; the message names the part and the syntax."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    """``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values  # != and notin also match a missing label


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """``region=south,tier!=test`` -> requirements; SelectorError names the bad part."""
    out: list[Requirement] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _REQ.match(text, pos)
        if m is None or m.end() == pos:
            raise SelectorError(
                f"label selector {text!r}: cannot parse {text[pos:]!r} "
                "(expected key=value, key!=value, key, !key, key in (a,b) or key notin (a,b))"
            )
        if m["nkey"]:
            out.append(Requirement(m["nkey"], "!"))
        elif m["setop"]:
            values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
            out.append(Requirement(m["key"], m["setop"], values))
        elif m["op"]:
            op = "!=" if m["op"] == "!=" else "="
            out.append(Requirement(m["key"], op, frozenset({m["value"]})))
        else:
            out.append(Requirement(m["key"], "exists"))
        pos = m.end()
    return tuple(out)


def site_labels(repo: RepoSpec) -> dict[str, dict[str, str]]:
    """Each valid site's ``metadata.labels`` (an invalid site has none a selector can match)."""
    out: dict[str, dict[str, str]] = {}
    for site in repo.sites:
        meta = getattr(site.spec, "metadata", None)
        out[site.id] = dict(getattr(meta, "labels", None) or {})
    return out


@dataclass(frozen=True)
class Filter:
    sites: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    waves: frozenset[int] = frozenset()
    selector: tuple[Requirement, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.sites or self.states or self.waves or self.selector)

    def describe(self) -> str:
        parts = []
        if self.sites:
            parts.append("site " + ",".join(sorted(self.sites)))
        if self.states:
            parts.append("state " + ",".join(sorted(self.states)))
        if self.waves:
            parts.append("wave " + ",".join(map(str, sorted(self.waves))))
        if self.selector:
            parts.append("labels matching the selector")
        return "; ".join(parts)


def apply_filter(
    report: StatusReport, flt: Filter, labels: Mapping[str, Mapping[str, str]]
) -> StatusReport:
    """The report with only the sites ``flt`` selects (the summary counts the whole fleet)."""
    if not flt.active:
        return report
    kept = tuple(
        s
        for s in report.sites
        if (not flt.sites or s.site in flt.sites)
        and (not flt.states or s.state in flt.states)
        and (not flt.waves or s.wave in flt.waves)
        and all(r.matches(labels.get(s.site, {})) for r in flt.selector)
    )
    return replace(report, sites=kept)


def last_sync(objects: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest time the site confirmed gitops-edge's work: an Argo CD sync or an eggo run.

    Argo CD records a finished sync in ``status.operationState.finishedAt`` and its last
    comparison in ``status.reconciledAt`` (argo-cd ``pkg/apis/application/v1alpha1/types.go``);
    the Job controller records ``status.completionTime`` when a Job succeeded.
    """
    times = []
    for obj in objects:
        status = obj.get("status") or {}
        if obj.get("kind") == "Application":
            times += [
                parse_time((status.get("operationState") or {}).get("finishedAt")),
                parse_time(status.get("reconciledAt")),
            ]
        elif obj.get("kind") == "Job":
            times.append(parse_time(status.get("completionTime")))
    found = [t for t in times if t is not None]
    return format_time(max(found)) if found else None


def status_document(
    full: StatusReport,
    live: LiveState,
    *,
    shown: StatusReport | None = None,
    flt: Filter | None = None,
) -> dict[str, Any]:
    """The ``status -o json`` document: the whole fleet's summary, the ``shown`` sites
    (default: all) with their last sync. The CLI and the daemon's fleet page both serve
    it, so there is one definition of what a site's status says."""
    data = full.as_dict()
    data["filter"] = (flt.describe() if flt is not None else "") or None
    data["sites"] = []
    for s in (shown or full).sites:
        site = s.as_dict()
        site["last_sync"] = last_sync(live.site_objects(s.site))
        data["sites"].append(site)
    return data
