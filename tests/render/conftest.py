"""The ``make_repo`` fixture: write an ops repo under tmp_path and load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_edge.specs.repo import RepoSpec, load_repo

from .helpers import RepoFactory, write_repo


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    """Write a repo under tmp_path and load it."""
    counter = iter(range(1000))

    def make(
        sites: dict[str, dict[str, Any] | str],
        *,
        settings: dict[str, Any] | None = None,
        files: dict[str, str] | None = None,
    ) -> RepoSpec:
        root = write_repo(tmp_path / f"repo{next(counter)}", sites, settings=settings, files=files)
        return load_repo(root)

    return make
