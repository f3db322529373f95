"""Netting positions per account and symbol, and the account's cash and equity.

Average-cost accounting: a fill in the position's direction moves the average price, a fill
against it realizes P&L on the closed part at the average price, and a fill larger than the
position closes it and opens the other way at the fill price. Fees are kept apart from
P&L, so for any fill sequence: change in equity = realized + unrealized - fees.
A remainder within 1e-9 (relative) of zero after a reducing fill is float dust from the
quantity arithmetic (0.1 + 0.2 - 0.3), and the position counts as closed.
"""

from __future__ import annotations

import math

from engine.enums import ExitReason, OrderSide
from engine.messages import OrderFilled, PositionChanged, PositionClosed, PositionOpened

PositionEvent = PositionOpened | PositionChanged | PositionClosed


def _is_zero(qty: float, scale: float) -> bool:
    return abs(qty) <= 1e-9 * max(1.0, abs(scale))


class Position:
    """One account's net position in one symbol."""

    __slots__ = (
        "account_id", "symbol", "multiplier", "quantity", "avg_price", "realized_pnl", "fees",
        "opened_ns", "peak_qty", "strategy_id", "_exit_value", "_exit_qty", "_trip_pnl",
        "_trip_fees",
    )

    def __init__(self, account_id: str, symbol: str, multiplier: float = 1.0) -> None:
        self.account_id = account_id
        self.symbol = symbol
        self.multiplier = multiplier
        self.quantity = 0.0        # signed
        self.avg_price = 0.0
        self.realized_pnl = 0.0    # over the life of this object, before fees
        self.fees = 0.0            # over the life of this object
        self.opened_ns = 0
        self.peak_qty = 0.0
        self.strategy_id = ""      # the strategy of the fill that opened the position
        self._reset_trip()

    def _reset_trip(self) -> None:
        self._exit_value = 0.0
        self._exit_qty = 0.0
        self._trip_pnl = 0.0
        self._trip_fees = 0.0

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0.0

    def unrealized_pnl(self, mark: float) -> float:
        if self.quantity == 0.0:
            return 0.0
        return self.quantity * (mark - self.avg_price) * self.multiplier

    def apply_fill(self, side: OrderSide, qty: float, price: float, fee: float, ts_ns: int,
                   ts_init: int = 0, reason: ExitReason = ExitReason.NONE,
                   strategy_id: str = "") -> list[PositionEvent]:
        """Apply one fill; returns the position events it caused (one, or two on a flip).
        `strategy_id` is the fill's: a position (and its round trip) belongs to the
        strategy of the fill that opened it."""
        signed = qty * side.sign
        self.fees += fee
        if self.quantity == 0.0:
            return [self._open(signed, price, fee, ts_ns, ts_init, strategy_id)]
        if (self.quantity > 0) == (signed > 0):
            total = self.quantity + signed
            self.avg_price = (self.avg_price * self.quantity + price * signed) / total
            self.quantity = total
            self._trip_fees += fee
            if abs(total) > abs(self.peak_qty):
                self.peak_qty = total
            return [PositionChanged(self.account_id, self.symbol, self.quantity,
                                    self.avg_price, 0.0, ts_ns, ts_init)]
        closing = min(abs(signed), abs(self.quantity))
        direction = 1.0 if self.quantity > 0 else -1.0
        pnl = closing * (price - self.avg_price) * direction * self.multiplier
        closing_fee = fee * closing / abs(signed)
        self.realized_pnl += pnl
        self._trip_pnl += pnl
        self._trip_fees += closing_fee
        self._exit_value += closing * price
        self._exit_qty += closing
        remaining = self.quantity + signed
        dust = _is_zero(remaining, max(abs(self.quantity), abs(signed)))
        if not dust and (remaining > 0) == (self.quantity > 0):
            self.quantity = remaining
            return [PositionChanged(self.account_id, self.symbol, self.quantity,
                                    self.avg_price, pnl, ts_ns, ts_init)]
        closed = PositionClosed(
            self.account_id, self.symbol, self.peak_qty, self.avg_price,
            self._exit_value / self._exit_qty, self._trip_pnl, self._trip_fees,
            self.opened_ns, ts_ns, ts_init, reason, self.strategy_id)
        self.quantity = 0.0
        self.avg_price = 0.0
        self._reset_trip()
        if dust:
            return [closed]
        return [closed, self._open(remaining, price, fee - closing_fee, ts_ns, ts_init,
                                   strategy_id)]

    def _open(self, signed: float, price: float, fee: float, ts_ns: int,
              ts_init: int, strategy_id: str = "") -> PositionOpened:
        self.quantity = signed
        self.strategy_id = strategy_id
        self.avg_price = price
        self.opened_ns = ts_ns
        self.peak_qty = signed
        self._reset_trip()
        self._trip_fees = fee
        return PositionOpened(self.account_id, self.symbol, signed, price, ts_ns, ts_init)


class Portfolio:
    """Cash, positions and last prices of one account.

    Cash moves by the full notional of every fill (a short sale adds cash), so equity is
    cash plus the marked value of the positions, and its change over any sequence of fills
    is realized + unrealized P&L less fees.
    """

    __slots__ = ("account_id", "cash", "initial_cash", "positions", "marks", "multipliers")

    def __init__(self, account_id: str, cash: float) -> None:
        self.account_id = account_id
        self.cash = float(cash)
        self.initial_cash = float(cash)
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}
        self.multipliers: dict[str, float] = {}

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = Position(self.account_id, symbol, self.multipliers.get(symbol, 1.0))
            self.positions[symbol] = pos
        return pos

    def quantity(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.quantity

    def mark(self, symbol: str, price: float) -> None:
        if math.isfinite(price) and price > 0:
            self.marks[symbol] = price

    def apply_fill(self, fill: OrderFilled, reason: ExitReason = ExitReason.NONE
                   ) -> list[PositionEvent]:
        pos = self.position(fill.symbol)
        self.cash -= fill.side.sign * fill.last_qty * fill.last_px * pos.multiplier + fill.fee
        self.marks.setdefault(fill.symbol, fill.last_px)
        return pos.apply_fill(fill.side, fill.last_qty, fill.last_px, fill.fee,
                              fill.ts_event, fill.ts_init, reason, fill.strategy_id)

    # The two sums below run on every order (equity, buying power): plain loops over the
    # positions with the marks looked up inline, adding in the same order as `sum` would.
    def market_value(self) -> float:
        total, marks = 0, self.marks
        for p in self.positions.values():
            total += p.quantity * marks.get(p.symbol, p.avg_price) * p.multiplier
        return total

    def gross_exposure(self) -> float:
        total, marks = 0, self.marks
        for p in self.positions.values():
            total += abs(p.quantity) * marks.get(p.symbol, p.avg_price) * p.multiplier
        return total

    def equity(self) -> float:
        return self.cash + self.market_value()

    def unrealized_pnl(self) -> float:
        return sum(p.unrealized_pnl(self._mark(p)) for p in self.positions.values())

    def realized_pnl(self) -> float:
        return sum(p.realized_pnl for p in self.positions.values())

    def fees(self) -> float:
        return sum(p.fees for p in self.positions.values())

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.quantity != 0.0]

    def _mark(self, pos: Position) -> float:
        return self.marks.get(pos.symbol, pos.avg_price)
