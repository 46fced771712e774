"""Build ops repositories on disk for tests: the package's own builders, plus the reference path."""

from __future__ import annotations

from pathlib import Path

from gitops_edge.testing import (
    MemorySink,
    eggo_spec,
    git,
    git_init_commit,
    province,
    site_net,
    write_settings,
    write_site,
)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
"""Upstream reference data, a sibling of the repo; tests that need it skip without it."""

__all__ = [
    "REFERENCE",
    "MemorySink",
    "eggo_spec",
    "git",
    "git_init_commit",
    "province",
    "site_net",
    "write_settings",
    "write_site",
]
