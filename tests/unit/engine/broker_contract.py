"""Contract tests every `Broker` adapter must pass, plus the event-replay check.

Use it by subclassing `BrokerContract` in a `test_*.py` module and overriding the `setup`
fixture to return a `ContractSetup` (a fresh broker with one funded account and a way to
set the market price). The base class name does not start with `Test`, so pytest only
collects the subclasses.

`replay_events` is the acid test of an event stream: every event a broker emits for an
order, replayed into `engine.orders.Order` after an `OrderSubmitted`, must be a legal
transition of the order state machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from engine.broker.interface import Broker, BrokerResult, Credentials, Session
from engine.enums import ErrorCode, OrderSide, OrderStatus, OrderType
from engine.messages import OrderFilled, OrderSubmitted, SubmitOrder
from engine.orders import Order


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run one coroutine to completion (pytest-asyncio is not a dependency)."""
    return asyncio.run(coro)


def replay_events(commands: Mapping[str, SubmitOrder], events: Iterable[object],
                  orders: dict[str, Order] | None = None) -> dict[str, Order]:
    """Apply `events` to one `Order` per client order ID (created from `commands` and
    moved to SUBMITTED first). Raises InvalidStateTransition on an illegal event."""
    orders = {} if orders is None else orders
    for event in events:
        coid = event.client_order_id  # type: ignore[attr-defined]
        order = orders.get(coid)
        if order is None:
            command = commands[coid]
            order = orders[coid] = Order(command)
            order.apply(OrderSubmitted(command.account_id, coid, 0, 0))
        order.apply(event)
    return orders


@dataclass
class ContractSetup:
    broker: Broker
    credentials: Credentials
    wrong_credentials: Credentials
    symbol: str
    quantity: float                                 # a small, valid order size
    set_price: Callable[[float, float], None]       # (bid, ask), with ample size
    bid: float = 100.0                              # prices on the instrument's tick
    ask: float = 100.02
    far_buy_limit: float = 50.0                     # never reached by bid/ask above


