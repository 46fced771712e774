"""Against two API servers: the centre (holding the Secret) and karmada-apiserver.

karmada-apiserver serves the reference policy CRDs, the ResourceBinding CRD and the
Cluster CRD derived from Karmada's swagger.json (``../shared/reference/karmada``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.federation.documents import load_federation
from gitops_edge.federation.karmada import (
    CLUSTERS,
    POLICY_RESOURCES,
    apply_cluster_labels,
    apply_federation,
    connect_karmada,
    registered,
)
from gitops_edge.federation.registration import cluster_ready
from gitops_edge.kinds import DAEMONSETS
from gitops_edge.live.client import KubeClient, KubeError, RetryPolicy
from gitops_edge.specs.opsrepo import KarmadaSettings
from tests.federation.reference import karmada_secret, register
from tests.kubeapi.server import KubeAPIServer

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"
FAST = RetryPolicy(attempts=2, base=0.01, cap=0.05)
SETTINGS = KarmadaSettings.model_validate(
    {
        "enabled": True,
        "apiServer": "https://karmada.example:5443",
        "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
        "registrationImage": "r/karmadactl:v1.18.2",
    }
)


@pytest.fixture
def karmada_api() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(bookmark_interval=0.2)
    for kind in (
        "Cluster",
        "PropagationPolicy",
        "ClusterPropagationPolicy",
        "OverridePolicy",
        "ClusterOverridePolicy",
        "ResourceBinding",
    ):
        register(server, kind)
    with server:
        yield server


def _secret(kube_api: KubeAPIServer, karmada_api: KubeAPIServer, tmp_path: Path) -> None:
    text = karmada_api.kubeconfig(tmp_path / "karmada.config", context_name="karmada").read_text()
    kube_api.store.put(karmada_secret(text))


@pytest.fixture
def karmada(kube_api: KubeAPIServer, karmada_api: KubeAPIServer, tmp_path: Path) -> KubeClient:
    _secret(kube_api, karmada_api, tmp_path)
    central = KubeClient(kube_api.api_client(), retry=FAST)
    return connect_karmada(central, SETTINGS, retry=FAST)


def _cluster(
    name: str, labels: dict[str, str] | None = None, ready: str = "True"
) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"syncMode": "Pull"},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def test_the_daemon_reaches_karmada_with_the_kubeconfig_from_the_secret(
    karmada: KubeClient, karmada_api: KubeAPIServer, kube_api: KubeAPIServer
) -> None:
    assert karmada.host == karmada_api.url != kube_api.url
    assert registered(karmada, "guangdong") is None
    karmada_api.store.put(_cluster("guangdong"))
    cluster = registered(karmada, "guangdong")
    assert cluster is not None and cluster_ready(cluster) is True


def test_a_missing_secret_says_how_to_create_it(kube_api: KubeAPIServer) -> None:
    central = KubeClient(kube_api.api_client(), retry=FAST)
    with pytest.raises(KubeError, match="create secret generic karmada"):
        connect_karmada(central, SETTINGS, retry=FAST)


def test_labels_are_applied_to_an_existing_cluster_only(
    karmada: KubeClient, karmada_api: KubeAPIServer
) -> None:
    labels = {"site": "guangdong", "region": "south", "arch": "arm64", "wave": "1"}
    assert apply_cluster_labels(karmada, "guangdong", labels).outcome == "not registered"
    assert karmada.get(CLUSTERS, "guangdong") is None  # never created
    karmada_api.store.put(_cluster("guangdong", {"team": "paas"}))
    assert apply_cluster_labels(karmada, "guangdong", labels).outcome == "applied"
    live = karmada.get(CLUSTERS, "guangdong")
    assert live is not None
    assert live["metadata"]["labels"] == {"team": "paas", **labels}
    assert live["spec"] == {"syncMode": "Pull"}  # only metadata.labels is ours
    assert apply_cluster_labels(karmada, "guangdong", labels).outcome == "unchanged"
    moved = {**labels, "wave": "2"}
    del moved["arch"]
    assert apply_cluster_labels(karmada, "guangdong", moved).outcome == "applied"
    live = karmada.get(CLUSTERS, "guangdong")
    assert live is not None
    assert live["metadata"]["labels"] == {"team": "paas", **moved}  # arch was ours: removed


def test_the_sample_federation_is_applied_with_tolerations_and_waves(
    karmada: KubeClient, karmada_api: KubeAPIServer
) -> None:
    docs = load_federation(SAMPLE)
    waves = {"guangdong": 1, "guangxi": 2, "hainan": 2}
    applied = apply_federation(karmada, docs, waves, released_through=1)
    assert applied.conflicts == []
    assert applied.applied == [
        "Namespace monitoring",
        "DaemonSet monitoring/node-exporter",
        "PropagationPolicy monitoring/node-exporter",
        "OverridePolicy monitoring/node-exporter-mirror",
    ]
    assert karmada.get(DAEMONSETS, "node-exporter", namespace="monitoring") is not None
    pp = karmada.get(POLICY_RESOURCES["PropagationPolicy"], "node-exporter", namespace="monitoring")
    assert pp is not None
    assert {t["key"] for t in pp["spec"]["placement"]["clusterTolerations"]} == {
        "cluster.karmada.io/not-ready",
        "cluster.karmada.io/unreachable",
    }
    held = pp["spec"]["suspension"]["dispatchingOnClusters"]["clusterNames"]
    assert held == ["guangxi", "hainan"]
    apply_federation(karmada, docs, waves, released_through=2)  # the next wave is released
    pp = karmada.get(POLICY_RESOURCES["PropagationPolicy"], "node-exporter", namespace="monitoring")
    assert pp is not None and "suspension" not in pp["spec"]


def test_kubeconfig_secret_that_is_not_a_kubeconfig(
    kube_api: KubeAPIServer,
) -> None:
    kube_api.store.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "karmada", "namespace": "gitops-edge"},
            "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(["x"]).encode()).decode()},
        }
    )
    central = KubeClient(kube_api.api_client(), retry=FAST)
    with pytest.raises(KubeError, match="is not a kubeconfig"):
        connect_karmada(central, SETTINGS, retry=FAST)
