"""Progress on stderr: a bar on a terminal (a real pty), lines in a log, nothing with -q."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from gitops_edge.progress import Progress, Step
from tests.builders import province, write_site

pytestmark = pytest.mark.e2e


def _run_on_pty(*args: str | Path) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in an operator's shell)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=dict(os.environ),
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s: {seen!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=30), out, seen.decode(errors="replace")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "ops"
    for site in ("gd", "hn", "js"):
        write_site(root, site, province(site))
    return root


def test_render_on_a_terminal_shows_a_bar(repo: Path, tmp_path: Path) -> None:
    rc, out, tty = _run_on_pty("render", repo, "--out", tmp_path / "out")
    assert rc == 0, tty
    assert "gitops-edge render: loading" in tty and "gitops-edge render: rendering" in tty
    assert "0/3" in tty and "site/s" in tty  # tqdm's count and rate
    assert "\r" in tty  # redrawn in place, not line after line
    assert out.endswith(
        "3 of 3 site(s) rendered into " + str(tmp_path / "out") + " at unversioned\n"
    )


def test_quiet_prints_no_progress(repo: Path, tmp_path: Path) -> None:
    rc, out, tty = _run_on_pty("render", repo, "--out", tmp_path / "out", "-q")
    assert rc == 0 and tty == "" and "3 of 3 site(s) rendered" in out


def test_off_a_terminal_a_line_every_interval_and_only_for_long_steps() -> None:
    now = [0.0]
    log = io.StringIO()
    step = Step("render", "rendering", 3000, stream=log, tty=False, every=10, clock=lambda: now[0])
    for _ in range(1200):
        step()
    assert log.getvalue() == ""  # under 10 s: nothing
    now[0] = 12.0
    step()
    now[0] = 13.0
    step(299)
    now[0] = 25.0
    step(1500)
    step.close()
    assert log.getvalue().splitlines() == [
        "gitops-edge render: rendering 1 201/3 000 site(s) (40%), 12 s",
        "gitops-edge render: rendering 3 000/3 000 site(s) (100%), 25 s",
        "gitops-edge render: rendering: 3 000 site(s) in 25 s",
    ]
    quick = io.StringIO()
    short = Step("plan", "loading", 10, stream=quick, tty=False, clock=lambda: 0.0)
    short(10)
    short.close()
    assert quick.getvalue() == ""


def test_quiet_progress_ignores_ticks() -> None:
    log = io.StringIO()
    with Progress("validate", quiet=True, stream=log) as progress:
        tick = progress.counter("loading", 5)
        for _ in range(5):
            tick()
    assert log.getvalue() == ""
