"""The Account against the real simulated broker, on a simulated clock."""

from __future__ import annotations

import asyncio
import math
import random

import orjson
import pytest

from engine.account import Account, AccountConfig
from engine.broker import Credentials
from engine.clock import NANOS_PER_SECOND, SimClock
from engine.codec import encode
from engine.enums import DenyReason, ExitReason, OrderStatus, SessionState, SignalSide
from engine.errors import BrokerUnavailable, ConfigError, InvalidInput
from engine.exits import ExitConfig
from engine.instruments import Instrument
from engine.messages import (
    OrderDenied,
    OrderFilled,
    PositionClosed,
    PositionOpened,
    QuoteTick,
    SessionChanged,
    Signal,
    SubmitOrder,
)
from engine.session import SessionConfig
from engine.sim import FaultConfig, SimAccount, SimBroker
from engine.sizing import SizingConfig, SizingMode

SECRET = "s3cr3t-never-shown"
T0 = 1_700_000_000 * NANOS_PER_SECOND
SPY = Instrument("SPY", price_tick=0.01, qty_step=1.0, min_qty=1.0)


class Rig:
    """A SimBroker and one Account sharing a simulated clock."""

    def __init__(self, *, cash=100_000.0, sizing=None, exits=None, faults=None,
                 session=None, ttl=3600.0, secret=SECRET, allow_short=False):
        self.clock = SimClock(T0)
        self.broker = SimBroker([SPY], {"A1": SimAccount(cash, "key", SECRET, allow_short)},
                                clock=self.clock, faults=faults, token_ttl_s=ttl)
        self.sleeps: list[float] = []
        cfg = AccountConfig("A1", sizing=sizing or SizingConfig(SizingMode.FIXED_QUANTITY,
                                                                 quantity=10),
                            exits=exits or ExitConfig(),
                            session=session or SessionConfig(backoff_initial_s=0.01,
                                                             backoff_max_s=0.08),
                            allow_short=allow_short, max_send_attempts=6)
        self.account = Account(cfg, self.broker, Credentials("A1", "key", secret),
                               [SPY], self.clock)
        self.account.session.sleep = self._sleep
        self.n = 0

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def quote(self, bid: float, ask: float, size: float = 1_000.0) -> None:
        self.clock.advance(1.0)
        now = self.clock.now_ns()
        q = QuoteTick("SPY", bid, ask, size, size, now, now)
        self.broker.on_quote(q)
        self.account.on_quote(q)

    def signal(self, side: SignalSide, **kw) -> Signal:
        self.n += 1
        now = self.clock.now_ns()
        return Signal(kw.pop("signal_id", f"sig-{self.n}"), "test", kw.pop("symbol", "SPY"),
                      side, now, now, **kw)


def run(coro):
    return asyncio.run(coro)


def kinds(events, cls):
    return [e for e in events if isinstance(e, cls)]


# --- signals to orders ---------------------------------------------------------------------

def test_long_signal_from_flat_buys_at_the_ask_and_opens_a_position():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        events = await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig, events
    rig, events = run(go())
    [fill] = kinds(events, OrderFilled)
    assert (fill.last_qty, fill.last_px) == (10.0, 100.01)
    [opened] = kinds(events, PositionOpened)
    assert opened.quantity == 10.0
    assert rig.account.portfolio.cash == pytest.approx(100_000.0 - 1000.10)
    [order] = rig.account.orders.values()
    assert order.status is OrderStatus.FILLED


def test_flat_signal_closes_the_position_with_a_reduce_only_order():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        rig.quote(104.99, 105.01)
        return rig, await rig.account.on_signal(rig.signal(SignalSide.FLAT))
    rig, events = run(go())
    [closed] = kinds(events, PositionClosed)
    assert closed.realized_pnl == pytest.approx(10 * (104.99 - 100.01))
    assert closed.reason is ExitReason.SIGNAL
    closing = [o for o in rig.account.orders.values() if o.reduce_only]
    assert len(closing) == 1 and closing[0].status is OrderStatus.FILLED
    assert rig.account.portfolio.quantity("SPY") == 0.0


