"""A leader frozen past its Lease writes nothing once it resumes; the newer commit stays.

Replica A (a real ``gitops-edge run --leader-elect`` process) starts applying eight
provinces into the Kubernetes API test server, slowed down by 0.15 s per PATCH so the
batch takes seconds. Mid-batch it is frozen with SIGSTOP, as a long GC pause or a
frozen VM would. A commit changing the shared edge bundle is pushed; replica B waits
out A's Lease, takes it and applies the newer commit everywhere. Then A is resumed
with SIGCONT: it must notice at its next object that its renew deadline passed, stop
the batch, and write nothing. The API server's request log shows zero writes after
the resume, and the cluster holds exactly what a clean apply of the newer commit
gives (same objects, same spec hashes, the changed ones stamped with the new commit).
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops_edge.sinks import RECORD
from tests.daemon.gitremote import OpsRemote, edge_config_map
from tests.daemon.harness import Spawned, wait_for
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import lease, node
from tests.reliability.kubefleet import apply_cli, hashes

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

SITES = ("beijing", "tianjin", "hebei", "shanxi", "henan", "hubei", "hunan", "jiangxi")
LEASE_SECONDS = 3.0
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def replica(identity: str, remote: OpsRemote, kubeconfig: Path, tmp: Path) -> Spawned:
    return Spawned(
        "run", "--repo", remote.url, "--emit", "kube", "--kubeconfig", kubeconfig,
        "--cache-dir", tmp / f"cache-{identity}", "--listen", "127.0.0.1:0",
        "--leader-elect", "--lease-namespace", "default", "--lease-name", "fencing",
        "--lease-duration", str(LEASE_SECONDS), "--identity", identity,
        "--poll-interval", "3600", "--resync-interval", "0", "--edge-settle", "0",
        cwd=tmp,
    )  # fmt: skip


def seed(api: KubeAPIServer) -> None:
    now = datetime.now(UTC)
    for site in SITES:
        api.store.put(node(f"{site}-edge-01", site=site))
        api.store.put(lease(f"{site}-edge-01", now + timedelta(hours=1)))


def object_writes(kube_api: KubeAPIServer, since: int = 0) -> list[str]:
    """Successful writes of fleet objects (not Leases, not the record of a run, which the
    new leader writes once its run is over), from request ``since`` on."""
    return [
        f"{r.method} {r.path}"
        for r in kube_api.requests.records[since:]
        if r.method in WRITES
        and r.resource != "leases"
        and not r.path.endswith(f"/configmaps/{RECORD}")
        and 200 <= r.status < 300
    ]


def test_a_leader_paused_past_its_lease_writes_nothing_after_it_resumes(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=SITES)
    remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "1"))
    remote.commit("bundle", push=True)
    seed(kube_api)
    kube_api.faults.latency(".*", 0.15, method="PATCH")

    a = replica("replica-a", remote, kube_api_kubeconfig, tmp_path)
    b: Spawned | None = None
    try:
        wait_for(lambda: len(object_writes(kube_api)) >= 4, timeout=60,
                 what=f"replica A to start applying ({a.log_path})")  # fmt: skip
        a.proc.send_signal(signal.SIGSTOP)
        frozen_at = len(object_writes(kube_api))
        remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "2"))
        newer = remote.commit("bundle v2", push=True)

        b = replica("replica-b", remote, kube_api_kubeconfig, tmp_path)
        with KubeAPIServer() as clean:
            seed(clean)
            done = apply_cli(remote.work, clean.kubeconfig(tmp_path / "clean-kubeconfig"))
            assert done.returncode in (0, 1), done.stderr[-2000:]
            want = {k: h for k, (h, _rev) in hashes(clean).items()}
        assert want

        def converged() -> bool:
            have = hashes(kube_api)
            return {k: h for k, (h, _r) in have.items()} == want and all(
                rev == newer for k, (_h, rev) in have.items() if k[1] == "ConfigMap"
                and k[3] == "edge-agent"
            )

        wait_for(converged, timeout=90, what=f"replica B to apply the newer commit ({b.log_path})")

        holder = kube_api.store.get("coordination.k8s.io/v1", "Lease", "fencing", "default")
        assert holder is not None and holder["spec"]["holderIdentity"] == "replica-b"
        print(f"A wrote {frozen_at} objects before the freeze; B then converged the fleet")

        resumed = len(kube_api.requests.records)
        a.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: "stopped reconciling" in a.log(), timeout=60,
                 what=f"replica A to stand down ({a.log_path})")  # fmt: skip
        time.sleep(1.0)  # anything A still had in flight would have landed by now

        assert object_writes(kube_api, resumed) == []
        assert converged(), "the newer commit was overwritten"
        # A resumed mid-batch and was stopped by the per-object check, not by luck
        assert "reconcile stopped: not the leader any more" in a.log()
        assert "lost leadership" in a.log()
    finally:
        for proc in (a, b):
            if proc is not None:
                if proc.proc.poll() is None:
                    proc.proc.send_signal(signal.SIGCONT)
                proc.__exit__()
