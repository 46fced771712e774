"""The fleet page: the 1+31+N fleet at a glance, in a browser, read-only.

``status`` answers "is the fleet fine?" in a terminal; across 31 provinces rolling out
in waves people would rather look. The daemon already holds everything the answer
needs (the repo at the served commit, the informers' live state, each site's gate and
last sync), so it serves:

- ``GET /fleet``: server-rendered HTML, the summary first, then the waves with the
  failure budget (``spec.rollout.maxFailures``), the provinces, and one row per site
  grouped by province and wave, paginated (``?page=&per_page=``, 200 rows by default)
  so 10 000 sites cost one page of HTML; filters (``state``, ``wave``, ``label``,
  ``q``) apply to the whole fleet on the server, and a small inline script re-applies
  them as you type and refreshes the view without a reload;
- ``GET /fleet/site?id=<site>``: one site's status detail, issues first;
- ``GET /api/v1/fleet``: exactly the ``gitops-edge status -o json`` document.

There is one definition of a site's state: every number and word on the page comes
from :func:`gitops_edge.status.build_report` over the daemon's repo and live state,
read through :meth:`StatusReport.as_dict` (so fields added to the report show up on
the detail page without a change here). The daemon adds only what it alone knows:
the gate of the last plan (which the states follow), its reason, the last successful
sync, the wave in progress.

Safe by default: nothing on the page writes (GET only: other methods get 405), the
page shows only what ``status`` reports (no spec values beyond a site's labels, no
credentials), every value is HTML-escaped, the Content-Security-Policy allows only
this page's own script and style (by hash) and requests to this origin, and
``--ui-basic-auth-file`` (``user:password``, compared in constant time) puts it behind
basic auth. It is served on the probes/metrics listener, which stays cluster-internal
(docs/operations.md "Fleet page access").

Rendering is pure (:func:`build_fleet`, :func:`render_page`, :func:`render_site`), so
it is tested without HTTP; :class:`FleetPage` adds the short-lived cache and handlers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import structlog

from gitops_edge.daemon.http import Handler, Request, Response
from gitops_edge.daemon.sitestate import SiteStatus as DaemonSiteStatus
from gitops_edge.live.inventory import format_time
from gitops_edge.live.state import LiveState
from gitops_edge.source.revision import UNVERSIONED
from gitops_edge.specs.repo import RepoSpec
from gitops_edge.specs.sites import PROVINCES
from gitops_edge.status import Gating, StatusReport, build_report
from gitops_edge.statusview import status_document

if TYPE_CHECKING:
    from gitops_edge.daemon.runner import Runner

log = structlog.get_logger(__name__)

PAGE_PATH = "/fleet"
SITE_PATH = "/fleet/site"
API_PATH = "/api/v1/fleet"
PER_PAGE = 200
MAX_PER_PAGE = 1000
CACHE_SECONDS = 5.0
"""How long one built report serves requests: a page refresh by ten browsers costs one build."""
REFRESH_SECONDS = 30
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
_NODE_ORDER = {"offline": 0, "unknown": 1, "online": 2}
_NO_WAVE = "-"


# -- the model -----------------------------------------------------------------------


@dataclass(frozen=True)
class SiteMeta:
    """What the repo says about where a site sits: its province and its labels."""

    province: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DaemonSite:
    """What the daemon remembers about a site from its last reconcile."""

    gate: str = ""
    reason: str = ""
    revision: str = ""
    last_sync: str | None = None
    error: str = ""


@dataclass(frozen=True)
class Fleet:
    """One consistent view: the status document plus the daemon's own per-site memory."""

    doc: dict[str, Any]
    """``StatusReport.as_dict()``: the ``status -o json`` contract."""
    meta: Mapping[str, SiteMeta]
    daemon: Mapping[str, DaemonSite]
    current_wave: int | None
    max_failures: int
    _json: list[bytes] = field(default_factory=list, compare=False, repr=False)

    @property
    def sites(self) -> list[dict[str, Any]]:
        sites: list[dict[str, Any]] = self.doc["sites"]
        return sites

    def meta_of(self, site: str) -> SiteMeta:
        return self.meta.get(site) or SiteMeta("-")

    def json(self) -> bytes:
        """The document as served by the JSON endpoint, encoded once per fleet."""
        if not self._json:
            self._json.append(json.dumps(self.doc, separators=(",", ":")).encode())
        return self._json[0]


