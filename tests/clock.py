"""A clock tests set by hand: wall time and monotonic time move together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """``now()`` and ``monotonic()`` for code that takes its clocks as values."""

    def __init__(self, start: datetime = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)) -> None:
        self.wall = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
