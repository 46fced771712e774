"""Run the daemon in-process or as a subprocess, and wait on it without fixed sleeps.

Daemon tests are about *when* things happen, so every wait is a poll against a
deadline: fast on an idle machine, still correct on a loaded 2-core CI runner.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gitops_edge.daemon.config import RunOptions
from gitops_edge.daemon.controller import Record
from gitops_edge.daemon.queue import Backoff
from gitops_edge.daemon.runner import Runner
from gitops_edge.live.client import KubeClient

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(cond: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """``cond()``'s first truthy value; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def daemon_options(repo: str, tmp: Path, **kw: Any) -> RunOptions:
    """Options for a test daemon: no timer polls (tests ask), fast retries, any free port."""
    base: dict[str, Any] = {
        "repo": repo,
        "emit": f"dir:{tmp / 'out'}",
        "cache_dir": tmp / "cache",
        "poll_interval": 3600.0,
        "resync_interval": 0.0,
        "host": "127.0.0.1",
        "port": 0,
        "retry": Backoff(base=0.2, cap=1.0),
        "debounce": 0.2,
    }
    base.update(kw)
    return RunOptions(**base)


class InProcess:
    """A :class:`Runner` on a thread; leaving the ``with`` block stops it like SIGTERM."""

    def __init__(self, opts: RunOptions, *, kube: KubeClient | None = None) -> None:
        self.runner = Runner(opts, kube=kube)
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, name="daemon-under-test", daemon=True)

    def _run(self) -> None:
        self.exit_code = self.runner.run()

    def __enter__(self) -> InProcess:
        self._thread.start()
        wait_for(lambda: self.runner.active, what="the daemon to start reconciling")
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()
        self._thread.join(60)
        assert not self._thread.is_alive(), "daemon did not stop"
        assert self.exit_code == 0

    @property
    def records(self) -> list[Record]:
        return list(self.runner.controller.records)

    def wait_record(
        self, pred: Callable[[Record], bool], *, after: int = 0, timeout: float = 30.0
    ) -> Record:
        """The first reconcile record (from index ``after``) matching ``pred``."""

        def find() -> Record | None:
            return next((r for r in self.records[after:] if pred(r)), None)

        found = wait_for(find, timeout=timeout, what="a matching reconcile")
        assert found is not None
        return found

    def poll(self) -> None:
        """Ask for one poll and wait until it has been handed over."""
        poller = self.runner.poller
        assert poller is not None
        done = poller.completed
        assert self.runner.request_poll()
        wait_for(lambda: poller.completed > done, what="the poll to finish")

    def settle(self) -> None:
        """Wait until the queue is empty and no worker is busy."""
        wait_for(lambda: self.runner.queue.idle(), what="the queue to drain")


def mtimes(root: Path) -> dict[str, int]:
    """Every file below ``root`` with its mtime in ns (what a dir sink touched)."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def http(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """(status, body) of one request; HTTP errors are answers, not exceptions.

    A refused connection (a daemon still starting its server) is status 0, so a
    ``wait_for`` polling it keeps waiting instead of failing.
    """
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - test URLs
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def metric(port: int, name: str) -> float:
    """One sample's value from ``/metrics`` (0.0 when absent)."""
    _status, text = http("GET", f"http://127.0.0.1:{port}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Spawned:
    """``python -m gitops_edge ARGS`` as a user starts it; stderr (the JSON log) to a file."""

    def __init__(self, *args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        full_env.pop("KUBERNETES_SERVICE_HOST", None)
        self.log_path = cwd / f"daemon-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitops_edge", *map(str, args)],
                cwd=cwd,
                env=full_env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int, *, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"daemon ignored signal {sig}:\n{self.log()[-3000:]}") from None

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
