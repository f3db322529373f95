"""Simulated accounts: configuration (`SimAccount`) and the venue's money rules (`AccountBook`).

Buying power is equity minus gross exposure (both marked at the venue's last price) minus
cash reserved for open orders; for an account holding only longs that is its cash.

- An order that opens or extends a position needs buying power for that part's notional
  plus its taker fee, priced at the limit (limit types), the trigger (stops) or the current
  price with slippage (market orders). A market order sent before any price has its funds
  checked at fill time only (and no min_notional check). The amount is reserved until
  the order fills or ends.
- Selling more than the long position, net of other open non-reduce-only sells, is
  INSUFFICIENT_FUNDS unless the account has `allow_short=True`; a short is then
  collateralised in full (its notional counts in gross exposure).
- Reduce-only orders that would increase the position are INVALID_ORDER. Several may
  cover the same position (a bracket); at fill time each is capped to what is left.
- At fill time the same rules run again; an order that can no longer be filled at all is
  canceled by the venue with the reason in its report's `detail`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.broker.interface import Balance, PositionReport
from engine.enums import ErrorCode, LiquiditySide, OrderSide
from engine.errors import ConfigError
from engine.instruments import Instrument
from engine.positions import Portfolio
from engine.sim.models import FeeModel
from engine.sim.venue_order import Refusal, SimOrder

_TOL = 1e-9
# Bound once: a member read off an Enum class costs ~80 ns on Python 3.11 (its metaclass
# defines __getattr__), and these are read on every order.
_SELL, _TAKER = OrderSide.SELL, LiquiditySide.TAKER


@dataclass(frozen=True, slots=True)
class SimAccount:
    """One simulated account. Its repr never shows `api_key` or `secret`."""

    cash: float
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    allow_short: bool = False
    currency: str = "USD"

    def __post_init__(self) -> None:
        c = self.cash
        if not isinstance(c, (int, float)) or isinstance(c, bool) or not math.isfinite(c) \
                or c < 0:
            raise ConfigError("account.cash", f"must be a finite number >= 0, not {c!r}")
        if not isinstance(self.api_key, str) or not isinstance(self.secret, str):
            raise ConfigError("account.api_key", "api_key and secret must be strings")
        if not isinstance(self.allow_short, bool):
            raise ConfigError("account.allow_short", "must be true or false")

    def __repr__(self) -> str:
        return (f"SimAccount(cash={self.cash!r}, api_key=***, secret=***, "
                f"allow_short={self.allow_short!r}, currency={self.currency!r})")

    @staticmethod
    def from_options(account_id: str, options: Mapping) -> SimAccount:
        known = {"cash", "api_key", "secret", "allow_short", "currency"}
        for key in options:
            if key not in known:
                raise ConfigError(f"accounts.{account_id}.{key}",
                                  f"unknown key; known: {sorted(known)}")
        if "cash" not in options:
            raise ConfigError(f"accounts.{account_id}.cash", "is required")
        return SimAccount(**options)


class AccountBook:
    """One account at the venue: portfolio, orders, pending events, and the money rules."""

    __slots__ = ("account_id", "portfolio", "allow_short", "currency", "orders", "open",
                 "events", "_instruments", "_last_px", "_fees")

    def __init__(self, account_id: str, account: SimAccount,
                 instruments: Mapping[str, Instrument], last_px: Mapping[str, float],
                 fees: FeeModel) -> None:
        self.account_id = account_id
        self.portfolio = Portfolio(account_id, account.cash)
        self.portfolio.multipliers.update({s: i.multiplier for s, i in instruments.items()})
        self.allow_short = account.allow_short
        self.currency = account.currency
        self.orders: dict[str, SimOrder] = {}   # every order ever, by client order ID
        self.open: dict[str, SimOrder] = {}     # the working ones
        self.events: list[object] = []
        self._instruments = instruments
        self._last_px = last_px                 # the venue's, shared
        self._fees = fees

    def mark(self) -> None:
        for symbol in self.portfolio.positions:
            px = self._last_px.get(symbol)
            if px is not None:
                self.portfolio.mark(symbol, px)

    def reserved(self, exclude: SimOrder | None = None) -> float:
        total = 0.0   # a loop, not `sum` over a generator: it runs on every order
        for o in self.open.values():
            if o is not exclude:
                total += o.reserved_now()
        return total

    def buying_power(self, exclude: SimOrder | None = None) -> float:
        self.mark()
        pf = self.portfolio
        return pf.equity() - pf.gross_exposure() - self.reserved(exclude)

    def closable(self, symbol: str, side: OrderSide) -> float:
        """How much of the position an order of `side` would close (0 if it would open)."""
        return max(0.0, -side.sign * self.portfolio.quantity(symbol))

    def check_order(self, order: SimOrder, ref: float | None,
                    replacing: SimOrder | None = None) -> Refusal | None:
        """Notional, position and funds checks of a new (or modified) order priced at
        `ref`; sets `order.reserve` when they pass. `replacing` is the working order a
        modify would replace: it does not count against the new one."""
        instrument, side, leaves = self._instruments[order.symbol], order.side, order.leaves
        skip = replacing or order
        if ref is not None and instrument.notional(order.quantity, ref) < (
                instrument.min_notional - _TOL):
            notional = instrument.notional(order.quantity, ref)
            return Refusal(ErrorCode.INVALID_ORDER, f"notional {notional:.8g} is below "
                           f"min_notional {instrument.min_notional}")
        held = self.closable(order.symbol, side)
        if order.reduce_only:
            if leaves > held * (1 + _TOL) + _TOL:
                return Refusal(ErrorCode.INVALID_ORDER,
                               f"reduce_only order would increase the position (closable {held})")
            return None
        pending = 0   # the same sum as `sum(...)`, as a loop: it runs on every order
        for o in self.open.values():
            if o is not skip and o.symbol == order.symbol and o.side is side \
                    and not o.reduce_only:
                pending += o.leaves
        free = max(0.0, held - pending)
        opening = max(0.0, leaves - free)
        if opening > _TOL and side is _SELL and not self.allow_short:
            return Refusal(ErrorCode.INSUFFICIENT_FUNDS, f"selling {leaves} exceeds the {free} "
                           "held and not already being sold; short selling is not enabled")
        if opening > _TOL and ref is not None:
            need = instrument.notional(opening, ref) + self._fees.fee(
                instrument, leaves, ref, _TAKER, order.filled_qty == 0)
            power = self.buying_power(exclude=skip)
            if need > power + 1e-6:
                return Refusal(ErrorCode.INSUFFICIENT_FUNDS,
                               f"needs {need:.2f}, buying power is {power:.2f}")
            order.reserve = need * order.quantity / leaves
        return None

    def affordable(self, order: SimOrder, qty: float, px: float,
                   liquidity: LiquiditySide) -> tuple[float, str]:
        """`qty` cut to what the account can still do at `px`, and why when it was cut."""
        held = self.closable(order.symbol, order.side)
        if order.reduce_only or (order.side is _SELL and not self.allow_short):
            if qty <= held + _TOL:
                return qty, ""
            why = ("reduce-only: no position left to reduce" if order.reduce_only
                   else "sell exceeds the position; short selling is not enabled")
            return (held if held > _TOL else 0.0), why
        instrument = self._instruments[order.symbol]
        opening = qty - held
        if opening > _TOL:
            need = instrument.notional(opening, px) + self._fees.fee(
                instrument, qty, px, liquidity, order.filled_qty == 0)
            if need > self.buying_power(exclude=order) + 1e-6:
                return (held if held > _TOL else 0.0), "insufficient funds at fill"
        return qty, ""

    def positions(self) -> list[PositionReport]:
        return [PositionReport(p.symbol, p.quantity, p.avg_price)
                for p in self.portfolio.open_positions()]

    def balances(self) -> list[Balance]:
        self.mark()
        pf = self.portfolio
        return [Balance(self.currency, pf.cash, pf.equity(), self.reserved())]