def test_long_signal_while_long_sends_nothing():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig, await rig.account.on_signal(rig.signal(SignalSide.LONG))
    rig, events = run(go())
    assert events == [] and len(rig.account.orders) == 1


def test_short_signal_on_a_short_enabled_account_flips_long_to_short():
    async def go():
        rig = Rig(allow_short=True)
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig, await rig.account.on_signal(rig.signal(SignalSide.SHORT))
    rig, events = run(go())
    assert [type(e).__name__ for e in events if "Position" in type(e).__name__] == [
        "PositionClosed", "PositionOpened"]
    assert rig.account.portfolio.quantity("SPY") == -10.0


def test_short_signal_on_a_long_only_account_only_closes():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        await rig.account.on_signal(rig.signal(SignalSide.SHORT))
        return rig
    rig = run(go())
    assert rig.account.portfolio.quantity("SPY") == 0.0


@pytest.mark.parametrize("sizing, expected", [
    (SizingConfig(SizingMode.FIXED_QUANTITY, quantity=7), 7.0),
    (SizingConfig(SizingMode.FIXED_NOTIONAL, notional=5_000.0), 49.0),
    (SizingConfig(SizingMode.PERCENT_EQUITY, percent=20.0), 199.0),
    (SizingConfig(SizingMode.ALL_CASH), 999.0),
])
def test_each_sizing_mode_sets_the_order_quantity(sizing, expected):
    async def go():
        rig = Rig(sizing=sizing)
        await rig.account.start()
        rig.quote(100.00, 100.10)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig
    rig = run(go())
    [order] = rig.account.orders.values()
    assert order.quantity == expected


# --- bad input is denied, never raised ----------------------------------------------------

@pytest.mark.parametrize("make, reason", [
    (lambda r: r.signal(SignalSide.LONG, symbol="NOPE"), DenyReason.UNKNOWN_INSTRUMENT),
    (lambda r: r.signal(SignalSide.LONG, stop_loss=math.nan), DenyReason.INVALID_SIGNAL),
    (lambda r: r.signal(SignalSide.LONG, take_profit=-1.0), DenyReason.INVALID_SIGNAL),
    (lambda r: r.signal(SignalSide.LONG, confidence=2.0), DenyReason.INVALID_SIGNAL),
    (lambda r: r.signal("LONG"), DenyReason.INVALID_SIGNAL),
    (lambda r: r.signal(SignalSide.LONG, signal_id=""), DenyReason.INVALID_SIGNAL),
    (lambda r: {"symbol": "SPY", "side": "LONG"}, DenyReason.INVALID_SIGNAL),
])
def test_a_malformed_signal_is_denied_with_a_reason_and_sends_nothing(make, reason):
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        return rig, await rig.account.on_signal(make(rig))
    rig, events = run(go())
    [denied] = events
    assert isinstance(denied, OrderDenied) and denied.reason is reason
    assert rig.account.orders == {} and rig.broker.venue.open_orders("A1") == []


def test_a_signal_id_seen_before_is_denied_as_duplicate():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.quote(99.99, 100.01)
        sig = rig.signal(SignalSide.LONG)
        await rig.account.on_signal(sig)
        await rig.account.on_signal(rig.signal(SignalSide.FLAT))
        return rig, await rig.account.on_signal(sig)
    rig, events = run(go())
    [denied] = events
    assert denied.reason is DenyReason.DUPLICATE_ID
    assert rig.account.portfolio.quantity("SPY") == 0.0


def test_a_signal_without_any_price_is_denied_no_price():
    async def go():
        rig = Rig()
        await rig.account.start()
        return await rig.account.on_signal(rig.signal(SignalSide.LONG))
    [denied] = run(go())
    assert denied.reason is DenyReason.NO_PRICE


