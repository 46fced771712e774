"""``gitops-edge run`` as an operator runs it: a subprocess, a real remote, HTTP, signals."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.daemon.gitremote import OpsRemote, apps
from tests.daemon.harness import ROOT, Spawned, free_port, github_signature, http, metric, wait_for
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e

SITES = ("beijing", "guangdong", "guangdong-shenzhen-1")
SECRET = b"webhook-secret-for-tests"


def test_run_once_renders_the_sample_fleet_without_a_cluster(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sample-repo", tmp_path / "sample-repo")
    with Spawned("run", "--repo", "sample-repo", "--once", cwd=tmp_path) as run:
        code = run.proc.wait(120)
    assert code == 0, run.log()[-3000:]
    rendered = sorted(p.name for p in (tmp_path / "rendered").iterdir() if p.is_dir())
    assert len(rendered) >= 31 and "guangdong" in rendered
    assert all(any((tmp_path / "rendered" / s).iterdir()) for s in rendered)


def test_webhook_push_is_reconciled_at_once_and_a_bad_signature_changes_nothing(
    tmp_path: Path,
) -> None:
    remote = OpsRemote(tmp_path)
    out = tmp_path / "out"
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Spawned(
        "run",
        "--repo",
        remote.url,
        "--emit",
        f"dir:{out}",
        "--cache-dir",
        tmp_path / "cache",
        "--poll-interval",
        "3600",
        "--listen",
        f"127.0.0.1:{port}",
        "--webhook-secret-file",
        tmp_path / "secret",
        cwd=tmp_path,
    ) as daemon:
        wait_for(
            lambda: all((out / s).is_dir() for s in SITES),
            timeout=60,
            what=f"the first render\n{daemon.log_path}",
        )
        assert http("GET", f"{base}/readyz")[0] == 200
        assert http("GET", f"{base}/healthz")[0] == 200

        remote.write_site("beijing", applications=apps("release-9"))
        sha = remote.commit("beijing apps to release-9")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        polls = metric(port, "gitops_edge_source_polls_total")

        forged = {**push, "X-Hub-Signature-256": github_signature(b"guessed", body)}
        status, reason = http("POST", f"{base}/webhook", body=body, headers=forged)
        assert status == 403 and "does not match" in reason
        assert http("POST", f"{base}/webhook", body=body, headers=push)[0] == 401
        time.sleep(0.5)  # proving an absence needs a bounded look; a poll would take ms
        assert metric(port, "gitops_edge_source_polls_total") == polls
        assert "release-9" not in _site_text(out / "beijing")
        assert metric(port, 'gitops_edge_webhooks_total{result="refuse"}') == 2

        signed = {**push, "X-Hub-Signature-256": github_signature(SECRET, body)}
        started = time.monotonic()
        status, reason = http("POST", f"{base}/webhook", body=body, headers=signed)
        assert status == 202, reason
        wait_for(
            lambda: "release-9" in _site_text(out / "beijing"),
            timeout=30,
            what="the pushed commit to be rendered",
        )
        assert time.monotonic() - started < 30  # the poll interval is an hour
        assert metric(port, "gitops_edge_source_polls_total") == polls + 1
        assert sha in _site_text(out / "beijing")

        assert daemon.stop(signal.SIGTERM) == 0
        log = daemon.log()
    events = [json.loads(line).get("event") for line in log.splitlines() if line.startswith("{")]
    assert "daemon stopped" in events and events[-1] == "daemon stopped"


def _site_text(site_dir: Path) -> str:
    if not site_dir.is_dir():
        return ""
    return "".join(p.read_text() for p in sorted(site_dir.iterdir()) if p.is_file())


def test_once_against_a_remote_reports_json_and_bad_settings_exit_2(tmp_path: Path) -> None:
    remote = OpsRemote(tmp_path)
    out = tmp_path / "out"
    done = run_cli(
        "run", "--repo", remote.url, "--once", "-o", "json", "--emit", f"dir:{out}",
        "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["revision"] == remote.head()
    assert report["emit"]["errors"] == [] and report["emit"]["written"] > 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*SITES, "Kustomization", ".gitops-edge-record"]  # the record the next run starts from
    )

    (tmp_path / "empty").write_text("\n")
    for args in (
        ("--repo", "ext::sh -c touch% /tmp/pwned"),
        ("--repo", remote.url, "--webhook-secret-file", str(tmp_path / "empty")),
        ("--repo", remote.url, "--listen", "nowhere"),
    ):
        with Spawned("run", *args, cwd=tmp_path) as bad:
            assert bad.proc.wait(60) == 2, bad.log()
