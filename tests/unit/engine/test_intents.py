from engine.enums import ExitReason, OrderSide
from engine.intents import Plan, plan
from engine.messages import SubmitOrder
from engine.orders import Order


def order(side, qty, reduce_only=False, reason=ExitReason.NONE, coid="c"):
    return Order(SubmitOrder("A", coid, "X", side, qty, 0, 0, reduce_only=reduce_only,
                             reason=reason))


BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_from_flat_to_long_opens():
    assert plan(1, 0.0, []) == Plan(open=True)


def test_already_long_does_nothing():
    assert plan(1, 5.0, []).empty


def test_long_to_short_closes_then_opens():
    assert plan(-1, 5.0, []) == Plan(close_qty=5.0, open=True)


def test_flat_cancels_a_working_entry_and_closes_only_what_is_held():
    p = plan(0, 2.0, [order(BUY, 3.0, coid="entry")])
    assert p == Plan(cancel=("entry",), close_qty=2.0)


def test_close_is_reduced_by_working_reduce_only_orders():
    stop = order(SELL, 3.0, reduce_only=True, reason=ExitReason.STOP_LOSS, coid="stop")
    assert plan(0, 5.0, [stop]) == Plan(close_qty=2.0)


def test_nothing_is_closed_when_working_exits_cover_the_position():
    stop = order(SELL, 5.0, reduce_only=True, reason=ExitReason.STOP_LOSS)
    assert plan(0, 5.0, [stop]).empty


def test_a_signal_close_is_cancelled_when_the_target_wants_the_position_again():
    close = order(SELL, 5.0, reduce_only=True, reason=ExitReason.SIGNAL, coid="close")
    assert plan(1, 5.0, [close]) == Plan(cancel=("close",))


def test_a_protective_exit_is_never_cancelled_by_a_signal():
    stop = order(SELL, 5.0, reduce_only=True, reason=ExitReason.TRAILING_STOP)
    assert plan(1, 5.0, [stop]).empty


def test_a_working_entry_in_the_target_direction_is_not_doubled():
    assert plan(1, 0.0, [order(BUY, 3.0)]).empty