def test_a_buy_beyond_free_cash_is_denied_insufficient_funds():
    async def go():
        rig = Rig(cash=500.0)
        await rig.account.start()
        rig.quote(99.99, 100.01)
        return await rig.account.on_signal(rig.signal(SignalSide.LONG))
    command, denied = run(go())
    assert isinstance(command, SubmitOrder) and command.quantity == 10.0
    assert denied.reason is DenyReason.INSUFFICIENT_FUNDS
    assert denied.client_order_id == command.client_order_id


@pytest.mark.parametrize("bid, ask", [(math.nan, 1.0), (1.0, math.inf), (-1.0, 1.0)])
def test_a_bad_quote_raises_a_typed_error_naming_the_field(bid, ask):
    rig = Rig()
    with pytest.raises(InvalidInput) as err:
        rig.account.on_quote(QuoteTick("SPY", bid, ask, 1, 1, T0, T0))
    assert "SPY." in str(err.value)


def test_account_config_rejects_an_empty_id():
    with pytest.raises(ConfigError) as err:
        AccountConfig("")
    assert err.value.key == "account_id"


# --- protective exits ---------------------------------------------------------------------

@pytest.mark.parametrize("exits, path, reason", [
    (ExitConfig(stop_loss_pct=2.0), [(98.5, 98.6), (97.9, 98.0)], ExitReason.STOP_LOSS),
    (ExitConfig(take_profit_pct=3.0), [(101.0, 101.1), (103.2, 103.3)],
     ExitReason.TAKE_PROFIT),
    (ExitConfig(trailing_pct=5.0), [(110.0, 110.1), (104.4, 104.5)],
     ExitReason.TRAILING_STOP),
    (ExitConfig(max_holding_s=2.5), [(100.0, 100.1)] * 3, ExitReason.MAX_HOLDING_TIME),
])
def test_a_protective_exit_closes_the_position_with_its_reason(exits, path, reason):
    async def go():
        rig = Rig(exits=exits)
        await rig.account.start()
        rig.quote(99.99, 100.0)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        events = []
        for bid, ask in path:
            rig.quote(bid, ask)
            events += await rig.account.check_exits()
        return rig, events
    rig, events = run(go())
    [closed] = kinds(events, PositionClosed)
    assert closed.reason is reason
    assert rig.account.portfolio.quantity("SPY") == 0.0
    assert rig.account.protections == {}


def test_fills_and_round_trips_carry_the_strategy_that_opened_them():
    # "test" opens, "other" closes: each fill is its order's strategy, the round trip the
    # opener's; a protective exit (an order with no strategy) inherits the last fill's
    async def go():
        rig = Rig(exits=ExitConfig(stop_loss_pct=2.0))
        await rig.account.start()
        rig.quote(99.99, 100.01)
        events = await rig.account.on_signal(rig.signal(SignalSide.LONG))
        rig.quote(104.99, 105.01)
        now = rig.clock.now_ns()
        events += await rig.account.on_signal(Signal("sig-x", "other", "SPY",
                                                     SignalSide.FLAT, now, now))
        rig.quote(99.99, 100.01)
        events += await rig.account.on_signal(rig.signal(SignalSide.LONG))
        rig.quote(95.0, 95.1)
        return rig, events + await rig.account.check_exits()
    rig, events = run(go())
    assert [f.strategy_id for f in kinds(events, OrderFilled)] == ["test", "other", "test",
                                                                  "test"]
    assert [f.strategy_id for f in kinds(rig.account.events, OrderFilled)] == [
        "test", "other", "test", "test"]
    closed = kinds(events, PositionClosed)
    assert [(c.strategy_id, c.reason) for c in closed] == [
        ("test", ExitReason.SIGNAL), ("test", ExitReason.STOP_LOSS)]


def test_a_signal_stop_loss_overrides_the_account_default():
    async def go():
        rig = Rig(exits=ExitConfig(stop_loss_pct=50.0))
        await rig.account.start()
        rig.quote(99.99, 100.0)
        await rig.account.on_signal(rig.signal(SignalSide.LONG, stop_loss=99.0))
        rig.quote(98.99, 99.0)
        return await rig.account.check_exits()
    events = run(go())
    assert kinds(events, PositionClosed)[0].reason is ExitReason.STOP_LOSS


