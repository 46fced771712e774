"""The reliability suite: faults and hostile conditions, against the real code paths."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes seconds (subprocesses, real timeouts); still runs by default"
    )
