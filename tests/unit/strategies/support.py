"""Helpers shared by the strategy tests: building bars and running a strategy over them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.clock import SimClock
from engine.enums import SignalSide
from engine.messages import Bar, Signal
from strategies.base import Strategy, StrategyHost
from strategies.registry import create_strategy

DAY_NS = 86_400 * 1_000_000_000
LONG, SHORT, FLAT = SignalSide.LONG, SignalSide.SHORT, SignalSide.FLAT


def make_bars(closes: Sequence[float], highs: Sequence[float] | None = None,
              lows: Sequence[float] | None = None, symbol: str = "TEST") -> list[Bar]:
    """One daily bar per close; high/low default to the close."""
    highs = closes if highs is None else highs
    lows = closes if lows is None else lows
    return [Bar(symbol, c, h, lo, c, 1.0, (i + 1) * DAY_NS, (i + 1) * DAY_NS)
            for i, (c, h, lo) in enumerate(zip(closes, highs, lows, strict=True))]


def run(strategy: Strategy, bars: Iterable[Bar]) -> list[tuple[int, Signal]]:
    """(bar index, signal) for every signal the guarded strategy emits over `bars`."""
    host = StrategyHost(strategy)
    out = [(-1, s) for s in host.start()]
    for i, bar in enumerate(bars):
        out.extend((i, s) for s in host.bar(bar))
    assert host.failure is None, host.failure
    return out


def run_named(name: str, bars: Sequence[Bar], **params: object) -> list[tuple[int, SignalSide]]:
    """(bar index, side) of registered strategy `name` run over `bars` with `params`."""
    strategy = create_strategy(name, f"test-{name}", params, clock=SimClock())
    return [(i, s.side) for i, s in run(strategy, bars)]
