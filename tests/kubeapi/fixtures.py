"""Pytest fixtures for the test API server.

Register them for the whole suite with ``pytest_plugins = ["tests.kubeapi.fixtures"]``
in the top-level ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import KubeAPIServer


@pytest.fixture
def kube_api() -> Iterator[KubeAPIServer]:
    """A fresh, empty API server per test; stopped (and its watches ended) afterwards."""
    with KubeAPIServer(bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
def kube_api_kubeconfig(kube_api: KubeAPIServer, tmp_path: Path) -> Path:
    """A kubeconfig file whose current context (``test``) points at ``kube_api``."""
    return kube_api.kubeconfig(tmp_path / "kubeconfig")
