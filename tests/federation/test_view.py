"""The daemon's watched view of karmada-apiserver names the sites each change concerns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gitops_edge.federation.view import KarmadaView, sites_of
from gitops_edge.live.client import KubeClient, RetryPolicy
from tests.federation.reference import register
from tests.kubeapi.server import KubeAPIServer


@pytest.fixture
def karmada_api() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(bookmark_interval=0.2)
    for kind in ("Cluster", "ResourceBinding"):
        register(server, kind)
    with server:
        yield server


def test_sites_of_bindings_include_offline_clusters_still_scheduled() -> None:
    binding = {
        "kind": "ResourceBinding",
        "spec": {"clusters": [{"name": "gd"}, {"name": "hn"}]},
        "status": {"aggregatedStatus": [{"clusterName": "gd"}, {"clusterName": "gx"}]},
    }
    assert sites_of("Binding", binding) == {"gd", "gx", "hn"}
    assert sites_of("Cluster", {"kind": "Cluster", "metadata": {"name": "gd"}}) == {"gd"}


def test_a_registered_cluster_reaches_the_daemon_as_its_site(karmada_api: KubeAPIServer) -> None:
    changed: list[set[str]] = []
    client = KubeClient(karmada_api.api_client(), retry=RetryPolicy(attempts=2, base=0.01))
    view = KarmadaView(client, on_change=changed.append)
    stop = threading.Event()
    view.start(stop)
    try:
        assert view.wait_synced(5)
        assert view.cluster("guangdong") is None
        karmada_api.store.put(
            {
                "apiVersion": "cluster.karmada.io/v1alpha1",
                "kind": "Cluster",
                "metadata": {"name": "guangdong"},
                "spec": {"syncMode": "Pull"},
            }
        )
        deadline = time.monotonic() + 5
        while view.cluster("guangdong") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert view.cluster("guangdong") is not None
        assert {"guangdong"} in changed
    finally:
        stop.set()
        view.interrupt()