def site_meta(repo: RepoSpec) -> dict[str, SiteMeta]:
    """``provinces/<province>/...`` gives the province; labels come from the valid spec."""
    out: dict[str, SiteMeta] = {}
    for site in repo.sites:
        parts = site.dir.split("/")
        province = parts[1] if len(parts) > 1 and parts[0] == PROVINCES else site.id
        labels = dict(site.spec.metadata.labels) if site.spec is not None else {}
        out[site.id] = SiteMeta(province, labels)
    return out


def build_fleet(
    repo: RepoSpec,
    live: LiveState,
    *,
    revision: str | None,
    daemon: Callable[[str], DaemonSiteStatus | None] | None = None,
    current_wave: int | None = None,
) -> Fleet:
    """The page's data: ``build_report`` (as ``status`` runs it) plus the daemon's memory."""
    memory = {}
    if daemon is not None:
        ids = [*(s.id for s in repo.sites), *(set(live.objects) - {s.id for s in repo.sites})]
        memory = {sid: st for sid in ids if (st := daemon(sid)) is not None}
    # the daemon's last plan of each site: states and counts agree with what it does
    gating = {
        sid: Gating(st.gate, st.reason, st.changes, st.held) for sid, st in memory.items() if st.gate
    }
    report: StatusReport = build_report(
        repo,
        live,
        revision=None if revision in (None, UNVERSIONED) else revision,
        gating=gating,
    )
    known: dict[str, DaemonSite] = {}
    if daemon is not None:
        for s in report.sites:
            st = memory.get(s.site)
            if st is not None:
                known[s.site] = DaemonSite(
                    gate=st.gate,
                    reason=st.reason,
                    revision=st.revision,
                    last_sync=_epoch(st.last_sync),
                    error=st.error,
                )
    return Fleet(
        doc=status_document(report, live),  # `status -o json`, built by the same code
        meta=site_meta(repo),
        daemon=known,
        current_wave=current_wave,
        max_failures=repo.settings.spec.rollout.maxFailures,
    )


def _epoch(value: float | None) -> str | None:
    return None if value is None else format_time(datetime.fromtimestamp(value, UTC))


# -- filters and pages ---------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """The page's query string, validated: bad values fall back, never fail the page."""

    state: str = ""
    wave: str = ""
    label: str = ""
    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Query:
        def number(key: str, default: int, high: int) -> int:
            try:
                return min(max(1, int(query.get(key, default))), high)
            except ValueError:
                return default

        return cls(
            state=query.get("state", "").strip(),
            wave=query.get("wave", "").strip(),
            label=query.get("label", "").strip(),
            q=query.get("q", "").strip(),
            page=number("page", 1, 10**9),
            per_page=number("per_page", PER_PAGE, MAX_PER_PAGE),
        )

    def filters(self) -> dict[str, str]:
        return {k: v for k, v in (("state", self.state), ("wave", self.wave),
                                  ("label", self.label), ("q", self.q)) if v}  # fmt: skip

    def url(self, **change: Any) -> str:
        params: dict[str, Any] = {**self.filters(), "page": self.page}
        if self.per_page != PER_PAGE:
            params["per_page"] = self.per_page
        params.update(change)
        if params.get("page") == 1:
            params.pop("page")
        return PAGE_PATH + ("?" + urlencode(params) if params else "")


def _wave(site: Mapping[str, Any]) -> str:
    wave = site.get("wave")
    return _NO_WAVE if wave is None else str(wave)


def _label_match(labels: Mapping[str, str], wanted: str) -> bool:
    """``k=v`` (equal), ``k!=v`` (not equal) or ``k`` (present); comma-separated terms AND."""
    for term in (t.strip() for t in wanted.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.split("=", 1))
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def _haystack(site: Mapping[str, Any], meta: SiteMeta) -> str:
    labels = " ".join(f"{k}={v}" for k, v in sorted(meta.labels.items()))
    nodes = " ".join(str(n.get("name", "")) for n in (site.get("edge") or {}).get("nodes") or [])
    issues = " ".join(str(i) for i in site.get("issues") or [])
    return f"{site.get('site', '')} {meta.province} {site.get('state', '')} {labels} {nodes} {issues}".lower()


def select(fleet: Fleet, query: Query) -> list[dict[str, Any]]:
    """The sites matching ``query``'s filters, in page order (province, wave, site)."""
    text = query.q.lower()
    out = []
    for site in fleet.sites:
        meta = fleet.meta_of(site["site"])
        if query.state and site.get("state") != query.state:
            continue
        if query.wave and _wave(site) != query.wave:
            continue
        if query.label and not _label_match(meta.labels, query.label):
            continue
        if text and text not in _haystack(site, meta):
            continue
        out.append(site)
    out.sort(key=lambda s: (*_group_key(fleet, s), s["site"]))
    return out


