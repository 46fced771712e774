"""The ops repo's Git server misbehaves: the daemon holds the last good state and heals itself.

The daemon runs in-process (``Runner`` on a thread, the same one ``gitops-edge run``
builds) and follows a real smart-HTTP remote (:mod:`tests.reliability.gitserver`, in
front of ``git http-backend``) that the test turns slow, down, refusing, dropping
connections, answering garbage or cutting a pack download in half. Polls come from the
daemon's own schedule (``poll_interval`` 0.2 s), never from the test, so recovery is
the daemon's doing. For every fault:

* the directory sink's output is byte-for-byte and mtime-for-mtime unchanged (nothing
  written, nothing deleted) and the last good commit is still the one served;
* each failure is counted (``gitops_edge_git_errors_total`` on ``/metrics``) and logged
  with the commit still served;
* the source backs off: the schedule keeps asking every 0.2 s, but the remote is only
  contacted again after 1 s, then 2 s, then 4 s (``GitSource`` backoff, 1 s doubling
  to 5 min), also once the server is healthy again;
* once the server is healthy, the commit pushed during the outage is reconciled
  without anyone asking, and it touches only its own site.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gitops_edge.daemon.queue import ALL
from gitops_edge.daemon.source import GitSource
from tests.daemon.gitremote import OpsRemote, apps
from tests.daemon.harness import InProcess, daemon_options, http, metric, mtimes, wait_for
from tests.reliability.gitserver import GitHTTPServer

pytestmark = [pytest.mark.e2e]

SITES = {"beijing", "guangdong", "guangdong-shenzhen-1"}
GIT_TIMEOUT = 3.0
"""The daemon's per-git-call timeout in these tests (120 s in production)."""


def files(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file below ``root``: (mtime ns, bytes)."""
    stamps = mtimes(root)
    return {rel: (stamps[rel], (root / rel).read_bytes()) for rel in sorted(stamps)}


@dataclass(frozen=True)
class Tick:
    """The source's counters when its error count moved."""

    at: float
    errors: int
    failures: int
    """Failures in a row so far: the source waits ``backoff.delay(failures)`` before the next."""
    git_calls: int
    polls: int


def watch_errors(d: InProcess, source: GitSource, n: int, *, timeout: float) -> list[Tick]:
    """Wait until ``source`` failed ``n`` more times; a :class:`Tick` at each failure."""
    poller = d.runner.poller
    assert poller is not None
    ticks: list[Tick] = []
    start = source.errors
    deadline = time.monotonic() + timeout
    seen = start
    while len(ticks) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {n} git errors (saw {len(ticks)})")
        if source.errors != seen:
            seen = source.errors
            time.sleep(0.005)  # let the poller finish its bookkeeping (failures after errors)
            ticks.append(
                Tick(time.monotonic(), seen, source.failures, source.git_calls, poller.polls)
            )
        time.sleep(0.01)
    return ticks


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "failures"),
    [
        ("unavailable", 3),  # three failures in a row show the doubling: 1 s, then 2 s
        ("refused", 1),
        ("drop", 1),
        ("garbage", 1),
        ("truncated_fetch", 1),
        ("slow", 1),
    ],
)
def test_a_failing_git_server_keeps_the_last_good_state_backs_off_and_recovers(
    fault: str, failures: int, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path)
    out = tmp_path / "out"
    with GitHTTPServer(tmp_path, delay=60.0) as server:
        opts = daemon_options(server.url("ops.git"), tmp_path, poll_interval=0.2)
        daemon = InProcess(opts)
        source = daemon.runner.source
        assert isinstance(source, GitSource)
        source.timeout = GIT_TIMEOUT
        with capture_logs() as logs, daemon as d:
            first = d.wait_record(lambda r: r.batch == (ALL,) and not r.failed)
            assert set(first.emitted) == SITES
            d.settle()
            good = remote.head()
            assert source.served == good
            before = files(out)

            server.fail(fault)
            remote.write_site("beijing", applications=apps("pushed-during-the-outage"))
            pushed = remote.commit("a change pushed while the server is failing")
            n = len(d.records)
            ticks = watch_errors(d, source, failures, timeout=60)

            # the last good state is kept: nothing written, nothing deleted
            assert source.served == good and source.last_error
            assert files(out) == before
            assert not any(r.revision == pushed for r in d.records[n:])
            # counted, exported and logged
            assert d.runner.metrics.git_errors._value.get() >= len(ticks)
            assert d.runner.http is not None
            assert metric(d.runner.http.port, "gitops_edge_git_errors_total") >= len(ticks)
            warnings = [
                e
                for e in logs
                if e["event"] == "cannot read the ops repo; serving the last good commit"
            ]
            assert len(warnings) >= len(ticks)
            assert all(w["revision"] == good and w["error"] for w in warnings)
            assert all("127.0.0.1" in w["error"] for w in warnings)  # says which remote
            # backed off: asked every 0.2 s, the remote is contacted again only after
            # 1 s, then 2 s (the failure before the first tick may predate the watch)
            for a, b in itertools.pairwise(ticks):
                wait = source.backoff.delay(a.failures)
                assert wait == 2.0 ** (a.failures - 1) and b.failures == a.failures + 1
                assert b.at - a.at >= 0.8 * wait, (fault, ticks)
                assert b.git_calls - a.git_calls <= 2, (fault, ticks)  # one attempt
                assert b.polls - a.polls >= 3, (fault, ticks)  # the schedule kept asking
            assert d.runner.active and d.runner._healthy()

            server.heal()
            # healthy again, but the remote is left alone until the backoff is over
            last = ticks[-1]
            poller = d.runner.poller
            assert poller is not None
            wait_for(lambda: source.git_calls > last.git_calls, timeout=30, what="a new attempt")
            again = time.monotonic()
            wait = source.backoff.delay(last.failures)
            assert again - last.at >= 0.8 * wait, (fault, ticks, again)
            assert poller.polls - last.polls >= 3, (fault, ticks)  # asked meanwhile
            rec = d.wait_record(lambda r: r.revision == pushed, after=n, timeout=60)
            assert rec.batch == rec.emitted == ("beijing",) and not rec.failed
            d.settle()
            after = files(out)
            changed = {
                k.split("/")[0]
                for k in before.keys() | after.keys()
                if before.get(k) != after.get(k)
            }
            assert changed == {"beijing"}
            assert "pushed-during-the-outage" in "".join(
                p.read_text() for p in (out / "beijing").iterdir()
            )
            assert source.failures == 0 and source.last_error == ""


