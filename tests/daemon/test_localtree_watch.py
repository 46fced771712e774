"""The local-tree watcher asks inotify for edits only, so a full reconcile's reads are silent.

A fleet from the repo's generator is reconciled in full while the daemon's
:class:`TreeWatcher` watches it: with the event filter no event at all reaches the
watcher (and none can overflow the kernel queue), while an edit still does. The same
run with watchdog's default mask sees the reads, which is what shows the check can
fail. The 3 000-site measurement (events and overflows, both ways) is
``bench/watcher.py``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.daemon import triggers
from gitops_edge.daemon.config import RunOptions
from gitops_edge.daemon.localtree import WATCHED_EVENTS
from gitops_edge.daemon.runner import Runner
from gitops_edge.daemon.triggers import TreeWatcher
from tests.daemon.harness import wait_for

ROOT = Path(__file__).resolve().parents[2]
SITES = 120

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify is Linux only"
)


def _generate(root: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.generate(root, SITES)


class Counting(TreeWatcher):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.kinds: list[str] = []
        self.batches: list[set[str]] = []
        self.got = threading.Event()

    def on_any_event(self, event: Any) -> None:
        self.kinds.append(event.event_type)
        super().on_any_event(event)


class Overflows(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet") / "ops"
    _generate(root)
    return root


def _reconcile_watched(fleet: Path, out: Path) -> tuple[Counting, Overflows]:
    overflows = Overflows()
    logging.getLogger("watchdog").addHandler(overflows)
    batches: list[set[str]] = []
    watcher = Counting(fleet, batches.append, debounce=0.1)
    watcher.batches = batches
    watcher.start()
    try:
        runner = Runner(RunOptions(repo=str(fleet), emit=f"dir:{out}", cache_dir=out / ".c"))
        assert runner.once() == set()
        # a marker edit after the reads: once it is seen, everything before it was too
        marker = fleet / "provinces" / "watch-marker.txt"
        marker.write_text("x")
        wait_for(lambda: "provinces/watch-marker.txt" in watcher_paths(watcher), what="the edit")
        marker.unlink()
    finally:
        watcher.stop()
        logging.getLogger("watchdog").removeHandler(overflows)
    return watcher, overflows


def watcher_paths(watcher: Counting) -> set[str]:
    return {p for batch in watcher.batches for p in batch}


def test_a_full_reconcile_reaches_the_filtered_watcher_with_no_event(
    fleet: Path, tmp_path: Path
) -> None:
    watcher, overflows = _reconcile_watched(fleet, tmp_path / "out")
    assert not overflows.messages
    # only the marker's own events (created, modified, deleted); no opened/closed ones
    assert set(watcher.kinds) <= {"created", "modified", "deleted"}, sorted(set(watcher.kinds))
    assert watcher_paths(watcher) == {"provinces/watch-marker.txt"}


def test_without_the_filter_the_same_reconcile_floods_the_watcher(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        triggers,
        "schedule_tree",
        lambda observer, handler, root: observer.schedule(handler, str(root), recursive=True),
    )
    watcher, _ = _reconcile_watched(fleet, tmp_path / "out")
    reads = [k for k in watcher.kinds if k in ("opened", "closed_no_write")]
    assert len(reads) > SITES, f"{len(reads)} read events for {SITES} sites"


def test_the_filter_is_edits_and_never_reads() -> None:
    names = {cls.event_type for cls in WATCHED_EVENTS}
    assert names == {"created", "modified", "deleted", "moved"}