def _group_key(fleet: Fleet, site: Mapping[str, Any]) -> tuple[str, int]:
    wave = site.get("wave")
    return fleet.meta_of(site["site"]).province, (wave if isinstance(wave, int) else 1 << 30)


def _states(fleet: Fleet) -> list[str]:
    return [k for k in fleet.doc["summary"] if k != "sites"]


def _counts(sites: Iterable[Mapping[str, Any]], states: Sequence[str]) -> dict[str, int]:
    out = dict.fromkeys(states, 0)
    for s in sites:
        out[str(s.get("state"))] = out.get(str(s.get("state")), 0) + 1
    return out


# -- HTML ----------------------------------------------------------------------------

STYLE = """
:root{--ok:#1b7f3b;--warn:#9a6700;--bad:#c62828;--muted:#667;--line:#dde;}
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#123;background:#fafbfc}
header{background:#123;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}header a{color:#fff}
main{padding:12px 16px}
.tiles{display:flex;gap:8px;flex-wrap:wrap;margin:8px 0}
.tile{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:80px}
.tile b{display:block;font-size:22px}
table{border-collapse:collapse;background:#fff;margin:8px 0}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;position:sticky;top:0}
tr.group th{background:#f4f6f8;font-weight:600}
.badge{border-radius:4px;padding:0 6px;font-weight:600;white-space:nowrap}
.st-ok{background:#e3f4e8;color:var(--ok)}
.st-progressing,.st-pending,.st-waiting{background:#fff4d6;color:var(--warn)}
.st-failed,.st-invalid,.st-removed,.st-blocked{background:#fde7e7;color:var(--bad)}
.st-deferred{background:#eceaf7;color:#4a3aa0}
.offline,.bad{color:var(--bad);font-weight:600}.muted{color:var(--muted)}
.current{outline:2px solid #4a3aa0}.over{color:var(--bad);font-weight:700}
form{display:flex;gap:8px;flex-wrap:wrap;align-items:end;margin:8px 0}
label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
nav.pages{margin:8px 0}nav.pages a,nav.pages span{margin-right:10px}
details{margin:8px 0}pre{background:#fff;border:1px solid var(--line);padding:8px;overflow:auto}
"""

SCRIPT = """
(function () {
  var form = document.getElementById('filters');
  var note = document.getElementById('refresh-note');
  var timer = null;
  function target() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v) { params.append(k, v); } });
    var qs = params.toString();
    return location.pathname + (qs ? '?' + qs : '');
  }
  function labelsMatch(labels, wanted) {
    return wanted.split(',').every(function (term) {
      term = term.trim();
      if (!term) { return true; }
      var neg = term.indexOf('!=') >= 0;
      var kv = term.split(neg ? '!=' : '=');
      var key = kv[0].trim();
      if (kv.length < 2) { return Object.prototype.hasOwnProperty.call(labels, key); }
      var same = labels[key] === kv.slice(1).join('=').trim();
      return neg ? !same : same;
    });
  }
  function filterRows() {
    var state = form.elements.state.value, wave = form.elements.wave.value;
    var label = form.elements.label.value, q = form.elements.q.value.toLowerCase();
    document.querySelectorAll('#fleet tr.site').forEach(function (row) {
      var d = row.dataset;
      var show = (!state || d.state === state) && (!wave || d.wave === wave) &&
        (!label || labelsMatch(JSON.parse(d.labels), label)) && (!q || d.search.indexOf(q) >= 0);
      row.hidden = !show;
    });
  }
  function load(url, keepUrl) {
    document.body.setAttribute('aria-busy', 'true');
    return fetch(url, {headers: {'Accept': 'text/html'}, credentials: 'same-origin'})
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        document.getElementById('fleet').replaceWith(doc.getElementById('fleet'));
        document.getElementById('observed').textContent = doc.getElementById('observed').textContent;
        if (!keepUrl) { history.replaceState(null, '', url); }
        note.textContent = '';
        filterRows();
      })
      .catch(function (e) { note.textContent = 'refresh failed: ' + e.message; })
      .finally(function () { document.body.removeAttribute('aria-busy'); });
  }
  form.addEventListener('input', function () {
    filterRows();
    clearTimeout(timer);
    timer = setTimeout(function () { load(target(), false); }, 250);
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); load(target(), false); });
  var auto = document.getElementById('auto');
  setInterval(function () { if (auto.checked) { load(location.pathname + location.search, true); } },
    REFRESH_MS);
})();
""".replace("REFRESH_MS", str(REFRESH_SECONDS * 1000))


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Only this page's own script and style run; nothing may frame it or post elsewhere."""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _badge(state: str, extra: str = "") -> str:
    return (
        f'<span class="badge st-{_e(state)}" data-badge="{_e(state)}">{_e(state)}{_e(extra)}</span>'
    )