def test_a_push_webhook_during_a_backoff_fetches_at_once(tmp_path: Path) -> None:
    """The remote was down long enough for a long backoff; a verified push cuts it short.

    The push proves the remote answers again, so the commit it announces is fetched
    now, not when a 30 s backoff (here: after failures that would wait 16 s and more)
    is over.
    """
    remote = OpsRemote(tmp_path)
    secret = b"whsec-backoff"
    with GitHTTPServer(tmp_path) as server:
        opts = daemon_options(server.url("ops.git"), tmp_path, poll_interval=0.2,
                              webhook_secret=secret)  # fmt: skip
        daemon = InProcess(opts)
        source = daemon.runner.source
        assert isinstance(source, GitSource)
        source.timeout = GIT_TIMEOUT
        with daemon as d:
            d.wait_record(lambda r: r.batch == (ALL,) and not r.failed)
            d.settle()
            server.fail("unavailable")
            watch_errors(d, source, 1, timeout=30)
            source.failures = 6  # as after a long outage: the next attempt 32 s away
            source._retry_at = time.monotonic() + source.backoff.delay(6)
            assert source.backing_off
            server.heal()
            pushed = remote.write_site("beijing", applications=apps("after-the-outage"))
            assert pushed
            sha = remote.commit("pushed as the server came back")
            n = len(d.records)
            body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
            assert d.runner.http is not None
            status, _ = http(
                "POST", f"http://127.0.0.1:{d.runner.http.port}/webhook", body=body,
                headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret.decode()},
            )  # fmt: skip
            assert status == 202
            sent = time.monotonic()
            d.wait_record(lambda r: r.revision == sha, after=n, timeout=20)
            assert time.monotonic() - sent < 10
            assert not source.backing_off and source.failures == 0
