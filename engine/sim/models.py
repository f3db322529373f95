"""How market data turns into fill prices and costs: touches, slippage, fees.

A `Touch` is what one market update offers an order: a price to take now, the size
available at it, and (for a bar) the range traded. `FillModel` bundles the pluggable parts:
the slippage model, the fee model, the bar fill rule and the bar volume cap.

Fill rules (buy shown; a sell mirrors them, bid for ask, low for high):

- A market order takes the touch's buy price: the ask of a quote, the price of a trade
  tick, or for a bar the open (`BarFillRule.NEXT_OPEN`) or the close (`BarFillRule.CLOSE`).
  Slippage moves that price against the order.
- A limit order that is *marketable* when it enters the book (the touch's buy price <=
  its limit; see `engine.sim.venue` for entering) takes that price plus slippage, capped at
  the limit (TAKER). A resting limit order fills when the market reaches it (ask <= limit,
  trade price <= limit, bar low <= limit) at its limit, or at the bar's open when the bar
  gapped through it (MAKER, no slippage).
- A stop order triggers when ask >= trigger (bar: high >= trigger; trade: price >= trigger)
  and then fills as a market order; on a bar at max(open, trigger) plus slippage. A
  stop-limit becomes a limit order at its trigger, priced from the same point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from engine.enums import LiquiditySide, OrderSide
from engine.errors import ConfigError, InvalidInput
from engine.instruments import FeeSchedule, Instrument
from engine.messages import Bar, QuoteTick, TradeTick

INF = math.inf
_BUY = OrderSide.BUY   # bound once: an Enum class attribute costs ~80 ns on Python 3.11


class BarFillRule(str, Enum):
    """Which price of a bar a market order takes.

    NEXT_OPEN: an order submitted after a bar fills at the next bar's open (no look-ahead).
    CLOSE: an order submitted after a bar fills at once at that bar's close.
    """

    NEXT_OPEN = "NEXT_OPEN"
    CLOSE = "CLOSE"


@dataclass(frozen=True, slots=True)
class Touch:
    """What one market update offers. `seq` identifies the update: an order fills at most
    once per update, up to the size shown (each order sees the full size: accounts do not
    compete for liquidity)."""

    seq: int
    bid: float               # price a sell takes now
    ask: float               # price a buy takes now
    bid_size: float
    ask_size: float
    low: float = 0.0         # range traded, bars only
    high: float = 0.0
    open: float = 0.0
    is_bar: bool = False

    @staticmethod
    def of_quote(seq: int, q: QuoteTick) -> Touch:
        return Touch(seq, q.bid, q.ask, q.bid_size, q.ask_size)

    @staticmethod
    def at_price(seq: int, price: float, size: float) -> Touch:
        """A single print: a trade tick, or a bar's close under `BarFillRule.CLOSE`."""
        return Touch(seq, price, price, size, size)

    @staticmethod
    def of_bar(seq: int, bar: Bar, rule: BarFillRule, volume_fraction: float | None) -> Touch:
        take = bar.open if rule is BarFillRule.NEXT_OPEN else bar.close
        size = INF if volume_fraction is None else bar.volume * volume_fraction
        return Touch(seq, take, take, size, size, bar.low, bar.high, bar.open, True)

    @staticmethod
    def of_trade(seq: int, t: TradeTick) -> Touch:
        return Touch.at_price(seq, t.price, t.size)

    def take(self, side: OrderSide) -> float:
        return self.ask if side is _BUY else self.bid

    def size(self, side: OrderSide) -> float:
        return self.ask_size if side is _BUY else self.bid_size

    def _low(self, side: OrderSide) -> float:
        return self.low if self.is_bar else self.take(side)

    def _high(self, side: OrderSide) -> float:
        return self.high if self.is_bar else self.take(side)

    def reaches(self, side: OrderSide, limit: float) -> bool:
        """The market traded at or through a resting limit at `limit`."""
        if side is OrderSide.BUY:
            return self._low(side) <= limit
        return self._high(side) >= limit

    def triggers(self, side: OrderSide, trigger: float) -> bool:
        if side is OrderSide.BUY:
            return self._high(side) >= trigger
        return self._low(side) <= trigger

    def stop_price(self, side: OrderSide, trigger: float) -> float:
        """Where a stop that triggered on this update starts to fill (before slippage)."""
        if not self.is_bar:
            return self.take(side)
        return max(self.open, trigger) if side is OrderSide.BUY else min(self.open, trigger)

    def resting_price(self, side: OrderSide, limit: float) -> float:
        """Fill price of a resting limit the market reached: the limit, or a bar's open
        when the bar gapped through it."""
        if not self.is_bar:
            return limit
        return min(self.open, limit) if side is OrderSide.BUY else max(self.open, limit)


def marketable(side: OrderSide, take: float, limit: float) -> bool:
    return take <= limit if side is OrderSide.BUY else take >= limit


# --- slippage ----------------------------------------------------------------------------

class SlippageModel(Protocol):
    def apply(self, price: float, side: OrderSide, instrument: Instrument) -> float:
        """`price` moved against an order of `side` (up for a buy, down for a sell)."""
        ...