class BrokerContract:
    """The behaviour every adapter shares. Override the `setup` fixture."""

    @pytest.fixture
    def setup(self) -> ContractSetup:
        raise NotImplementedError("subclasses provide a ContractSetup")

    # --- helpers ----------------------------------------------------------------------------
    def login(self, s: ContractSetup) -> Session:
        result = run(s.broker.login(s.credentials))
        assert result.ok, result
        return result.value  # type: ignore[return-value]

    def order(self, s: ContractSetup, coid: str, side: OrderSide = OrderSide.BUY,
              qty: float | None = None, **kw: Any) -> SubmitOrder:
        return SubmitOrder(s.credentials.account_id, coid, s.symbol, side,
                           s.quantity if qty is None else qty, 1, 1, **kw)

    def submit(self, s: ContractSetup, session: Session, cmd: SubmitOrder) -> BrokerResult:
        return run(s.broker.submit(session, cmd))

    def drain(self, s: ContractSetup, session: Session) -> list[object]:
        result = run(s.broker.drain_events(session))
        assert result.ok, result
        return result.value  # type: ignore[return-value]

    # --- sessions ---------------------------------------------------------------------------
    def test_login_returns_a_session_for_the_account(self, setup: ContractSetup) -> None:
        session = self.login(setup)
        assert session.account_id == setup.credentials.account_id
        assert session.token

    def test_login_with_wrong_credentials_is_auth_error(self, setup: ContractSetup) -> None:
        result = run(setup.broker.login(setup.wrong_credentials))
        assert result.code is ErrorCode.AUTH_ERROR and result.value is None

    def test_calls_after_logout_are_session_not_found(self, setup: ContractSetup) -> None:
        session = self.login(setup)
        assert run(setup.broker.logout(session)).ok
        result = self.submit(setup, session, self.order(setup, "c-logout"))
        assert result.code is ErrorCode.SESSION_NOT_FOUND

    def test_forged_session_is_session_not_found(self, setup: ContractSetup) -> None:
        self.login(setup)
        forged = Session(setup.credentials.account_id, "forged-token", 2**62)
        assert run(setup.broker.open_orders(forged)).code is ErrorCode.SESSION_NOT_FOUND

    def test_reprs_never_show_secrets(self, setup: ContractSetup) -> None:
        session = self.login(setup)
        text = repr(session) + repr(setup.credentials) + repr(setup.broker)
        for secret in (session.token, setup.credentials.api_key, setup.credentials.secret):
            if secret:
                assert secret not in text

    def test_health_is_ok(self, setup: ContractSetup) -> None:
        result = run(setup.broker.health())
        assert result.ok and result.value.ok  # type: ignore[union-attr]

    # --- orders -----------------------------------------------------------------------------
    def test_market_buy_fills_and_its_events_are_legal(self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        cmd = self.order(setup, "c-mkt")
        result = self.submit(setup, session, cmd)
        assert result.ok, result
        events = self.drain(setup, session)
        orders = replay_events({cmd.client_order_id: cmd}, events)
        order = orders["c-mkt"]
        assert order.status is OrderStatus.FILLED
        assert order.filled_qty == pytest.approx(setup.quantity)
        assert order.venue_order_id == result.value.venue_order_id  # type: ignore[union-attr]

    def test_resubmitting_the_same_client_order_id_never_doubles(
            self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        cmd = self.order(setup, "c-twice")
        first = self.submit(setup, session, cmd)
        second = self.submit(setup, session, cmd)
        assert first.ok and second.ok
        assert second.value.venue_order_id == first.value.venue_order_id  # type: ignore
        positions = run(setup.broker.positions(session)).value
        assert [p.quantity for p in positions] == [pytest.approx(setup.quantity)]
        fills = [e for e in self.drain(setup, session) if isinstance(e, OrderFilled)]
        assert sum(f.last_qty for f in fills) == pytest.approx(setup.quantity)

    def test_limit_order_rests_and_can_be_canceled_once(self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        cmd = self.order(setup, "c-rest", order_type=OrderType.LIMIT, price=setup.far_buy_limit)
        assert self.submit(setup, session, cmd).value.status is OrderStatus.ACCEPTED  # type: ignore
        assert [o.client_order_id for o in run(setup.broker.open_orders(session)).value] == [
            "c-rest"]
        canceled = run(setup.broker.cancel(session, "c-rest"))
        assert canceled.ok and canceled.value.status is OrderStatus.CANCELED  # type: ignore
        again = run(setup.broker.cancel(session, "c-rest"))
        assert again.code in (ErrorCode.INVALID_ORDER, ErrorCode.UNKNOWN_ORDER)
        assert run(setup.broker.order_status(session, "c-rest")).value.status is (  # type: ignore
            OrderStatus.CANCELED)
        assert run(setup.broker.open_orders(session)).value == []
        replay_events({"c-rest": cmd}, self.drain(setup, session))

    def test_unknown_order_is_unknown_order(self, setup: ContractSetup) -> None:
        session = self.login(setup)
        assert run(setup.broker.cancel(session, "nope")).code is ErrorCode.UNKNOWN_ORDER
        assert run(setup.broker.order_status(session, "nope")).code is ErrorCode.UNKNOWN_ORDER

    def test_invalid_quantity_is_a_rejection_not_an_exception(
            self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        for i, qty in enumerate((-1.0, 0.0, float("nan"), "1")):
            cmd = self.order(setup, f"c-bad-{i}", qty=qty)  # type: ignore[arg-type]
            result = self.submit(setup, session, cmd)
            assert result.code is ErrorCode.INVALID_ORDER, (qty, result)
        commands = {f"c-bad-{i}": self.order(setup, f"c-bad-{i}") for i in range(4)}
        orders = replay_events(commands, self.drain(setup, session))
        assert {o.status for o in orders.values()} == {OrderStatus.REJECTED}

    def test_drain_events_delivers_each_event_once(self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        self.submit(setup, session, self.order(setup, "c-once"))
        assert self.drain(setup, session)
        assert self.drain(setup, session) == []

    def test_positions_and_balances_reflect_a_fill(self, setup: ContractSetup) -> None:
        setup.set_price(setup.bid, setup.ask)
        session = self.login(setup)
        before = run(setup.broker.balances(session)).value[0]  # type: ignore[index]
        self.submit(setup, session, self.order(setup, "c-bal"))
        after = run(setup.broker.balances(session)).value[0]  # type: ignore[index]
        assert after.cash < before.cash
        positions = run(setup.broker.positions(session)).value
        assert [(p.symbol, p.quantity) for p in positions] == [
            (setup.symbol, pytest.approx(setup.quantity))]
