"""The ops repo's token and the webhook secret appear in no argv, environment, file, log or metric.

A real git smart-HTTP remote on loopback (``git http-backend``) requires HTTP Basic
credentials. ``git`` on the daemon's PATH is a wrapper that records the argv and the
whole environment of every git child before running the real git, and the test samples
``/proc/<pid>/cmdline`` and ``/proc/<pid>/environ`` of the daemon's descendants while it
works. Two ways of giving the credential are checked:

* ``--git-credentials-file`` (a mounted Secret in ``deploy/``): the token is nowhere but
  in that file and the daemon's memory;
* ``--repo http://user:token@host/...``: the daemon's own argv holds what the operator
  typed (it warns about it), but no git child's argv or environment, no file of the
  clone cache (``.git/config``), log line or metric does.

The webhook secret comes from ``GITOPS_EDGE_WEBHOOK_SECRET``; no child inherits it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import Spawned, free_port, http, metric, wait_for
from tests.reliability.gitserver import GitHTTPServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USER = "deploy-bot"
TOKEN = "glpat-Cred3ntialT0ken7a6b5c"
WEBHOOK_SECRET = "whsec-Cred3ntial-4d3c2b1a"
SECRETS = (TOKEN, base64.b64encode(f"{USER}:{TOKEN}".encode()).decode(), WEBHOOK_SECRET)


def wrap_git(tmp: Path) -> tuple[Path, Path]:
    """A ``git`` that logs argv and environment of each call, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    bindir, logdir = tmp / "bin", tmp / "git-calls"
    bindir.mkdir()
    logdir.mkdir()
    script = bindir / "git"
    script.write_text(
        "#!/bin/sh\n"
        f'log="{logdir}/call-$$"\n'
        '{ printf "%s\\0" "$@"; printf "\\n--env--\\n"; env -0; } > "$log"\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return bindir, logdir


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (by /proc/*/stat parent ids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                frontier.append(child)
    return found


class ProcScanner:
    """Samples argv and environment of the daemon's process tree until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.argv: dict[int, bytes] = {}
        self.environ: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in descendants(self.pid):
                try:
                    self.argv[p] = (Path("/proc") / str(p) / "cmdline").read_bytes()
                    if p != self.pid:
                        self.environ[p] = (Path("/proc") / str(p) / "environ").read_bytes()
                except OSError:
                    continue
            self._stop.wait(0.01)


def hits(data: bytes | str) -> list[str]:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return [s for s in SECRETS if s in text]


def tree_hits(root: Path) -> dict[str, list[str]]:
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found = hits(path.read_bytes())
            if found:
                out[str(path.relative_to(root))] = found
    return out


@pytest.mark.parametrize("how", ["credentials-file", "url-userinfo"])
def test_token_and_webhook_secret_reach_no_argv_environment_file_log_or_metric(
    tmp_path: Path, how: str
) -> None:
    remote = OpsRemote(tmp_path)
    bindir, calls = wrap_git(tmp_path)
    port = free_port()
    with GitHTTPServer(tmp_path, auth=(USER, TOKEN)) as server:
        extra: list[str | Path] = []
        if how == "credentials-file":
            creds = tmp_path / "secret" / "git-credentials"
            creds.parent.mkdir()
            repo = server.url("ops.git")
            creds.write_text(f"http://{USER}:{TOKEN}@{urlsplit(repo).netloc}\n")
            extra = ["--git-credentials-file", creds]
        else:
            repo = server.url("ops.git", userinfo=f"{USER}:{TOKEN}")
        env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
               "GITOPS_EDGE_WEBHOOK_SECRET": WEBHOOK_SECRET}  # fmt: skip
        daemon = Spawned(
            "run", "--repo", repo, *extra, "--emit", f"dir:{tmp_path / 'out'}",
            "--cache-dir", tmp_path / "cache", "--listen", f"127.0.0.1:{port}",
            "--poll-interval", "0.3", "--log-level", "debug", cwd=tmp_path, env=env,
        )  # fmt: skip
        with daemon, ProcScanner(daemon.proc.pid) as scan:
            out = tmp_path / "out"
            wait_for(lambda: (out / "beijing").is_dir(), timeout=60,
                     what=f"the first render through the authenticated remote ({daemon.log_path})")  # fmt: skip
            remote.write_site("hebei")
            remote.commit("hebei", push=True)
            body = json.dumps({"ref": "refs/heads/main", "after": remote.head()}).encode()
            status, _ = http("POST", f"http://127.0.0.1:{port}/webhook", body=body,
                             headers={"X-Gitlab-Event": "Push Hook",
                                      "X-Gitlab-Token": WEBHOOK_SECRET})  # fmt: skip
            assert status == 202
            wait_for(lambda: (out / "hebei").is_dir(), timeout=30, what="the pushed commit")
            metrics = http("GET", f"http://127.0.0.1:{port}/metrics")[1]
            assert metric(port, "gitops_edge_git_errors_total") == 0
            daemon_argv = (Path("/proc") / str(daemon.proc.pid) / "cmdline").read_bytes()
            assert daemon.stop(signal.SIGTERM) == 0
        log = daemon.log()
    assert any(r.status == 200 for r in server.requests)  # authenticated, really

    git_calls = sorted(calls.iterdir())
    assert len(git_calls) >= 3, "the git wrapper saw no calls"
    for call in git_calls:
        argv, _, environ = call.read_bytes().partition(b"\n--env--\n")
        assert not hits(argv), f"{call.name} argv: {argv!r}"
        assert not hits(environ), f"{call.name} environment leaks {hits(environ)}"
        assert b"GITOPS_EDGE_WEBHOOK_SECRET" not in environ
    assert scan.environ, "no child process was sampled"
    for pid, data in {**scan.argv, **scan.environ}.items():
        if pid != daemon.proc.pid:
            assert not hits(data), f"process {pid}: {data[:300]!r}"
    if how == "credentials-file":
        assert not hits(daemon_argv)
    assert tree_hits(tmp_path / "cache") == {}
    assert tree_hits(tmp_path / "out") == {}
    assert not hits(log), f"the log leaks {hits(log)}"
    assert not hits(metrics)
    assert "127.0.0.1" in log  # the (clean) URL was logged: the check is not vacuous
    if how == "url-userinfo":
        assert "credentials in --repo are visible" in log