def _shell(title: str, observed: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1><a href="{PAGE_PATH}">gitops-edge fleet</a></h1>'
        f'<span id="observed">{_e(observed)}</span>'
        f'<a href="{API_PATH}">JSON</a></header><main>{body}</main></body></html>\n'
    )


def _observed(fleet: Fleet) -> str:
    rev = fleet.doc.get("revision")
    return (
        f"revision {rev[:12] if rev else 'unversioned'} · observed {fleet.doc.get('observed_at')}"
    )


def render_page(fleet: Fleet, query: Query) -> str:
    """The fleet page for ``query``: summary, waves, provinces, one page of site rows."""
    states = _states(fleet)
    chosen = select(fleet, query)
    pages = max(1, math.ceil(len(chosen) / query.per_page))
    page = min(query.page, pages)
    shown = chosen[(page - 1) * query.per_page : page * query.per_page]
    parts = [
        _filters_form(fleet, query, states),
        '<div id="fleet">',
        _summary(fleet, states, len(chosen)),
        _waves(fleet, states),
        _provinces(fleet, states),
        _pager(query, page, pages, len(chosen)),
        _table(fleet, shown, states),
        _pager(query, page, pages, len(chosen)) if len(shown) > 40 else "",
        "</div>",
        f"<script>{SCRIPT}</script>",
    ]
    return _shell("gitops-edge fleet", _observed(fleet), "".join(parts))


def _filters_form(fleet: Fleet, query: Query, states: Sequence[str]) -> str:
    def options(values: Iterable[str], chosen: str, everything: str) -> str:
        out = [f'<option value="">{_e(everything)}</option>']
        for v in values:
            sel = " selected" if v == chosen else ""
            out.append(f'<option value="{_e(v)}"{sel}>{_e(v)}</option>')
        return "".join(out)

    waves = sorted(
        {_wave(s) for s in fleet.sites},
        key=lambda w: (w == _NO_WAVE, int(w) if w != _NO_WAVE else 0),
    )
    return (
        f'<form id="filters" method="get" action="{PAGE_PATH}" role="search">'
        f'<label>state<select name="state">{options(states, query.state, "all states")}</select></label>'
        f'<label>wave<select name="wave">{options(waves, query.wave, "all waves")}</select></label>'
        f'<label>label<input name="label" value="{_e(query.label)}" placeholder="region=south,tier"></label>'
        f'<label>text<input name="q" type="search" value="{_e(query.q)}" placeholder="site, province, node, issue"></label>'
        '<button type="submit">filter</button>'
        f'<label><span><input id="auto" type="checkbox" checked> refresh every {REFRESH_SECONDS}s</span></label>'
        '<span id="refresh-note" class="bad" role="status"></span></form>'
    )


def _summary(fleet: Fleet, states: Sequence[str], matching: int) -> str:
    summary = fleet.doc["summary"]
    tiles = [f'<div class="tile" data-count="sites"><b>{_e(summary["sites"])}</b>sites</div>']
    for state in states:
        tiles.append(
            f'<div class="tile st-{_e(state)}" data-count="{_e(state)}"><b>{_e(summary[state])}</b>{_e(state)}</div>'
        )
    wave = "none in progress" if fleet.current_wave is None else str(fleet.current_wave)
    return (
        f'<section id="summary"><div class="tiles">{"".join(tiles)}</div>'
        f'<p>current wave: <b id="current-wave">{_e(wave)}</b> · failure budget '
        f'(rollout.maxFailures): <b id="max-failures">{_e(fleet.max_failures)}</b> failed site(s) tolerated per wave'
        f' · <span id="matching">{_e(matching)}</span> site(s) match the filters</p></section>'
    )


