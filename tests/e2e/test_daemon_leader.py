"""Two daemons with ``--leader-elect``: exactly one reconciles; kill -9 it and the other takes over.

Both follow the same remote; each writes to its own directory, so which one
reconciled is visible on disk. The Lease lives in the Kubernetes API test server.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import Spawned, free_port, http, metric, wait_for
from tests.kubeapi.server import KubeAPIServer

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

LEASE_SECONDS = 3.0
SITES = ("beijing", "guangdong", "guangdong-shenzhen-1")


def test_one_leader_reconciles_and_a_standby_takes_over_after_kill_9(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path)
    replicas: dict[str, tuple[Spawned, int, Path]] = {}
    try:
        for name in ("replica-a", "replica-b"):
            port, out = free_port(), tmp_path / f"out-{name}"
            proc = Spawned(
                "run",
                "--repo",
                remote.url,
                "--emit",
                f"dir:{out}",
                "--cache-dir",
                tmp_path / f"cache-{name}",
                "--listen",
                f"127.0.0.1:{port}",
                "--leader-elect",
                "--lease-namespace",
                "default",
                "--lease-name",
                "gitops-edge-e2e",
                "--lease-duration",
                str(LEASE_SECONDS),
                "--identity",
                name,
                "--kubeconfig",
                kube_api_kubeconfig,
                cwd=tmp_path,
            )
            replicas[name] = (proc, port, out)

        def rendered(name: str) -> bool:
            out = replicas[name][2]
            return all((out / s).is_dir() for s in SITES)

        leader = wait_for(
            lambda: next((n for n in replicas if rendered(n)), ""),
            timeout=60,
            what="one replica to lead and render",
        )
        standby = next(n for n in replicas if n != leader)
        lease = kube_api.store.get("coordination.k8s.io/v1", "Lease", "gitops-edge-e2e", "default")
        assert lease is not None and lease["spec"]["holderIdentity"] == leader
        # the standby is up, ready and idle: it serves probes but writes nothing
        standby_port = replicas[standby][1]
        wait_for(lambda: http("GET", f"http://127.0.0.1:{standby_port}/readyz")[0] == 200)
        assert metric(standby_port, "gitops_edge_leader") == 0
        assert metric(replicas[leader][1], "gitops_edge_leader") == 1
        assert not replicas[standby][2].exists()

        replicas[leader][0].proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(
            lambda: metric(standby_port, "gitops_edge_leader") == 1,
            timeout=LEASE_SECONDS * 4,
            what="the standby to take the Lease",
        )
        took_over = time.monotonic() - killed
        print(f"standby took the Lease {took_over:.1f}s after kill -9")
        wait_for(lambda: rendered(standby), timeout=30, what="the new leader to render")
        assert took_over < LEASE_SECONDS * 3
        lease = kube_api.store.get("coordination.k8s.io/v1", "Lease", "gitops-edge-e2e", "default")
        assert lease is not None and lease["spec"]["holderIdentity"] == standby

        # a graceful stop releases the Lease for whoever comes next
        assert replicas[standby][0].stop(signal.SIGTERM) == 0
        lease = kube_api.store.get("coordination.k8s.io/v1", "Lease", "gitops-edge-e2e", "default")
        assert lease is not None and lease["spec"]["holderIdentity"] == ""
    finally:
        for proc, _port, _out in replicas.values():
            proc.__exit__()
