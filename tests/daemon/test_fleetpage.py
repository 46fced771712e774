"""The fleet page rendered from the sample repo and a LiveState value (pure), and its handlers."""

from __future__ import annotations

import base64
import json
import re
import threading
from html import escape
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gitops_edge.cli import build_parser
from gitops_edge.commands import run as run_command
from gitops_edge.daemon.fleetpage import (
    API_PATH,
    PAGE_PATH,
    SITE_PATH,
    AuthFileError,
    Fleet,
    FleetPage,
    Query,
    Snapshot,
    build_fleet,
    read_basic_auth,
    render_page,
    render_site,
)
from gitops_edge.daemon.http import DaemonHTTP, Headers, Request
from gitops_edge.daemon.sitestate import SiteStatus as DaemonSiteStatus
from gitops_edge.live.snapshot import LiveState
from gitops_edge.sinks import SinkSpecError
from gitops_edge.specs.repo import RepoSpec, load_repo
from gitops_edge.status import build_report
from gitops_edge.statusview import status_document
from tests.daemon.fleetdata import FAILURE, fleet_objects, live_state
from tests.daemon.harness import ROOT, wait_for
from tests.live.objects import NOW, application

ROW = re.compile(
    r'<tr class="site" id="site-[^"]*" data-site="([^"]*)" data-state="([^"]*)" '
    r'data-wave="([^"]*)" data-edge="([^"]*)"'
)


@pytest.fixture(scope="module")
def repo() -> RepoSpec:
    return load_repo(ROOT / "sample-repo")


@pytest.fixture(scope="module")
def live(repo: RepoSpec) -> LiveState:
    objs = fleet_objects(repo, NOW, offline=("hebei",), failed=("jiangsu",))
    objs.append(application("legacy", "old"))  # live objects of a site no longer in the repo
    return live_state(objs, NOW)


@pytest.fixture(scope="module")
def fleet(repo: RepoSpec, live: LiveState) -> Fleet:
    return build_fleet(repo, live, revision="a" * 40, current_wave=0)


def rows(html: str) -> dict[str, tuple[str, str, str]]:
    return {m[0]: (m[1], m[2], m[3]) for m in ROW.findall(html)}


def count(html: str, key: str) -> int:
    m = re.search(rf'data-count="{key}"><b>(\d+)</b>', html)
    assert m, key
    return int(m[1])


def get(path: str, **query: str) -> Request:
    return Request("GET", path, query, Headers([]), b"")


def test_json_is_the_status_document(repo: RepoSpec, live: LiveState) -> None:
    page = FleetPage(lambda: Snapshot(repo, live, "a" * 40))
    resp = page.api(get(API_PATH))
    assert resp.status == 200 and resp.content_type == "application/json"
    expected = status_document(build_report(repo, live, revision="a" * 40), live)
    assert json.loads(resp.body) == json.loads(json.dumps(expected))
    unversioned = FleetPage(lambda: Snapshot(repo, live, "unversioned")).api(get(API_PATH))
    assert json.loads(unversioned.body)["revision"] is None  # as status says it


def test_page_lists_every_site_with_the_summary_first(fleet: Fleet, repo: RepoSpec) -> None:
    html = render_page(fleet, Query())
    listed = rows(html)
    assert set(listed) == {s.id for s in repo.sites} | {"old"}
    summary = fleet.doc["summary"]
    assert count(html, "sites") == summary["sites"] == len(repo.sites) + 1
    for state, n in summary.items():
        assert count(html, state) == n
    assert html.index('id="summary"') < html.index('id="waves"') < html.index('id="sites"')
    assert listed["hebei"] == ("deferred", "2", "offline")
    assert listed["jiangsu"][0] == "failed"
    assert listed["hainan"][1] == listed["ningxia"][1] == "0"
    assert listed["old"][:2] == ("removed", "-")
    assert 'current wave: <b id="current-wave">0</b>' in html
    assert '<b id="max-failures">1</b>' in html
    # grouped by province, then wave: guangdong's three sites sit under one header
    order = list(listed)
    assert order.index("guangdong") < order.index("guangdong-dongguan") < order.index("guangxi")
    assert "guangdong · wave 2" in html


def test_markup_from_the_cluster_is_shown_as_text(fleet: Fleet) -> None:
    page = render_page(fleet, Query())
    detail = render_site(fleet, "jiangsu")
    assert detail is not None
    for html in (page, detail):
        assert "<script>alert(1)" not in html and "<js-master-01>" not in html
    assert escape(FAILURE) in detail and "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "eggo deploy Job edge-jiangsu/eggo-deploy-1 failed" in detail


