"""An unreachable API server costs a handful of requests, not one retry loop per watcher.

A daemon's LiveCache runs one informer per kind (~20) on one client. The API server
goes away (every connection dropped without an answer, as a crashed apiserver behind
a load balancer does) and every watch is cut. The whole client backs off as one:
the server's request log shows a first wave of failed requests (each informer's one
attempt), then single probes at a growing interval; once the server answers again
every informer is back within seconds and sees new changes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitops_edge.live.cache import LiveCache
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.daemon.harness import wait_for
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import node

pytestmark = [pytest.mark.kubeapi, pytest.mark.slow]

OUTAGE = 6.0


def test_an_api_outage_backs_off_once_for_the_whole_client(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path
) -> None:
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=6, base=0.2, cap=10.0))
    cache = LiveCache(kube, watch_timeout=60)
    cache.start()
    try:
        assert cache.wait_synced(30)
        informers = len(cache.informers)
        start = len(kube_api.requests)
        fault = kube_api.faults.drop_connection(".*")
        for inf in cache.informers:
            inf.interrupt()
        time.sleep(OUTAGE)
        during = kube_api.requests.records[start:]
        kube_api.faults.remove(fault)
        per_minute = len(during) * 60 / OUTAGE
        print(
            f"{informers} informers, {len(during)} requests in a {OUTAGE:.0f}s outage "
            f"(~{per_minute:.0f}/min); circuit opened {kube.circuit.opened}x"
        )
        # one attempt per informer when the outage starts, then probes: without the shared
        # backoff each informer retried 6 times on its own clock (hundreds per minute)
        assert len(during) <= informers + 15, [f"{r.method} {r.path}" for r in during]

        kube_api.store.put(node("back-edge-01", site="beijing"))
        wait_for(lambda: cache.nodes.get("", "back-edge-01") is not None, timeout=20,
                 what="the informers to recover after the outage")  # fmt: skip
    finally:
        cache.stop()
