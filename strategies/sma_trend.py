"""Trend filter: long while the close is above its simple moving average.

Compared exactly (close * period against the integer sum of the window); a close equal to
the average changes nothing. Signals only on changes; the initial state is FLAT.
"""

from __future__ import annotations

from functools import partial

from engine.enums import SignalSide
from engine.messages import Bar
from strategies.base import PerSymbol, Strategy
from strategies.config import SmaTrendConfig
from strategies.indicators import RollingSum, to_units


class SmaTrend(Strategy[SmaTrendConfig]):
    """LONG when the close rises above SMA(period), FLAT when it falls below."""

    def on_start(self) -> None:
        self._sma = PerSymbol(partial(RollingSum, self.config.period))
        self._side: dict[str, SignalSide] = {}

    def on_bar(self, bar: Bar) -> None:
        sma = self._sma[bar.symbol]
        price = to_units(bar.close)
        sma.update(price)
        if not sma.ready:
            return
        above = price * sma.window - sma.total
        side = self._side.get(bar.symbol, SignalSide.FLAT)
        target = SignalSide.LONG if above > 0 else SignalSide.FLAT if above < 0 else side
        if target is not side:
            self._side[bar.symbol] = target
            self.emit(bar.symbol, target, tag="above_sma" if above > 0 else "below_sma")
