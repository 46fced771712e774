"""The fleet page in headless Chromium, served by a running daemon on loopback.

The daemon reconciles a copy of ``sample-repo/`` into the Kubernetes API test server
(``--emit kube``) and serves ``/fleet`` from its informers; the test plays CloudCore
(every site's edge node registered and renewing its Lease, except Hebei's, which
stopped two hours ago) and the Job controller (Jiangsu's eggo deploy failed). Then
``gitops-edge status -o json`` runs against the same API server, and what the browser
shows must agree with it: every site listed, the failed and the offline site marked,
the summary numbers equal, filtering by wave working across the fleet.

Set ``FLEET_PAGE_SCREENSHOT=docs/fleet-page.png`` to refresh the committed screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.daemon.queue import ALL
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.specs.repo import load_repo
from tests.builders import git_init_commit
from tests.daemon.fleetdata import fleet_objects
from tests.daemon.harness import ROOT, InProcess, Spawned, daemon_options, free_port, http, wait_for
from tests.e2e.cli import run_cli
from tests.kubeapi.server import KubeAPIServer

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RED = "rgb(198, 40, 40)"
"""``--bad`` in the page's style: how a failed badge and an offline node are shown."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium; .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev extra
        pytest.skip("playwright not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _ops(tmp_path: Path) -> Path:
    ops = tmp_path / "ops"
    shutil.copytree(ROOT / "sample-repo", ops)
    git_init_commit(ops)
    return ops


def _without_clock(doc: dict[str, Any]) -> dict[str, Any]:
    """The document minus what depends on the instant it was read at.

    ``observed_at``, and an offline node's "lease not renewed for <seconds>s", which
    grows by the second between the daemon's read and the CLI's.
    """
    text = re.sub(r"lease not renewed for \d+s", "lease not renewed for Ns", json.dumps(doc))
    return {k: v for k, v in json.loads(text).items() if k != "observed_at"}


def test_the_browser_shows_what_status_reports(
    browser: Any, kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    ops = _ops(tmp_path)
    repo = load_repo(ops)
    now = datetime.now(UTC)
    kube_api.store.seed(fleet_objects(repo, now, offline=("hebei",), failed=("jiangsu",)))
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    with InProcess(daemon_options(str(ops), tmp_path, emit="kube"), kube=kube) as d:
        d.wait_record(lambda r: r.batch == (ALL,), timeout=60)
        d.settle()
        assert d.runner.http is not None
        base = f"http://127.0.0.1:{d.runner.http.port}"
        status, body = http("GET", f"{base}/api/v1/fleet")
        assert status == 200, body
        served = json.loads(body)
        res = run_cli("status", ops, "--kubeconfig", kube_api_kubeconfig, "-o", "json")
        assert res.returncode == 0, res.stderr
        cli = json.loads(res.stdout)
        # the same document, from the same code, but for the clock it was read at
        assert _without_clock(served) == _without_clock(cli)
        summary = cli["summary"]
        states = {s["site"]: s["state"] for s in cli["sites"]}
        assert states["jiangsu"] == "failed" and states["hebei"] == "deferred"
        assert summary["sites"] == len(repo.sites) == 38
        assert http("POST", f"{base}/fleet", body=b"x")[0] == 405
        assert http("PUT", f"{base}/api/v1/fleet", body=b"{}")[0] == 405

        from playwright.sync_api import expect

        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/fleet")
        rows = page.locator("tr.site")
        listed = rows.evaluate_all("rs => rs.map(r => [r.dataset.site, r.dataset.state])")
        assert dict(listed) == states
        assert {s.id for s in repo.sites} == {site for site, _ in listed}
        for key, n in summary.items():
            assert page.locator(f'[data-count="{key}"] b').inner_text() == str(n), key
        assert page.locator("#max-failures").inner_text() == "1"  # gitops-edge.yaml

        failed = page.locator('#site-jiangsu [data-badge="failed"]')
        assert failed.is_visible()
        assert failed.evaluate("e => getComputedStyle(e).color") == RED
        ok_bg = page.locator('tr.site [data-badge="progressing"]').first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert failed.evaluate("e => getComputedStyle(e).backgroundColor") != ok_bg
        offline = page.locator('#site-hebei [data-node-state="offline"]')
        assert offline.is_visible() and offline.inner_text() == "offline"
        assert offline.evaluate("e => getComputedStyle(e).color") == RED
        assert "since " in page.locator("#site-hebei").inner_text()
        online = page.locator('#site-beijing [data-node-state="online"]')
        assert online.evaluate("e => getComputedStyle(e).color") != RED

        shot = tmp_path / "fleet-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("FLEET_PAGE_SCREENSHOT"):
            shutil.copyfile(shot, ROOT / os.environ["FLEET_PAGE_SCREENSHOT"])

        # filtering by wave: rows hide at once, then the server's filtered page replaces them
        wave0 = sorted(s["site"] for s in cli["sites"] if s["wave"] == 0)
        assert wave0 == ["hainan", "ningxia"]
        page.select_option('select[name="wave"]', "0")
        page.wait_for_url("**/fleet?wave=0")
        expect(rows).to_have_count(2)  # polled from outside the page: its CSP forbids eval
        assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.site)")) == wave0
        assert page.locator("#matching").inner_text() == "2"
        assert page.locator('[data-count="sites"] b').inner_text() == str(summary["sites"])
        page.select_option('select[name="wave"]', "")
        expect(rows).to_have_count(len(states))

        page.click('#site-jiangsu a[href="/fleet/site?id=jiangsu"]')
        page.wait_for_selector("#site-name")
        assert page.locator("#site-name").inner_text() == "jiangsu"
        assert "eggo deploy Job edge-jiangsu/eggo-deploy-1 failed" in page.inner_text("#issues")
        assert not errors, errors  # the CSP let the script run, and it ran cleanly
        page.close()


def test_basic_auth_from_a_file_through_the_command_line(browser: Any, tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    (tmp_path / "ui-auth").write_text("ops:correct horse\n")
    port = free_port()
    with Spawned(
        "run",
        "--repo",
        ops,
        "--emit",
        f"dir:{tmp_path / 'out'}",
        "--listen",
        f"127.0.0.1:{port}",
        "--ui-basic-auth-file",
        tmp_path / "ui-auth",
        cwd=tmp_path,
    ) as daemon:
        url = f"http://127.0.0.1:{port}/fleet"
        wait_for(lambda: http("GET", url)[0] == 401, timeout=60, what=f"401\n{daemon.log_path}")
        assert http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200  # probes stay open
        context = browser.new_context(http_credentials={"username": "ops", "password": "nope"})
        assert context.new_page().goto(url).status == 401
        context.close()
        context = browser.new_context(
            http_credentials={"username": "ops", "password": "correct horse"}
        )
        page = context.new_page()
        assert page.goto(url).status == 200
        assert page.locator("tr.site").count() == 38
        context.close()
