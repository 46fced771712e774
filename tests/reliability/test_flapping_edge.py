"""An edge link that flaps online/offline does not make the daemon thrash.

The daemon runs in-process with the kube sink and ``edge_settle`` (``--edge-settle``);
the test plays CloudCore, renewing the edge node's Lease (online) or leaving it two
hours stale (offline) every 0.2 s. While the node flaps, the deferred site is not
reconciled at all; once the node stays online for ``edge_settle`` seconds (heartbeats
keep coming, as they do every 10 s in a real fleet) the site is reconciled and each of
its objects applied once (a heartbeat that lands while that reconcile is in flight can
queue one more, empty, reconcile); a flap after that costs nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitops_edge.daemon.queue import ALL
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import InProcess, daemon_options, wait_for
from tests.kubeapi import KubeAPIServer
from tests.reliability.kubefleet import applied, heartbeat, patches, seed_edges

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi, pytest.mark.slow]

SETTLE = 1.5
FLAP = 0.2
"""Seconds between two Lease changes while flapping: far shorter than SETTLE."""


def flap(api: KubeAPIServer, site: str, times: int) -> None:
    """Alternate online/offline ``times`` times, ending offline (pacing, not waiting)."""
    for i in range(times):
        heartbeat(api, site, online=i % 2 == 0)
        time.sleep(FLAP)
    heartbeat(api, site, online=False)


def drained(d: InProcess, api: KubeAPIServer) -> None:
    """Every Lease change so far was seen and handled, and the queue is idle."""
    live = d.runner._live
    assert live is not None
    leases = live.leases
    target = int(api.store.resource_version)
    wait_for(lambda: int(leases.resource_version or 0) >= target, what="the Lease informer")
    seen = leases.events
    # one more event (a bookmark, every 0.2 s) means the last change's handler returned
    wait_for(lambda: leases.events > seen, what="a later watch event")
    d.settle()


def test_a_flapping_edge_node_is_reconciled_once_after_it_settles(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=("beijing", "hebei"))
    seed_edges(kube_api, ["beijing", "hebei"], offline=("hebei",))
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    opts = daemon_options(remote.url, tmp_path, emit="kube", edge_settle=SETTLE)
    with InProcess(opts, kube=kube) as d:
        first = d.wait_record(lambda r: r.batch == (ALL,))
        assert first.emitted == ("beijing",) and first.deferred == ("hebei",)
        d.settle()
        n, mark = len(d.records), len(kube_api.requests)

        flap(kube_api, "hebei", 16)  # 3.2 s of flapping: 8 times online, never for SETTLE
        drained(d, kube_api)
        assert not [r for r in d.records[n:] if "hebei" in r.batch]
        assert not [p for p in patches(kube_api, since=mark) if "/edge-hebei" in p]
        assert "hebei" in d.runner.controller.deferred

        steady = time.monotonic()

        def released() -> bool:
            heartbeat(kube_api, "hebei", online=True)  # a steady link keeps heartbeating
            return any("hebei" in r.emitted for r in d.records[n:])

        wait_for(released, timeout=30, what="hebei released once its node settled")
        assert time.monotonic() - steady >= SETTLE - 0.1  # not before it settled
        d.settle()
        runs = [r for r in d.records[n:] if "hebei" in r.batch]
        assert runs[0].batch == runs[0].emitted == ("hebei",)
        # heartbeats that arrive while the released site is in flight queue it once more
        # (coalesced): that run finds nothing to do and writes nothing
        assert len(runs) <= 2 and all(r.emitted == () for r in runs[1:]), runs
        hebei = {p: s for p, s in patches(kube_api, since=mark).items() if "/edge-hebei" in p}
        assert len(hebei) == 4  # namespace, eggo ConfigMap and Job, Application
        assert all(applied(kube_api, since=mark)[p] == 1 for p in hebei)
        assert all(s == [200] or s == [201] for s in hebei.values())

        # flapping once the work is out costs nothing: no reconcile, no write
        n, mark = len(d.records), len(kube_api.requests)
        flap(kube_api, "hebei", 10)
        heartbeat(kube_api, "hebei", online=True)
        drained(d, kube_api)
        assert d.records[n:] == []
        assert patches(kube_api, since=mark) == {}
