"""The local-tree watcher during a full reconcile: inotify events and queue overflows.

A full reconcile of a local tree reads every file in it. Watched without an event
filter, each read is an open, an access and a close in the inotify queue
(``fs.inotify.max_queued_events``, 16 384 by default); when the daemon reads faster
than watchdog drains, the kernel drops events and watchdog logs "Inotify queue
overflowed; filesystem events were lost", real edits included. With
:data:`gitops_edge.daemon.localtree.WATCHED_EVENTS` the kernel queues none of that.

This runs the daemon's own :class:`~gitops_edge.daemon.triggers.TreeWatcher` on a
generated N-site tree while one full reconcile (``Runner.once``, a directory sink
outside the tree) reads it, once with the event filter the daemon uses and once with
watchdog's default (every event), and prints events seen, overflows logged and the
ratio. Linux only (inotify).

Usage: ``python bench/watcher.py --sites 3000 [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops_edge.daemon import triggers  # noqa: E402
from gitops_edge.daemon.config import RunOptions  # noqa: E402
from gitops_edge.daemon.localtree import schedule_tree  # noqa: E402
from gitops_edge.daemon.runner import Runner  # noqa: E402
from gitops_edge.observe.logging import configure_logging  # noqa: E402

OVERFLOW = "Inotify queue overflowed"


class _Overflows(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if OVERFLOW in record.getMessage():
            self.count += 1


class CountingWatcher(triggers.TreeWatcher):
    """The daemon's watcher, counting every event watchdog hands it (before its own checks)."""

    events = 0

    def on_any_event(self, event: Any) -> None:
        CountingWatcher.events += 1
        super().on_any_event(event)


def _unfiltered(observer: Any, handler: Any, root: Path) -> None:
    observer.schedule(handler, str(root), recursive=True)


def _fleet(root: Path, sites: int) -> None:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.generate(root, sites)


def measure(tree: Path, out: Path, *, filtered: bool, rounds: int) -> dict[str, float]:
    setattr(triggers, "schedule_tree", schedule_tree if filtered else _unfiltered)  # noqa: B010
    overflows = _Overflows()
    logging.getLogger("watchdog").addHandler(overflows)
    CountingWatcher.events = 0
    changed: list[set[str]] = []
    watcher = CountingWatcher(tree, changed.append, debounce=0.2)
    watcher.start()
    try:
        runner = Runner(RunOptions(repo=str(tree), emit=f"dir:{out}", cache_dir=out / ".cache"))
        started = time.monotonic()
        for _ in range(rounds):
            failed = runner.once()
            assert not failed, f"reconcile failed for {sorted(failed)[:5]}"
        seconds = time.monotonic() - started
        time.sleep(1.0)  # let watchdog drain what is queued
    finally:
        watcher.stop()
        logging.getLogger("watchdog").removeHandler(overflows)
        setattr(triggers, "schedule_tree", schedule_tree)  # noqa: B010
    return {
        "events": CountingWatcher.events,
        "overflows": overflows.count,
        "batches": len(changed),
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2, help="full reconciles per mode")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("inotify is Linux only: nothing to measure here")
        return 0
    configure_logging(json=False, level="warning")
    with tempfile.TemporaryDirectory(prefix="watcher-bench-") as tmp:
        tree, out = Path(tmp) / "ops", Path(tmp) / "out"
        _fleet(tree, args.sites)
        files = sum(1 for p in tree.rglob("*") if p.is_file())
        print(f"{args.sites} sites, {files} files, {args.rounds} full reconcile(s) per mode")
        rows = {
            "no filter": measure(tree, out / "a", filtered=False, rounds=args.rounds),
            "WATCHED_EVENTS": measure(tree, out / "b", filtered=True, rounds=args.rounds),
        }
    print(f"{'watch':<16} {'events':>8} {'overflows':>10} {'batches':>8} {'seconds':>8}")
    for name, row in rows.items():
        print(
            f"{name:<16} {row['events']:>8} {row['overflows']:>10} "
            f"{row['batches']:>8} {row['seconds']:>8}"
        )
    plain, filtered = rows["no filter"], rows["WATCHED_EVENTS"]
    print(
        f"events seen: {plain['events']} without the filter, {filtered['events']} with it "
        f"(ratio {plain['events'] / max(1, filtered['events']):.0f}:1, divisor floored at 1); "
        f"overflows with the filter: {filtered['overflows']}"
    )
    return 0 if filtered["overflows"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
