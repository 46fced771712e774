"""The daemon's federation loop: when it cannot tell, every eggo cleanup waits.

Against the API test servers: no Secret for karmada-apiserver, a server that does not
serve Karmada's Cluster kind, and one that does, with and without the site's Cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_edge.federation.loop import FederationLoop
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.specs.repo import RepoSpec, load_repo
from tests.builders import province, write_settings, write_site
from tests.federation.reference import karmada_secret, register
from tests.kubeapi.server import KubeAPIServer

pytestmark = pytest.mark.kubeapi

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.05)
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": "r/karmadactl:v1.18.2",
}


def _repo(tmp_path: Path, enabled: bool = True) -> RepoSpec:
    write_settings(tmp_path, {"federation": {"karmada": {**KARMADA, "enabled": enabled}}})
    write_site(tmp_path, "gd", province("gd"))
    return load_repo(tmp_path)


def _secret(kube_api: KubeAPIServer, server: KubeAPIServer, tmp_path: Path) -> None:
    config = server.kubeconfig(tmp_path / "karmada.config").read_text()
    kube_api.store.put(karmada_secret(config))


def _loop(kube_api: KubeAPIServer) -> FederationLoop:
    queued: list[set[str]] = []
    return FederationLoop(
        KubeClient(kube_api.api_client(), retry=FAST), enqueue=queued.append, sync_timeout=5
    )


def test_off_means_no_veto(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    assert _loop(kube_api).holds(_repo(tmp_path, enabled=False)) is None


def test_without_credentials_every_cleanup_waits(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    holds = _loop(kube_api).holds(_repo(tmp_path))
    assert holds is not None
    reason = holds("gd")
    assert reason is not None and "cannot be read" in reason and "create secret" in reason
    assert holds.held == ["gd"]


def test_a_server_without_karmada_clusters_is_not_taken_for_no_registration(
    tmp_path: Path, kube_api: KubeAPIServer
) -> None:
    plain = KubeAPIServer()
    with plain:
        _secret(kube_api, plain, tmp_path)
        loop = _loop(kube_api)
        try:
            holds = loop.holds(_repo(tmp_path))
            assert holds is not None
            reason = holds("gd")
            assert reason is not None and "does not serve clusters.cluster.karmada.io" in reason
        finally:
            loop.stop()


def test_the_view_decides_once_synced(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    karmada = KubeAPIServer(bookmark_interval=0.2)
    for kind in ("Cluster", "ResourceBinding"):
        register(karmada, kind)
    with karmada:
        karmada.store.put(
            {
                "apiVersion": "cluster.karmada.io/v1alpha1",
                "kind": "Cluster",
                "metadata": {"name": "gd"},
                "spec": {"syncMode": "Pull"},
            }
        )
        _secret(kube_api, karmada, tmp_path)
        loop = _loop(kube_api)
        try:
            holds = loop.holds(_repo(tmp_path))
            assert holds is not None
            assert "still registered with Karmada" in (holds("gd") or "")
            assert holds("hb") is None  # no Cluster: the cleanup may go
            assert holds.held == ["gd"]
        finally:
            loop.stop()
