"""SimBroker: the broker contract, sessions, the registry factory, secrets, latency."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.broker.interface import Credentials, Session
from engine.broker.registry import create_broker
from engine.clock import SimClock
from engine.enums import ErrorCode, OrderSide, OrderStatus, OrderType
from engine.errors import ConfigError, InvalidInput
from engine.instruments import FeeSchedule, Instrument
from engine.messages import Bar, ModifyOrder, OrderFilled, QuoteTick, SubmitOrder, TradeTick
from engine.sim import (
    Fault,
    FaultConfig,
    FaultInjector,
    FillModel,
    LatencyModel,
    SimAccount,
    SimBroker,
)
from tests.unit.engine.broker_contract import BrokerContract, ContractSetup, replay_events, run

T0 = 1_704_189_600 * 1_000_000_000          # 2024-01-02 10:00:00 UTC
SYM = "XYZ"
KEY, SECRET = "key-AAAA-1234", "secret-BBBB-5678"
CREDS = Credentials("acct-1", KEY, SECRET)
INSTRUMENT = Instrument(SYM, price_tick=0.01, qty_step=1.0, fees=FeeSchedule(taker_bps=5.0))


def make_broker(clock: SimClock | None = None, **kw) -> SimBroker:
    accounts = {"acct-1": SimAccount(100_000.0, KEY, SECRET),
                "acct-2": SimAccount(50_000.0, "k2", "s2")}
    kw.setdefault("token_ttl_s", 60.0)
    return SimBroker([INSTRUMENT], accounts, clock or SimClock(T0), **kw)


def quote(bid: float = 100.0, ask: float = 100.02) -> QuoteTick:
    return QuoteTick(SYM, bid, ask, 1e6, 1e6, T0, T0)


def buy(coid: str, qty: float = 5.0, account: str = "acct-1", **kw) -> SubmitOrder:
    return SubmitOrder(account, coid, SYM, OrderSide.BUY, qty, T0, T0, **kw)


def login(broker: SimBroker, creds: Credentials = CREDS) -> Session:
    result = run(broker.login(creds))
    assert result.ok, result
    return result.value  # type: ignore[return-value]


class TestSimBrokerContract(BrokerContract):
    @pytest.fixture
    def setup(self) -> ContractSetup:
        broker = make_broker()
        return ContractSetup(
            broker, CREDS, Credentials("acct-1", KEY, "wrong-secret"), SYM, 5.0,
            lambda bid, ask: broker.on_quote(QuoteTick(SYM, bid, ask, 1e6, 1e6, T0, T0)))


# --- sessions ------------------------------------------------------------------------------

@pytest.mark.parametrize("creds", [
    Credentials("nobody", KEY, SECRET),
    Credentials("acct-1", "wrong-key", SECRET),
    Credentials("acct-1", KEY, ""),
    Credentials("acct-2", KEY, SECRET),           # another account's keys
    {"account_id": "acct-1", "api_key": KEY, "secret": SECRET},
])
def test_login_with_unknown_account_or_wrong_keys_is_auth_error(creds) -> None:
    result = run(make_broker().login(creds))
    assert result.code is ErrorCode.AUTH_ERROR and result.value is None


def test_session_expires_after_token_ttl_on_the_brokers_clock() -> None:
    clock = SimClock(T0)
    broker = make_broker(clock, token_ttl_s=60.0)
    session = login(broker)
    assert session.expires_ns == T0 + 60 * 10**9
    clock.advance(59.999)
    assert run(broker.open_orders(session)).ok
    clock.advance(0.001)
    for call in (broker.open_orders(session), broker.submit(session, buy("late")),
                 broker.refresh(session), broker.drain_events(session)):
        assert run(call).code is ErrorCode.SESSION_EXPIRED
    assert broker.venue.order_status("acct-1", "late").code is ErrorCode.UNKNOWN_ORDER
    assert run(broker.open_orders(login(broker))).ok


def test_refresh_gives_a_new_token_with_a_later_expiry_and_revokes_the_old_one() -> None:
    clock = SimClock(T0)
    broker = make_broker(clock, token_ttl_s=60.0)
    old = login(broker)
    clock.advance(50)
    result = run(broker.refresh(old))
    assert result.ok
    new = result.value
    assert new.token != old.token and new.expires_ns == clock.now_ns() + 60 * 10**9
    assert run(broker.open_orders(old)).code is ErrorCode.SESSION_NOT_FOUND
    clock.advance(30)                                  # past the old expiry
    assert run(broker.open_orders(new)).ok


def test_a_session_cannot_be_used_for_another_account() -> None:
    broker = make_broker()
    session = login(broker)
    forged = Session("acct-2", session.token, session.expires_ns)
    assert run(broker.positions(forged)).code is ErrorCode.SESSION_NOT_FOUND
    assert run(broker.positions("not a session")).code is (  # type: ignore[arg-type]
        ErrorCode.SESSION_NOT_FOUND)


def test_logout_twice_is_session_not_found() -> None:
    broker = make_broker()
    session = login(broker)
    assert run(broker.logout(session)).ok
    assert run(broker.logout(session)).code is ErrorCode.SESSION_NOT_FOUND


# --- accounts and events -------------------------------------------------------------------

def test_each_account_sees_only_its_own_orders_and_events() -> None:
    broker = make_broker()
    broker.on_quote(quote())
    one, two = login(broker), login(broker, Credentials("acct-2", "k2", "s2"))
    run(broker.submit(one, buy("same-id")))
    run(broker.submit(two, buy("same-id", 1.0, account="acct-2")))
    events_one = run(broker.drain_events(one)).value
    events_two = run(broker.drain_events(two)).value
    assert {e.account_id for e in events_one} == {"acct-1"}
    assert {e.account_id for e in events_two} == {"acct-2"}
    assert [f.last_qty for f in events_two if isinstance(f, OrderFilled)] == [1.0]


def test_an_order_for_another_account_id_is_invalid_order() -> None:
    broker = make_broker()
    session = login(broker)
    result = run(broker.submit(session, buy("x", account="acct-2")))
    assert result.code is ErrorCode.INVALID_ORDER


def test_trades_bars_and_modify_go_through_the_broker() -> None:
    broker = make_broker(fill_model=FillModel())
    session = login(broker)
    broker.on_bar(Bar(SYM, 100, 101, 99, 100.5, 1e6, T0, T0))
    cmd = buy("lim", order_type=OrderType.LIMIT, price=95.0)
    run(broker.submit(session, cmd))
    assert run(broker.modify(session, ModifyOrder("acct-1", "lim", T0, T0, price=96.0))).ok
    broker.on_trade(TradeTick(SYM, 97.0, 100.0, T0, T0))     # the order meets the market
    broker.on_trade(TradeTick(SYM, 95.5, 100.0, T0, T0))     # and fills resting, at its limit
    events = run(broker.drain_events(session)).value
    orders = replay_events({"lim": cmd}, events)
    assert orders["lim"].status is OrderStatus.FILLED and orders["lim"].avg_px == 96.0


def test_bad_market_data_raises_invalid_input_through_the_broker() -> None:
    with pytest.raises(InvalidInput):
        make_broker().on_quote(QuoteTick(SYM, float("nan"), 100.0, 1.0, 1.0, T0, T0))


# --- timeouts and idempotency --------------------------------------------------------------

def _seed_for(pattern: list[Fault], **rates) -> int:
    """A seed whose first draws are `pattern` (draws are seeded: this is deterministic)."""
    for seed in range(10_000):
        injector = FaultInjector(FaultConfig(seed=seed, **rates))
        if [injector.draw() for _ in pattern] == pattern:
            return seed
    raise AssertionError("no seed found")


def test_timeout_after_accept_then_retry_with_the_same_id_never_doubles() -> None:
    N = Fault.NONE
    rates = {"timeout_rate": 0.5, "timeout_after_share": 1.0}
    seed = _seed_for([N, Fault.TIMEOUT_AFTER, N, N, N], **rates)
    broker = make_broker(faults=FaultConfig(seed=seed, **rates))
    broker.on_quote(quote())
    session = login(broker)                                            # draw 1
    cmd = buy("money")
    lost = run(broker.submit(session, cmd))                            # draw 2
    assert lost.code is ErrorCode.TIMEOUT and lost.value is None
    assert broker.venue.order_status("acct-1", "money").value.status is (  # type: ignore
        OrderStatus.FILLED)                                            # it did go through
    retry = run(broker.submit(session, cmd))                           # draw 3
    assert retry.ok and retry.value.status is OrderStatus.FILLED       # type: ignore
    assert [p.quantity for p in run(broker.positions(session)).value] == [5.0]  # draw 4
    events = run(broker.drain_events(session)).value                   # draw 5
    assert [e.last_qty for e in events if isinstance(e, OrderFilled)] == [5.0]
    replay_events({"money": cmd}, events)


def test_timeout_before_the_venue_leaves_no_order() -> None:
    N = Fault.NONE
    rates = {"timeout_rate": 0.5, "timeout_after_share": 0.0}
    seed = _seed_for([N, Fault.TIMEOUT_BEFORE], **rates)
    broker = make_broker(faults=FaultConfig(seed=seed, **rates))
    broker.on_quote(quote())
    session = login(broker)
    assert run(broker.submit(session, buy("maybe"))).code is ErrorCode.TIMEOUT
    assert broker.venue.order_status("acct-1", "maybe").code is ErrorCode.UNKNOWN_ORDER


def test_timeout_after_on_cancel_still_cancels() -> None:
    N = Fault.NONE
    rates = {"timeout_rate": 0.5, "timeout_after_share": 1.0}
    seed = _seed_for([N, N, Fault.TIMEOUT_AFTER], **rates)
    broker = make_broker(faults=FaultConfig(seed=seed, **rates))
    broker.on_quote(quote())
    session = login(broker)
    run(broker.submit(session, buy("rest", order_type=OrderType.LIMIT, price=90.0)))
    assert run(broker.cancel(session, "rest")).code is ErrorCode.TIMEOUT
    assert broker.venue.order_status("acct-1", "rest").value.status is (  # type: ignore
        OrderStatus.CANCELED)


# --- secrets -------------------------------------------------------------------------------

def test_credentials_and_tokens_never_appear_in_details_reprs_or_errors() -> None:
    clock = SimClock(T0)
    broker = make_broker(clock, faults=FaultConfig(seed=5, error_rate=0.1, rate_limit_rate=0.1))
    broker.on_quote(quote())
    texts: list[str] = [repr(broker), repr(broker.venue), repr(CREDS),
                        repr(SimAccount(1.0, KEY, SECRET))]
    sessions = []
    for creds in (CREDS, Credentials("acct-1", KEY, KEY), Credentials(SECRET, KEY, SECRET)):
        for _ in range(3):
            result = run(broker.login(creds))
            texts += [repr(result), result.detail]
            if result.ok:
                sessions.append(result.value)
    assert sessions
    session = sessions[0]
    calls = [broker.submit(session, buy("s1")), broker.submit(session, buy("s1", 1e9)),
             broker.cancel(session, "nope"), broker.order_status(session, "s1"),
             broker.open_orders(session), broker.balances(session), broker.positions(session),
             broker.drain_events(session), broker.refresh(session), broker.health()]
    texts += [repr(run(c)) for c in calls]
    clock.advance(3600)
    texts += [repr(run(broker.open_orders(s))) for s in sessions]
    texts += [repr(s) for s in sessions]
    try:
        SimAccount(-1.0, KEY, SECRET)
    except ConfigError as exc:
        texts.append(str(exc))
    blob = "\n".join(texts)
    for secret in [KEY, SECRET, *(s.token for s in sessions)]:
        assert secret not in blob


# --- the registry --------------------------------------------------------------------------

def test_create_broker_builds_a_sim_broker_from_plain_options() -> None:
    broker = create_broker(
        "sim",
        instruments=[{"symbol": SYM, "price_tick": 0.01, "qty_step": 1.0,
                      "fees": {"taker_bps": 10.0}}],
        accounts={"a": {"cash": 10_000.0, "api_key": "k", "secret": "s"}},
        fill_model={"slippage": {"ticks": 1}, "bar_rule": "CLOSE"},
        latency={"min_ms": 0.0, "max_ms": 0.0},
        faults={"seed": 3},
        clock=SimClock(T0), token_ttl_s=30.0)
    assert isinstance(broker, SimBroker)
    session = login(broker, Credentials("a", "k", "s"))                # type: ignore[arg-type]
    broker.on_quote(quote())                                           # type: ignore[attr-defined]
    report = run(broker.submit(session, buy("r1", account="a"))).value
    assert (report.status, report.avg_px) == (OrderStatus.FILLED, 100.03)


@pytest.mark.parametrize("options", [
    {"bogus": 1},
    {"instruments": [{"symbol": SYM, "tick": 0.01}]},
    {"instruments": [{"symbol": SYM, "price_tick": -1}]},
    {"accounts": {"a": {"cash": 1.0, "password": "x"}}},
    {"accounts": {"a": {"api_key": "k"}}},
    {"fill_model": {"slippage": {"ticks": 1, "bps": 2}}},
    {"fill_model": {"bar_rule": "SOMETIMES"}},
    {"faults": {"timeout_rate": 2.0}},
    {"latency": {"min_ms": 5, "max_ms": 1}},
    {"token_ttl_s": 0},
])
def test_create_broker_with_bad_options_is_config_error(options) -> None:
    with pytest.raises(ConfigError):
        create_broker("sim", **options)


# --- latency -------------------------------------------------------------------------------

def test_latency_delays_each_call_by_a_seeded_amount() -> None:
    broker = make_broker(latency=LatencyModel(min_ms=20.0, max_ms=30.0, seed=1))

    async def scenario() -> tuple[float, float]:
        start = time.perf_counter()
        health = await broker.health()
        await broker.login(CREDS)
        return time.perf_counter() - start, health.value.latency_ms  # type: ignore[union-attr]

    elapsed, reported = asyncio.run(scenario())
    assert 20.0 <= reported <= 30.0
    assert elapsed >= 0.040
    again = make_broker(latency=LatencyModel(min_ms=20.0, max_ms=30.0, seed=1))
    assert run(again.health()).value.latency_ms == reported  # type: ignore[union-attr]