def _off_grid(price: float, side: OrderSide, instrument: Instrument) -> float:
    """`price` rounded onto the tick grid against the order, never to zero or below."""
    steps = price / instrument.price_tick
    units = math.ceil(steps - 1e-9) if side is OrderSide.BUY else math.floor(steps + 1e-9)
    return instrument.round_price(max(1, units) * instrument.price_tick)


@dataclass(frozen=True, slots=True)
class NoSlippage:
    def apply(self, price: float, side: OrderSide, instrument: Instrument) -> float:
        return price


@dataclass(frozen=True, slots=True)
class FixedTickSlippage:
    """A fixed number of price ticks against the order."""

    ticks: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.ticks, int) or self.ticks < 0:
            raise ConfigError("slippage.ticks", f"must be an int >= 0, not {self.ticks!r}")

    def apply(self, price: float, side: OrderSide, instrument: Instrument) -> float:
        moved = price + side.sign * self.ticks * instrument.price_tick
        return _off_grid(moved, side, instrument)


@dataclass(frozen=True, slots=True)
class BpsSlippage:
    """Basis points of the price against the order, rounded onto the tick grid against it."""

    bps: float = 1.0

    def __post_init__(self) -> None:
        if not _finite_at_least(self.bps, 0.0) or self.bps >= 10_000:
            raise ConfigError("slippage.bps", f"must be in [0, 10000), not {self.bps!r}")

    def apply(self, price: float, side: OrderSide, instrument: Instrument) -> float:
        moved = price * (1.0 + side.sign * self.bps * 1e-4)
        return _off_grid(moved, side, instrument)


# --- fees --------------------------------------------------------------------------------

class FeeModel(Protocol):
    def fee(self, instrument: Instrument, qty: float, price: float,
            liquidity: LiquiditySide, first_fill: bool) -> float: ...


@dataclass(frozen=True, slots=True)
class InstrumentFees:
    """Each instrument's own `FeeSchedule` (the default)."""

    def fee(self, instrument: Instrument, qty: float, price: float,
            liquidity: LiquiditySide, first_fill: bool) -> float:
        return instrument.fees.fee(qty, price, instrument.multiplier, liquidity, first_fill)


@dataclass(frozen=True, slots=True)
class ScheduleFees:
    """One `FeeSchedule` for every instrument, whatever the instruments say."""

    schedule: FeeSchedule = field(default_factory=FeeSchedule)

    def fee(self, instrument: Instrument, qty: float, price: float,
            liquidity: LiquiditySide, first_fill: bool) -> float:
        return self.schedule.fee(qty, price, instrument.multiplier, liquidity, first_fill)


# --- the bundle --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FillModel:
    """Slippage, fees and bar rules of a simulated venue.

    `bar_volume_fraction` caps each order's fill per bar at that fraction of the bar's
    volume; None (the default) means no cap.
    """

    slippage: SlippageModel = field(default_factory=NoSlippage)
    fees: FeeModel = field(default_factory=InstrumentFees)
    bar_rule: BarFillRule = BarFillRule.NEXT_OPEN
    bar_volume_fraction: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bar_rule, BarFillRule):
            raise ConfigError("fill_model.bar_rule", f"must be a BarFillRule, not "
                              f"{self.bar_rule!r}")
        f = self.bar_volume_fraction
        if f is not None and (not _finite_at_least(f, 0.0) or f == 0 or f > 1):
            raise ConfigError("fill_model.bar_volume_fraction", f"must be in (0, 1], not {f!r}")

    @staticmethod
    def from_options(options: dict) -> FillModel:
        """Build from plain config: `{"slippage": {"ticks": 1} | {"bps": 2} | None,
        "fees": {FeeSchedule fields} | None, "bar_rule": "CLOSE", "bar_volume_fraction": .1}`.
        """
        known = {"slippage", "fees", "bar_rule", "bar_volume_fraction"}
        for key in options:
            if key not in known:
                raise ConfigError(f"fill_model.{key}", f"unknown key; known: {sorted(known)}")
        slip: SlippageModel = NoSlippage()
        raw = options.get("slippage")
        if raw:
            if set(raw) == {"ticks"}:
                slip = FixedTickSlippage(raw["ticks"])
            elif set(raw) == {"bps"}:
                slip = BpsSlippage(raw["bps"])
            else:
                raise ConfigError("fill_model.slippage", "give exactly one of ticks or bps")
        fees: FeeModel = InstrumentFees()
        if options.get("fees"):
            try:
                fees = ScheduleFees(FeeSchedule(**options["fees"]))
            except (TypeError, InvalidInput) as exc:
                raise ConfigError("fill_model.fees", str(exc)) from exc
        try:
            rule = BarFillRule(options.get("bar_rule", BarFillRule.NEXT_OPEN))
        except ValueError as exc:
            raise ConfigError("fill_model.bar_rule", str(exc)) from exc
        return FillModel(slip, fees, rule, options.get("bar_volume_fraction"))


def _finite_at_least(x: object, low: float) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            and x >= low)
