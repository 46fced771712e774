"""Progress of a long run on stderr: a bar on a terminal, a line now and then in a log.

At 3 000 sites ``validate``, ``render``, ``plan`` and ``apply`` take tens of seconds;
silence for that long looks like a hang. On a terminal a tqdm bar shows the step, the
count, the rate and the time left (tqdm keeps to one line, follows the terminal's
width and cleans up after itself: more than is worth writing by hand). Anywhere else
(CI logs, pipes) a bar's carriage returns are noise, so a plain line is written every
``every`` seconds, and only once a step has run that long: a short run prints nothing.
``-q`` turns both off. Output stays on stdout, untouched.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

EVERY = 10.0
"""Seconds between two progress lines when stderr is not a terminal."""


def _width(stream: TextIO) -> int:
    """The terminal's columns; 0 when it reports none (a fresh pty, some CI terminals)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 0


def _count(n: int) -> str:
    return f"{n:,}".replace(",", " ")


class Step:
    """One counted step (``loading``, ``rendering``...) of a command."""

    def __init__(
        self,
        command: str,
        label: str,
        total: int,
        *,
        stream: TextIO,
        tty: bool,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefix = f"gitops-edge {command}: {label}"
        self.total = total
        self.done = 0
        self.stream = stream
        self.every = every
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.printed = False
        self.bar: Any = None
        if tty:
            from tqdm import tqdm  # only on a terminal: a pipe or a log never pays for it

            self.bar = tqdm(
                total=total,
                desc=self.prefix,
                unit="site",
                file=stream,
                leave=False,
                dynamic_ncols=_width(stream) > 0,
                ncols=None if _width(stream) > 0 else 80,
                nrows=None if _width(stream) > 0 else 24,
                mininterval=0.1,
            )

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.printed = True
            pct = f" ({100 * self.done // self.total}%)" if self.total else ""
            self.stream.write(
                f"{self.prefix} {_count(self.done)}/{_count(self.total)} site(s){pct}, "
                f"{now - self.started:.0f} s\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.printed:
            self.stream.write(
                f"{self.prefix}: {_count(self.done)} site(s) in {self.clock() - self.started:.0f} s\n"
            )
            self.stream.flush()


class Progress:
    """The steps of one command; ``step(label)(total)`` is the callback the core takes.

    Steps are closed when the next one starts and when the command ends (``close``).
    """

    def __init__(
        self,
        command: str,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        every: float = EVERY,
    ) -> None:
        self.command = command
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self.current: Step | None = None

    def step(self, label: str) -> Callable[[int], Callable[[int], None]]:
        """``step("rendering")(total)`` starts the step and returns its per-site callback."""

        def start(total: int) -> Callable[[int], None]:
            self.close()
            if self.quiet:
                return _ignore
            self.current = Step(
                self.command, label, total, stream=self.stream, tty=self.tty, every=self.every
            )
            return self.current

        return start

    def sites(self, label: str) -> Callable[[int], Callable[[], None]]:
        """``step`` for a core function that calls back once per site with no argument."""
        return lambda total: self.counter(label, total)

    def counter(self, label: str, total: int) -> Callable[[], None]:
        """A per-site callback taking no argument (``load_sites``, ``render_repo``)."""
        tick = self.step(label)(total)
        return lambda: tick(1)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _ignore(_n: int = 1) -> None:
    return None


def add_quiet_arg(p: Any) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on stderr (errors still go there)"
    )
