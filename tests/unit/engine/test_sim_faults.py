"""Seeded fault injection: reproducible by seed, and never doubling an order under retries."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from engine.broker.interface import Credentials, Session
from engine.clock import SimClock
from engine.enums import ErrorCode, OrderSide, OrderStatus
from engine.errors import ConfigError
from engine.instruments import Instrument
from engine.messages import OrderFilled, QuoteTick, SubmitOrder
from engine.sim import Fault, FaultConfig, FaultInjector, LatencyModel, SimAccount, SimBroker
from tests.unit.engine.broker_contract import replay_events, run

T0 = 1_704_189_600 * 1_000_000_000
SYM = "XYZ"
CREDS = Credentials("acct-1", "key", "secret")
CHAOS = {"timeout_rate": 0.25, "error_rate": 0.1, "rate_limit_rate": 0.1, "expire_rate": 0.05}


def make_broker(faults: FaultConfig) -> SimBroker:
    broker = SimBroker([Instrument(SYM, qty_step=1.0)],
                       {"acct-1": SimAccount(1e6, "key", "secret")}, SimClock(T0), faults=faults)
    broker.on_quote(QuoteTick(SYM, 100.0, 100.02, 1e6, 1e6, T0, T0))
    return broker


def buy(coid: str) -> SubmitOrder:
    return SubmitOrder("acct-1", coid, SYM, OrderSide.BUY, 2.0, T0, T0)


async def _session(broker: SimBroker, log: list) -> Session:
    while True:
        result = await broker.login(CREDS)
        log.append(("login", result.code))
        if result.ok:
            return result.value  # type: ignore[return-value]


async def submit_until_done(broker: SimBroker, coids: list[str], log: list) -> Session:
    """A careful client: resend with the same client order ID until the venue answers,
    logging in again whenever the session is gone."""
    session = await _session(broker, log)
    for coid in coids:
        while True:
            result = await broker.submit(session, buy(coid))
            log.append((coid, result.code))
            if result.ok:
                break
            if result.code in (ErrorCode.SESSION_EXPIRED, ErrorCode.SESSION_NOT_FOUND):
                session = await _session(broker, log)
    return session


# --- reproducibility -----------------------------------------------------------------------

def scripted_run(seed: int) -> list:
    broker = make_broker(FaultConfig(seed=seed, **CHAOS))
    log: list = []
    run(submit_until_done(broker, [f"o{i}" for i in range(20)], log))
    return log


def test_the_same_seed_gives_the_same_sequence_of_faults() -> None:
    first = scripted_run(11)
    assert first == scripted_run(11)
    assert {code for _, code in first} > {None, ErrorCode.TIMEOUT}   # faults did happen
    assert first != scripted_run(12)


def test_draws_are_stable_when_rates_change() -> None:
    """One uniform number decides each call, so a higher rate only adds faults."""
    low = FaultInjector(FaultConfig(seed=3, error_rate=0.1))
    high = FaultInjector(FaultConfig(seed=3, error_rate=0.3))
    low_hits = {i for i in range(500) if low.draw() is Fault.VENUE_ERROR}
    high_hits = {i for i in range(500) if high.draw() is Fault.VENUE_ERROR}
    assert low_hits and low_hits < high_hits


def test_fault_frequencies_follow_the_configured_rates() -> None:
    injector = FaultInjector(FaultConfig(seed=1, timeout_after_share=0.5, **CHAOS))
    counts = Counter(injector.draw() for _ in range(20_000))
    share = {fault: n / 20_000 for fault, n in counts.items()}
    assert share[Fault.TIMEOUT_BEFORE] + share[Fault.TIMEOUT_AFTER] == pytest.approx(0.25, abs=0.02)
    assert share[Fault.TIMEOUT_AFTER] == pytest.approx(0.125, abs=0.02)
    assert share[Fault.VENUE_ERROR] == pytest.approx(0.1, abs=0.015)
    assert share[Fault.RATE_LIMITED] == pytest.approx(0.1, abs=0.015)
    assert share[Fault.EXPIRE_SESSION] == pytest.approx(0.05, abs=0.01)


def test_latency_is_reproducible_by_seed_and_within_bounds() -> None:
    a = LatencyModel(1.0, 5.0, seed=9).sampler()
    b = LatencyModel(1.0, 5.0, seed=9).sampler()
    delays = [a.next_s() for _ in range(100)]
    assert delays == [b.next_s() for _ in range(100)]
    assert all(0.001 <= d <= 0.005 for d in delays)
    assert LatencyModel().sampler().next_s() == 0.0


# --- money safety under faults -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_retrying_through_faults_never_doubles_an_order(seed: int) -> None:
    broker = make_broker(FaultConfig(seed=seed, **CHAOS))
    coids = [f"o{i}" for i in range(15)]
    log: list = []
    run(submit_until_done(broker, coids, log))
    assert any(code is ErrorCode.TIMEOUT for _, code in log)
    for coid in coids:
        report = broker.venue.order_status("acct-1", coid).value
        assert report.status is OrderStatus.FILLED and len(report.fills) == 1  # type: ignore
    assert [p.quantity for p in broker.venue.positions("acct-1")] == [2.0 * len(coids)]
    events = broker.venue.drain("acct-1")
    assert sum(isinstance(e, OrderFilled) for e in events) == len(coids)
    replay_events({c: buy(c) for c in coids}, events)


# --- each fault as the caller sees it ------------------------------------------------------

def test_error_rate_one_fails_every_call_with_venue_error_and_changes_nothing() -> None:
    broker = make_broker(FaultConfig(error_rate=1.0))
    assert run(broker.login(CREDS)).code is ErrorCode.VENUE_ERROR
    assert run(broker.health()).ok                          # health is never faulted


def test_rate_limited_advises_when_to_retry() -> None:
    broker = make_broker(FaultConfig(rate_limit_rate=1.0, retry_after_s=2.5))
    result = run(broker.login(CREDS))
    assert (result.code, result.retry_after_s) == (ErrorCode.RATE_LIMITED, 2.5)
    assert result.code.retryable


def test_expire_fault_ends_the_session_early() -> None:
    broker = make_broker(FaultConfig(expire_rate=1.0))
    session = run(broker.login(CREDS)).value                # login has no session to expire
    assert session is not None
    assert run(broker.open_orders(session)).code is ErrorCode.SESSION_EXPIRED
    assert run(broker.refresh(session)).code is ErrorCode.SESSION_EXPIRED
    assert session.expires_ns > T0                          # it was cut short, not by time


def test_timeouts_on_reads_and_drains_lose_nothing() -> None:
    broker = make_broker(FaultConfig(timeout_rate=1.0, timeout_after_share=1.0))
    broker.venue.submit("acct-1", buy("direct"))
    sessionless = Session("acct-1", "t", T0)
    assert run(broker.drain_events(sessionless)).code is ErrorCode.TIMEOUT
    assert len(broker.venue.drain("acct-1")) == 2           # accepted + filled still queued


@pytest.mark.parametrize("config", [
    {"timeout_rate": 1.5},
    {"error_rate": -0.1},
    {"rate_limit_rate": math.nan},
    {"timeout_rate": 0.6, "error_rate": 0.6},
    {"timeout_after_share": 2.0},
    {"seed": "seven"},
    {"retry_after_s": -1.0},
])
def test_invalid_fault_config_is_config_error(config) -> None:
    with pytest.raises(ConfigError):
        FaultConfig(**config)


@pytest.mark.parametrize("config", [{"min_ms": -1.0}, {"max_ms": math.inf},
                                    {"min_ms": 5.0, "max_ms": 1.0}])
def test_invalid_latency_is_config_error(config) -> None:
    with pytest.raises(ConfigError):
        LatencyModel(**config)