def test_filters_cover_the_whole_fleet_and_bad_values_fall_back(fleet: Fleet) -> None:
    assert set(rows(render_page(fleet, Query(wave="0")))) == {"hainan", "ningxia"}
    assert set(rows(render_page(fleet, Query(state="failed")))) == {"jiangsu"}
    assert set(rows(render_page(fleet, Query(label="tier=edge,province=guangdong")))) == {
        "guangdong-shenzhen-1",
        "guangdong-dongguan",
    }
    assert "beijing" not in rows(render_page(fleet, Query(label="region!=north")))
    assert set(rows(render_page(fleet, Query(q="HEBEI-EDGE-01")))) == {"hebei"}  # node name
    assert rows(render_page(fleet, Query(wave="7"))) == {}
    q = Query.parse({"page": "x", "per_page": "-3", "wave": " 1 "})
    assert (q.page, q.per_page, q.wave) == (1, 1, "1")
    assert Query.parse({"per_page": "999999"}).per_page == 1000


def test_pages_bound_the_rows_but_not_the_summary(fleet: Fleet) -> None:
    first = render_page(fleet, Query(per_page=10))
    last = render_page(fleet, Query(per_page=10, page=99))  # clamped to the last page
    assert len(rows(first)) == 10 and len(rows(last)) == 39 - 30
    assert count(first, "sites") == count(last, "sites") == 39
    assert 'href="/fleet?page=2&amp;per_page=10"' in first and "page 1 of 4" in first
    assert "page 4 of 4" in last and 'rel="next"' not in last
    seen = set()
    for n in range(1, 5):
        seen |= set(rows(render_page(fleet, Query(per_page=10, page=n))))
    assert len(seen) == 39


def test_daemon_facts_and_new_report_fields_show(repo: RepoSpec, live: LiveState) -> None:
    gates = {"hebei": DaemonSiteStatus(gate="deferred", reason="edge node offline")}
    gates["hainan"] = DaemonSiteStatus(gate="ready", last_sync=NOW.timestamp(), revision="r")
    fleet = build_fleet(repo, live, revision=None, daemon=gates.get)
    html = render_page(fleet, Query())
    assert '<td title="edge node offline">deferred</td>' in html
    assert "<td>2026-11-27T03:12:00Z</td>" in html
    assert 'current wave: <b id="current-wave">none in progress</b>' in html
    # a field the report adds later (eggo's failed hosts) reaches the page untouched
    doc = json.loads(json.dumps(fleet.doc))
    jiangsu = next(s for s in doc["sites"] if s["site"] == "jiangsu")
    jiangsu["eggo"]["failed_hosts"] = ["js-master-01", "js-worker-02"]
    more = Fleet(doc, fleet.meta, fleet.daemon, None, fleet.max_failures)
    assert "failed hosts: js-master-01, js-worker-02" in render_page(more, Query(state="failed"))


def test_site_detail_and_unknown_site(fleet: Fleet) -> None:
    html = render_site(fleet, "hebei")
    assert html is not None
    assert '<h2 id="site-name">hebei</h2>' in html
    assert "edge node hebei-edge-01 offline since 2026-11-27T01:12:00Z" in html
    assert render_site(fleet, "nowhere") is None


def test_served_get_only_with_security_headers(repo: RepoSpec, live: LiveState) -> None:
    server = DaemonHTTP(
        "127.0.0.1", 0, registry=CollectorRegistry(), ready=lambda: True, healthy=lambda: True
    )
    server.mount(FleetPage(lambda: Snapshot(repo, live, None)).routes())
    for path in (PAGE_PATH, SITE_PATH, API_PATH):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            resp, headers = server.handle(Request(method, path, {}, Headers([]), b"{}"))
            assert (resp.status, headers) == (405, {"Allow": "GET, HEAD"})
    resp, headers = server.handle(get(PAGE_PATH))
    assert resp.status == 200 and resp.content_type.startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe" not in csp
    resp, _ = server.handle(get(SITE_PATH, id="beijing"))
    assert resp.status == 200
    resp, _ = server.handle(get(SITE_PATH, id="<x>"))
    assert (resp.status, resp.body) == (404, b"no such site\n")


