"""Netting positions and portfolio equity: hand-checked cases and random fill sequences."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.enums import ExitReason, OrderSide
from engine.messages import OrderFilled, PositionChanged, PositionClosed, PositionOpened
from engine.positions import Portfolio, Position

BUY, SELL = OrderSide.BUY, OrderSide.SELL
ACCOUNT = "ACC-1"
_trade_ids = itertools.count(1)


def fill(symbol: str, side: OrderSide, qty: float, px: float, fee: float = 0.0,
         ts: int = 0) -> OrderFilled:
    return OrderFilled(ACCOUNT, "C", "V", f"T{next(_trade_ids)}", symbol, side, qty, px, fee,
                       ts, ts)


# --- hand-checked cases ------------------------------------------------------------------

def test_first_fill_opens_a_position_at_the_fill_price():
    pos = Position(ACCOUNT, "AAPL")
    events = pos.apply_fill(BUY, 10, 100.0, 1.0, ts_ns=5, ts_init=6)
    assert events == [PositionOpened(ACCOUNT, "AAPL", 10, 100.0, 5, 6)]
    assert (pos.quantity, pos.avg_price, pos.fees, pos.opened_ns) == (10, 100.0, 1.0, 5)
    assert not pos.is_flat


def test_adding_moves_the_average_price_and_realizes_nothing():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(BUY, 10, 100.0, 1.0, 1)
    [changed] = pos.apply_fill(BUY, 30, 104.0, 1.0, 2)
    assert changed == PositionChanged(ACCOUNT, "AAPL", 40, 103.0, 0.0, 2, 0)
    assert pos.realized_pnl == 0.0


def test_partial_close_realizes_pnl_at_the_average_price_and_keeps_the_average():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(BUY, 10, 100.0, 0.0, 1)
    pos.apply_fill(BUY, 10, 110.0, 0.0, 2)           # 20 @ 105
    [changed] = pos.apply_fill(SELL, 5, 120.0, 0.0, 3)
    assert changed.realized_pnl == pytest.approx(5 * (120 - 105))
    assert (changed.quantity, changed.avg_price) == (15, 105.0)
    assert pos.realized_pnl == pytest.approx(75.0)


def test_round_trip_close_reports_entry_exit_pnl_and_fees():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(BUY, 10, 100.0, 1.0, ts_ns=100)
    pos.apply_fill(BUY, 10, 110.0, 1.0, ts_ns=200)          # 20 @ 105
    pos.apply_fill(SELL, 5, 120.0, 0.5, ts_ns=300)          # +75
    [closed] = pos.apply_fill(SELL, 15, 90.0, 1.5, ts_ns=400, ts_init=401,
                              reason=ExitReason.STOP_LOSS)  # -225
    assert closed == PositionClosed(
        ACCOUNT, "AAPL", entry_qty=20, avg_entry=105.0, avg_exit=(5 * 120 + 15 * 90) / 20,
        realized_pnl=-150.0, fees=4.0, opened_ns=100, ts_event=400, ts_init=401,
        reason=ExitReason.STOP_LOSS)
    assert pos.is_flat and pos.quantity == 0.0 and pos.avg_price == 0.0
    assert pos.realized_pnl == -150.0 and pos.fees == 4.0


def test_short_round_trip_profits_when_the_price_falls():
    pos = Position(ACCOUNT, "TSLA")
    [opened] = pos.apply_fill(SELL, 4, 50.0, 0.0, 1)
    assert opened.quantity == -4
    assert pos.unrealized_pnl(45.0) == pytest.approx(20.0)
    [closed] = pos.apply_fill(BUY, 4, 45.0, 0.0, 2)
    assert closed.realized_pnl == pytest.approx(20.0)
    assert closed.entry_qty == -4 and closed.avg_entry == 50.0 and closed.avg_exit == 45.0


def test_flip_closes_then_opens_the_remainder_at_the_fill_price_and_splits_the_fee():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(BUY, 10, 100.0, 1.0, ts_ns=1)
    closed, opened = pos.apply_fill(SELL, 25, 110.0, 2.5, ts_ns=2)
    assert isinstance(closed, PositionClosed) and isinstance(opened, PositionOpened)
    assert closed.realized_pnl == pytest.approx(100.0)
    assert closed.fees == pytest.approx(1.0 + 2.5 * 10 / 25)
    assert closed.entry_qty == 10 and closed.avg_exit == 110.0
    assert (opened.quantity, opened.avg_price, opened.ts_event) == (-15, 110.0, 2)
    assert (pos.quantity, pos.avg_price, pos.opened_ns) == (-15, 110.0, 2)
    # the new round trip carries the rest of the flip's fee
    [closed2] = pos.apply_fill(BUY, 15, 100.0, 0.0, ts_ns=3)
    assert closed2.realized_pnl == pytest.approx(150.0)
    assert closed2.fees == pytest.approx(1.5)
    assert (closed2.entry_qty, closed2.avg_entry, closed2.opened_ns) == (-15, 110.0, 2)
    assert pos.fees == pytest.approx(3.5)
    assert pos.realized_pnl == pytest.approx(250.0)


def test_closed_round_trip_entry_quantity_is_the_largest_size_reached():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(SELL, 3, 10.0, 0.0, 1)
    pos.apply_fill(SELL, 5, 10.0, 0.0, 2)     # -8
    pos.apply_fill(BUY, 6, 10.0, 0.0, 3)      # -2
    pos.apply_fill(SELL, 1, 10.0, 0.0, 4)     # -3
    [closed] = pos.apply_fill(BUY, 3, 10.0, 0.0, 5)
    assert closed.entry_qty == -8


def test_multiplier_scales_realized_and_unrealized_pnl():
    pos = Position(ACCOUNT, "ES", multiplier=50.0)
    pos.apply_fill(BUY, 2, 4500.0, 0.0, 1)
    assert pos.unrealized_pnl(4502.5) == pytest.approx(2 * 2.5 * 50)
    [changed] = pos.apply_fill(SELL, 1, 4510.0, 0.0, 2)
    assert changed.realized_pnl == pytest.approx(10 * 50)
    [closed] = pos.apply_fill(SELL, 1, 4490.0, 0.0, 3)
    assert closed.realized_pnl == pytest.approx(500 - 500)


def test_portfolio_cash_and_equity_by_hand():
    pf = Portfolio(ACCOUNT, 10_000)
    pf.apply_fill(fill("AAPL", BUY, 10, 100.0, fee=1.0))
    assert pf.cash == pytest.approx(8_999.0)
    pf.mark("AAPL", 105.0)
    assert pf.market_value() == pytest.approx(1_050.0)
    assert pf.equity() == pytest.approx(10_049.0)
    assert pf.unrealized_pnl() == pytest.approx(50.0)
    assert pf.gross_exposure() == pytest.approx(1_050.0)
    pf.apply_fill(fill("MSFT", SELL, 5, 200.0, fee=0.5))        # short sale adds cash
    assert pf.cash == pytest.approx(8_999.0 + 1_000.0 - 0.5)
    pf.mark("MSFT", 190.0)
    assert pf.gross_exposure() == pytest.approx(1_050.0 + 950.0)
    assert pf.equity() - pf.initial_cash == pytest.approx(50.0 + 50.0 - 1.5)
    assert pf.fees() == pytest.approx(1.5)
    assert {p.symbol for p in pf.open_positions()} == {"AAPL", "MSFT"}


def test_portfolio_honours_the_multiplier_set_before_the_first_fill():
    pf = Portfolio(ACCOUNT, 100_000)
    pf.multipliers["ES"] = 50.0
    pf.apply_fill(fill("ES", BUY, 2, 4500.0, fee=4.0))
    assert pf.cash == pytest.approx(100_000 - 2 * 4500 * 50 - 4)
    events = pf.apply_fill(fill("ES", SELL, 2, 4510.0, fee=4.0))
    assert events[0].realized_pnl == pytest.approx(2 * 10 * 50)
    assert pf.equity() - pf.initial_cash == pytest.approx(1_000 - 8)
    assert pf.open_positions() == []


def test_portfolio_ignores_non_finite_or_non_positive_marks():
    pf = Portfolio(ACCOUNT, 0)
    pf.apply_fill(fill("X", BUY, 1, 10.0))
    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        pf.mark("X", bad)
    assert pf.marks["X"] == 10.0


def test_portfolio_passes_the_exit_reason_to_the_closing_event():
    pf = Portfolio(ACCOUNT, 0)
    pf.apply_fill(fill("X", BUY, 1, 10.0))
    [closed] = pf.apply_fill(fill("X", SELL, 1, 11.0), reason=ExitReason.TAKE_PROFIT)
    assert closed.reason is ExitReason.TAKE_PROFIT


def test_quantity_of_an_unknown_symbol_is_zero():
    assert Portfolio(ACCOUNT, 0).quantity("NOPE") == 0.0


# --- random fill sequences against an independent reference ------------------------------

@dataclass
class Trip:
    opened_ns: int
    peak: float
    fees: float = 0.0
    pnl: float = 0.0
    exit_value: float = 0.0
    exit_qty: float = 0.0


@dataclass
class Reference:
    """Average-cost bookkeeping written from the rules, not from the implementation."""

    multiplier: float
    qty: float = 0.0
    avg: float = 0.0
    trip: Trip | None = None
    closed: list[PositionClosed] = field(default_factory=list)

    def expected(self, side: OrderSide, q: float, px: float, fee: float, ts: int) -> list:
        signed = q * side.sign
        if self.qty == 0:
            return self._open(signed, px, fee, ts)
        if (self.qty > 0) == (signed > 0):
            self.avg = (self.avg * self.qty + px * signed) / (self.qty + signed)
            self.qty += signed
            self.trip.fees += fee
            if abs(self.qty) > abs(self.trip.peak):
                self.trip.peak = self.qty
            return [("changed", self.qty, self.avg, 0.0)]
        closing = min(abs(signed), abs(self.qty))
        pnl = closing * (px - self.avg) * (1 if self.qty > 0 else -1) * self.multiplier
        self.trip.pnl += pnl
        self.trip.fees += fee * closing / abs(signed)
        self.trip.exit_value += closing * px
        self.trip.exit_qty += closing
        rest = self.qty + signed
        if abs(rest) <= 1e-9 * max(1.0, abs(self.qty), abs(signed)):
            rest = 0.0  # float dust of the quantity arithmetic: the position is closed
        if rest != 0 and (rest > 0) == (self.qty > 0):
            self.qty = rest
            return [("changed", self.qty, self.avg, pnl)]
        trip = self.trip
        closed = ("closed", trip.peak, self.avg, trip.exit_value / trip.exit_qty, trip.pnl,
                  trip.fees, trip.opened_ns)
        self.qty, self.avg, self.trip = 0.0, 0.0, None
        if rest == 0:
            return [closed]
        return [closed, *self._open(rest, px, fee * (abs(rest) / abs(signed)), ts)]

    def _open(self, signed: float, px: float, fee: float, ts: int) -> list:
        self.qty, self.avg = signed, px
        self.trip = Trip(opened_ns=ts, peak=signed, fees=fee)
        return [("opened", signed, px)]


def _as_tuple(evt) -> tuple:
    if isinstance(evt, PositionOpened):
        return ("opened", evt.quantity, evt.avg_price)
    if isinstance(evt, PositionChanged):
        return ("changed", evt.quantity, evt.avg_price, evt.realized_pnl)
    return ("closed", evt.entry_qty, evt.avg_entry, evt.avg_exit, evt.realized_pnl, evt.fees,
            evt.opened_ns)


def _approx_equal(got: tuple, want: tuple) -> bool:
    if got[0] != want[0] or len(got) != len(want):
        return False
    return all(g == pytest.approx(w, rel=1e-9, abs=1e-6) for g, w in zip(got[1:], want[1:],
                                                                         strict=True))


# An action is (kind, side, qty units, price in quarter ticks, fee in cents); "close" and
# "flip" are sized from the current position so that exact closes and flips are common.
_ACTIONS = st.tuples(
    st.sampled_from(["trade", "trade", "close", "flip"]),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 40),
    st.integers(4, 4_000),
    st.integers(0, 500),
)


@settings(max_examples=300, deadline=None)
@given(actions=st.lists(_ACTIONS, min_size=1, max_size=30),
       lot=st.sampled_from([1.0, 0.5, 0.125, 0.1]),
       multiplier=st.sampled_from([1.0, 0.1, 50.0]),
       final_px=st.integers(4, 4_000))
def test_random_fill_sequences_match_average_cost_bookkeeping_and_the_equity_identity(
        actions, lot, multiplier, final_px):
    pf = Portfolio(ACCOUNT, 1_000_000.0)
    pf.multipliers["X"] = multiplier
    ref = Reference(multiplier)
    cash_flow = 0.0
    fees = 0.0
    for ts, (kind, side, units, quarter_ticks, cents) in enumerate(actions, start=1):
        px, fee = quarter_ticks / 4, cents / 100
        current = pf.quantity("X")
        if kind == "trade" or current == 0:
            qty = units * lot
        else:
            side = SELL if current > 0 else BUY
            qty = abs(current) + (units * lot if kind == "flip" else 0.0)
        avg_before = pf.position("X").avg_price
        events = pf.apply_fill(fill("X", side, qty, px, fee, ts))
        want = ref.expected(side, qty, px, fee, ts)
        got = [_as_tuple(e) for e in events]
        assert len(got) == len(want) and all(map(_approx_equal, got, want)), (got, want)
        for evt in events:   # partial closes realize at the average price held before
            if isinstance(evt, PositionChanged) and evt.realized_pnl:
                direction = 1 if evt.quantity > 0 else -1
                assert evt.avg_price == avg_before
                assert evt.realized_pnl == pytest.approx(
                    qty * (px - avg_before) * direction * multiplier)
        assert pf.quantity("X") == pytest.approx(ref.qty, abs=1e-9)
        cash_flow -= side.sign * qty * px * multiplier
        fees += fee

    pf.mark("X", final_px / 4)
    pos = pf.position("X")
    change = pf.equity() - pf.initial_cash
    scale = 1.0 + sum(a[2] * a[3] for a in actions) * multiplier
    tol = 1e-9 * scale
    assert change == pytest.approx(pf.realized_pnl() + pf.unrealized_pnl() - pf.fees(), abs=tol)
    # the same, from the trades alone: what any cost method must agree on
    assert pf.realized_pnl() + pf.unrealized_pnl() == pytest.approx(
        cash_flow + pos.quantity * (final_px / 4) * multiplier, abs=tol)
    assert pf.fees() == pytest.approx(fees)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 20), st.integers(1, 400),
                          st.integers(0, 100)), min_size=1, max_size=25))
def test_closed_round_trips_add_up_to_the_realized_pnl_and_fees_when_flat(fills):
    pos = Position(ACCOUNT, "X")
    closed: list[PositionClosed] = []
    for ts, (side, qty, px, cents) in enumerate(fills, start=1):
        closed += [e for e in pos.apply_fill(side, qty, float(px), cents / 100, ts)
                   if isinstance(e, PositionClosed)]
    if pos.quantity != 0:   # close out so that every fill belongs to a finished round trip
        side = SELL if pos.quantity > 0 else BUY
        closed += pos.apply_fill(side, abs(pos.quantity), 100.0, 0.0, len(fills) + 1)
    assert pos.is_flat
    assert sum(c.realized_pnl for c in closed) == pytest.approx(pos.realized_pnl, abs=1e-6)
    assert sum(c.fees for c in closed) == pytest.approx(pos.fees, abs=1e-9)
    prices = [float(px) for _, _, px, _ in fills] + [100.0]
    for earlier, later in zip(closed, closed[1:], strict=False):
        assert earlier.ts_event <= later.opened_ns
    for c in closed:
        assert c.entry_qty != 0
        assert min(prices) <= c.avg_exit <= max(prices)
        assert min(prices) <= c.avg_entry <= max(prices)
        assert c.opened_ns <= c.ts_event


def test_a_round_trip_without_adds_after_reducing_realizes_exit_minus_entry_times_size():
    pos = Position(ACCOUNT, "X")
    pos.apply_fill(SELL, 6, 50.0, 0.0, 1)
    pos.apply_fill(SELL, 2, 54.0, 0.0, 2)                  # -8 @ 51
    pos.apply_fill(BUY, 3, 47.0, 0.0, 3)
    [closed] = pos.apply_fill(BUY, 5, 49.4, 0.0, 4)
    assert closed.avg_entry == pytest.approx(51.0)
    assert closed.avg_exit == pytest.approx((3 * 47 + 5 * 49.4) / 8)
    assert closed.realized_pnl == pytest.approx((closed.avg_entry - closed.avg_exit) * 8)


def test_a_round_trip_belongs_to_the_strategy_of_the_fill_that_opened_it():
    pos = Position(ACCOUNT, "AAPL")
    pos.apply_fill(BUY, 10, 100.0, 0.0, 1, strategy_id="a")
    pos.apply_fill(BUY, 5, 101.0, 0.0, 2, strategy_id="b")          # adds: still a's
    closed, opened = pos.apply_fill(SELL, 20, 102.0, 0.0, 3, strategy_id="c")   # a flip
    assert isinstance(closed, PositionClosed) and closed.strategy_id == "a"
    assert isinstance(opened, PositionOpened) and pos.strategy_id == "c"
    [closed] = pos.apply_fill(BUY, 5, 99.0, 0.0, 4)
    assert closed.strategy_id == "c"
    portfolio = Portfolio(ACCOUNT, 1_000.0)
    portfolio.apply_fill(OrderFilled(ACCOUNT, "C", "V", "T1", "X", BUY, 1, 10.0, 0.0, 5, 5,
                                     strategy_id="s"))
    [closed] = portfolio.apply_fill(fill("X", SELL, 1, 11.0, ts=6))
    assert closed.strategy_id == "s"
