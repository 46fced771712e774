"""``gitops-edge run --webhook-listen``: webhooks on one port, probes and metrics on another.

The point is what an Ingress in front of the webhook port can reach: ``/webhook`` and
nothing else. So the daemon is started as an operator starts it (a subprocess, a real
remote, two real sockets) and every path is asked on both ports.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.daemon.gitremote import OpsRemote, apps
from tests.daemon.harness import Spawned, free_port, github_signature, http, metric, wait_for

pytestmark = pytest.mark.e2e

SECRET = b"webhook-secret-for-listener-tests"


def test_webhooks_and_metrics_are_served_on_separate_ports(tmp_path: Path) -> None:
    remote = OpsRemote(tmp_path)
    out = tmp_path / "out"
    (tmp_path / "secret").write_bytes(SECRET)
    metrics_port, webhook_port = free_port(), free_port()
    metrics, webhooks = f"http://127.0.0.1:{metrics_port}", f"http://127.0.0.1:{webhook_port}"
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
        f"127.0.0.1:{metrics_port}",
        "--webhook-listen",
        f"127.0.0.1:{webhook_port}",
        "--webhook-secret-file",
        tmp_path / "secret",
        "--metrics-per-site=false",
        cwd=tmp_path,
    ) as daemon:
        wait_for(
            lambda: (out / "beijing").is_dir(),
            timeout=60,
            what=f"the first render\n{daemon.log_path}",
        )
        # the metrics port: probes and metrics, never the webhook
        for path in ("/healthz", "/readyz", "/metrics"):
            assert http("GET", f"{metrics}{path}")[0] == 200, path
        body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
        push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        signed = {**push, "X-Hub-Signature-256": github_signature(SECRET, body)}
        assert http("POST", f"{metrics}/webhook", body=body, headers=signed)[0] == 404
        # the webhook port: the webhook, and nothing that names a site or a probe
        for path in ("/healthz", "/readyz", "/metrics"):
            assert http("GET", f"{webhooks}{path}")[0] == 404, path
        remote.write_site("beijing", applications=apps("release-9"))
        sha = remote.commit("beijing apps to release-9")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        forged = {**push, "X-Hub-Signature-256": github_signature(b"guessed", body)}
        assert http("POST", f"{webhooks}/webhook", body=body, headers=forged)[0] == 403
        signed = {**push, "X-Hub-Signature-256": github_signature(SECRET, body)}
        assert http("POST", f"{webhooks}/webhook", body=body, headers=signed)[0] == 202
        wait_for(
            lambda: any(sha in p.read_text() for p in (out / "beijing").rglob("*.yaml")),
            timeout=30,
            what="the pushed commit to be rendered",
        )
        _status, text = http("GET", f"{metrics}/metrics")
        assert metric(metrics_port, 'gitops_edge_webhooks_total{result="refuse"}') == 1
        assert (
            metric(metrics_port, 'gitops_edge_http_requests_total{code="404",listener="webhook"}')
            == 3
        )
        assert (
            metric(metrics_port, 'gitops_edge_http_requests_total{code="202",listener="webhook"}')
            == 1
        )
        assert re.search(r'^gitops_edge_build_info\{.*version="', text, re.MULTILINE)
        assert metric(metrics_port, "process_resident_memory_bytes") > 1e6
        assert "gitops_edge_last_successful_sync_timestamp_seconds{" not in text  # per-site off
        assert (
            metric(metrics_port, 'gitops_edge_sites{state="ready"}')
            + metric(metrics_port, 'gitops_edge_sites{state="unchanged"}')
            >= 1
        )
        promtool = shutil.which("promtool")
        if promtool is not None:  # the exposition as Prometheus' own linter reads it
            check = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                capture_output=True,
                text=True,
                check=False,
            )
            assert check.returncode == 0, check.stdout + check.stderr
        assert daemon.stop(signal.SIGTERM) == 0


def test_webhook_listen_on_the_metrics_address_is_refused(tmp_path: Path) -> None:
    port = free_port()
    with Spawned(
        "run",
        "--repo",
        tmp_path,
        "--listen",
        f"127.0.0.1:{port}",
        "--webhook-listen",
        f"127.0.0.1:{port}",
        cwd=tmp_path,
    ) as daemon:
        code = daemon.proc.wait(60)
        log = daemon.log()
    assert code == 2
    assert "--webhook-listen 127.0.0.1:" in log and "is --listen's address" in log
