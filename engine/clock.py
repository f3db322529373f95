"""Clocks: one interface, live wall time or simulated time driven by the data."""

from __future__ import annotations

import math
import numbers
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
        self._now = _as_ns("start_ns", start_ns)

    def now_ns(self) -> int:
        return self._now

    def set_ns(self, ts_ns: int) -> None:
        """Move to `ts_ns`. Time never goes backwards."""
        if type(ts_ns) is int and ts_ns >= self._now:   # the common case, once per bar
            self._now = ts_ns
            return
        ts = _as_ns("ts_ns", ts_ns)
        if ts < self._now:
            raise InvalidInput("ts_ns", ts_ns, f"is before the clock's time {self._now}")
        self._now = ts

    def advance(self, seconds: float) -> int:
        if not _is_real(seconds) or not math.isfinite(seconds):
            raise InvalidInput("seconds", seconds, "must be a finite number")
        if seconds < 0:
            raise InvalidInput("seconds", seconds, "must be >= 0")
        self._now += int(round(seconds * NANOS_PER_SECOND))
        return self._now


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _as_ns(name: str, value: object) -> int:
    """`value` as an int; numpy integers and finite floats (truncated) are accepted."""
    if type(value) is int:  # the common case, kept fast
        return value
    if not _is_real(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidInput(name, value, "must be an integer number of nanoseconds")
    return int(value)  # type: ignore[call-overload]
