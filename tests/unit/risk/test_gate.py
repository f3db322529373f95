"""The pre-trade risk gate: one test per check, closes, fail-closed cases, trading states."""

from __future__ import annotations

import asyncio
import itertools
import math

import orjson
import pytest

from engine.account import Account, AccountConfig
from engine.broker import Credentials
from engine.clock import NANOS_PER_SECOND, SimClock
from engine.enums import DenyReason, OrderSide, OrderStatus, OrderType, SignalSide
from engine.instruments import Instrument
from engine.messages import OrderDenied, PositionClosed, QuoteTick, Signal, SubmitOrder
from engine.sim import SimAccount, SimBroker
from engine.sizing import SizingConfig, SizingMode
from risk.config import AccountLimits, FleetLimits, RiskConfig, StrategyLimits
from risk.gate import AccountView, OpenOrderView, RiskGate
from risk.state import FLEET, NS_PER_DAY, StateCause, TradingState, TradingStateChanged

T0 = 1_700_000_000 * NANOS_PER_SECOND
NEXT_DAY = (T0 // NS_PER_DAY + 1) * NS_PER_DAY
SPY = Instrument("SPY", price_tick=0.01, qty_step=1.0, min_qty=1.0, min_notional=10.0)
QQQ = Instrument("QQQ", price_tick=0.01, qty_step=1.0, min_qty=1.0)
INSTRUMENTS = {"SPY": SPY, "QQQ": QQQ}
BUY, SELL = OrderSide.BUY, OrderSide.SELL
_ids = itertools.count()


def view(account_id="A1", *, cash=100_000.0, positions=None, prices=None, equity=None,
         quotes=None, marks=None, open_orders=(), order_ids=frozenset()) -> AccountView:
    """An account with quotes bid = ask = price, marked at the price."""
    prices = {"SPY": 100.0, "QQQ": 50.0} if prices is None else prices
    positions = positions or {}
    quotes = {s: (p, p) for s, p in prices.items()} if quotes is None else quotes
    marks = dict(prices) if marks is None else marks
    if equity is None:
        equity = cash + sum(q * marks.get(s, math.nan) for s, q in positions.items())
    return AccountView(account_id, cash, equity, INSTRUMENTS, positions, marks, quotes,
                       tuple(open_orders), order_ids)


def order(side=BUY, qty=10.0, symbol="SPY", *, account_id="A1", ts=T0, coid=None,
          **kw) -> SubmitOrder:
    return SubmitOrder(account_id, coid or f"o{next(_ids)}", symbol, side, qty, ts, ts, **kw)


def gate(fleet=None, strategies=None, **limits) -> RiskGate:
    return RiskGate(RiskConfig(fleet=fleet or FleetLimits(),
                               account_defaults=AccountLimits(**limits),
                               strategies=strategies or {}))


def denied(result, reason, *words):
    assert isinstance(result, OrderDenied), result
    assert result.reason is reason, result.detail
    for word in words:
        assert word in result.detail, result.detail
    return result


# --- accounts, IDs, instruments and malformed orders ---------------------------------------

def test_order_within_every_limit_passes():
    g = gate(max_order_qty=10, max_order_notional=1000, max_position_qty=10,
             max_open_positions=1, max_gross_exposure=1000, max_orders_per_second=1)
    assert g.decide(order(BUY, 10), view(), T0) is None


def test_account_without_limits_is_denied_when_there_are_no_defaults():
    g = RiskGate(RiskConfig(accounts={"A1": AccountLimits()}))
    assert g.decide(order(account_id="A1"), view("A1"), T0) is None
    denied(g.decide(order(account_id="ZZ"), view("ZZ"), T0), DenyReason.UNKNOWN_ACCOUNT,
           "'ZZ'")


def test_view_of_another_account_is_denied():
    denied(gate().decide(order(account_id="A1"), view("A2"), T0), DenyReason.UNKNOWN_ACCOUNT)


def test_unknown_instrument_is_denied():
    denied(gate().decide(order(symbol="XYZ"), view(), T0), DenyReason.UNKNOWN_INSTRUMENT,
           "XYZ")


@pytest.mark.parametrize("qty", [math.nan, math.inf, -math.inf, 0.0, -1.0, None, "10", True])
def test_quantity_not_finite_and_positive_is_denied(qty):
    denied(gate().decide(order(qty=qty), view(), T0), DenyReason.INVALID_QUANTITY)


def test_quantity_off_the_step_is_denied_naming_the_step():
    denied(gate().decide(order(qty=1.5), view(), T0), DenyReason.INVALID_QUANTITY,
           "SPY.qty_step")


@pytest.mark.parametrize("price", [math.nan, math.inf, -100.0, 0.0, 100.005])
def test_limit_price_not_finite_positive_and_on_the_tick_is_denied(price):
    cmd = order(order_type=OrderType.LIMIT, price=price)
    denied(gate().decide(cmd, view(), T0), DenyReason.INVALID_PRICE, "price_tick")


def test_limit_order_without_price_and_stop_without_trigger_are_denied():
    g = gate()
    denied(g.decide(order(order_type=OrderType.LIMIT), view(), T0), DenyReason.INVALID_PRICE)
    denied(g.decide(order(order_type=OrderType.STOP), view(), T0), DenyReason.INVALID_PRICE,
           "trigger_price")


def test_order_id_already_accepted_or_known_to_the_account_is_a_duplicate():
    g = gate()
    assert g.decide(order(coid="x1"), view(), T0) is None
    denied(g.decide(order(coid="x1"), view(), T0), DenyReason.DUPLICATE_ID, "'x1'")
    denied(g.decide(order(coid="x2"), view(order_ids={"x2"}), T0), DenyReason.DUPLICATE_ID)


def test_signal_id_gets_one_opening_and_one_reduce_only_order():
    g = gate()
    held = view(positions={"SPY": -5})
    assert g.decide(order(BUY, 5, signal_id="s1", reduce_only=True), held, T0) is None
    assert g.decide(order(BUY, 10, signal_id="s1"), view(), T0) is None
    denied(g.decide(order(BUY, 10, signal_id="s1"), view(), T0), DenyReason.DUPLICATE_ID,
           "'s1'")


# --- order size ------------------------------------------------------------------------------

def test_quantity_below_the_instrument_and_account_minimum_is_denied():
    g = gate(min_order_qty=3)
    assert g.decide(order(qty=3), view(), T0) is None
    denied(g.decide(order(qty=2), view(), T0), DenyReason.BELOW_MIN_QUANTITY,
           "account.min_order_qty=3", "quantity 2")


def test_quantity_above_the_maximum_is_denied_at_one_step_past():
    g = gate(max_order_qty=10)
    assert g.decide(order(qty=10), view(), T0) is None
    denied(g.decide(order(qty=11), view(), T0), DenyReason.ABOVE_MAX_QUANTITY,
           "account.max_order_qty=10", "quantity 11")


def test_strategy_max_quantity_applies_only_to_orders_of_that_strategy():
    g = gate(strategies={"s1": StrategyLimits(max_order_qty=5)})
    assert g.decide(order(qty=5, strategy_id="s1"), view(), T0) is None
    denied(g.decide(order(qty=6, strategy_id="s1"), view(), T0),
           DenyReason.ABOVE_MAX_QUANTITY, "strategies.s1.max_order_qty=5")
    assert g.decide(order(qty=6, strategy_id="s2"), view(), T0) is None
    assert g.decide(order(qty=6), view(), T0) is None


def test_notional_below_the_instrument_minimum_is_denied():
    g = gate()
    cheap = view(prices={"SPY": 5.0})
    assert g.decide(order(qty=2), cheap, T0) is None                     # 10 = min
    denied(g.decide(order(qty=1), cheap, T0), DenyReason.BELOW_MIN_NOTIONAL,
           "instrument.SPY.min_notional=10", "notional 5")


def test_notional_below_the_account_minimum_is_denied():
    g = gate(min_order_notional=500)
    assert g.decide(order(qty=5), view(), T0) is None
    denied(g.decide(order(qty=4), view(), T0), DenyReason.BELOW_MIN_NOTIONAL,
           "account.min_order_notional=500")


def test_notional_above_the_maximum_per_order_is_denied():
    g = gate(max_order_notional=1000)
    assert g.decide(order(qty=10), view(), T0) is None
    denied(g.decide(order(qty=10), view(prices={"SPY": 100.01}), T0),
           DenyReason.ABOVE_MAX_NOTIONAL, "account.max_order_notional=1000", "notional 1000.1")


def test_limit_order_notional_is_taken_at_its_limit_price():
    g = gate(max_order_notional=1000)
    cmd = order(qty=10, order_type=OrderType.LIMIT, price=101.0)
    denied(g.decide(cmd, view(), T0), DenyReason.ABOVE_MAX_NOTIONAL, "notional 1010")


def test_strategy_max_notional_is_tighter_than_the_account():
    g = gate(max_order_notional=10_000, strategies={"s1": StrategyLimits(
        max_order_notional=500)})
    denied(g.decide(order(qty=6, strategy_id="s1"), view(), T0),
           DenyReason.ABOVE_MAX_NOTIONAL, "strategies.s1.max_order_notional=500")


# --- balance, positions, exposure ------------------------------------------------------------

def test_buy_costing_more_than_cash_less_open_buys_is_denied():
    g = gate()
    assert g.decide(order(qty=10), view(cash=1000.0), T0) is None
    working = [OpenOrderView("QQQ", BUY, 2, 50.0, False)]               # reserves 100
    denied(g.decide(order(qty=10), view(cash=1000.0, open_orders=working), T0),
           DenyReason.INSUFFICIENT_FUNDS, "free balance 900", "reserved")


def test_reduce_only_and_sell_orders_reserve_no_cash():
    working = [OpenOrderView("QQQ", BUY, 2, 50.0, True), OpenOrderView("QQQ", SELL, 2, 50.0,
                                                                        False)]
    v = view(cash=1000.0, positions={"QQQ": 10}, open_orders=working)
    assert gate().decide(order(qty=10), v, T0) is None


def test_free_balance_check_can_be_turned_off_for_margin_accounts():
    assert gate(check_free_balance=False).decide(order(qty=10), view(cash=0.0), T0) is None


def test_position_quantity_after_the_order_above_the_maximum_is_denied():
    g = gate(max_position_qty=15)
    held = view(positions={"SPY": 10})
    assert g.decide(order(qty=5), held, T0) is None
    denied(g.decide(order(qty=6), held, T0), DenyReason.MAX_POSITION,
           "account.max_position_qty=15", "after 16")


def test_position_counts_working_orders_and_flips():
    g = gate(max_position_qty=15)
    working = view(positions={"SPY": 10}, open_orders=[OpenOrderView("SPY", BUY, 5, None,
                                                                     False)])
    denied(g.decide(order(qty=1), working, T0), DenyReason.MAX_POSITION)
    held = view(positions={"SPY": 10})
    assert g.decide(order(SELL, 25), held, T0) is None                  # 10 -> -15
    denied(g.decide(order(SELL, 26), held, T0), DenyReason.MAX_POSITION)


def test_cancelled_reduce_only_orders_cannot_hide_a_position():
    g = gate(max_position_qty=15)
    closing = [OpenOrderView("SPY", SELL, 10, None, True)]
    denied(g.decide(order(qty=6), view(positions={"SPY": 10}, open_orders=closing), T0),
           DenyReason.MAX_POSITION)


def test_position_notional_after_the_order_above_the_maximum_is_denied():
    g = gate(max_position_notional=1500)
    held = view(positions={"SPY": 10})
    assert g.decide(order(qty=5), held, T0) is None
    denied(g.decide(order(qty=6), held, T0), DenyReason.MAX_POSITION,
           "account.max_position_notional=1500", "1600")


def test_strategy_max_position_applies_to_orders_carrying_its_id():
    g = gate(strategies={"s1": StrategyLimits(max_position_qty=12)})
    held = view(positions={"SPY": 10})
    assert g.decide(order(qty=2, strategy_id="s1"), held, T0) is None
    denied(g.decide(order(qty=3, strategy_id="s1"), held, T0), DenyReason.MAX_POSITION,
           "|SPY position| after 13 exceeds strategies.s1.max_position_qty=12")


def test_opening_a_position_beyond_the_maximum_count_is_denied():
    g = gate(max_open_positions=1)
    held = view(positions={"QQQ": 20})
    assert g.decide(order(qty=5, symbol="QQQ"), held, T0) is None       # adds, not opens
    denied(g.decide(order(qty=5), held, T0), DenyReason.MAX_OPEN_POSITIONS,
           "account.max_open_positions=1")
    pending = view(open_orders=[OpenOrderView("QQQ", BUY, 5, 50.0, False)])
    denied(g.decide(order(qty=5), pending, T0), DenyReason.MAX_OPEN_POSITIONS)


def test_gross_exposure_after_the_order_above_the_account_maximum_is_denied():
    g = gate(max_gross_exposure=2000)
    held = view(positions={"QQQ": -20})                                  # 1000 gross
    assert g.decide(order(qty=10), held, T0) is None
    denied(g.decide(order(qty=11), held, T0), DenyReason.MAX_EXPOSURE,
           "account.max_gross_exposure=2000", "2100")


def test_net_exposure_after_the_order_above_the_account_maximum_is_denied():
    g = gate(max_net_exposure=500)
    held = view(positions={"QQQ": 20})                                   # +1000 net
    assert g.decide(order(SELL, 15), held, T0) is None                  # net -500
    denied(g.decide(order(SELL, 16), held, T0), DenyReason.MAX_EXPOSURE,
           "account.max_net_exposure=500")


def test_fleet_gross_exposure_sums_every_account():
    g = gate(fleet=FleetLimits(max_gross_exposure=3000))
    assert g.decide(order(qty=10, account_id="A1"), view("A1"), T0) is None
    assert g.decide(order(qty=20, account_id="A2"), view("A2"), T0) is None   # 3000
    denied(g.decide(order(qty=1, symbol="QQQ", account_id="A3"), view("A3"), T0),
           DenyReason.MAX_EXPOSURE, "fleet.max_gross_exposure=3000", "3050")


def test_fleet_exposure_follows_each_accounts_latest_view_and_prices():
    g = gate(fleet=FleetLimits(max_gross_exposure=3000))
    assert g.decide(order(qty=10, account_id="A1"), view("A1"), T0) is None
    g.observe(view("A1", positions={"SPY": 10}, prices={"SPY": 150.0, "QQQ": 50.0}), T0)
    denied(g.decide(order(qty=11, account_id="A2"), view("A2", prices={"SPY": 150.0}), T0),
           DenyReason.MAX_EXPOSURE, "fleet")                            # 1500 + 1650
    g.observe(view("A1"), T0)                                            # A1 flat again
    assert g.decide(order(qty=11, account_id="A2"), view("A2"), T0) is None


def test_fleet_net_exposure_nets_longs_against_shorts():
    g = gate(fleet=FleetLimits(max_net_exposure=1000))
    assert g.decide(order(BUY, 10, account_id="A1"), view("A1"), T0) is None
    assert g.decide(order(SELL, 10, account_id="A2"), view("A2"), T0) is None   # net 0
    assert g.decide(order(BUY, 10, account_id="A3"), view("A3"), T0) is None    # 1000
    denied(g.decide(order(BUY, 1, account_id="A4"), view("A4"), T0), DenyReason.MAX_EXPOSURE,
           "fleet.max_net_exposure=1000")


# --- order rate ------------------------------------------------------------------------------

def test_order_rate_allows_the_burst_then_refills_at_the_rate():
    g = gate(max_orders_per_second=2, order_burst=2)
    assert g.decide(order(), view(), T0) is None
    assert g.decide(order(), view(), T0) is None
    denied(g.decide(order(), view(), T0), DenyReason.RATE_LIMIT,
           "account.max_orders_per_second=2")
    half = T0 + NANOS_PER_SECOND // 2                                    # one token back
    assert g.decide(order(), view(), half) is None
    denied(g.decide(order(), view(), half), DenyReason.RATE_LIMIT)
    later = T0 + 10 * NANOS_PER_SECOND                                   # capped at burst
    first, second, third = (g.decide(order(), view(), later) for _ in range(3))
    assert first is None and second is None
    denied(third, DenyReason.RATE_LIMIT)


def test_order_rate_is_per_account_and_denied_orders_spend_no_token():
    g = gate(max_orders_per_second=1, max_order_qty=10)
    denied(g.decide(order(qty=11), view(), T0), DenyReason.ABOVE_MAX_QUANTITY)
    assert g.decide(order(), view(), T0) is None
    assert g.decide(order(account_id="A2"), view("A2"), T0) is None


def test_pre_trade_reads_time_from_the_injected_clock_not_the_command():
    g = gate(max_orders_per_second=1)
    rig = AccountRig(g)
    asyncio.run(rig.account.start())
    rig.quote(100.0, 100.0)
    clocked = RiskGate(g.config, clock=rig.clock)
    later = T0 + 10 * NANOS_PER_SECOND
    assert clocked.pre_trade(order(ts=T0), rig.account) is None
    denied(clocked.pre_trade(order(ts=later), rig.account), DenyReason.RATE_LIMIT)
    assert g.pre_trade(order(ts=T0), rig.account) is None                 # cmd.ts_init
    assert g.pre_trade(order(ts=later), rig.account) is None


# --- closes, reduce-only ---------------------------------------------------------------------

def test_reduce_only_larger_than_the_position_or_on_its_side_is_denied():
    g = gate()
    held = view(positions={"SPY": 10})
    assert g.decide(order(SELL, 10, reduce_only=True), held, T0) is None
    denied(g.decide(order(SELL, 11, reduce_only=True), held, T0), DenyReason.REDUCE_ONLY,
           "closable 10")
    denied(g.decide(order(BUY, 1, reduce_only=True), held, T0), DenyReason.REDUCE_ONLY)
    denied(g.decide(order(SELL, 1, reduce_only=True), view(), T0), DenyReason.REDUCE_ONLY)


def test_reduce_only_counts_closing_orders_already_working():
    g = gate()
    held = view(positions={"SPY": 10}, open_orders=[OpenOrderView("SPY", SELL, 4, None, True)])
    denied(g.decide(order(SELL, 7, reduce_only=True), held, T0), DenyReason.REDUCE_ONLY)
    assert g.decide(order(SELL, 6, reduce_only=True), held, T0) is None


def test_reduce_only_close_passes_below_minimums_above_maximums_and_without_a_price():
    g = gate(min_order_notional=1000, max_order_qty=1, max_orders_per_second=1, order_burst=1)
    held = view(positions={"SPY": 10}, prices={"SPY": 0.5})
    assert g.decide(order(SELL, 10, reduce_only=True), held, T0) is None
    denied(g.decide(order(BUY, 1), held, T0), DenyReason.BELOW_MIN_NOTIONAL)
    no_price = view(positions={"SPY": 10}, quotes={}, marks={}, equity=math.nan)
    assert g.decide(order(SELL, 10, reduce_only=True), no_price, T0) is None


def test_reduce_only_close_passes_when_halted_by_the_kill_switch():
    g = gate()
    g.kill("A1", now_ns=T0, detail="operator")
    held = view(positions={"SPY": 10})
    denied(g.decide(order(BUY, 1), held, T0), DenyReason.KILL_SWITCH, "operator")
    denied(g.decide(order(SELL, 5), held, T0), DenyReason.KILL_SWITCH)   # not flagged
    assert g.decide(order(SELL, 10, reduce_only=True), held, T0) is None


# --- fail closed -----------------------------------------------------------------------------

def test_opening_order_without_a_valid_quote_is_denied_no_price():
    g = gate()
    denied(g.decide(order(), view(quotes={}), T0), DenyReason.NO_PRICE, "ask")
    denied(g.decide(order(SELL, 1), view(quotes={"SPY": (math.nan, 100.0)}), T0),
           DenyReason.NO_PRICE, "bid")
    limit = order(order_type=OrderType.LIMIT, price=100.0)
    assert g.decide(limit, view(quotes={}), T0) is None


def test_held_symbol_without_a_mark_or_equity_not_finite_is_denied_no_price():
    g = gate()
    unmarked = view(positions={"QQQ": 5}, marks={"SPY": 100.0}, equity=100_000.0)
    denied(g.decide(order(), unmarked, T0), DenyReason.NO_PRICE, "QQQ")
    denied(g.decide(order(), view(equity=math.nan), T0), DenyReason.NO_PRICE, "equity")


def test_open_buy_without_any_price_to_reserve_is_denied_no_price():
    working = [OpenOrderView("QQQ", BUY, 2, None, False)]
    v = view(open_orders=working, quotes={"SPY": (100.0, 100.0)}, marks={"SPY": 100.0})
    denied(gate().decide(order(), v, T0), DenyReason.NO_PRICE, "QQQ")


# --- trading states --------------------------------------------------------------------------

def states(g):
    return [(e.account_id, e.state, e.cause) for e in g.events
            if isinstance(e, TradingStateChanged)]


def test_daily_loss_moves_to_reducing_then_halted_and_back_on_a_new_utc_day():
    g = gate(daily_loss_reduce=0.02, daily_loss_halt=0.05)
    assert g.decide(order(), view(), T0) is None                        # start of day: 100k
    reducing = view(equity=98_000.0, positions={"SPY": 10})
    denied(g.decide(order(), reducing, T0 + 1), DenyReason.DAILY_LOSS_LIMIT,
           "REDUCING", "daily_loss_reduce=0.02")
    assert g.decide(order(SELL, 5), reducing, T0 + 2) is None           # reduces: passes
    halted = view(equity=95_000.0, positions={"SPY": 10})
    denied(g.decide(order(SELL, 5), halted, T0 + 3), DenyReason.DAILY_LOSS_LIMIT, "HALTED",
           "daily_loss_halt=0.05")
    assert g.decide(order(SELL, 5, reduce_only=True), halted, T0 + 4) is None
    recovered = view(equity=100_000.0)
    denied(g.decide(order(), recovered, T0 + 5), DenyReason.DAILY_LOSS_LIMIT)   # latched
    assert g.decide(order(), view(equity=95_000.0), NEXT_DAY) is None
    assert states(g) == [("A1", TradingState.REDUCING, StateCause.DAILY_LOSS),
                         ("A1", TradingState.HALTED, StateCause.DAILY_LOSS),
                         ("A1", TradingState.ACTIVE, StateCause.NEW_DAY)]


def test_drawdown_from_the_peak_halts_until_reset_even_across_days():
    g = gate(drawdown_reduce=0.10, drawdown_halt=0.20)
    g.observe(view(equity=100_000.0), T0)
    g.observe(view(equity=120_000.0), T0 + 1)                           # peak
    assert g.observe(view(equity=108_000.0), T0 + 2) is TradingState.REDUCING
    denied(g.decide(order(), view(equity=96_000.0), T0 + 3), DenyReason.MAX_DRAWDOWN,
           "HALTED", "drawdown_halt=0.2")
    assert g.observe(view(equity=130_000.0), NEXT_DAY) is TradingState.HALTED
    g.reset_drawdown("A1", now_ns=NEXT_DAY + 1)
    assert g.decide(order(), view(equity=130_000.0), NEXT_DAY + 2) is None
    assert states(g)[-1] == ("A1", TradingState.ACTIVE, StateCause.RESET)


def test_fleet_daily_loss_halts_every_account_but_their_closes():
    g = gate(fleet=FleetLimits(daily_loss_halt=0.05))
    g.observe(view("A1"), T0)
    g.observe(view("A2", positions={"SPY": 10}, cash=99_000.0), T0)
    g.observe(view("A1", equity=90_000.0), T0 + 1)                       # fleet -5 %
    assert g.state() is TradingState.HALTED
    a2 = view("A2", positions={"SPY": 10}, cash=99_000.0)
    denied(g.decide(order(account_id="A2"), a2, T0 + 2), DenyReason.DAILY_LOSS_LIMIT,
           "fleet HALTED")
    assert g.decide(order(SELL, 10, account_id="A2", reduce_only=True), a2, T0 + 3) is None
    assert (FLEET, TradingState.HALTED, StateCause.DAILY_LOSS) in states(g)


def test_fleet_daily_loss_starts_afresh_on_a_new_day_whichever_account_trades_first():
    g = gate(fleet=FleetLimits(daily_loss_halt=0.05))
    g.observe(view("A1"), T0)
    g.observe(view("A2"), T0)
    g.observe(view("A1", equity=90_000.0), T0 + 1)
    assert g.state() is TradingState.HALTED
    assert g.decide(order(account_id="A2"), view("A2"), NEXT_DAY) is None
    assert g.state() is TradingState.ACTIVE
    g.observe(view("A1", equity=90_000.0), NEXT_DAY + 1)
    assert g.state() is TradingState.ACTIVE
    g.observe(view("A1", equity=80_000.0), NEXT_DAY + 2)                 # -10k of 190k
    assert g.state() is TradingState.HALTED


def test_fleet_drawdown_counts_accounts_joining_in_its_peak():
    g = gate(fleet=FleetLimits(drawdown_halt=0.10))
    g.observe(view("A1"), T0)
    g.observe(view("A2"), T0)                                            # peak 200k
    g.observe(view("A1", equity=85_000.0), T0)                           # 7.5 % down
    assert g.state() is TradingState.ACTIVE
    g.observe(view("A2", equity=95_000.0), T0)                           # 10 % down
    assert g.state() is TradingState.HALTED


def test_kill_switch_per_account_and_fleet_wide_with_release():
    seen = []
    g = RiskGate(RiskConfig(account_defaults=AccountLimits()), sink=seen.append)
    g.kill("A1", now_ns=T0)
    denied(g.decide(order(account_id="A1"), view("A1"), T0), DenyReason.KILL_SWITCH,
           "account A1 HALTED")
    assert g.decide(order(account_id="A2"), view("A2"), T0) is None
    g.kill(now_ns=T0, detail="desk closed")
    denied(g.decide(order(account_id="A2"), view("A2"), T0), DenyReason.KILL_SWITCH,
           "fleet HALTED", "desk closed")
    g.release(now_ns=T0)
    g.release("A1", now_ns=T0)
    assert g.decide(order(account_id="A1"), view("A1"), T0) is None
    assert states(g) == [("A1", TradingState.HALTED, StateCause.KILL_SWITCH),
                         (FLEET, TradingState.HALTED, StateCause.KILL_SWITCH),
                         (FLEET, TradingState.ACTIVE, StateCause.RESET),
                         ("A1", TradingState.ACTIVE, StateCause.RESET)]
    assert seen == g.events


def test_denials_are_counted_by_reason():
    g = gate(max_order_qty=1)
    g.decide(order(qty=2), view(), T0)
    g.decide(order(symbol="XYZ"), view(), T0)
    assert g.denials == {DenyReason.ABOVE_MAX_QUANTITY: 1, DenyReason.UNKNOWN_INSTRUMENT: 1}


# --- with a real Account and the simulated broker --------------------------------------------

SECRET = "s3cr3t"


class AccountRig:
    """One Account on a SimBroker, with the gate as its pre_trade hook."""

    def __init__(self, g: RiskGate, cash: float = 100_000.0) -> None:
        self.clock = SimClock(T0)
        self.broker = SimBroker([SPY], {"A1": SimAccount(cash, "key", SECRET)},
                                clock=self.clock)
        cfg = AccountConfig("A1", sizing=SizingConfig(SizingMode.FIXED_QUANTITY, quantity=10))
        self.account = Account(cfg, self.broker, Credentials("A1", "key", SECRET), [SPY],
                               self.clock, pre_trade=g.pre_trade)
        self.n = 0

    def quote(self, bid: float, ask: float) -> None:
        self.clock.advance(1.0)
        now = self.clock.now_ns()
        q = QuoteTick("SPY", bid, ask, 1000.0, 1000.0, now, now)
        self.broker.on_quote(q)
        self.account.on_quote(q)

    def signal(self, side: SignalSide) -> Signal:
        self.n += 1
        now = self.clock.now_ns()
        return Signal(f"sig-{self.n}", "test", "SPY", side, now, now)


def test_account_records_the_gates_denial_and_nothing_reaches_the_venue():
    g = gate(max_order_qty=5)
    rig = AccountRig(g)

    async def go():
        await rig.account.start()
        rig.quote(99.99, 100.01)
        return await rig.account.on_signal(rig.signal(SignalSide.LONG))

    events = asyncio.run(go())
    [denial] = [e for e in events if isinstance(e, OrderDenied)]
    assert denial.reason is DenyReason.ABOVE_MAX_QUANTITY
    assert "account.max_order_qty=5" in denial.detail
    assert denial in rig.account.events
    [o] = rig.account.orders.values()
    assert o.status is OrderStatus.DENIED
    assert rig.broker.venue.all_orders("A1") == []


def test_account_under_kill_switch_still_closes_its_position():
    g = gate()
    rig = AccountRig(g)

    async def go():
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        g.kill("A1", now_ns=rig.clock.now_ns())
        rig.quote(100.99, 101.01)
        reopened = await rig.account.on_signal(rig.signal(SignalSide.FLAT))
        return reopened, await rig.account.on_signal(rig.signal(SignalSide.LONG))

    closed, reopened = asyncio.run(go())
    assert [e for e in closed if isinstance(e, PositionClosed)]
    [denial] = [e for e in reopened if isinstance(e, OrderDenied)]
    assert denial.reason is DenyReason.KILL_SWITCH
    assert rig.account.portfolio.quantity("SPY") == 0.0
    assert len(rig.broker.venue.all_orders("A1")) == 2


def test_state_change_events_serialise_with_orjson():
    g = gate()
    g.kill("A1", now_ns=T0, detail="operator")
    [event] = g.events
    assert orjson.loads(orjson.dumps(event)) == {
        "account_id": "A1", "state": "HALTED", "cause": "KILL_SWITCH",
        "detail": "kill switch on: operator", "ts_event": T0, "ts_init": T0}