# --- the session --------------------------------------------------------------------------

def test_session_is_refreshed_before_the_token_expires():
    async def go():
        rig = Rig(ttl=100.0, session=SessionConfig(refresh_margin_s=10.0))
        await rig.account.start()
        rig.clock.advance(85.0)
        await rig.account.maintain()
        assert rig.account.session.refreshes == 0
        rig.clock.advance(6.0)
        await rig.account.maintain()
        return rig
    rig = run(go())
    assert rig.account.session.refreshes == 1 and rig.account.session.logins == 1


def test_health_reports_session_broker_and_token_expiry():
    async def go():
        rig = Rig(ttl=100.0)
        before = await rig.account.health()
        await rig.account.start()
        rig.clock.advance(40.0)
        return before, await rig.account.health()
    before, after = run(go())
    assert before["session"] == "DISCONNECTED" and before["token_expires_in_s"] is None
    assert after["session"] == "CONNECTED" and after["broker_ok"] is True
    assert after["token_expires_in_s"] == pytest.approx(60.0)
    assert SECRET not in repr(after)


def test_an_expired_session_logs_in_again_and_the_order_still_goes_through():
    async def go():
        rig = Rig(ttl=100.0, session=SessionConfig(refresh_margin_s=0.0))
        await rig.account.start()
        rig.clock.advance(200.0)
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig
    rig = run(go())
    assert rig.account.portfolio.quantity("SPY") == 10.0
    assert rig.account.session.logins == 2


def test_login_retries_with_doubling_backoff_up_to_the_cap_then_fails():
    async def go():
        rig = Rig(faults=FaultConfig(seed=1, error_rate=1.0),
                  session=SessionConfig(backoff_initial_s=0.01, backoff_max_s=0.05,
                                        max_login_attempts=6))
        with pytest.raises(BrokerUnavailable):
            await rig.account.start()
        return rig
    rig = run(go())
    assert rig.sleeps == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05])
    assert rig.account.session.state is SessionState.FAILED
    states = [e.state for e in rig.account.events if isinstance(e, SessionChanged)]
    assert states[-1] is SessionState.FAILED and SessionState.BACKOFF in states


def test_a_wrong_secret_fails_at_once_without_retrying():
    async def go():
        rig = Rig(secret="wrong")
        with pytest.raises(BrokerUnavailable) as err:
            await rig.account.start()
        return rig, err.value
    rig, err = run(go())
    assert rig.sleeps == [] and "AUTH_ERROR" in str(err)


def test_login_succeeds_after_transient_failures():
    async def go():
        rig = Rig(faults=FaultConfig(seed=3, error_rate=0.6))
        await rig.account.start()
        return rig
    rig = run(go())
    assert rig.account.session.state is SessionState.CONNECTED


# --- money safety under faults -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_under_random_faults_no_order_is_doubled_lost_or_left_unknown(seed):
    """Timeouts before and after the venue acted, venue errors, rate limits and expiring
    sessions: the account and the venue end with the same position and cash, every client
    order ID maps to at most one venue order, and every order is terminal."""
    async def go():
        faults = FaultConfig(seed=seed, timeout_rate=0.15, error_rate=0.1,
                             rate_limit_rate=0.05, expire_rate=0.05, retry_after_s=0.0)
        rig = Rig(faults=faults, sizing=SizingConfig(SizingMode.FIXED_QUANTITY, quantity=3),
                  allow_short=True)
        await rig.account.start()
        rng = random.Random(seed)
        for _ in range(40):
            mid = 100 + rng.uniform(-5, 5)
            rig.quote(round(mid - 0.01, 2), round(mid + 0.01, 2))
            side = rng.choice(list(SignalSide))
            await rig.account.on_signal(rig.signal(side))
        rig.broker.set_faults(None)
        rig.quote(100.0, 100.02)
        await rig.account.maintain()
        return rig
    rig = run(go())
    account, venue = rig.account, rig.broker.venue
    assert account.unconfirmed == set()
    assert all(o.is_terminal for o in account.orders.values())
    assert account.portfolio.quantity("SPY") == venue.portfolio("A1").quantity("SPY")
    assert account.portfolio.cash == pytest.approx(venue.portfolio("A1").cash)
    reports = venue.all_orders("A1")
    assert all(r.filled_qty <= r.quantity for r in reports)
    for report in reports:
        assert account.orders[report.client_order_id].filled_qty == report.filled_qty
    assert len(reports) > 10


