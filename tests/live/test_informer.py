"""Informers and LiveCache over real watches: cuts, 410 relists, bookmarks, steady state.

The test API server sends bookmarks every 0.2 s (the ``kube_api`` fixture), so a
quiet informer's resourceVersion moves within a fraction of a second. Waiting is by
polling a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.live import resources as r
from gitops_edge.live.cache import LiveCache, PackedSites
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.informer import Informer
from tests.kubeapi import KubeAPIServer
from tests.live.objects import NOW, application, eggo_job, lease, micro, node, object_sync

pytestmark = pytest.mark.kubeapi

FAST = RetryPolicy(attempts=3, base=0.01, cap=0.2)
LEASE = ("coordination.k8s.io/v1", "Lease")


def wait_for(cond: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def kube(kube_api_kubeconfig: Path) -> KubeClient:
    return connect(kubeconfig=kube_api_kubeconfig, retry=FAST)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _nodes(api: KubeAPIServer, n: int = 3) -> None:
    api.store.seed(node(f"edge-{i}", site=f"s{i}") for i in range(n))


def _non_watch(api: KubeAPIServer) -> int:
    return sum(1 for q in api.requests if q.verb != "watch")


def _informer(kube: KubeClient, res: r.Resource = r.NODES, **kw: object) -> Informer:
    return Informer(kube, res, backoff=FAST, **kw)  # type: ignore[arg-type]


def test_watch_cut_mid_stream_rewatches_from_its_version_without_relisting(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    _nodes(kube_api)
    kube_api.faults.cut_watch("^/api/v1/nodes$", after_events=1, times=1)
    inf = _informer(kube)
    inf.start(stop)
    assert inf.wait_synced(5)
    kube_api.store.put(node("edge-a"))
    kube_api.store.put(node("edge-b"))  # arrives on the second watch
    wait_for(lambda: inf.get("", "edge-b"))
    assert inf.lists == 1 and inf.stream_breaks == 1
    watches = kube_api.requests.filter(verb="watch", resource="nodes")
    rv_after_a = inf.get("", "edge-a")["metadata"]["resourceVersion"]  # type: ignore[index]
    assert [w.query["resourceVersion"] for w in watches[:2]] == ["3", rv_after_a]
    assert kube_api.requests.count(verb="list", resource="nodes") == 1


def test_watch_ended_cleanly_by_the_server_is_resumed(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    _nodes(kube_api)
    kube_api.faults.cut_watch("^/api/v1/nodes$", after_events=1, times=2, abrupt=False)
    inf = _informer(kube)
    inf.start(stop)
    assert inf.wait_synced(5)
    for name in ("edge-a", "edge-b", "edge-c"):
        kube_api.store.put(node(name))
    wait_for(lambda: len(inf) == 6)
    assert inf.lists == 1 and inf.stream_breaks == 0 and inf.watches >= 3


def test_410_after_compaction_relists(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    _nodes(kube_api)
    inf = _informer(kube)
    inf.start(stop)
    assert inf.wait_synced(5)
    # keep the informer off the stream while the server moves on and compacts
    outage = kube_api.faults.error("^/api/v1/nodes$", 503, verb="watch")
    inf.interrupt()  # the network drops the current stream; new watches meet the outage
    wait_for(lambda: outage.hits >= 1)
    kube_api.store.delete("v1", "Node", "edge-0")
    kube_api.store.put(node("edge-new"))
    kube_api.store.compact()
    kube_api.faults.clear()
    wait_for(lambda: inf.relists_on_gone == 1 and inf.synced.is_set())
    wait_for(lambda: inf.lists == 2)
    assert inf.get("", "edge-0") is None and inf.get("", "edge-new") is not None
    assert kube_api.requests.count(verb="list", resource="nodes") == 2


def test_bookmarks_advance_the_resource_version_of_a_quiet_informer(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    kube_api.store.put(lease("edge-0", NOW))
    seen: list[str] = []
    inf = _informer(
        kube, r.LEASES, namespace="kube-node-lease", on_event=lambda k, o: seen.append(k)
    )
    inf.start(stop)
    assert inf.wait_synced(5)
    listed = inf.resource_version
    _nodes(kube_api, 5)  # other kinds move the global resourceVersion
    wait_for(lambda: inf.resource_version == kube_api.store.resource_version)
    assert int(inf.resource_version) > int(listed)
    assert seen == ["SYNC"]  # bookmarks are not reported as object events


def test_kind_not_served_is_synced_and_empty(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    inf = _informer(kube, r.Resource("example.io", "v1", "widgets", "Widget", True), absent_recheck=60)
    inf.start(stop)
    assert inf.wait_synced(5)
    assert (len(inf), inf.served, inf.lists) == (0, False, 1)
    assert kube_api.requests.count(verb="watch") == 0


def test_outage_keeps_the_index_and_recovers(
    kube: KubeClient, kube_api: KubeAPIServer, stop: threading.Event
) -> None:
    _nodes(kube_api)
    inf = _informer(kube)
    inf.start(stop)
    assert inf.wait_synced(5)
    kube_api.faults.forbidden("^/api/v1/nodes$", verb="watch")
    inf.interrupt()
    wait_for(lambda: kube_api.requests.count(verb="watch", status=403) >= 2)
    assert len(inf) == 3  # readers still see the last known state
    kube_api.faults.clear()
    kube_api.store.put(node("edge-late"))
    wait_for(lambda: inf.get("", "edge-late"))
    assert inf.lists == 1


def test_live_cache_steady_state_makes_no_list_calls(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    n = 20
    kube_api.store.seed(node(f"edge-{i}", site=f"s{i}") for i in range(n))
    kube_api.store.seed(lease(f"edge-{i}", NOW) for i in range(n))
    kube_api.store.put(eggo_job("eggo-deploy-1", "s0", outcome="running"))
    cache = LiveCache(kube, backoff=FAST)
    cache.start()
    try:
        assert cache.wait_synced(10)
        initial = _non_watch(kube_api)  # kinds the server lacks are logged as 404 "get"s
        assert cache.list_calls() == initial == len(cache.informers) == len(r.MANAGED) + 4
        later = NOW + timedelta(minutes=5)
        assert all(nd.state == "offline" for nd in cache.state(now=later).nodes.values())
        for i in range(0, n, 2):
            patch = {"spec": {"renewTime": micro(later)}}
            kube_api.store.touch(*LEASE, f"edge-{i}", "kube-node-lease", patch=patch)
        app = kube_api.store.put(application("base", "s0"))
        kube_api.store.put(object_sync("edge-0", app, app["metadata"]["resourceVersion"]))
        kube_api.store.touch(
            "batch/v1", "Job", "eggo-deploy-1", "edge-s0",
            patch={"status": {"active": 0, "succeeded": 1}},
        )  # fmt: skip

        def current() -> bool:
            state = cache.state(now=later)
            online = sum(nd.state == "online" for nd in state.nodes.values())
            kinds = sorted(o["kind"] for o in state.site_objects("s0"))
            job = next(o for o in state.site_objects("s0") if o["kind"] == "Job")
            synced = f"edge-0.{app['metadata']['uid']}" in state.syncs
            done = job["status"].get("succeeded") == 1
            return online == n // 2 and kinds == ["Application", "Job"] and done and synced

        wait_for(current)
        assert _non_watch(kube_api) == initial
        assert cache.list_calls() == initial
    finally:
        started = time.monotonic()
        cache.stop()
        assert time.monotonic() - started < 3


def test_live_cache_keeps_objects_without_managed_fields(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    """The central cache drops managedFields (a third of an applied object), listed or
    watched; the server still has them."""
    fields = [{"manager": "gitops-edge", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    job = eggo_job("eggo-deploy-1", "gd")
    job["metadata"]["managedFields"] = fields
    kube_api.store.put(node("gd-edge-01", site="gd"))
    kube_api.store.put(job)
    cache = LiveCache(kube, backoff=FAST, with_syncs=False)
    cache.start()
    try:
        assert cache.wait_synced(10)
        app = application("base", "gd")
        app["metadata"]["managedFields"] = fields
        kube_api.store.put(app)

        def cached() -> list[dict[str, Any]]:
            return [o for objs in cache.state().objects.values() for o in objs]

        wait_for(lambda: any(o["kind"] == "Application" for o in cached()))
        assert {o["kind"] for o in cached()} == {"Job", "Application"}
        assert all("managedFields" not in o["metadata"] for o in cached())
        served = kube_api.store.get("batch/v1", "Job", "eggo-deploy-1", "edge-gd")
        assert served is not None and served["metadata"]["managedFields"] == fields
        # kept packed (compressed JSON by site), unpacked afresh on each access
        objects = cache.state().objects
        assert isinstance(objects, PackedSites) and list(objects) == ["gd"]
        assert all(isinstance(b, bytes) for blobs in objects.packed.values() for b in blobs)
        first, again = objects["gd"], objects["gd"]
        assert first == again and first[0] is not again[0]
        copy = objects.lazy_copy()
        copy["gd"] = []
        assert copy["gd"] == [] and objects["gd"] == first and objects.get("nowhere") is None
    finally:
        cache.stop()


def test_a_slim_node_and_lease_keep_what_the_inventory_reads() -> None:
    """The cached Node and Lease are smaller and classify exactly as the whole ones."""
    from gitops_edge.live.informer import slim_lease, slim_node
    from gitops_edge.live.inventory import build_inventory

    whole = node("gd-edge-01", site="gd", arch="arm64")
    whole["status"]["images"] = [{"names": [f"img-{i}"], "sizeBytes": i} for i in range(50)]
    whole["status"].setdefault("conditions", []).append({"type": "DiskPressure", "status": "False"})
    slim = slim_node(json.loads(json.dumps(whole)))
    assert len(json.dumps(slim)) < len(json.dumps(whole)) / 3
    leases = {"gd-edge-01": lease("gd-edge-01", NOW)}
    assert build_inventory([slim], leases, now=NOW) == build_inventory([whole], leases, now=NOW)
    for renewed in (NOW, NOW - timedelta(hours=1)):
        whole_lease = lease("gd-edge-01", renewed)
        thin = {"gd-edge-01": slim_lease(json.loads(json.dumps(whole_lease)))}
        assert build_inventory([whole], thin, now=NOW) == build_inventory(
            [whole], {"gd-edge-01": whole_lease}, now=NOW
        )