def test_basic_auth(repo: RepoSpec, live: LiveState) -> None:
    page = FleetPage(lambda: Snapshot(repo, live, None))
    routes = {path: h for _m, path, h in page.routes(credentials=b"ops:s3cret:with-colon")}

    def call(path: str, auth: str | None) -> int:
        headers = Headers([("Authorization", auth)] if auth else [])
        resp = routes[path](Request("GET", path, {}, headers, b""))
        if resp.status == 401:
            assert resp.headers["WWW-Authenticate"].startswith('Basic realm="gitops-edge fleet"')
            assert b"s3cret" not in resp.body
        return resp.status

    good = "Basic " + base64.b64encode(b"ops:s3cret:with-colon").decode()
    for path in routes:
        assert call(path, None) == 401
        assert call(path, "Basic " + base64.b64encode(b"ops:wrong").decode()) == 401
        assert call(path, "Basic !!not-base64!!") == 401
        assert call(path, "Bearer " + good.split()[1]) == 401
    assert call(PAGE_PATH, good) == 200 and call(API_PATH, good) == 200


def test_auth_file(tmp_path: Path) -> None:
    f = tmp_path / "auth"
    f.write_bytes(b"ops:pa:ss\n")
    assert read_basic_auth(f) == b"ops:pa:ss"
    for bad in (b"", b"nocolon\n", b":pw", b"user:", b"a:b\nc:d\n"):
        f.write_bytes(bad)
        with pytest.raises(
            AuthFileError, match=r"--ui-basic-auth-file .*auth: expected one line 'user:password'"
        ):
            read_basic_auth(f)
    with pytest.raises(AuthFileError, match="No such file"):
        read_basic_auth(tmp_path / "missing")


def test_one_build_serves_a_burst_and_failures_stay_in_the_log(
    repo: RepoSpec, live: LiveState
) -> None:
    clock = [0.0]
    page = FleetPage(lambda: Snapshot(repo, live, None), cache_seconds=5, clock=lambda: clock[0])
    for _ in range(3):
        page.page(get(PAGE_PATH))
        page.api(get(API_PATH))
    assert page.builds == 1
    clock[0] += 6
    page.api(get(API_PATH))
    assert page.builds == 2

    def broken() -> Snapshot:
        raise OSError("/srv/secret-path/ops: permission denied")

    resp = FleetPage(broken).page(get(PAGE_PATH))
    assert resp.status == 503 and b"secret-path" not in resp.body


def test_a_rebuild_does_not_hold_up_other_requests(repo: RepoSpec, live: LiveState) -> None:
    clock = [0.0]
    release = threading.Event()
    calls: list[int] = []

    def snapshot() -> Snapshot:
        calls.append(1)
        if len(calls) == 2:  # the second build is slow
            assert release.wait(30)
        return Snapshot(repo, live, "b" * 40 if len(calls) == 2 else "a" * 40)

    page = FleetPage(snapshot, cache_seconds=5, clock=lambda: clock[0])
    assert page.fleet().doc["revision"] == "a" * 40
    clock[0] += 6
    slow = threading.Thread(target=page.fleet)
    slow.start()
    wait_for(lambda: len(calls) == 2, what="the rebuild to start")
    # meanwhile: answered at once from the previous view
    assert page.fleet().doc["revision"] == "a" * 40
    release.set()
    slow.join(30)
    assert page.fleet().doc["revision"] == "b" * 40 and page.builds == 2


def test_command_line_flags(tmp_path: Path) -> None:
    def opts(*extra: str) -> Any:
        argv = ["run", "--repo", str(tmp_path), *extra]
        return run_command.options(build_parser(argv).parse_args(argv))

    assert (opts().fleet_page, opts().ui_basic_auth) == (True, b"")
    assert opts("--no-fleet-page").fleet_page is False
    (tmp_path / "auth").write_text("ops:pw\n")
    assert opts("--ui-basic-auth-file", str(tmp_path / "auth")).ui_basic_auth == b"ops:pw"
    (tmp_path / "auth").write_text("no colon\n")
    with pytest.raises(SinkSpecError, match=r"--ui-basic-auth-file .*'user:password'"):
        opts("--ui-basic-auth-file", str(tmp_path / "auth"))


def test_failed_hosts_eggo_reported_are_shown_and_an_empty_list_is_not() -> None:
    from gitops_edge.daemon.fleetpage import _eggo

    failed = _eggo({"operation": "join", "outcome": "failed", "failed_hosts": ("10.20.0.199",)})
    assert 'data-eggo="failed_hosts"' in failed and "10.20.0.199" in failed
    fine = _eggo({"operation": "deploy", "outcome": "succeeded", "failed_hosts": ()})
    assert "failed hosts" not in fine
