"""The real ``kubernetes`` client over HTTP against the test API server: lists and faults.

Every test goes through ``connect(kubeconfig=...)``, so kubeconfig loading, the
generated API classes, query parameters and the wire format are the production ones.
Retries are made fast (``RetryPolicy(base=0.01)``) except where the server's
Retry-After is the point.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.live import resources as r
from gitops_edge.live.client import Circuit, KubeClient, KubeError, Refused, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.delivery import delivery_of
from gitops_edge.live.snapshot import list_if_served, read_live
from tests.kubeapi import KubeAPIServer
from tests.live.objects import NOW, config_map, eggo_job, lease, micro, node, object_sync

pytestmark = pytest.mark.kubeapi

FAST = RetryPolicy(attempts=4, base=0.01, cap=2.0)


@pytest.fixture
def kube(kube_api_kubeconfig: Path) -> KubeClient:
    return connect(kubeconfig=kube_api_kubeconfig, retry=FAST)


def _fleet(api: KubeAPIServer, n: int = 5) -> None:
    api.store.seed(node(f"edge-{i}", site=f"s{i}") for i in range(n))
    api.store.seed(lease(f"edge-{i}", NOW) for i in range(n))
    api.store.put(node("master-1", edge=False))


def _lists(api: KubeAPIServer, resource: str = "nodes") -> list[Any]:
    return api.requests.filter(verb="list", resource=resource)


def test_list_paginates_with_limit_and_continue(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    _fleet(kube_api, 5)
    items, rv = kube.list(r.NODES, label_selector="node-role.kubernetes.io/edge", limit=2)
    assert sorted(o["metadata"]["name"] for o in items) == [f"edge-{i}" for i in range(5)]
    assert all((o["apiVersion"], o["kind"]) == ("v1", "Node") for o in items)
    assert rv == kube_api.store.resource_version
    pages = _lists(kube_api)
    assert [p.query.get("limit") for p in pages] == ["2", "2", "2"]
    assert "continue" not in pages[0].query and all("continue" in p.query for p in pages[1:])


def test_expired_continue_token_restarts_the_list(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    _fleet(kube_api, 5)
    send = kube._send

    def compacting_send(method: str, path: str, query: dict[str, Any], **kw: Any) -> Any:
        resp = send(method, path, query, **kw)
        if not query.get("continue") and len(_lists(kube_api)) == 1:
            kube_api.store.touch("v1", "Node", "edge-0")
            kube_api.store.compact()  # the token from this first page is now too old
        return resp

    kube._send = compacting_send  # type: ignore[method-assign]
    items, _ = kube.list(r.NODES, limit=2)
    assert len(items) == 6
    assert [p.status for p in _lists(kube_api)][:2] == [200, 410]


def test_read_live_builds_inventory_and_skips_kinds_not_served(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    _fleet(kube_api, 3)
    kube_api.store.put(lease("edge-1", NOW - timedelta(minutes=5)))
    live = read_live(kube, now=NOW)
    assert sorted(live.nodes) == ["edge-0", "edge-1", "edge-2"]  # master-1 is no edge node
    assert live.nodes["edge-0"].state == "online"
    assert live.nodes["edge-1"].state == "offline"
    # a kind whose CRD is not installed is empty, not an error
    widgets = r.Resource("example.io", "v1", "widgets", "Widget", True)
    assert list_if_served(kube, widgets) == []
    assert kube_api.requests.filter(path_regex="/widgets$", status=404)


def test_edge_goes_offline_when_the_lease_stops_renewing_and_comes_back(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    _fleet(kube_api, 1)
    assert read_live(kube, now=NOW).nodes["edge-0"].state == "online"
    later = NOW + timedelta(minutes=2)
    offline = read_live(kube, now=later).nodes["edge-0"]
    assert (offline.state, offline.since) == ("offline", NOW)
    kube_api.store.touch(
        "coordination.k8s.io/v1",
        "Lease",
        "edge-0",
        "kube-node-lease",
        patch={"spec": {"renewTime": micro(later)}},
    )
    assert read_live(kube, now=later).nodes["edge-0"].state == "online"


def test_delivery_delivered_pending_stale(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    _fleet(kube_api, 1)
    cm = kube_api.store.put(config_map("eggo-deploy", "s0"))
    job = kube_api.store.put(eggo_job("eggo-deploy", "s0"))
    app_cm = kube_api.store.put(config_map("argocd-cm", "s0"))
    kube_api.store.put(object_sync("edge-0", cm, cm["metadata"]["resourceVersion"]))
    kube_api.store.put(object_sync("edge-0", app_cm, app_cm["metadata"]["resourceVersion"]))
    kube_api.store.touch("v1", "ConfigMap", "argocd-cm", "edge-s0", patch={"data": {"k": "v2"}})
    live = read_live(kube, now=NOW)
    objs = {o["metadata"]["name"] + "/" + o["kind"]: o for o in live.site_objects("s0")}
    assert delivery_of(objs["eggo-deploy/ConfigMap"], "edge-0", live.syncs).state == "delivered"
    assert delivery_of(objs["eggo-deploy/Job"], "edge-0", live.syncs).state == "pending"
    assert delivery_of(objs["argocd-cm/ConfigMap"], "edge-0", live.syncs).state == "stale"
    assert job["metadata"]["uid"] == objs["eggo-deploy/Job"]["metadata"]["uid"]


def test_500s_are_retried_then_succeed(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    _fleet(kube_api, 2)
    kube_api.faults.error("^/api/v1/nodes$", 500, times=2)
    items, _ = kube.list(r.NODES)
    assert len(items) == 3
    assert [p.status for p in _lists(kube_api)] == [500, 500, 200]


def test_persistent_503_gives_up_with_a_message(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    kube_api.faults.error("^/api/v1/nodes$", 503)
    with pytest.raises(KubeError) as err:
        kube.list(r.NODES)
    assert err.value.status == 503
    assert str(err.value).startswith("list nodes failed (503)")
    assert len(_lists(kube_api)) == FAST.attempts


def test_429_honours_retry_after(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    kube_api.faults.throttle("^/api/v1/nodes$", retry_after=1, times=1)
    started = time.monotonic()
    kube.list(r.NODES)
    assert time.monotonic() - started >= 0.95  # the backoff alone would be ~0.01 s
    first, second = _lists(kube_api)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95


def test_403_names_verb_and_resource(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    kube_api.faults.forbidden("/leases", user="system:serviceaccount:gitops:gitops-edge")
    with pytest.raises(KubeError) as err:
        kube.list(r.LEASES, namespace="kube-node-lease")
    msg = str(err.value)
    assert err.value.status == 403
    assert msg.startswith(
        "RBAC forbids list on leases.coordination.k8s.io in namespace kube-node-lease"
    )
    assert "grant verb 'list' on resource 'leases' in API group coordination.k8s.io" in msg
    assert "system:serviceaccount:gitops:gitops-edge" in msg
    assert len(_lists(kube_api, "leases")) == 1  # a verdict, not retried


def test_401_says_check_the_credentials(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    kube_api.faults.unauthorized()
    with pytest.raises(KubeError) as err:
        kube.list(r.NODES)
    assert err.value.status == 401
    assert "rejected the credentials (401 Unauthorized)" in str(err.value)
    assert kube_api.url in str(err.value)


def test_wrong_token_is_401(kube_api: KubeAPIServer, tmp_path: Path) -> None:
    kube_api.token = "right"
    kubeconfig = kube_api.kubeconfig(tmp_path / "kc", token="wrong")
    with pytest.raises(KubeError, match="rejected the credentials"):
        connect(kubeconfig=kubeconfig, retry=FAST).list(r.NODES)


def test_dropped_connections_are_retried(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    _fleet(kube_api, 2)
    kube_api.faults.drop_connection("^/api/v1/nodes$", times=2)
    assert len(kube.list(r.NODES)[0]) == 3
    assert [p.status for p in _lists(kube_api)] == [0, 0, 200]


def test_latency_is_waited_out_and_a_timeout_is_retried(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path
) -> None:
    _fleet(kube_api, 1)
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=FAST, timeout=0.5)
    kube_api.faults.latency("^/api/v1/nodes$", 0.2, times=1)
    started = time.monotonic()
    assert len(kube.list(r.NODES)[0]) == 2
    assert time.monotonic() - started >= 0.2
    kube_api.faults.latency("^/api/v1/nodes$", 1.0, times=1)  # longer than the read timeout
    assert len(kube.list(r.NODES)[0]) == 2


def test_unreachable_api_is_one_clear_sentence(tmp_path: Path) -> None:
    with KubeAPIServer() as gone:
        kubeconfig = gone.kubeconfig(tmp_path / "kc")
        url = gone.url
    kube = connect(kubeconfig=kubeconfig, retry=FAST)
    with pytest.raises(KubeError) as err:
        kube.list(r.NODES)
    assert err.value.status == 0
    assert str(err.value) == (
        f"cannot reach the Kubernetes API at {url} (list nodes): connection refused "
        "(is the API server running and the address right?)"
    )
    assert kube.calls["list nodes"] == FAST.attempts


def test_missing_kubeconfig_and_unknown_context(tmp_path: Path, kube_api_kubeconfig: Path) -> None:
    with pytest.raises(KubeError, match="does not exist: pass --kubeconfig PATH"):
        connect(kubeconfig=tmp_path / "nope")
    with pytest.raises(KubeError, match="cannot load the kubeconfig"):
        connect(kubeconfig=kube_api_kubeconfig, context="province-99")


def test_get_apply_delete_round_trip(kube: KubeClient, kube_api: KubeAPIServer) -> None:
    kube_api.store.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge-s0"}})
    cm = config_map("eggo-deploy", "s0")
    applied = kube.apply(cm, r.CONFIGMAPS)
    assert applied["metadata"]["managedFields"][0]["manager"] == "gitops-edge"
    assert kube.get(r.CONFIGMAPS, "eggo-deploy", namespace="edge-s0") is not None
    assert kube.delete(r.CONFIGMAPS, "eggo-deploy", namespace="edge-s0") is True
    assert kube.get(r.CONFIGMAPS, "eggo-deploy", namespace="edge-s0") is None
    assert kube.delete(r.CONFIGMAPS, "eggo-deploy", namespace="edge-s0") is False


def test_the_circuit_lets_one_probe_through_and_closes_on_any_answer() -> None:
    now = [0.0]
    circuit = Circuit(RetryPolicy(base=1.0, cap=8.0), clock=lambda: now[0])
    assert circuit.enter() is False  # closed: straight through
    circuit.failure()
    assert circuit.open and circuit.opened == 1
    now[0] = 10.0
    assert circuit.enter() is True  # the probe
    circuit.failure()  # the probe failed: open again, longer
    assert circuit.failures == 2
    now[0] = 30.0
    assert circuit.enter() is True
    circuit.success()
    assert not circuit.open and circuit.enter() is False


def test_a_write_that_waited_out_an_outage_is_not_sent_once_its_guard_says_no(
    kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "fenced", "namespace": "default"}, "data": {"v": "1"}}  # fmt: skip
    kube_api.faults.error("/configmaps/fenced", 503, times=1)
    answers = iter([True, False])  # the Lease is lost while the retry waits
    with pytest.raises(Refused, match="not sent"):
        kube.apply(cm, r.CONFIGMAPS, guard=lambda: next(answers))
    assert kube_api.requests.count(method="PATCH") == 1  # the failed attempt only
    assert kube_api.store.get("v1", "ConfigMap", "fenced", "default") is None