def _waves(fleet: Fleet, states: Sequence[str]) -> str:
    by_wave: dict[str, list[dict[str, Any]]] = {}
    for s in fleet.sites:
        by_wave.setdefault(_wave(s), []).append(s)
    rows = []
    for wave in sorted(by_wave, key=lambda w: (w == _NO_WAVE, int(w) if w != _NO_WAVE else 0)):
        counts = _counts(by_wave[wave], states)
        failed = counts.get("failed", 0) + counts.get("invalid", 0)
        current = fleet.current_wave is not None and wave == str(fleet.current_wave)
        over = failed > fleet.max_failures
        cells = "".join(f'<td data-state="{_e(st)}">{counts[st] or ""}</td>' for st in states)
        rows.append(
            f'<tr data-wave="{_e(wave)}"{" class=current" if current else ""}>'
            f"<td>{_e(wave)}{' (current)' if current else ''}</td><td>{len(by_wave[wave])}</td>{cells}"
            f'<td class="{"over" if over else ""}">{failed} / {fleet.max_failures}'
            f"{' over budget' if over else ''}</td></tr>"
        )
    head = "".join(f"<th>{_e(st)}</th>" for st in states)
    return (
        '<section id="waves"><h2>Waves</h2><table><thead><tr><th>wave</th><th>sites</th>'
        f"{head}<th>failed / budget</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _provinces(fleet: Fleet, states: Sequence[str]) -> str:
    by_province: dict[str, list[dict[str, Any]]] = {}
    for s in fleet.sites:
        by_province.setdefault(fleet.meta_of(s["site"]).province, []).append(s)
    rows = []
    for province in sorted(by_province):
        counts = _counts(by_province[province], states)
        cells = "".join(f"<td>{counts[st] or ''}</td>" for st in states)
        link = _e(Query(q=province).url())
        rows.append(
            f'<tr data-province="{_e(province)}"><td><a href="{link}">{_e(province)}</a></td>'
            f"<td>{len(by_province[province])}</td>{cells}</tr>"
        )
    head = "".join(f"<th>{_e(st)}</th>" for st in states)
    return (
        f'<details id="provinces"><summary>Provinces ({len(by_province)})</summary><table><thead>'
        f"<tr><th>province</th><th>sites</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></details>"
    )


def _pager(query: Query, page: int, pages: int, total: int) -> str:
    if pages <= 1:
        return f'<nav class="pages"><span>{total} site(s)</span></nav>'
    prev = f'<a rel="prev" href="{_e(query.url(page=page - 1))}">previous</a>' if page > 1 else ""
    nxt = f'<a rel="next" href="{_e(query.url(page=page + 1))}">next</a>' if page < pages else ""
    return (
        f'<nav class="pages">{prev}<span id="page-of">page {page} of {pages}</span>{nxt}'
        f"<span>{total} site(s), {query.per_page} per page</span></nav>"
    )


COLUMNS = ("site", "state", "gate", "edge node", "arch", "eggo", "Argo CD", "delivery",
           "revision", "last sync")  # fmt: skip


def _table(fleet: Fleet, sites: Sequence[dict[str, Any]], states: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in COLUMNS)
    rows: list[str] = []
    group: tuple[str, int] | None = None
    for site in sites:
        key = _group_key(fleet, site)
        if key != group:
            group = key
            members = [s for s in sites if _group_key(fleet, s) == key]
            counts = ", ".join(f"{n} {st}" for st, n in _counts(members, states).items() if n)
            rows.append(
                f'<tr class="group"><th colspan="{len(COLUMNS)}">{_e(key[0])} · wave '
                f'{_e(_wave(site))} <span class="muted">({len(members)} on this page: {_e(counts)})</span></th></tr>'
            )
        rows.append(_row(fleet, site))
    return f'<table id="sites"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _row(fleet: Fleet, s: Mapping[str, Any]) -> str:
    sid = str(s["site"])
    meta = fleet.meta_of(sid)
    mine = fleet.daemon.get(sid) or DaemonSite()
    nodes: list[Mapping[str, Any]] = list((s.get("edge") or {}).get("nodes") or [])
    worst = _worst(nodes)
    state = str(s.get("state", ""))
    cells = [
        f'<td><a href="{_e(SITE_PATH)}?id={_e(sid)}">{_e(sid)}</a></td>',
        f"<td>{_badge(state, ' / suspended' if s.get('suspended') else '')}</td>",
        f'<td title="{_e(mine.reason)}">{_e(mine.gate or "-")}</td>',
        f"<td>{_edge(nodes)}</td>",
        f"<td>{_arch(s, nodes)}</td>",
        f"<td>{_eggo(s.get('eggo'))}</td>",
        f"<td>{_apps(s.get('applications') or [])}</td>",
        f"<td>{_delivery(s.get('delivered'))}</td>",
        f"<td>{_revisions(s.get('revisions') or [], fleet.doc.get('revision'))}</td>",
        f"<td>{_e(mine.last_sync or '-')}</td>",
    ]
    labels = json.dumps(dict(meta.labels), sort_keys=True)
    return (
        f'<tr class="site" id="site-{_e(sid)}" data-site="{_e(sid)}" data-state="{_e(state)}" '
        f'data-wave="{_e(_wave(s))}" data-edge="{_e(worst)}" data-labels="{_e(labels)}" '
        f'data-search="{_e(_haystack(s, meta))}">{"".join(cells)}</tr>'
    )


def _worst(nodes: Sequence[Mapping[str, Any]]) -> str:
    if not nodes:
        return "none"
    return str(
        min(nodes, key=lambda n: (_NODE_ORDER.get(str(n.get("state")), 0), str(n.get("name"))))[
            "state"
        ]
    )


def _edge(nodes: Sequence[Mapping[str, Any]]) -> str:
    if not nodes:
        return '<span class="muted">none</span>'
    out = []
    for n in sorted(
        nodes, key=lambda n: (_NODE_ORDER.get(str(n.get("state")), 0), str(n.get("name")))
    ):
        state = str(n.get("state"))
        since = f" since {n['since']}" if n.get("since") else ""
        cls = "" if state == "online" else ' class="offline"'
        out.append(
            f'<div title="{_e(n.get("reason"))}">{_e(n.get("name"))} '
            f'<span{cls} data-node-state="{_e(state)}">{_e(state)}</span>{_e(since)}</div>'
        )
    return "".join(out)


def _arch(s: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> str:
    declared = (s.get("edge") or {}).get("arch")
    wrong = [n for n in nodes if n.get("arch_ok") is False]
    if wrong:
        return f'<span class="bad">{_e(wrong[0].get("arch"))} ≠ {_e(declared)}</span>'
    arches = sorted({str(n["arch"]) for n in nodes if n.get("arch")})
    return _e(",".join(arches) or declared or "-")


_EGGO_SHOWN = frozenset({"job", "namespace", "operation", "outcome", "reason", "created"})


def _eggo(eggo: Mapping[str, Any] | None) -> str:
    if not eggo:
        return '<span class="muted">-</span>'
    outcome = str(eggo.get("outcome", ""))
    cls = {"failed": "bad", "succeeded": ""}.get(outcome, "muted")
    text = f'{_e(eggo.get("operation"))} <span class="{cls}">{_e(outcome)}</span>'
    for key, value in eggo.items():  # fields the report adds (failed hosts) flow through
        if key in _EGGO_SHOWN or value is None or (isinstance(value, Sized) and not value):
            continue  # nothing to say (an empty list of failed hosts is no news)
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        text += (
            f'<div class="bad" data-eggo="{_e(key)}">{_e(key.replace("_", " "))}: {_e(shown)}</div>'
        )
    return f'<span title="{_e(eggo.get("reason"))}">{text}</span>'


def _apps(apps: Sequence[Mapping[str, Any]]) -> str:
    if not apps:
        return '<span class="muted">-</span>'
    n = len(apps)
    synced = sum(a.get("sync") == "Synced" for a in apps)
    healthy = sum(a.get("health") == "Healthy" for a in apps)
    title = "; ".join(f"{a.get('name')}: {a.get('sync')}/{a.get('health')}" for a in apps)
    cls = "" if synced == healthy == n else ' class="bad"' if any(
        a.get("health") == "Degraded" for a in apps) else ' class="muted"'  # fmt: skip
    return f'<span{cls} title="{_e(title)}">{synced}/{n} synced · {healthy}/{n} healthy</span>'


def _delivery(delivered: Any) -> str:
    if not isinstance(delivered, Mapping) or not delivered.get("total"):
        return '<span class="muted">-</span>'
    done, total = delivered.get("delivered", 0), delivered["total"]
    cls = "" if done == total else ' class="muted"'
    return f"<span{cls}>{_e(done)}/{_e(total)}</span>"


def _revisions(revisions: Sequence[str], head: str | None) -> str:
    if not revisions:
        return '<span class="muted">-</span>'
    out = []
    for rev in revisions:
        cls = "" if head and rev == head else ' class="muted"'
        out.append(f'<code{cls} title="{_e(rev)}">{_e(rev[:12])}</code>')
    return " ".join(out)


def render_site(fleet: Fleet, site_id: str) -> str | None:
    """One site's detail: issues, edge nodes, eggo, Applications, objects; None if unknown."""
    site = next((s for s in fleet.sites if s.get("site") == site_id), None)
    if site is None:
        return None
    meta = fleet.meta_of(site_id)
    mine = fleet.daemon.get(site_id) or DaemonSite()
    issues = "".join(f"<li>{_e(i)}</li>" for i in site.get("issues") or []) or "<li>none</li>"
    facts = [
        ("state", _badge(str(site.get("state")), " / suspended" if site.get("suspended") else "")),
        ("province", _e(meta.province)),
        ("wave", _e(_wave(site))),
        ("labels", _e(", ".join(f"{k}={v}" for k, v in sorted(meta.labels.items())) or "-")),
        (
            "gate (last plan)",
            _e(mine.gate or "-") + (f" — {_e(mine.reason)}" if mine.reason else ""),
        ),
        ("last sync", _e(mine.last_sync or "-")),
        ("last error", _e(mine.error or "-")),
        ("edge target", _e((site.get("edge") or {}).get("target"))),
        ("arch", _arch(site, (site.get("edge") or {}).get("nodes") or [])),
        ("eggo", _eggo(site.get("eggo"))),
        ("delivery", _delivery(site.get("delivered"))),
        ("revisions", _revisions(site.get("revisions") or [], fleet.doc.get("revision"))),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts)
    nodes = _records(
        (site.get("edge") or {}).get("nodes") or [],
        ("name", "state", "since", "arch", "arch_ok", "reason"),
    )
    apps = _records(site.get("applications") or [], ("name", "sync", "health"))
    objects = _records(
        [
            {
                **o,
                "delivery": ", ".join(
                    f"{k}: {v}" for k, v in sorted((o.get("delivery") or {}).items())
                ),
            }
            for o in site.get("objects") or []
        ],
        ("kind", "namespace", "name", "revision", "spec_hash", "delivery"),
    )
    body = (
        f'<p><a href="{PAGE_PATH}">← fleet</a></p><h2 id="site-name">{_e(site_id)}</h2>'
        f'<h3>Issues</h3><ul id="issues">{issues}</ul>'
        f'<table id="facts">{rows}</table>'
        f"<h3>Edge nodes</h3>{nodes}<h3>Argo CD Applications</h3>{apps}"
        f"<h3>Objects gitops-edge manages</h3>{objects}"
        f"<details><summary>status -o json for this site</summary><pre>{_e(json.dumps(site, indent=2))}</pre></details>"
    )
    return _shell(f"{site_id} · gitops-edge fleet", _observed(fleet), body)


def _records(items: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    if not items:
        return '<p class="muted">none</p>'
    extra = sorted({k for i in items for k in i} - set(keys))
    cols = [*keys, *extra]
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_plain(i.get(c)))}</td>" for c in cols) + "</tr>" for i in items
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


# -- access --------------------------------------------------------------------------


class AuthFileError(ValueError):
    """``--ui-basic-auth-file`` is unreadable or not ``user:password``."""


def read_basic_auth(path: Path) -> bytes:
    """``user:password`` from ``path`` (a mounted Secret key); one trailing newline allowed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuthFileError(f"--ui-basic-auth-file {path}: {exc.strerror}") from None
    text = raw.removesuffix(b"\n").removesuffix(b"\r")
    user, sep, password = text.partition(b":")
    if not sep or not user or not password or b"\n" in text:
        raise AuthFileError(
            f"--ui-basic-auth-file {path}: expected one line 'user:password' with both parts "
            "non-empty (e.g. kubectl create secret generic gitops-edge-ui --from-literal=auth=ops:PASSWORD)"
        )
    return text


def basic_auth(handler: Handler, credentials: bytes) -> Handler:
    """``handler`` behind HTTP basic auth; the ``user:password`` is compared in constant time."""
    expected = hashlib.sha256(credentials).digest()

    def guarded(request: Request) -> Response:
        scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
        given = b""
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                given = b""
        # equal-length digests: the comparison's time says nothing about the password
        if given and hmac.compare_digest(hashlib.sha256(given).digest(), expected):
            return handler(request)
        return Response(
            401,
            b"authentication required\n",
            headers={"WWW-Authenticate": 'Basic realm="gitops-edge fleet", charset="UTF-8"'},
        )

    return guarded


# -- serving -------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The inputs of one fleet view."""

    repo: RepoSpec
    live: LiveState
    revision: str | None
    daemon: Callable[[str], DaemonSiteStatus | None] | None = None
    current_wave: int | None = None


class Unavailable(Exception):
    """The daemon cannot build a view yet (informers not synced, the repo unreadable)."""


class FleetPage:
    """Handlers for the page, the site detail and the JSON; one build serves many requests.

    A view is reused for ``cache_seconds``, or for twice as long as it took to build if
    that is longer, so a large fleet is not rebuilt back to back while people watch.
    While one request rebuilds an expired view, the others are answered at once from
    the previous one (its "observed" time says how old it is); only the very first
    request waits for a build.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._building = threading.Lock()
        self._cached: tuple[float, Fleet] | None = None
        self._ttl = cache_seconds
        self.builds = 0

    def _fresh(self) -> Fleet | None:
        cached = self._cached
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        return None

    def fleet(self) -> Fleet:
        """The current view, rebuilt when expired; never two builds at once."""
        with self._lock:
            fresh, cached = self._fresh(), self._cached
        if fresh is not None:
            return fresh
        if cached is not None and not self._building.acquire(blocking=False):
            return cached[1]  # a rebuild is under way: the previous view answers meanwhile
        if cached is None:
            self._building.acquire()
        try:
            fresh = self._fresh()  # built by another request while this one waited
            if fresh is not None:
                return fresh
            started = self._clock()
            snap = self._snapshot()
            fleet = build_fleet(
                snap.repo,
                snap.live,
                revision=snap.revision,
                daemon=snap.daemon,
                current_wave=snap.current_wave,
            )
            done = self._clock()
            with self._lock:
                self.builds += 1
                self._ttl = max(self.cache_seconds, 2 * (done - started))
                self._cached = (done, fleet)
            return fleet
        finally:
            self._building.release()

    def _guarded_fleet(self) -> Fleet | Response:
        try:
            return self.fleet()
        except Exception as exc:  # the reason may name paths or URLs: it goes to the log only
            log.warning("fleet page: state not available", error=str(exc) or type(exc).__name__)
            return Response(503, b"fleet state not available yet; see the daemon log\n")

    def page(self, request: Request) -> Response:
        fleet = self._guarded_fleet()
        if isinstance(fleet, Response):
            return fleet
        html = render_page(fleet, Query.parse(request.query))
        return Response(200, html.encode(), _HTML, SECURITY_HEADERS)

    def site(self, request: Request) -> Response:
        fleet = self._guarded_fleet()
        if isinstance(fleet, Response):
            return fleet
        html = render_site(fleet, request.query.get("id", ""))
        if html is None:
            return Response(404, b"no such site\n")
        return Response(200, html.encode(), _HTML, SECURITY_HEADERS)

    def api(self, _request: Request) -> Response:
        fleet = self._guarded_fleet()
        if isinstance(fleet, Response):
            return fleet
        return Response(200, fleet.json(), _JSON, {"X-Content-Type-Options": "nosniff"})

    def routes(self, *, credentials: bytes = b"") -> list[tuple[str, str, Handler]]:
        """GET routes only: any other method on these paths is a 405 from the server."""
        handlers: list[tuple[str, Handler]] = [
            (PAGE_PATH, self.page),
            (SITE_PATH, self.site),
            (API_PATH, self.api),
        ]
        return [
            ("GET", path, basic_auth(h, credentials) if credentials else h) for path, h in handlers
        ]


def runner_snapshot(runner: Runner) -> Callable[[], Snapshot]:
    """The daemon's current repo and live state, as its reconciles see them.

    The repo is the controller's load of the served commit (cached per commit for a
    clone); live state is the informers' cache when this replica reconciles against
    the API, else what the sink reads back (a follower, or a file sink).
    """

    def snapshot() -> Snapshot:
        controller = runner.controller
        repo, revision = controller._load()
        cache = controller.live_cache
        if cache is not None:
            if not cache.wait_synced(0):
                raise Unavailable("the cluster's live state is not synced yet (informers)")
            live = cache.state()
        else:
            live = controller._live()
        last = controller.last
        return Snapshot(
            repo,
            live,
            revision,
            daemon=controller.status,
            current_wave=last[0].current_wave if last is not None else None,
        )

    return snapshot


__all__ = [
    "API_PATH",
    "PAGE_PATH",
    "SITE_PATH",
    "AuthFileError",
    "DaemonSite",
    "Fleet",
    "FleetPage",
    "Query",
    "SiteMeta",
    "Snapshot",
    "basic_auth",
    "build_fleet",
    "read_basic_auth",
    "render_page",
    "render_site",
    "runner_snapshot",
    "select",
]
