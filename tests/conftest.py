"""Shared fixtures: repositories built in tmp_path and the Kubernetes API test server."""

from __future__ import annotations

pytest_plugins = ["tests.kubeapi.fixtures"]
