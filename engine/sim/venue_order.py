"""The simulated venue's record of one order, and the checks a new order must pass.

`parse_submit` turns a `SubmitOrder` into a validated `SimOrder` or a `Refusal` (an
`ErrorCode` and a detail naming the field). It never raises, whatever the command holds:
wrong types, NaN, negative or off-grid values are refusals, not crashes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from engine.broker.interface import FillReport, OrderReport
from engine.enums import ErrorCode, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.instruments import Instrument, is_finite_positive
from engine.messages import ModifyOrder, SubmitOrder

S = OrderStatus
NANOS_PER_DAY = 86_400 * 1_000_000_000
_LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)
# Read on every order, so bound once: a member read off an Enum class costs ~80 ns on
# Python 3.11 (its metaclass defines __getattr__).
_FILLED, _PARTIALLY_FILLED, _DAY = S.FILLED, S.PARTIALLY_FILLED, TimeInForce.DAY


class Refusal(NamedTuple):
    code: ErrorCode
    detail: str


@dataclass(slots=True)
class SimOrder:
    """One order as the venue sees it. Only the venue mutates it."""

    account_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    tif: TimeInForce
    quantity: float
    price: float | None
    trigger_price: float | None
    reduce_only: bool
    ts_submitted: int
    venue_order_id: str = ""
    status: OrderStatus = S.ACCEPTED
    filled_qty: float = 0.0
    avg_px: float = 0.0
    fills: list[FillReport] = field(default_factory=list)
    triggered: bool = True       # stops start untriggered
    entered: bool = False        # has met its first market update while active
    last_seq: int = -1           # the market update it last filled on
    expire_ns: int | None = None
    reserve: float = 0.0         # cash held for the whole quantity
    reject_code: ErrorCode | None = None
    detail: str = ""
    strategy_id: str = ""        # the command's, echoed on its fills (a client tag)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def leaves(self) -> float:
        left = self.quantity - self.filled_qty
        return 0.0 if left <= 1e-9 * max(1.0, self.quantity) else left

    @property
    def is_limit_like(self) -> bool:
        """Fills only at its limit or better once active (LIMIT, STOP_LIMIT)."""
        return self.order_type in _LIMIT_TYPES

    def reserved_now(self) -> float:
        """Cash still held for the unfilled part."""
        if not self.is_open or self.quantity <= 0:
            return 0.0
        return self.reserve * self.leaves / self.quantity

    def add_fill(self, fill: FillReport) -> None:
        new_qty = self.filled_qty + fill.quantity
        self.avg_px = (self.avg_px * self.filled_qty + fill.price * fill.quantity) / new_qty
        self.filled_qty = new_qty
        self.fills.append(fill)
        if self.leaves == 0.0:
            self.filled_qty = self.quantity
            self.status = _FILLED
        else:
            self.status = _PARTIALLY_FILLED

    def report(self) -> OrderReport:
        return OrderReport(
            client_order_id=self.client_order_id, venue_order_id=self.venue_order_id,
            symbol=self.symbol, side=self.side, order_type=self.order_type,
            time_in_force=self.tif, quantity=self.quantity, status=self.status,
            filled_qty=self.filled_qty, avg_px=self.avg_px, price=self.price,
            trigger_price=self.trigger_price, fills=tuple(self.fills),
            reject_code=self.reject_code, detail=self.detail)


def rejected_record(account_id: str, command: SubmitOrder, refusal: Refusal,
                    ts_ns: int) -> SimOrder:
    """A REJECTED record keeping the command's raw fields, so a resend gets the same reply."""
    c = command
    return SimOrder(account_id, c.client_order_id, c.symbol, c.side, c.order_type,
                    c.time_in_force, c.quantity, c.price, c.trigger_price,
                    bool(c.reduce_only), ts_ns, status=S.REJECTED, reject_code=refusal.code,
                    detail=refusal.detail)


def _enum(cls: type, value: object, name: str) -> object | Refusal:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except (ValueError, TypeError):
        return Refusal(ErrorCode.INVALID_ORDER, f"{name}={value!r} is not a {cls.__name__}")


def _price(name: str, value: object, instrument: Instrument) -> Refusal | None:
    if not is_finite_positive(value):
        return Refusal(ErrorCode.INVALID_ORDER, f"{name}={value!r}: must be a finite number > 0")
    if not instrument.is_on_tick(value):  # type: ignore[arg-type]
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"{name}={value!r}: not on the price tick {instrument.price_tick}")
    return None


