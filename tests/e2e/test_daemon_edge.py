"""An edge node coming back online releases the site deferred because of it, at once.

The daemon emits into the Kubernetes API test server (``--emit kube``) and reads the
fleet through its informers; the test plays CloudCore, renewing the node's Lease.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops_edge.daemon.queue import ALL
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import InProcess, daemon_options, wait_for
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import lease, micro, node

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]


def site_namespaces(kube_api: KubeAPIServer) -> set[str]:
    return {
        ns["metadata"]["labels"]["gitops-edge.io/site"]
        for ns in kube_api.store.list("v1", "Namespace")
        if (ns["metadata"].get("labels") or {}).get("gitops-edge.io/site")
    }


def test_node_back_online_releases_its_deferred_site(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=("beijing", "hebei"))
    now = datetime.now(UTC)
    kube_api.store.seed(
        [
            node("bj-edge-01", site="beijing"),
            lease("bj-edge-01", now),
            # CloudCore still says Ready, but the heartbeat stopped two hours ago
            node("hb-edge-01", site="hebei"),
            lease("hb-edge-01", now - timedelta(hours=2)),
        ]
    )
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    with InProcess(daemon_options(remote.url, tmp_path, emit="kube"), kube=kube) as d:
        first = d.wait_record(lambda r: r.batch == (ALL,))
        assert first.emitted == ("beijing",) and first.deferred == ("hebei",)
        assert site_namespaces(kube_api) == {"beijing"}
        status = d.runner.controller.status("hebei")
        assert status is not None and status.gate == "deferred"
        assert "hb-edge-01 offline" in status.reason
        n = len(d.records)

        kube_api.store.touch(
            "coordination.k8s.io/v1",
            "Lease",
            "hb-edge-01",
            "kube-node-lease",
            patch={"spec": {"renewTime": micro(datetime.now(UTC))}},
        )
        rec = d.wait_record(lambda r: "hebei" in r.batch, after=n, timeout=20)
        assert rec.batch == rec.emitted == ("hebei",) and not rec.failed
        wait_for(lambda: site_namespaces(kube_api) == {"beijing", "hebei"}, what="hebei applied")
        assert not d.runner.controller.deferred
        status = d.runner.controller.status("hebei")
        assert status is not None and status.gate == "ready" and status.last_sync is not None
        # nothing else was reconciled for it: no poll, no resync
        assert all(r.batch in {(ALL,), ("hebei",)} for r in d.records)


def test_finished_run_advances_the_next_wave_without_waiting_for_a_resync(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=())
    remote.write_site("beijing", rollout={"wave": 0})
    remote.write_site("hebei", rollout={"wave": 1})
    remote.commit("two waves", push=True)
    now = datetime.now(UTC)
    kube_api.store.seed(
        [
            node("bj-edge-01", site="beijing"),
            lease("bj-edge-01", now + timedelta(hours=1)),
            node("hb-edge-01", site="hebei"),
            lease("hb-edge-01", now + timedelta(hours=1)),
        ]
    )
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    with InProcess(daemon_options(remote.url, tmp_path, emit="kube"), kube=kube) as d:
        first = d.wait_record(lambda r: r.batch == (ALL,))
        assert first.emitted == ("beijing",)
        status = d.runner.controller.status("hebei")
        assert status is not None and status.gate == "waiting"
        n = len(d.records)
        # the Job controller and Argo CD report: wave 0 is done
        for job in kube_api.store.list("batch/v1", "Job", "edge-beijing"):
            kube_api.store.touch(
                "batch/v1",
                "Job",
                job["metadata"]["name"],
                "edge-beijing",
                patch={
                    "status": {
                        "succeeded": 1,
                        "conditions": [{"type": "Complete", "status": "True"}],
                    }
                },
            )
        for app in kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-beijing"):
            kube_api.store.touch(
                "argoproj.io/v1alpha1",
                "Application",
                app["metadata"]["name"],
                "edge-beijing",
                patch={"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}},
            )
        rec = d.wait_record(lambda r: "hebei" in r.emitted, after=n, timeout=20)
        assert "hebei" in rec.batch
        wait_for(lambda: "hebei" in site_namespaces(kube_api), what="wave 1 applied")
