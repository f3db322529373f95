"""The simulated venue's matching core: fill rules, time in force, rejections, money."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.clock import SimClock
from engine.enums import ErrorCode, LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.errors import InvalidInput, UnknownName
from engine.instruments import FeeSchedule, Instrument
from engine.messages import (
    Bar,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    QuoteTick,
    SubmitOrder,
    TradeTick,
)
from engine.orders import Order
from engine.sim import (
    BarFillRule,
    BpsSlippage,
    FillModel,
    FixedTickSlippage,
    ScheduleFees,
    SimAccount,
    SimVenue,
)
from tests.unit.engine.broker_contract import replay_events

T0 = 1_704_189_600 * 1_000_000_000          # 2024-01-02 10:00:00 UTC
SYM = "XYZ"
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MKT, LMT, STP, STL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
FEES = FeeSchedule(maker_bps=1.0, taker_bps=5.0, per_order=1.0)
INSTRUMENT = Instrument(SYM, price_tick=0.01, qty_step=1.0, min_qty=1.0, min_notional=10.0,
                        fees=FEES)


class Sim:
    """A venue with one account "A", a clock, and the commands sent (for replay)."""

    def __init__(self, cash: float = 100_000.0, fill_model: FillModel | None = None,
                 allow_short: bool = False) -> None:
        self.clock = SimClock(T0)
        self.venue = SimVenue([INSTRUMENT], {"A": SimAccount(cash, allow_short=allow_short)},
                              self.clock, fill_model)
        self.commands: dict[str, SubmitOrder] = {}
        self.orders: dict[str, Order] = {}     # replayed from the events
        self.n = 0

    def submit(self, side: OrderSide, qty: object, order_type: OrderType = MKT,
               tif: TimeInForce = TimeInForce.GTC, price: object = None,
               trigger: object = None, reduce_only: bool = False, coid: str | None = None):
        self.n += 1
        coid = f"c{self.n}" if coid is None else coid
        cmd = SubmitOrder("A", coid, SYM, side, qty, T0, T0, order_type, tif, price,  # type: ignore
                          trigger, reduce_only)
        self.commands.setdefault(coid, cmd)
        return self.venue.submit("A", cmd)

    def quote(self, bid: float, ask: float, bid_size: float = 1e6, ask_size: float = 1e6):
        self.venue.on_quote(QuoteTick(SYM, bid, ask, bid_size, ask_size, T0, T0))

    def bar(self, o: float, h: float, low: float, c: float, volume: float = 1e6):
        self.venue.on_bar(Bar(SYM, o, h, low, c, volume, T0, T0))

    def events(self) -> list[object]:
        """New events, checked against the order state machine."""
        new = self.venue.drain("A")
        replay_events(self.commands, new, self.orders)
        return new

    def fills(self) -> list[OrderFilled]:
        return [e for e in self.events() if isinstance(e, OrderFilled)]

    def status(self, coid: str) -> OrderStatus:
        return self.venue.order_status("A", coid).value.status  # type: ignore[union-attr]


def taker_fee(qty: float, px: float, first: bool = True) -> float:
    return qty * px * 5e-4 + (1.0 if first else 0.0)


# --- market orders -------------------------------------------------------------------------

def test_market_buy_fills_at_ask_and_sell_at_bid_with_taker_fees() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    assert sim.submit(BUY, 10).value.status is OrderStatus.FILLED  # type: ignore[union-attr]
    sim.quote(100.50, 100.54)
    sim.submit(SELL, 4)
    buy, sell = sim.fills()
    assert (buy.last_px, buy.last_qty, buy.liquidity) == (100.02, 10, LiquiditySide.TAKER)
    assert buy.fee == pytest.approx(taker_fee(10, 100.02))
    assert (sell.last_px, sell.last_qty) == (100.50, 4)
    assert sell.fee == pytest.approx(taker_fee(4, 100.50))
    balance = sim.venue.balances("A")[0]
    assert balance.cash == pytest.approx(100_000 - 10 * 100.02 + 4 * 100.50 - buy.fee - sell.fee)
    assert [(p.symbol, p.quantity) for p in sim.venue.positions("A")] == [(SYM, 6)]


def test_fills_carry_the_strategy_id_the_order_was_sent_with() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    tagged = SubmitOrder("A", "t1", SYM, BUY, 3, T0, T0, strategy_id="sma")
    sim.commands["t1"] = tagged
    sim.venue.submit("A", tagged)
    sim.submit(BUY, 2)                                  # no strategy: none on its fill
    assert [(f.client_order_id, f.strategy_id) for f in sim.fills()] == [("t1", "sma"),
                                                                          ("c1", "")]


@pytest.mark.parametrize(("slippage", "buy_px", "sell_px"), [
    (FixedTickSlippage(2), 100.04, 99.96),
    (BpsSlippage(10.0), 100.13, 99.88),       # 100.02 * 1.001 = 100.12002: rounds up
])
def test_market_orders_pay_slippage_against_them(slippage, buy_px, sell_px) -> None:
    sim = Sim(fill_model=FillModel(slippage=slippage), allow_short=True)
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 1)
    sim.submit(SELL, 1)
    assert [f.last_px for f in sim.fills()] == [buy_px, sell_px]


def test_market_order_without_a_price_rests_until_the_first_quote() -> None:
    sim = Sim()
    assert sim.submit(BUY, 5).value.status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
    assert sim.fills() == []
    sim.quote(10.00, 10.01)
    assert [(f.last_px, f.last_qty) for f in sim.fills()] == [(10.01, 5)]


def test_a_quote_size_caps_each_fill_and_the_rest_keeps_working() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00, ask_size=30)
    assert sim.submit(BUY, 100).value.status is OrderStatus.PARTIALLY_FILLED  # type: ignore
    sim.quote(99.99, 100.01, ask_size=50)
    sim.quote(99.99, 100.02, ask_size=50)
    fills = sim.fills()
    assert [(f.last_qty, f.last_px) for f in fills] == [(30, 100.00), (50, 100.01), (20, 100.02)]
    assert [f.fee for f in fills][1] == pytest.approx(taker_fee(50, 100.01, first=False))
    assert sim.status("c1") is OrderStatus.FILLED
    assert len({f.trade_id for f in fills}) == 3


def test_trade_ticks_fill_market_orders_at_the_print_capped_by_its_size() -> None:
    sim = Sim()
    sim.submit(BUY, 10)
    sim.venue.on_trade(TradeTick(SYM, 50.0, 4.0, T0, T0))
    sim.venue.on_trade(TradeTick(SYM, 50.5, 100.0, T0, T0))
    assert [(f.last_qty, f.last_px) for f in sim.fills()] == [(4, 50.0), (6, 50.5)]


# --- limit orders --------------------------------------------------------------------------

def test_buy_limit_rests_then_fills_at_its_limit_as_maker_when_ask_reaches_it() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    assert sim.submit(BUY, 10, LMT, price=99.50).value.status is (  # type: ignore[union-attr]
        OrderStatus.ACCEPTED)
    sim.quote(99.50, 99.51)                                          # ask 99.51 > limit
    assert sim.fills() == []
    sim.quote(99.30, 99.40)                                          # ask through the limit
    (fill,) = sim.fills()
    assert (fill.last_px, fill.liquidity) == (99.50, LiquiditySide.MAKER)
    assert fill.fee == pytest.approx(10 * 99.50 * 1e-4 + 1.0)


def test_marketable_limit_takes_the_ask_as_taker() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 10, LMT, price=101.00)
    (fill,) = sim.fills()
    assert (fill.last_px, fill.liquidity) == (100.02, LiquiditySide.TAKER)


def test_marketable_limit_with_slippage_never_pays_beyond_its_limit() -> None:
    sim = Sim(fill_model=FillModel(slippage=FixedTickSlippage(5)))
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 1, LMT, price=100.04)
    assert [f.last_px for f in sim.fills()] == [100.04]


def test_sell_limit_rests_then_fills_when_bid_reaches_it() -> None:
    sim = Sim(allow_short=True)
    sim.quote(100.00, 100.02)
    sim.submit(SELL, 3, LMT, price=100.50)
    sim.quote(100.49, 100.52)
    assert sim.fills() == []
    sim.quote(100.60, 100.62)
    assert [(f.last_px, f.liquidity) for f in sim.fills()] == [(100.50, LiquiditySide.MAKER)]


# --- stop orders ---------------------------------------------------------------------------

def test_buy_stop_triggers_when_ask_reaches_trigger_and_fills_at_the_ask() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 2, STP, trigger=101.00)
    sim.quote(100.97, 100.99)
    assert sim.fills() == []
    sim.quote(101.03, 101.05)
    assert [(f.last_px, f.liquidity) for f in sim.fills()] == [(101.05, LiquiditySide.TAKER)]


def test_sell_stop_triggers_when_bid_reaches_trigger_and_fills_at_the_bid() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 5)
    sim.submit(SELL, 5, STP, trigger=99.00)
    sim.quote(99.01, 99.03)
    assert len(sim.fills()) == 1
    sim.quote(98.90, 98.95)
    assert [f.last_px for f in sim.fills()] == [98.90]
    assert sim.venue.positions("A") == []


def test_buy_stop_limit_rests_as_a_limit_after_triggering() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 2, STL, price=101.10, trigger=101.00)
    sim.quote(101.15, 101.20)                 # triggers; ask above the limit: rests
    assert sim.fills() == []
    sim.quote(100.95, 101.05)                 # ask back under the limit
    assert [(f.last_px, f.liquidity) for f in sim.fills()] == [(101.10, LiquiditySide.MAKER)]


def test_sell_stop_limit_fills_at_once_when_marketable_on_trigger() -> None:
    sim = Sim(allow_short=True)
    sim.quote(100.00, 100.02)
    sim.submit(SELL, 2, STL, price=98.90, trigger=99.00)
    sim.quote(98.95, 98.97)
    assert [(f.last_px, f.liquidity) for f in sim.fills()] == [(98.95, LiquiditySide.TAKER)]


def test_untriggered_stop_never_fills() -> None:
    sim = Sim()
    sim.quote(100.00, 100.02)
    sim.submit(BUY, 2, STP, trigger=105.00)
    for ask in (100.5, 101.0, 104.99):
        sim.quote(ask - 0.02, ask)
    assert sim.fills() == []
    assert sim.status("c1") is OrderStatus.ACCEPTED


# --- time in force -------------------------------------------------------------------------

def test_ioc_fills_what_the_quote_offers_and_expires_the_rest() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00, ask_size=30)
    report = sim.submit(BUY, 100, tif=TimeInForce.IOC).value
    assert (report.status, report.filled_qty) == (OrderStatus.EXPIRED, 30)  # type: ignore
    events = sim.events()
    assert [type(e) for e in events] == [OrderAccepted, OrderFilled, OrderExpired]


def test_fok_without_enough_size_expires_with_no_fill() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00, ask_size=30)
    report = sim.submit(BUY, 100, tif=TimeInForce.FOK).value
    assert (report.status, report.filled_qty) == (OrderStatus.EXPIRED, 0)  # type: ignore
    sim.quote(99.99, 100.00, ask_size=1000)
    assert sim.fills() == []


def test_fok_with_enough_size_fills_everything() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00, ask_size=100)
    assert sim.submit(BUY, 100, tif=TimeInForce.FOK).value.status is (  # type: ignore
        OrderStatus.FILLED)


def test_ioc_limit_that_is_not_marketable_expires_at_once() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00)
    assert sim.submit(BUY, 1, LMT, TimeInForce.IOC, price=99.00).value.status is (  # type: ignore
        OrderStatus.EXPIRED)


def test_day_order_expires_at_the_end_of_the_utc_day_of_submission() -> None:
    sim = Sim()
    sim.quote(99.99, 100.00)
    sim.submit(BUY, 1, LMT, TimeInForce.DAY, price=90.00)
    sim.clock.set_ns(T0 - T0 % (86_400 * 10**9) + 86_400 * 10**9 - 1)   # 23:59:59.999999999
    sim.quote(99.99, 100.00)
    assert sim.status("c1") is OrderStatus.ACCEPTED
    sim.clock.advance(1e-9)
    assert sim.venue.open_orders("A") == []
    assert sim.status("c1") is OrderStatus.EXPIRED
    assert [type(e) for e in sim.events()] == [OrderAccepted, OrderExpired]


# --- bars ----------------------------------------------------------------------------------

def test_next_open_rule_fills_a_market_order_at_the_next_bars_open() -> None:
    sim = Sim(fill_model=FillModel(bar_rule=BarFillRule.NEXT_OPEN))
    sim.bar(100, 101, 99, 100.5)
    sim.submit(BUY, 1)
    assert sim.fills() == []
    sim.bar(100.7, 102, 100.2, 101)
    assert [f.last_px for f in sim.fills()] == [100.7]


def test_close_rule_fills_a_market_order_at_once_at_the_last_close() -> None:
    sim = Sim(fill_model=FillModel(bar_rule=BarFillRule.CLOSE))
    sim.bar(100, 101, 99, 100.5)
    sim.submit(BUY, 1)
    assert [f.last_px for f in sim.fills()] == [100.5]


def test_bar_limit_fills_at_limit_when_low_reaches_it_and_at_open_on_a_gap() -> None:
    sim = Sim()
    sim.bar(100, 101, 99, 100.5)
    sim.submit(BUY, 1, LMT, price=99.50)
    sim.submit(BUY, 1, LMT, price=99.00)
    sim.bar(100.2, 100.8, 99.4, 100)          # reaches 99.50 only
    assert [(f.client_order_id, f.last_px) for f in sim.fills()] == [("c1", 99.50)]
    sim.bar(98.5, 99.5, 98, 99)               # gaps below 99.00: fills at the open
    assert [(f.client_order_id, f.last_px) for f in sim.fills()] == [("c2", 98.5)]


def test_bar_stops_fill_at_the_trigger_or_at_a_gapped_open() -> None:
    sim = Sim(allow_short=True)
    sim.bar(100, 101, 99, 100.5)
    sim.submit(BUY, 1, STP, trigger=101.50)
    sim.submit(SELL, 1, STP, trigger=98.00)
    sim.bar(100.5, 102, 100, 101)             # buy stop hit inside the bar
    assert [f.last_px for f in sim.fills()] == [101.50]
    sim.bar(97, 97.5, 96, 97)                 # sell stop gapped through
    assert [f.last_px for f in sim.fills()] == [97]


def test_bar_volume_fraction_caps_each_fill() -> None:
    sim = Sim(fill_model=FillModel(bar_volume_fraction=0.1))
    sim.bar(100, 101, 99, 100, volume=1000)
    sim.submit(BUY, 250)
    sim.bar(100, 101, 99, 100, volume=1000)
    sim.bar(100, 101, 99, 100, volume=1000)
    sim.bar(100, 101, 99, 100, volume=1000)
    assert [f.last_qty for f in sim.fills()] == [100, 100, 50]


# --- rejections ----------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "code"), [
    ({"qty": 3.5}, ErrorCode.INVALID_ORDER),                          # off the step
    ({"qty": 0.0}, ErrorCode.INVALID_ORDER),
    ({"qty": -2.0}, ErrorCode.INVALID_ORDER),
    ({"qty": math.nan}, ErrorCode.INVALID_ORDER),
    ({"qty": math.inf}, ErrorCode.INVALID_ORDER),
    ({"qty": "10"}, ErrorCode.INVALID_ORDER),                         # wrong type
    ({"qty": True}, ErrorCode.INVALID_ORDER),
    ({"qty": 1, "order_type": LMT, "price": 5.00}, ErrorCode.INVALID_ORDER),  # notional 5 < 10
    ({"qty": 1, "order_type": LMT, "price": math.nan}, ErrorCode.INVALID_ORDER),
    ({"qty": 1, "order_type": LMT, "price": -100.0}, ErrorCode.INVALID_ORDER),
    ({"qty": 1, "order_type": LMT, "price": 100.005}, ErrorCode.INVALID_ORDER),  # off tick
    ({"qty": 1, "order_type": LMT}, ErrorCode.INVALID_ORDER),         # no price
    ({"qty": 1, "price": 100.0}, ErrorCode.INVALID_ORDER),            # price on a market order
    ({"qty": 1, "order_type": STP}, ErrorCode.INVALID_ORDER),         # no trigger
    ({"qty": 1, "order_type": "BOGUS"}, ErrorCode.INVALID_ORDER),
    ({"qty": 1, "tif": "FOREVER"}, ErrorCode.INVALID_ORDER),
    ({"qty": 1, "reduce_only": True}, ErrorCode.INVALID_ORDER),       # nothing to reduce
    ({"qty": 2_000}, ErrorCode.INSUFFICIENT_FUNDS),                   # 2000 * 100 > cash
])
def test_bad_orders_are_rejected_with_a_code_and_an_event(kwargs, code) -> None:
    sim = Sim(cash=100_000.0)
    sim.quote(99.98, 100.02)
    qty = kwargs.pop("qty")
    result = sim.submit(BUY, qty, **kwargs)
    assert result.code is code, result.detail
    assert result.value.status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert [type(e) for e in sim.events()] == [OrderRejected]
    assert sim.venue.positions("A") == [] and sim.venue.open_orders("A") == []
    assert sim.venue.balances("A")[0].cash == 100_000.0


def test_unknown_symbol_is_rejected_unknown_symbol() -> None:
    sim = Sim()
    cmd = SubmitOrder("A", "u1", "NOPE", BUY, 1.0, T0, T0)
    sim.commands["u1"] = cmd
    assert sim.venue.submit("A", cmd).code is ErrorCode.UNKNOWN_SYMBOL
    assert [type(e) for e in sim.events()] == [OrderRejected]


def test_bad_side_or_non_command_is_invalid_order_not_an_exception() -> None:
    sim = Sim()
    assert sim.submit("SIDEWAYS", 1).code is ErrorCode.INVALID_ORDER  # type: ignore[arg-type]
    assert sim.venue.submit("A", {"qty": 1}).code is ErrorCode.INVALID_ORDER  # type: ignore
    assert sim.submit(BUY, 1, coid="").code is ErrorCode.INVALID_ORDER  # type: ignore


def test_sell_without_a_position_is_insufficient_funds_unless_shorting_is_allowed() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    assert sim.submit(SELL, 1).code is ErrorCode.INSUFFICIENT_FUNDS
    short = Sim(allow_short=True)
    short.quote(99.98, 100.02)
    assert short.submit(SELL, 1).ok
    assert short.venue.positions("A")[0].quantity == -1


def test_open_sells_count_against_the_position() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10)
    assert sim.submit(SELL, 6, LMT, price=110.0).ok
    assert sim.submit(SELL, 6, LMT, price=111.0).code is ErrorCode.INSUFFICIENT_FUNDS
    assert sim.submit(SELL, 4, LMT, price=111.0).ok


def test_open_buys_reserve_cash() -> None:
    sim = Sim(cash=10_000.0)
    sim.quote(99.98, 100.02)
    assert sim.submit(BUY, 60, LMT, price=90.0).ok            # reserves 5400 + fee
    assert sim.venue.balances("A")[0].reserved == pytest.approx(5400 + taker_fee(60, 90.0))
    assert sim.submit(BUY, 60, LMT, price=90.0).code is ErrorCode.INSUFFICIENT_FUNDS
    sim.venue.cancel("A", "c1")
    assert sim.submit(BUY, 60, LMT, price=90.0).ok


def test_reduce_only_that_would_increase_the_position_is_invalid_order() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10)
    assert sim.submit(SELL, 11, reduce_only=True).code is ErrorCode.INVALID_ORDER
    assert sim.submit(BUY, 1, reduce_only=True).code is ErrorCode.INVALID_ORDER
    assert sim.submit(SELL, 10, reduce_only=True).value.status is (  # type: ignore[union-attr]
        OrderStatus.FILLED)


def test_a_reduce_only_bracket_leg_is_canceled_when_the_position_is_gone() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10)
    sim.submit(SELL, 10, STP, trigger=95.0, reduce_only=True)
    sim.submit(SELL, 10, LMT, price=105.0, reduce_only=True)
    sim.quote(105.0, 105.02)                       # take profit fills
    sim.quote(94.0, 94.02)                         # stop triggers with nothing left
    assert sim.status("c3") is OrderStatus.FILLED
    assert sim.status("c2") is OrderStatus.CANCELED
    assert sim.venue.positions("A") == []
    sim.events()


# --- idempotency, cancel, modify -----------------------------------------------------------

def test_resubmitting_a_client_order_id_returns_the_same_order_and_never_fills_twice() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    first = sim.submit(BUY, 10, coid="same")
    second = sim.submit(BUY, 10, coid="same")
    third = sim.submit(BUY, 99, coid="same")       # even with different fields
    ids = {r.value.venue_order_id for r in (first, second, third)}  # type: ignore[union-attr]
    assert len(ids) == 1 and second.value == first.value
    assert [f.last_qty for f in sim.fills()] == [10]
    assert sim.venue.positions("A")[0].quantity == 10


def test_resubmitting_a_rejected_order_repeats_the_rejection_without_a_new_event() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    assert sim.submit(BUY, 10_000, coid="r").code is ErrorCode.INSUFFICIENT_FUNDS
    assert sim.submit(BUY, 10_000, coid="r").code is ErrorCode.INSUFFICIENT_FUNDS
    assert [type(e) for e in sim.events()] == [OrderRejected]


def test_cancel_of_a_terminal_order_fails_with_its_report_and_changes_nothing() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10)
    sim.events()
    result = sim.venue.cancel("A", "c1")
    assert result.code is ErrorCode.INVALID_ORDER
    assert result.value.status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert sim.events() == []
    assert sim.venue.cancel("A", "never").code is ErrorCode.UNKNOWN_ORDER


def test_cancel_of_a_partially_filled_order_keeps_its_fills() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02, ask_size=3)
    sim.submit(BUY, 10)
    result = sim.venue.cancel("A", "c1")
    assert result.ok and result.value.filled_qty == 3  # type: ignore[union-attr]
    assert [type(e) for e in sim.events()] == [OrderAccepted, OrderFilled, OrderCanceled]


def test_modify_changes_a_resting_order_and_emits_order_updated() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10, LMT, price=95.0)
    result = sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, quantity=12, price=96.0))
    assert result.ok and (result.value.quantity, result.value.price) == (12, 96.0)  # type: ignore
    assert isinstance(sim.events()[-1], OrderUpdated)
    sim.quote(95.90, 95.95)
    assert [(f.last_qty, f.last_px) for f in sim.fills()] == [(12, 96.0)]


def test_modify_to_a_marketable_price_fills_at_once_as_taker() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 1, LMT, price=95.0)
    sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, price=100.10))
    assert [(f.last_px, f.liquidity) for f in sim.fills()] == [(100.02, LiquiditySide.TAKER)]


def test_an_order_fills_at_most_once_per_quote_even_after_a_modify() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02, ask_size=3)
    sim.submit(BUY, 10, LMT, price=100.02)         # takes the 3 shown
    sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, price=100.05))
    assert [f.last_qty for f in sim.fills()] == [3]
    sim.quote(99.98, 100.02, ask_size=3)
    assert [f.last_qty for f in sim.fills()] == [3]


@pytest.mark.parametrize("change", [
    {"quantity": 2},              # not above the 3 already filled
    {"quantity": -1},
    {"quantity": "12"},
    {"price": math.nan},
    {"trigger_price": 99.0},      # not a stop
    {},                           # nothing to modify
])
def test_bad_modify_is_refused_and_changes_nothing(change) -> None:
    sim = Sim()
    sim.quote(99.98, 100.02, bid_size=3, ask_size=3)
    sim.submit(BUY, 10, LMT, price=100.02)
    sim.events()
    before = sim.venue.order_status("A", "c1").value
    result = sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, **change))
    assert result.code is ErrorCode.INVALID_ORDER
    assert sim.venue.order_status("A", "c1").value == before
    assert sim.events() == []


def test_modify_that_needs_more_cash_than_available_is_insufficient_funds() -> None:
    sim = Sim(cash=1_000.0)
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 5, LMT, price=90.0)
    result = sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, quantity=50))
    assert result.code is ErrorCode.INSUFFICIENT_FUNDS
    assert result.value.quantity == 5  # type: ignore[union-attr]


def test_modify_of_unknown_or_finished_orders_fails() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 1)
    assert sim.venue.modify("A", ModifyOrder("A", "zz", T0, T0, quantity=2)).code is (
        ErrorCode.UNKNOWN_ORDER)
    assert sim.venue.modify("A", ModifyOrder("A", "c1", T0, T0, quantity=2)).code is (
        ErrorCode.INVALID_ORDER)


# --- market data input ---------------------------------------------------------------------

@pytest.mark.parametrize(("bid", "ask", "bid_size", "field"), [
    (math.nan, 100.0, 1.0, "QuoteTick.bid"),
    (99.0, math.inf, 1.0, "QuoteTick.ask"),
    (-1.0, 100.0, 1.0, "QuoteTick.bid"),
    (0.0, 100.0, 1.0, "QuoteTick.bid"),
    (101.0, 100.0, 1.0, "QuoteTick.ask"),       # inverted
    (99.0, 100.0, -5.0, "QuoteTick.bid_size"),
    ("99", 100.0, 1.0, "QuoteTick.bid"),
])
def test_bad_quotes_raise_invalid_input_naming_the_field_and_change_nothing(
        bid, ask, bid_size, field) -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 5, LMT, price=99.0)
    before = (sim.venue.order_status("A", "c1").value, sim.venue.balances("A"))
    with pytest.raises(InvalidInput) as info:
        sim.venue.on_quote(QuoteTick(SYM, bid, ask, bid_size, 1.0, T0, T0))
    assert info.value.field == field
    assert (sim.venue.order_status("A", "c1").value, sim.venue.balances("A")) == before
    sim.submit(BUY, 1)                             # still priced by the last good quote
    assert sim.fills()[-1].last_px == 100.02


def test_bad_bars_trades_and_unknown_symbols_raise_typed_errors() -> None:
    sim = Sim()
    with pytest.raises(InvalidInput):
        sim.bar(100, 99, 101, 100)                 # high below low
    with pytest.raises(InvalidInput):
        sim.venue.on_trade(TradeTick(SYM, math.nan, 1.0, T0, T0))
    with pytest.raises(InvalidInput):
        sim.venue.on_quote("not a quote")  # type: ignore[arg-type]
    with pytest.raises(UnknownName):
        sim.venue.on_quote(QuoteTick("NOPE", 1.0, 1.01, 1.0, 1.0, T0, T0))


# --- fees and money ------------------------------------------------------------------------

def test_per_order_fee_is_charged_on_the_first_fill_only_and_fee_model_is_pluggable() -> None:
    flat = ScheduleFees(FeeSchedule(taker_bps=0.0, per_order=2.5, per_unit=0.1))
    sim = Sim(fill_model=FillModel(fees=flat))
    sim.quote(99.98, 100.02, ask_size=4)
    sim.submit(BUY, 10)
    sim.quote(99.98, 100.02, ask_size=100)
    assert [f.fee for f in sim.fills()] == [pytest.approx(2.5 + 0.4), pytest.approx(0.6)]


def test_equity_moves_by_realized_plus_unrealized_minus_fees() -> None:
    sim = Sim()
    sim.quote(99.98, 100.02)
    sim.submit(BUY, 10)
    sim.quote(104.98, 105.02)
    sim.submit(SELL, 4)
    sim.quote(109.99, 110.01)
    pf = sim.venue.portfolio("A")
    assert pf.equity() - 100_000 == pytest.approx(
        pf.realized_pnl() + pf.unrealized_pnl() - pf.fees())
    assert sim.venue.balances("A")[0].equity == pytest.approx(pf.equity())


# --- the event stream under random sequences ----------------------------------------------

_submit = st.tuples(
    st.just("submit"), st.sampled_from([BUY, BUY, SELL]), st.sampled_from(list(OrderType)),
    st.sampled_from(list(TimeInForce)), st.sampled_from([1.0, 3.0, 10.0, 80.0]),
    st.integers(-20, 20), st.integers(-20, 20), st.sampled_from([False, False, False, True]))
_ops = st.one_of(
    _submit, _submit,
    st.tuples(st.just("quote"), st.integers(-30, 30), st.integers(0, 10),
              st.sampled_from([0.0, 7.0, 1e6]), st.sampled_from([0.0, 3.0, 1e6, 1e6])),
    st.tuples(st.just("trade"), st.integers(-30, 30), st.sampled_from([0.0, 2.0, 1e6])),
    st.tuples(st.just("bar"), st.integers(-30, 30), st.integers(0, 40), st.integers(0, 40),
              st.floats(0, 1), st.sampled_from([0.0, 10.0, 1e6])),
    st.tuples(st.just("cancel"), st.integers(1, 12)),
    st.tuples(st.just("modify"), st.integers(1, 12), st.sampled_from([None, 2.0, 20.0]),
              st.sampled_from([None, -20, 0, 20])),
    st.tuples(st.just("resubmit"), st.integers(1, 12)),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 3_600.0, 86_400.0])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_ops, min_size=8, max_size=30), allow_short=st.booleans(),
       rule=st.sampled_from(list(BarFillRule)),
       volume_fraction=st.sampled_from([None, 0.5]))
def test_random_sequences_give_a_legal_consistent_event_stream(
        ops, allow_short, rule, volume_fraction) -> None:
    sim = Sim(cash=20_000.0, allow_short=allow_short,
              fill_model=FillModel(slippage=FixedTickSlippage(1), bar_rule=rule,
                                   bar_volume_fraction=volume_fraction))
    mid = 100.0
    sim.quote(99.99, 100.01, 20.0, 20.0)

    def px(offset_ticks: int) -> float:
        return round(max(0.05, mid + offset_ticks * 0.05), 2)

    for op in ops:
        kind = op[0]
        if kind == "quote":
            mid = px(op[1])
            sim.quote(mid, round(mid + op[2] * 0.01, 2), op[3], op[4])
        elif kind == "trade":
            mid = px(op[1])
            sim.venue.on_trade(TradeTick(SYM, mid, op[2], T0, T0))
        elif kind == "bar":
            o, hi, lo = px(op[1]), px(op[1] + op[2]), px(op[1] - op[3])
            mid = round(lo + (hi - lo) * op[4], 2)
            sim.bar(o, hi, lo, mid, op[5])
        elif kind == "submit":
            _, side, otype, tif, qty, p_off, t_off, reduce_only = op
            price = px(p_off) if otype in (LMT, STL) else None
            trigger = px(t_off) if otype in (STP, STL) else None
            sim.submit(side, qty, otype, tif, price, trigger, reduce_only)
        elif kind == "cancel":
            sim.venue.cancel("A", f"c{op[1]}")
        elif kind == "modify":
            price = None if op[3] is None else px(op[3])
            sim.venue.modify("A", ModifyOrder("A", f"c{op[1]}", T0, T0, op[2], price))
        elif kind == "resubmit" and f"c{op[1]}" in sim.commands:
            sim.venue.submit("A", sim.commands[f"c{op[1]}"])
        elif kind == "advance":
            sim.clock.advance(op[1])
        sim.events()                          # replays: raises on an illegal event

    fills = [f for o in sim.orders.values() for f in o.events if isinstance(f, OrderFilled)]
    assert len({f.trade_id for f in fills}) == len(fills)
    event(f"fills: {min(len(fills), 3)}+")
    for o in sim.orders.values():
        event(f"status {o.status.value}")
    for coid, order in sim.orders.items():
        report = sim.venue.order_status("A", coid).value
        assert report.status is order.status, coid  # type: ignore[union-attr]
        assert report.filled_qty == pytest.approx(order.filled_qty)  # type: ignore[union-attr]
    assert {r.client_order_id for r in sim.venue.open_orders("A")} == {
        c for c, o in sim.orders.items() if o.is_open}
    position = sum(f.last_qty * f.side.sign for f in fills)
    cash = 20_000.0 - sum(f.last_qty * f.last_px * f.side.sign + f.fee for f in fills)
    balance = sim.venue.balances("A")[0]
    assert balance.cash == pytest.approx(cash)
    held = sim.venue.positions("A")
    assert (held[0].quantity if held else 0.0) == pytest.approx(position, abs=1e-9)
    if not allow_short:
        assert position >= -1e-9 and balance.cash >= -1e-6