def check_quantity(qty: object, instrument: Instrument, name: str = "quantity"
                   ) -> Refusal | None:
    """A quantity the venue accepts: finite, > 0, on the step, >= min_qty."""
    if not is_finite_positive(qty):
        return Refusal(ErrorCode.INVALID_ORDER, f"{name}={qty!r}: must be a finite number > 0")
    if not instrument.is_on_step(qty):  # type: ignore[arg-type]
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"{name}={qty!r}: not on the quantity step {instrument.qty_step}")
    if qty < instrument.min_qty:  # type: ignore[operator]
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"{name}={qty!r}: below the minimum {instrument.min_qty}")
    return None


def check_prices(order_type: OrderType, price: object, trigger: object,
                 instrument: Instrument) -> Refusal | None:
    """Limit types need a price, stop types a trigger; the others must not carry one."""
    if order_type in _LIMIT_TYPES:
        if (bad := _price("price", price, instrument)) is not None:
            return bad
    elif price is not None:
        return Refusal(ErrorCode.INVALID_ORDER, f"price not allowed on a {order_type.value} order")
    if order_type in _STOP_TYPES:
        return _price("trigger_price", trigger, instrument)
    if trigger is not None:
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"trigger_price not allowed on a {order_type.value} order")
    return None


def end_of_utc_day(ts_ns: int) -> int:
    return (ts_ns // NANOS_PER_DAY + 1) * NANOS_PER_DAY


def parse_submit(command: SubmitOrder, account_id: str, instruments: dict[str, Instrument],
                 ts_ns: int) -> SimOrder | Refusal:
    """A validated, ACCEPTED-to-be `SimOrder`, or why the venue refuses `command`.

    Only checks the command itself; funds, positions and min_notional need the venue.
    """
    c = command
    if c.account_id and c.account_id != account_id:
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"account_id={c.account_id!r} does not match the session's account")
    side = _enum(OrderSide, c.side, "side")
    order_type = _enum(OrderType, c.order_type, "order_type")
    tif = _enum(TimeInForce, c.time_in_force, "time_in_force")
    for parsed in (side, order_type, tif):
        if isinstance(parsed, Refusal):
            return parsed
    if not isinstance(c.reduce_only, bool):
        return Refusal(ErrorCode.INVALID_ORDER, f"reduce_only={c.reduce_only!r} is not a bool")
    instrument = instruments.get(c.symbol) if isinstance(c.symbol, str) else None
    if instrument is None:
        return Refusal(ErrorCode.UNKNOWN_SYMBOL, f"symbol={c.symbol!r} is not traded here")
    bad = check_quantity(c.quantity, instrument)
    bad = bad or check_prices(order_type, c.price, c.trigger_price, instrument)  # type: ignore
    if bad is not None:
        return bad
    return SimOrder(
        account_id, c.client_order_id, c.symbol, side, order_type, tif,  # type: ignore[arg-type]
        float(c.quantity), None if c.price is None else float(c.price),
        None if c.trigger_price is None else float(c.trigger_price), c.reduce_only, ts_ns,
        triggered=order_type not in _STOP_TYPES,
        expire_ns=end_of_utc_day(ts_ns) if tif is _DAY else None,
        strategy_id=c.strategy_id if isinstance(c.strategy_id, str) else "")


def is_valid_client_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()



def modified(order: SimOrder, c: ModifyOrder, instrument: Instrument) -> SimOrder | Refusal:
    """A copy of working `order` with the changes of `c`, or why they are refused.
    Funds are not checked here (the venue does that on the copy)."""
    if not order.is_open:
        return Refusal(ErrorCode.INVALID_ORDER, f"order is {order.status.value}")
    qty = order.quantity if c.quantity is None else c.quantity
    price = order.price if c.price is None else c.price
    trigger = order.trigger_price if c.trigger_price is None else c.trigger_price
    if (qty, price, trigger) == (order.quantity, order.price, order.trigger_price):
        return Refusal(ErrorCode.INVALID_ORDER, "nothing to modify")
    bad = check_quantity(qty, instrument) or check_prices(order.order_type, price, trigger,
                                                          instrument)
    if bad is not None:
        return bad
    if qty <= order.filled_qty * (1 + 1e-9):  # type: ignore[operator]
        return Refusal(ErrorCode.INVALID_ORDER,
                       f"quantity={qty!r}: not above the filled {order.filled_qty}")
    if trigger != order.trigger_price and order.triggered:
        return Refusal(ErrorCode.INVALID_ORDER, "the stop has already triggered")
    return dataclasses.replace(order, quantity=float(qty), price=price,  # type: ignore[arg-type]
                               trigger_price=trigger, fills=[], reserve=0.0)
