"""A change with no Job or Application to wait for goes out wave after wave within seconds.

Four provinces in waves 0..3 follow a remote; the daemon applies into the Kubernetes
API test server. After the first rollout (the test plays the Job controller and
Argo CD, marking runs finished), a commit changes only the shared edge bundle: one
ConfigMap per site. Nothing reports progress for a ConfigMap, so each next wave must
go out because the previous one was *applied*, not because a Job finished or a
resync came round (there is none: ``resync_interval=0``).

Where the edge reports delivery (KubeEdge ObjectSync records, played by the test as
CloudCore), a wave is done only once its edges acknowledged the new version, and the
acknowledgement itself moves the next wave.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.daemon.gitremote import OpsRemote, edge_config_map
from tests.daemon.harness import InProcess, daemon_options, wait_for
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import lease, node, object_sync

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

WAVES = {"beijing": 0, "hebei": 1, "shanxi": 2, "henan": 3}
REVISION = "gitops-edge.io/source-revision"


def finish_runs(kube_api: KubeAPIServer) -> None:
    """The Job controller and Argo CD: every Job succeeded, every Application healthy."""
    for job in kube_api.store.list("batch/v1", "Job"):
        if (job.get("status") or {}).get("succeeded"):
            continue
        md = job["metadata"]
        kube_api.store.touch(
            "batch/v1", "Job", md["name"], md["namespace"],
            patch={"status": {"succeeded": 1,
                              "conditions": [{"type": "Complete", "status": "True"}]}},
        )  # fmt: skip
    for app in kube_api.store.list("argoproj.io/v1alpha1", "Application"):
        if ((app.get("status") or {}).get("health") or {}).get("status") == "Healthy":
            continue
        md = app["metadata"]
        kube_api.store.touch(
            "argoproj.io/v1alpha1", "Application", md["name"], md["namespace"],
            patch={"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}},
        )  # fmt: skip


def bundle_revisions(kube_api: KubeAPIServer) -> dict[str, str]:
    """Site -> source-revision of its copy of the shared bundle ConfigMap."""
    out: dict[str, str] = {}
    for cm in kube_api.store.list("v1", "ConfigMap"):
        md = cm["metadata"]
        site = (md.get("labels") or {}).get("gitops-edge.io/site")
        if site and md["name"] == "edge-agent":
            out[site] = (md.get("annotations") or {}).get(REVISION, "")
    return out


def test_bundle_only_change_advances_every_wave_within_seconds(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=())
    for site, wave in WAVES.items():
        remote.write_site(site, rollout={"wave": wave})
    remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "1"))
    remote.commit("four waves", push=True)
    now = datetime.now(UTC)
    for site in WAVES:
        kube_api.store.put(node(f"{site}-edge-01", site=site))
        kube_api.store.put(lease(f"{site}-edge-01", now + timedelta(hours=1)))
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    with InProcess(daemon_options(remote.url, tmp_path, emit="kube"), kube=kube) as d:
        first = remote.head()

        def rolled_out() -> bool:
            finish_runs(kube_api)
            revs = bundle_revisions(kube_api)
            return set(revs) == set(WAVES) and set(revs.values()) == {first}

        wait_for(rolled_out, timeout=60, what="the first rollout through four waves")
        finish_runs(kube_api)
        d.settle()

        remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "2"))
        second = remote.commit("bundle only", push=True)
        started = time.monotonic()
        d.poll()
        reached: dict[str, float] = {}

        def all_on_second() -> bool:
            for site, rev in bundle_revisions(kube_api).items():
                if rev == second and site not in reached:
                    reached[site] = time.monotonic() - started
            return len(reached) == len(WAVES)

        wait_for(all_on_second, timeout=30, what=f"every wave on the bundle change ({reached})")
        print("bundle change reached waves at", {WAVES[s]: round(t, 2) for s, t in reached.items()})
        assert max(reached.values()) < 15.0
        # still wave by wave: each wave's sites were emitted by a later reconcile than
        # the wave before (no Job or Application event came in between)
        # (the API shows a wave's write before its reconcile has finished and is recorded)
        def emitted() -> list[int]:
            return [WAVES[s] for r in list(d.records) if r.revision == second for s in r.emitted]

        wait_for(lambda: len(emitted()) >= len(WAVES), timeout=10, what="the reconciles' records")
        assert emitted() == [0, 1, 2, 3]


def test_where_the_edge_reports_delivery_the_next_wave_waits_for_the_ack(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=())
    for site, wave in WAVES.items():
        remote.write_site(site, rollout={"wave": wave})
    remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "1"))
    first = remote.commit("four waves", push=True)
    now = datetime.now(UTC)
    for site in WAVES:
        kube_api.store.put(node(f"{site}-edge-01", site=site))
        kube_api.store.put(lease(f"{site}-edge-01", now + timedelta(hours=1)))
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    sync_api = "reliablesyncs.kubeedge.io/v1alpha1"

    def agent(site: str) -> dict[str, Any]:
        cm = kube_api.store.get("v1", "ConfigMap", "edge-agent", f"edge-{site}")
        assert cm is not None
        return cm

    def ack(site: str) -> None:
        """CloudCore: the site's edge node acknowledged the ConfigMap as it is now."""
        cm = agent(site)
        sync = object_sync(f"{site}-edge-01", cm, cm["metadata"]["resourceVersion"])
        if kube_api.store.get(sync_api, "ObjectSync", sync["metadata"]["name"],
                              sync["metadata"]["namespace"]) is None:  # fmt: skip
            kube_api.store.put(sync)
        else:
            kube_api.store.touch(sync_api, "ObjectSync", sync["metadata"]["name"],
                                 sync["metadata"]["namespace"], patch={"status": sync["status"]})  # fmt: skip

    with InProcess(daemon_options(remote.url, tmp_path, emit="kube"), kube=kube) as d:

        def rolled_out() -> bool:
            finish_runs(kube_api)
            revs = bundle_revisions(kube_api)
            for site in revs:
                ack(site)
            return set(revs) == set(WAVES) and set(revs.values()) == {first}

        wait_for(rolled_out, timeout=60, what="the first rollout, acknowledged by the edges")
        d.settle()

        remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "2"))
        second = remote.commit("bundle only", push=True)
        d.poll()
        wait_for(lambda: bundle_revisions(kube_api)["beijing"] == second, what="wave 0 applied")
        d.settle()
        # wave 0 is applied but its edge still reports the old version: wave 1 waits
        assert bundle_revisions(kube_api)["hebei"] == first
        status = d.runner.controller.status("hebei")
        assert status is not None and status.gate == "waiting"
        for site in sorted(WAVES, key=WAVES.__getitem__)[:-1]:
            nxt = next(s for s, w in WAVES.items() if w == WAVES[site] + 1)
            acked = time.monotonic()
            ack(site)
            wait_for(lambda s=nxt: bundle_revisions(kube_api)[s] == second, timeout=15,
                     what=f"the ack of {site} to release {nxt}")  # fmt: skip
            assert time.monotonic() - acked < 10
        assert set(bundle_revisions(kube_api).values()) == {second}
