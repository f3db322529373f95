"""Protective exits per position: stop loss, take profit, trailing stop, holding time.

`PlainExitPolicy` evaluates them in Python one position at a time. The risk package
replaces it with Numba kernels over arrays of positions; the `ExitPolicy` protocol is the
seam: the account calls `evaluate` and acts on the reasons it returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from engine.enums import ExitReason
from engine.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ExitConfig:
    """Defaults applied to every new position; a signal's own stop/take overrides them."""

    stop_loss_pct: float | None = None      # e.g. 2.0 = exit 2% below entry (long)
    take_profit_pct: float | None = None
    trailing_pct: float | None = None       # stop trails the best price by this percent
    max_holding_s: float | None = None

    def __post_init__(self) -> None:
        for key in ("stop_loss_pct", "take_profit_pct", "trailing_pct", "max_holding_s"):
            value = getattr(self, key)
            if value is None:
                continue
            if (not isinstance(value, (int, float)) or isinstance(value, bool)
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"exits.{key}", f"{value!r} must be a number > 0 or absent")
        for key in ("stop_loss_pct", "trailing_pct"):
            value = getattr(self, key)
            if value is not None and value >= 100:
                raise ConfigError(f"exits.{key}", f"{value} must be below 100")


@dataclass(slots=True)
class Protection:
    """The protective levels of one open position. `stop` and `take` are absolute prices."""

    symbol: str
    direction: int            # +1 long, -1 short
    entry: float
    opened_ns: int
    stop: float = math.nan
    take: float = math.nan
    trailing_pct: float = math.nan
    best: float = math.nan    # high-water mark (long) / low-water mark (short)
    trail_stop: float = math.nan
    deadline_ns: int = 0      # 0 = no holding limit

    @property
    def armed(self) -> bool:
        """True when some level can close the position (a stop, a take, a trail or a
        holding limit); a protection without any never needs evaluating."""
        return (self.deadline_ns > 0 or not (math.isnan(self.stop) and math.isnan(self.take)
                                             and math.isnan(self.trailing_pct)))

    @staticmethod
    def for_position(symbol: str, direction: int, entry: float, opened_ns: int,
                     cfg: ExitConfig, stop: float | None = None,
                     take: float | None = None) -> Protection:
        p = Protection(symbol, direction, entry, opened_ns, best=entry)
        if stop is not None:
            p.stop = stop
        elif cfg.stop_loss_pct is not None:
            p.stop = entry * (1 - direction * cfg.stop_loss_pct / 100)
        if take is not None:
            p.take = take
        elif cfg.take_profit_pct is not None:
            p.take = entry * (1 + direction * cfg.take_profit_pct / 100)
        if cfg.trailing_pct is not None:
            p.trailing_pct = cfg.trailing_pct
            p.trail_stop = entry * (1 - direction * cfg.trailing_pct / 100)
        if cfg.max_holding_s is not None:
            p.deadline_ns = opened_ns + int(cfg.max_holding_s * 1e9)
        return p


class ExitPolicy(Protocol):
    def evaluate(self, protections: list[Protection], prices: list[float],
                 now_ns: int) -> list[ExitReason]:
        """One reason per protection (ExitReason.NONE to keep it). May update the
        trailing state in place. `prices` are the prices an exit would trade at."""
        ...


class PlainExitPolicy:
    """Reference implementation in plain Python. Order of checks: stop loss, take profit,
    trailing stop, holding time; the trailing stop only ever moves in the favourable
    direction. A NaN or non-positive price leaves the position alone."""

    def evaluate(self, protections: list[Protection], prices: list[float],
                 now_ns: int) -> list[ExitReason]:
        return [self._one(p, px, now_ns) for p, px in zip(protections, prices, strict=True)]

    @staticmethod
    def _one(p: Protection, px: float, now_ns: int) -> ExitReason:
        if not (math.isfinite(px) and px > 0):
            return ExitReason.NONE
        d = p.direction
        if not math.isnan(p.trailing_pct) and (px - p.best) * d > 0:
            p.best = px
            candidate = px * (1 - d * p.trailing_pct / 100)
            if math.isnan(p.trail_stop) or (candidate - p.trail_stop) * d > 0:
                p.trail_stop = candidate
        if not math.isnan(p.stop) and (px - p.stop) * d <= 0:
            return ExitReason.STOP_LOSS
        if not math.isnan(p.take) and (px - p.take) * d >= 0:
            return ExitReason.TAKE_PROFIT
        if not math.isnan(p.trail_stop) and (px - p.trail_stop) * d <= 0:
            return ExitReason.TRAILING_STOP
        if p.deadline_ns and now_ns >= p.deadline_ns:
            return ExitReason.MAX_HOLDING_TIME
        return ExitReason.NONE