def test_credentials_never_appear_in_events_or_reprs():
    async def go():
        rig = Rig(faults=FaultConfig(seed=5, error_rate=0.3, expire_rate=0.2))
        await rig.account.start()
        rig.quote(99.99, 100.01)
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig
    rig = run(go())
    blob = b"".join(encode(e) for e in rig.account.events)
    blob += orjson.dumps([repr(rig.account), repr(rig.account.session),
                          repr(rig.account.session.session), repr(rig.broker)])
    assert SECRET.encode() not in blob and b"key" not in blob.replace(b"keys", b"")


# --- working orders and a changing target -------------------------------------------------

def test_flat_signal_while_an_entry_is_still_working_cancels_the_entry():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.account.on_quote(QuoteTick("SPY", 99.99, 100.01, 10, 10, T0, T0))  # venue has none
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        entry = next(iter(rig.account.orders.values()))
        assert entry.status is OrderStatus.ACCEPTED          # resting: no venue price yet
        events = await rig.account.on_signal(rig.signal(SignalSide.FLAT))
        return rig, entry, events
    rig, entry, events = run(go())
    assert entry.status is OrderStatus.CANCELED
    assert [o for o in rig.account.orders.values() if o.reduce_only] == []
    assert rig.broker.venue.open_orders("A1") == []
    assert not kinds(events, OrderDenied)


def test_long_signal_while_an_entry_is_working_sends_nothing_more():
    async def go():
        rig = Rig()
        await rig.account.start()
        rig.account.on_quote(QuoteTick("SPY", 99.99, 100.01, 10, 10, T0, T0))
        await rig.account.on_signal(rig.signal(SignalSide.LONG))
        return rig, await rig.account.on_signal(rig.signal(SignalSide.LONG))
    rig, events = run(go())
    assert events == [] and len(rig.account.orders) == 1


def test_fleet_exits_evaluate_every_account_in_one_policy_call():
    from engine.account import check_fleet_exits
    from engine.exits import PlainExitPolicy

    class Counting(PlainExitPolicy):
        calls = 0

        def evaluate(self, protections, prices, now_ns):
            Counting.calls += 1
            return super().evaluate(protections, prices, now_ns)

    async def go():
        clock = SimClock(T0)
        broker = SimBroker([SPY], {a: SimAccount(50_000.0, "k", SECRET) for a in ("A", "B")},
                           clock=clock)
        accounts = [Account(AccountConfig(a, sizing=SizingConfig("fixed", quantity=5),
                                          exits=ExitConfig(stop_loss_pct=1.0)),
                            broker, Credentials(a, "k", SECRET), [SPY], clock)
                    for a in ("A", "B")]
        for acc in accounts:
            await acc.start()

        def quote(bid):
            clock.advance(1.0)
            q = QuoteTick("SPY", bid, bid + 0.02, 100, 100, clock.now_ns(), clock.now_ns())
            broker.on_quote(q)
            for acc in accounts:
                acc.on_quote(q)

        quote(100.0)
        now = clock.now_ns()
        for acc in accounts:
            await acc.on_signal(Signal("s1", "t", "SPY", SignalSide.LONG, now, now))
        quote(98.5)
        events = await check_fleet_exits(accounts, Counting(), clock.now_ns())
        return accounts, events
    accounts, events = run(go())
    assert Counting.calls == 1
    assert [e.reason for e in kinds(events, PositionClosed)] == [ExitReason.STOP_LOSS] * 2
    assert all(a.portfolio.quantity("SPY") == 0 for a in accounts)
