"""Donchian channel breakout.

The channels cover the bars before the current one. A close above the entry channel's
highest high targets LONG; a close below its lowest low targets SHORT if `allow_short`,
else FLAT. With `exit_window`, a second channel also closes a position early: a LONG goes
FLAT on a close below its lowest low, a SHORT on a close above its highest high.
Signals only on changes; the initial state is FLAT.
"""

from __future__ import annotations

from functools import partial

from engine.enums import SignalSide
from engine.messages import Bar
from strategies.base import PerSymbol, Strategy
from strategies.config import BreakoutConfig
from strategies.indicators import Donchian


class _Book:
    __slots__ = ("entry", "exit", "side")

    def __init__(self, window: int, exit_window: int | None) -> None:
        self.entry = Donchian(window)
        self.exit = Donchian(exit_window) if exit_window else None
        self.side = SignalSide.FLAT


class Breakout(Strategy[BreakoutConfig]):
    """Follow closes that break out of the recent range."""

    def on_start(self) -> None:
        self._books = PerSymbol(partial(_Book, self.config.window, self.config.exit_window))

    def on_bar(self, bar: Bar) -> None:
        book, close = self._books[bar.symbol], bar.close
        target, ext = book.side, book.exit
        if book.entry.ready and close > book.entry.highest:
            target = SignalSide.LONG
        elif book.entry.ready and close < book.entry.lowest:
            target = SignalSide.SHORT if self.config.allow_short else SignalSide.FLAT
        elif ext is not None and ext.ready and (
                (target is SignalSide.LONG and close < ext.lowest)
                or (target is SignalSide.SHORT and close > ext.highest)):
            target = SignalSide.FLAT
        book.entry.update(bar.high, bar.low)
        if ext is not None:
            ext.update(bar.high, bar.low)
        if target is not book.side:
            book.side = target
            self.emit(bar.symbol, target,
                      tag="exit" if target is SignalSide.FLAT else "breakout")
