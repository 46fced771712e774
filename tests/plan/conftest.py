"""Fixtures of the plan tier's API-server tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.connect import connect
from tests.kubeapi.server import KubeAPIServer


@pytest.fixture
def kube(kube_api: KubeAPIServer, kube_api_kubeconfig: Path) -> KubeClient:
    """The real client, speaking HTTP to the API test server."""
    return connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.01))
