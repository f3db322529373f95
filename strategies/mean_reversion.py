"""Mean reversion on the z-score of the close.

z = (close - mean) / std over the last `window` closes, current one included, population
std. Each bar: z <= -entry_z targets LONG; z >= entry_z targets SHORT if `allow_short`;
|z| <= exit_z targets FLAT; otherwise the position is held. A flat window (std 0) holds.
Signals only on changes; the initial state is FLAT.
"""

from __future__ import annotations

from functools import partial

from engine.enums import SignalSide
from engine.messages import Bar
from strategies.base import PerSymbol, Strategy
from strategies.config import MeanReversionConfig
from strategies.indicators import RollingMeanStd, to_units


class MeanReversion(Strategy[MeanReversionConfig]):
    """Buy stretched-down closes, sell stretched-up ones, exit near the mean."""

    def on_start(self) -> None:
        self._stats = PerSymbol(partial(RollingMeanStd, self.config.window))
        self._side: dict[str, SignalSide] = {}

    def on_bar(self, bar: Bar) -> None:
        cfg, stats = self.config, self._stats[bar.symbol]
        price = to_units(bar.close)
        stats.update(price)
        z = stats.zscore(price) if stats.ready else None
        if z is None:
            return
        side = target = self._side.get(bar.symbol, SignalSide.FLAT)
        if z <= -cfg.entry_z:
            target = SignalSide.LONG
        elif z >= cfg.entry_z and cfg.allow_short:
            target = SignalSide.SHORT
        elif abs(z) <= cfg.exit_z:
            target = SignalSide.FLAT
        if target is not side:
            self._side[bar.symbol] = target
            self.emit(bar.symbol, target, confidence=min(1.0, abs(z) / cfg.entry_z),
                      tag=f"z={z:.3f}")
