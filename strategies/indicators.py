"""Small incremental indicators: O(1) work per update (amortised for Donchian), plain Python.

Prices enter as integers of 1e-6 (`to_units`), so every sum is exact: averages are compared
by cross-multiplying integer sums, never by dividing floats, and a rolling sum never drifts.
The references these are held to live in `tests/unit/strategies/test_indicators.py`.
"""

from __future__ import annotations

import math
from collections import deque

from engine.errors import InvalidInput

PRICE_SCALE = 1_000_000
"""Prices are handled as integers of 1/PRICE_SCALE (micro units)."""


def to_units(price: float) -> int:
    """`price` as an integer number of 1e-6 units: round(price * 1e6)."""
    if not math.isfinite(price):
        raise InvalidInput("price", price, "must be finite")
    return round(price * PRICE_SCALE)


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


class RollingSum:
    """Exact sum of the last `window` integers; `ready` once `window` values were seen.

    The simple moving average is `total / window`; compare two averages with
    `a.total * b.window` against `b.total * a.window`.
    """

    __slots__ = ("window", "total", "ready", "_values")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise InvalidInput("window", window, "must be >= 1")
        self.window = window
        self.total = 0
        self.ready = False     # an attribute, not a property: read on every bar
        self._values: deque[int] = deque()

    def update(self, value: int) -> None:
        values = self._values
        values.append(value)
        self.total += value
        if self.ready:
            self.total -= values.popleft()
        elif len(values) == self.window:
            self.ready = True

    @property
    def mean(self) -> float:
        """The average in price units (not micro units); only meaningful when ready."""
        return self.total / (self.window * PRICE_SCALE)


class RollingMeanStd:
    """Rolling mean and population standard deviation of the last `window` integers.

    Keeps the exact integer sum S and sum of squares Q, so n^2 * variance = n*Q - S^2 is
    exact and never negative, however long the series.
    """

    __slots__ = ("window", "_sum", "_sumsq", "_values")

    def __init__(self, window: int) -> None:
        if window < 2:
            raise InvalidInput("window", window, "must be >= 2")
        self.window = window
        self._sum = 0
        self._sumsq = 0
        self._values: deque[int] = deque()

    def update(self, value: int) -> None:
        self._values.append(value)
        self._sum += value
        self._sumsq += value * value
        if len(self._values) > self.window:
            old = self._values.popleft()
            self._sum -= old
            self._sumsq -= old * old

    @property
    def ready(self) -> bool:
        return len(self._values) == self.window

    @property
    def mean(self) -> float:
        return self._sum / (self.window * PRICE_SCALE)

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0) in price units."""
        n = self.window
        return math.sqrt(n * self._sumsq - self._sum * self._sum) / (n * PRICE_SCALE)

    def zscore(self, value: int) -> float | None:
        """(value - mean) / std over the current window; None when the window is flat.

        Computed as (n*value - S) / sqrt(n*Q - S^2): an exact numerator and radicand, so
        z is exactly 0.0 when value equals the mean.
        """
        n = self.window
        radicand = n * self._sumsq - self._sum * self._sum
        if radicand <= 0:
            return None
        return (n * value - self._sum) / math.sqrt(radicand)


class Donchian:
    """Highest high and lowest low of the last `window` updates (monotonic deques)."""

    __slots__ = ("window", "_count", "_highs", "_lows")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise InvalidInput("window", window, "must be >= 1")
        self.window = window
        self._count = 0
        self._highs: deque[tuple[int, float]] = deque()   # decreasing highs
        self._lows: deque[tuple[int, float]] = deque()    # increasing lows

    def update(self, high: float, low: float) -> None:
        i = self._count
        self._count += 1
        while self._highs and self._highs[-1][1] <= high:
            self._highs.pop()
        self._highs.append((i, high))
        while self._lows and self._lows[-1][1] >= low:
            self._lows.pop()
        self._lows.append((i, low))
        oldest = i - self.window + 1
        if self._highs[0][0] < oldest:
            self._highs.popleft()
        if self._lows[0][0] < oldest:
            self._lows.popleft()

    @property
    def ready(self) -> bool:
        return self._count >= self.window

    @property
    def highest(self) -> float:
        return self._highs[0][1]

    @property
    def lowest(self) -> float:
        return self._lows[0][1]


class CrossOver:
    """backtrader's CrossOver on the sign of a difference, fed one sign per bar.

    The first update seeds the last non-zero difference (even with 0) and never crosses.
    Afterwards: +1 when the last non-zero difference before this bar was negative and this
    one is positive, -1 mirrored, else 0. A zero difference keeps the previous state.
    """

    __slots__ = ("_last", "_seeded")

    def __init__(self) -> None:
        self._last = 0
        self._seeded = False

    def update(self, diff_sign: int) -> int:
        if not self._seeded:
            self._seeded = True
            self._last = diff_sign
            return 0
        cross = 0
        if self._last < 0 < diff_sign:
            cross = 1
        elif self._last > 0 > diff_sign:
            cross = -1
        if diff_sign:
            self._last = diff_sign
        return cross
