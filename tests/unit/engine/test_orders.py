"""The order state machine, written against `LEGAL_TRANSITIONS` by someone other than its author."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.enums import DenyReason, ErrorCode, OrderSide, OrderStatus, OrderType
from engine.errors import InvalidStateTransition
from engine.messages import (
    ORDER_EVENTS,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
    SubmitOrder,
)
from engine.orders import LEGAL_TRANSITIONS, Order, client_order_id

S = OrderStatus
ACCOUNT = "ACC-1"
QTY = 10.0
_trade_ids = itertools.count(1)


def new_order(quantity: float = QTY, side: OrderSide = OrderSide.BUY) -> Order:
    cmd = SubmitOrder(ACCOUNT, client_order_id(ACCOUNT, "sig-1"), "AAPL", side, quantity,
                      ts_event=1, ts_init=1, order_type=OrderType.LIMIT, price=100.0)
    return Order(cmd)


def event(cls: type, order: Order, *, qty: float = 1.0, px: float = 100.0, fee: float = 0.1,
          trade_id: str | None = None, new_qty: float | None = None):
    """A representative event of type `cls` for `order`."""
    coid = order.client_order_id
    if cls is OrderDenied:
        return OrderDenied(ACCOUNT, coid, DenyReason.MAX_POSITION, "too big", 2, 2)
    if cls is OrderAccepted:
        return OrderAccepted(ACCOUNT, coid, "V-1", 3, 3)
    if cls is OrderRejected:
        return OrderRejected(ACCOUNT, coid, ErrorCode.INVALID_ORDER, "bad price", 3, 3)
    if cls is OrderFilled:
        tid = trade_id if trade_id is not None else f"T{next(_trade_ids)}"
        return OrderFilled(ACCOUNT, coid, "V-1", tid, order.symbol, order.side, qty, px, fee,
                           4, 4)
    if cls is OrderCancelRejected:
        return OrderCancelRejected(ACCOUNT, coid, "too late", 5, 5)
    if cls is OrderUpdated:
        quantity = new_qty if new_qty is not None else order.quantity + 5.0
        return OrderUpdated(ACCOUNT, coid, quantity, 101.0, None, 6, 6)
    return cls(ACCOUNT, coid, 7, 7)  # Submitted, PendingCancel, Canceled, Expired


# How to bring a fresh order into each status.
PATHS: dict[OrderStatus, list[tuple[type, dict]]] = {
    S.INITIALIZED: [],
    S.DENIED: [(OrderDenied, {})],
    S.SUBMITTED: [(OrderSubmitted, {})],
    S.ACCEPTED: [(OrderSubmitted, {}), (OrderAccepted, {})],
    S.REJECTED: [(OrderSubmitted, {}), (OrderRejected, {})],
    S.PARTIALLY_FILLED: [(OrderSubmitted, {}), (OrderAccepted, {}), (OrderFilled, {"qty": 4.0})],
    S.FILLED: [(OrderSubmitted, {}), (OrderAccepted, {}), (OrderFilled, {"qty": QTY})],
    S.PENDING_CANCEL: [(OrderSubmitted, {}), (OrderAccepted, {}), (OrderPendingCancel, {})],
    S.CANCELED: [(OrderSubmitted, {}), (OrderCanceled, {})],
    S.EXPIRED: [(OrderSubmitted, {}), (OrderExpired, {})],
}


def order_in(status: OrderStatus) -> Order:
    order = new_order()
    for cls, kwargs in PATHS[status]:
        assert order.apply(event(cls, order, **kwargs)) is True
    assert order.status is status
    return order


def snapshot(order: Order) -> dict:
    return {name: copy.copy(getattr(order, name)) for name in Order.__slots__}


def _status_of(target: object) -> OrderStatus | None:
    return target if isinstance(target, OrderStatus) else None


LEGAL = sorted(LEGAL_TRANSITIONS, key=lambda k: (k[0].value, k[1].__name__))
ILLEGAL = [(status, cls) for status in OrderStatus for cls in ORDER_EVENTS
           if (status, cls) not in LEGAL_TRANSITIONS]


def _ids(pair) -> str:
    return f"{pair[0].value}-{pair[1].__name__}"


# --- the table ---------------------------------------------------------------------------

def test_every_status_is_reachable_by_the_test_paths():
    assert set(PATHS) == set(OrderStatus)


def test_the_table_only_uses_order_events_and_terminal_states_have_no_way_out():
    for status, cls in LEGAL_TRANSITIONS:
        assert cls in ORDER_EVENTS
        assert not status.is_terminal


@pytest.mark.parametrize("pair", LEGAL, ids=_ids)
def test_every_legal_transition_moves_the_order_to_its_target(pair):
    status, cls = pair
    order = order_in(status)
    target = _status_of(LEGAL_TRANSITIONS[pair])
    before = len(order.events)
    evt = event(cls, order, qty=1.0)
    assert order.apply(evt) is True
    if target is not None:
        assert order.status is target
    elif cls is OrderFilled:   # resolved by the filled quantity; a 1-unit fill never completes
        assert order.status is S.PARTIALLY_FILLED
    else:                      # cancel rejected: back to where the order was
        assert order.status is S.ACCEPTED
    assert order.events[before:] == [evt]


@pytest.mark.parametrize("status", [s for s in OrderStatus
                                    if (s, OrderFilled) in LEGAL_TRANSITIONS], ids=str)
def test_a_fill_of_the_whole_remaining_quantity_turns_the_order_filled(status):
    order = order_in(status)
    assert order.apply(event(OrderFilled, order, qty=order.leaves_qty)) is True
    assert order.status is S.FILLED
    assert order.filled_qty == pytest.approx(QTY)
    assert order.leaves_qty == 0.0
    assert order.is_terminal and not order.is_open


@pytest.mark.parametrize("pair", ILLEGAL, ids=_ids)
def test_every_event_not_in_the_table_raises_and_leaves_the_order_unchanged(pair):
    status, cls = pair
    order = order_in(status)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition) as info:
        order.apply(event(cls, order, qty=1.0))
    assert snapshot(order) == before
    assert info.value.client_order_id == order.client_order_id
    assert info.value.current is status
    assert cls.__name__ in str(info.value)


def test_an_unknown_event_type_raises_and_leaves_the_order_unchanged():
    order = order_in(S.ACCEPTED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(object())
    assert snapshot(order) == before


# --- fills -------------------------------------------------------------------------------

def test_partial_fills_accumulate_quantity_average_price_and_fees_then_turn_filled():
    order = order_in(S.ACCEPTED)
    order.apply(event(OrderFilled, order, qty=3.0, px=100.0, fee=0.3))
    assert (order.status, order.filled_qty, order.leaves_qty) == (S.PARTIALLY_FILLED, 3.0, 7.0)
    order.apply(event(OrderFilled, order, qty=3.0, px=102.0, fee=0.3))
    assert (order.status, order.filled_qty) == (S.PARTIALLY_FILLED, 6.0)
    assert order.avg_px == pytest.approx(101.0)
    order.apply(event(OrderFilled, order, qty=4.0, px=106.0, fee=0.4))
    assert order.status is S.FILLED
    assert order.filled_qty == 10.0
    assert order.avg_px == pytest.approx((300 + 306 + 424) / 10)
    assert order.fees == pytest.approx(1.0)
    assert len(order.trade_ids) == 3


def test_fractional_fills_that_sum_to_the_quantity_up_to_float_noise_turn_filled():
    order = Order(SubmitOrder(ACCOUNT, "c", "BTC", OrderSide.SELL, 0.3, 1, 1))
    order.apply(event(OrderSubmitted, order))
    order.apply(event(OrderFilled, order, qty=0.1))
    order.apply(event(OrderFilled, order, qty=0.2))   # 0.1 + 0.2 != 0.3 in floats
    assert order.status is S.FILLED


def test_a_fill_in_submitted_state_skips_accepted():
    order = order_in(S.SUBMITTED)
    order.apply(event(OrderFilled, order, qty=QTY))
    assert order.status is S.FILLED


def test_the_fill_records_the_venue_order_id():
    order = order_in(S.SUBMITTED)
    order.apply(event(OrderFilled, order, qty=1.0))
    assert order.venue_order_id == "V-1"


@pytest.mark.parametrize(("status", "qty"), [
    (S.SUBMITTED, 10.5), (S.ACCEPTED, 11.0), (S.PARTIALLY_FILLED, 6.01),
    (S.PENDING_CANCEL, 1e6),
])
def test_fill_beyond_order_quantity_raises_and_leaves_order_unchanged(status, qty):
    order = order_in(status)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(event(OrderFilled, order, qty=qty))
    assert snapshot(order) == before


@pytest.mark.parametrize("qty", [0.0, -1.0, math.nan, math.inf])
def test_fill_with_a_non_positive_or_non_finite_quantity_raises_and_leaves_order_unchanged(
        qty):
    order = order_in(S.ACCEPTED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(event(OrderFilled, order, qty=qty))
    assert snapshot(order) == before


@pytest.mark.parametrize("px", [math.nan, math.inf])
def test_fill_at_a_non_finite_price_raises_and_leaves_order_unchanged(px):
    order = order_in(S.ACCEPTED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(event(OrderFilled, order, qty=1.0, px=px))
    assert snapshot(order) == before


def test_duplicate_fill_with_the_same_trade_id_is_ignored():
    order = order_in(S.ACCEPTED)
    fill = event(OrderFilled, order, qty=4.0, trade_id="T-dup")
    assert order.apply(fill) is True
    before = snapshot(order)
    assert order.apply(fill) is False
    assert order.apply(event(OrderFilled, order, qty=4.0, trade_id="T-dup")) is False
    assert snapshot(order) == before
    assert order.filled_qty == 4.0


def test_duplicate_of_the_completing_fill_after_filled_is_ignored_not_an_error():
    order = order_in(S.ACCEPTED)
    fill = event(OrderFilled, order, qty=QTY, trade_id="T-last")
    order.apply(fill)
    before = snapshot(order)
    assert order.apply(fill) is False
    assert snapshot(order) == before


def test_a_new_fill_after_filled_raises():
    order = order_in(S.FILLED)
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(event(OrderFilled, order, qty=1.0))
    assert snapshot(order) == before


# --- cancel, update, accept ----------------------------------------------------------------

@pytest.mark.parametrize("prior", [S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED])
def test_cancel_rejected_returns_the_order_to_the_state_before_pending_cancel(prior):
    order = order_in(prior)
    order.apply(event(OrderPendingCancel, order))
    assert order.status is S.PENDING_CANCEL and order.is_open
    order.apply(event(OrderCancelRejected, order))
    assert order.status is prior


def test_cancel_rejected_twice_after_two_cancel_requests_returns_each_time():
    order = order_in(S.ACCEPTED)
    for _ in range(2):
        order.apply(event(OrderPendingCancel, order))
        order.apply(event(OrderCancelRejected, order))
        assert order.status is S.ACCEPTED


def test_a_fill_while_pending_cancel_is_applied_and_the_cancel_then_completes():
    order = order_in(S.PENDING_CANCEL)
    order.apply(event(OrderFilled, order, qty=2.0))
    assert order.status is S.PARTIALLY_FILLED
    order.apply(event(OrderCanceled, order))
    assert order.status is S.CANCELED
    assert order.filled_qty == 2.0


def test_accepted_records_the_venue_order_id():
    order = order_in(S.SUBMITTED)
    assert order.venue_order_id == ""
    order.apply(event(OrderAccepted, order))
    assert order.venue_order_id == "V-1"


def test_update_changes_quantity_and_prices_and_later_fills_use_the_new_quantity():
    order = order_in(S.ACCEPTED)
    order.apply(event(OrderUpdated, order, new_qty=15.0))
    assert (order.quantity, order.price, order.trigger_price) == (15.0, 101.0, None)
    assert order.status is S.ACCEPTED
    order.apply(event(OrderFilled, order, qty=12.0))
    assert order.status is S.PARTIALLY_FILLED
    order.apply(event(OrderFilled, order, qty=3.0))
    assert order.status is S.FILLED


@pytest.mark.parametrize("new_qty", [4.0, 3.0, 0.0, -1.0, math.nan])
def test_update_to_a_quantity_at_or_below_the_filled_quantity_raises_and_leaves_order_unchanged(
        new_qty):
    order = order_in(S.PARTIALLY_FILLED)   # 4 of 10 filled
    before = snapshot(order)
    with pytest.raises(InvalidStateTransition):
        order.apply(event(OrderUpdated, order, new_qty=new_qty))
    assert snapshot(order) == before


def test_an_initialized_order_can_be_canceled_locally():
    order = new_order()
    order.apply(event(OrderCanceled, order))
    assert order.status is S.CANCELED and order.is_terminal


def test_order_exposes_its_command():
    order = new_order(side=OrderSide.SELL)
    assert order.side is OrderSide.SELL
    assert order.symbol == "AAPL"
    assert order.order_type is OrderType.LIMIT
    assert order.quantity == QTY and order.price == 100.0
    assert order.client_order_id == order.command.client_order_id
    assert "SELL" in repr(order) and "INITIALIZED" in repr(order)


# --- random event sequences --------------------------------------------------------------

_EVENT_CHOICES = st.tuples(
    st.sampled_from(ORDER_EVENTS),
    st.sampled_from([0.5, 1.0, 2.5, 4.0, 10.0, 11.0]),
    st.integers(0, 3),            # trade id drawn from a small pool: duplicates happen
    st.sampled_from([6.0, 10.0, 20.0]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_EVENT_CHOICES, max_size=25))
def test_any_event_sequence_either_follows_the_table_or_leaves_the_order_unchanged(steps):
    order = new_order()
    for cls, qty, tid, new_qty in steps:
        evt = event(cls, order, qty=qty, trade_id=f"T{tid}", new_qty=new_qty)
        before = snapshot(order)
        try:
            applied = order.apply(evt)
        except InvalidStateTransition:
            assert snapshot(order) == before
            continue
        if not applied:
            assert cls is OrderFilled and evt.trade_id in before["trade_ids"]
            assert snapshot(order) == before
            continue
        target = _status_of(LEGAL_TRANSITIONS[(before["status"], cls)])
        if target is not None:
            assert order.status is target
        assert order.events[-1] is evt
        assert order.filled_qty <= order.quantity + 1e-9
        assert (order.status is S.FILLED) == (
            order.filled_qty >= order.quantity - 1e-9 and order.filled_qty > 0)


# --- client order IDs --------------------------------------------------------------------

def test_client_order_id_is_deterministic():
    assert client_order_id("A", "sig-7", 1) == client_order_id("A", "sig-7", 1)
    assert client_order_id("A", "sig-7") == client_order_id("A", "sig-7", 0)


def test_client_order_id_differs_per_account_key_and_leg():
    ids = {client_order_id(a, k, leg) for a in ("A", "B") for k in ("s1", "s2")
           for leg in (0, 1, 2)}
    assert len(ids) == 12


def test_client_order_id_does_not_collide_when_fields_could_run_together():
    assert client_order_id("A|1", "x") != client_order_id("A", "1|x")


def test_client_order_id_is_short_and_printable():
    coid = client_order_id("account-with-a-long-name", "signal-" + "x" * 200, 3)
    assert coid.startswith("PX") and len(coid) == 22
    assert coid.isalnum()
