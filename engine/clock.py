"""Clocks: one interface, live wall time or simulated time driven by the data."""

from __future__ import annotations

import time
from typing import Protocol

from engine.errors import InvalidInput

NANOS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time as integer nanoseconds since the Unix epoch (UTC)."""
        ...


class LiveClock:
    """Wall-clock time."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Time that moves only when told to: backtests, replays and deterministic tests."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def set_ns(self, ts_ns: int) -> None:
        """Move to `ts_ns`. Time never goes backwards."""
        if ts_ns < self._now:
            raise InvalidInput("ts_ns", ts_ns, f"is before the clock's time {self._now}")
        self._now = int(ts_ns)

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise InvalidInput("seconds", seconds, "must be >= 0")
        self._now += int(round(seconds * NANOS_PER_SECOND))
        return self._now
