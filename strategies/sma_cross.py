"""Simple moving-average crossover of the close (backtrader CrossOver semantics).

A cross up is when the last non-zero fast-minus-slow difference before this bar was
negative and this bar's is positive; a cross down mirrors it. The difference is decided in
exact arithmetic: prices as integers of 1e-6, sum_fast * slow compared with
sum_slow * fast. The state starts on the first bar where both averages exist (index
slow - 1), so the first bar that can signal is index `slow`.
"""

from __future__ import annotations

from functools import partial

from engine.enums import SignalSide
from engine.messages import Bar
from strategies.base import PerSymbol, Strategy
from strategies.config import SmaCrossConfig
from strategies.indicators import CrossOver, RollingSum, sign, to_units


class _Book:
    __slots__ = ("fast", "slow", "cross")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast, self.slow, self.cross = RollingSum(fast), RollingSum(slow), CrossOver()


class SmaCross(Strategy[SmaCrossConfig]):
    """LONG on a cross up; FLAT (SHORT if `allow_short`) on a cross down."""

    def on_start(self) -> None:
        self._books = PerSymbol(partial(_Book, self.config.fast, self.config.slow))

    def on_bar(self, bar: Bar) -> None:
        book = self._books[bar.symbol]
        fast, slow = book.fast, book.slow
        price = to_units(bar.close)
        fast.update(price)
        slow.update(price)
        if not slow.ready:
            return
        cross = book.cross.update(sign(fast.total * slow.window - slow.total * fast.window))
        if cross > 0:
            self.emit(bar.symbol, SignalSide.LONG, tag="cross_up")
        elif cross < 0:
            down = SignalSide.SHORT if self.config.allow_short else SignalSide.FLAT
            self.emit(bar.symbol, down, tag="cross_down")
