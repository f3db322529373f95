"""Orders and their state machine, and deterministic client order IDs.

An `Order` changes state only through `apply(event)`. The table `_TRANSITIONS` is the
whole state machine: an event that is not in it for the current state raises
`InvalidStateTransition` and leaves the order untouched.
"""

from __future__ import annotations

import hashlib
import math

from engine.enums import ExitReason, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.errors import InvalidStateTransition
from engine.messages import (
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

S = OrderStatus
_FILL = "fill"  # resolved to PARTIALLY_FILLED or FILLED by the filled quantity
_BACK = "back"  # back to the state before PENDING_CANCEL

_TRANSITIONS: dict[tuple[OrderStatus, type], object] = {
    (S.INITIALIZED, OrderDenied): S.DENIED,
    (S.INITIALIZED, OrderSubmitted): S.SUBMITTED,
    (S.INITIALIZED, OrderCanceled): S.CANCELED,
    (S.SUBMITTED, OrderAccepted): S.ACCEPTED,
    (S.SUBMITTED, OrderRejected): S.REJECTED,
    (S.SUBMITTED, OrderFilled): _FILL,
    (S.SUBMITTED, OrderPendingCancel): S.PENDING_CANCEL,
    (S.SUBMITTED, OrderCanceled): S.CANCELED,
    (S.SUBMITTED, OrderExpired): S.EXPIRED,
    (S.ACCEPTED, OrderFilled): _FILL,
    (S.ACCEPTED, OrderPendingCancel): S.PENDING_CANCEL,
    (S.ACCEPTED, OrderCanceled): S.CANCELED,
    (S.ACCEPTED, OrderExpired): S.EXPIRED,
    (S.ACCEPTED, OrderUpdated): S.ACCEPTED,
    (S.PARTIALLY_FILLED, OrderFilled): _FILL,
    (S.PARTIALLY_FILLED, OrderPendingCancel): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, OrderCanceled): S.CANCELED,
    (S.PARTIALLY_FILLED, OrderExpired): S.EXPIRED,
    (S.PARTIALLY_FILLED, OrderUpdated): S.PARTIALLY_FILLED,
    (S.PENDING_CANCEL, OrderCanceled): S.CANCELED,
    (S.PENDING_CANCEL, OrderCancelRejected): _BACK,
    (S.PENDING_CANCEL, OrderFilled): _FILL,
    (S.PENDING_CANCEL, OrderExpired): S.EXPIRED,
}

LEGAL_TRANSITIONS = _TRANSITIONS  # exported for tests and documentation

# Read on every event, so bound once: a member read off an Enum class costs ~80 ns on
# Python 3.11 (its metaclass defines __getattr__).
_PENDING_CANCEL, _FILLED, _PARTIALLY_FILLED = S.PENDING_CANCEL, S.FILLED, S.PARTIALLY_FILLED


def client_order_id(account_id: str, key: str, leg: int = 0) -> str:
    """The client order ID for `key` (a signal ID, or an exit's identity) on one account.

    Deterministic: the same account, key and leg always give the same ID, so a retried
    or replayed request is recognised by the broker and never fills twice.
    """
    # '|' separates the parts; escaping it in the account ID keeps distinct (account, key)
    # pairs apart ("A|1", "x" vs "A", "1|x") and leaves ordinary IDs as they were.
    account = account_id.replace("\\", "\\\\").replace("|", "\\|")
    digest = hashlib.blake2b(f"{account}|{key}|{leg}".encode(), digest_size=10).hexdigest()
    return f"PX{digest}"


class Order:
    """One order's life. Built from its `SubmitOrder` command; moved by events only."""

    __slots__ = (
        "command", "status", "filled_qty", "avg_px", "fees", "venue_order_id",
        "trade_ids", "events", "quantity", "price", "trigger_price", "_before_cancel",
    )

    def __init__(self, command: SubmitOrder) -> None:
        self.command = command
        self.status = S.INITIALIZED
        self.quantity = command.quantity
        self.price = command.price
        self.trigger_price = command.trigger_price
        self.filled_qty = 0.0
        self.avg_px = 0.0
        self.fees = 0.0
        self.venue_order_id = ""
        self.trade_ids: set[str] = set()
        self.events: list[object] = []
        self._before_cancel = S.INITIALIZED

    # --- read-only views ------------------------------------------------------------------
    @property
    def client_order_id(self) -> str:
        return self.command.client_order_id

    @property
    def symbol(self) -> str:
        return self.command.symbol

    @property
    def side(self) -> OrderSide:
        return self.command.side

    @property
    def order_type(self) -> OrderType:
        return self.command.order_type

    @property
    def time_in_force(self) -> TimeInForce:
        return self.command.time_in_force

    @property
    def reduce_only(self) -> bool:
        return self.command.reduce_only

    @property
    def reason(self) -> ExitReason:
        return self.command.reason

    @property
    def leaves_qty(self) -> float:
        return max(0.0, self.quantity - self.filled_qty)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    # --- the state machine ----------------------------------------------------------------
    def apply(self, event: object) -> bool:
        """Apply one event. Returns False for a fill already applied (same trade ID).

        Raises InvalidStateTransition, leaving the order unchanged, when the event is not
        legal in the current state or a fill would exceed the order quantity.
        """
        if isinstance(event, OrderFilled) and event.trade_id in self.trade_ids:
            return False
        target = _TRANSITIONS.get((self.status, type(event)))
        if target is None:
            raise InvalidStateTransition(self.client_order_id, self.status,
                                         type(event).__name__)
        if target is _FILL:
            target = self._fill(event)  # type: ignore[arg-type]
        elif target is _BACK:
            target = self._before_cancel
        elif isinstance(event, OrderUpdated):
            self._check_update(event)
            self.quantity = event.quantity
            self.price = event.price
            self.trigger_price = event.trigger_price
        elif isinstance(event, OrderAccepted):
            self.venue_order_id = event.venue_order_id
        if target is _PENDING_CANCEL:
            self._before_cancel = self.status
        self.status = target  # type: ignore[assignment]
        self.events.append(event)
        return True

    def _check_update(self, update: OrderUpdated) -> None:
        """An update may not cut the quantity to or below what has already filled."""
        tolerance = 1e-9 * max(1.0, self.quantity)
        if not (math.isfinite(update.quantity) and update.quantity > self.filled_qty + tolerance):
            raise InvalidStateTransition(
                self.client_order_id, self.status,
                f"OrderUpdated(quantity={update.quantity}, filled={self.filled_qty})")

    def _fill(self, fill: OrderFilled) -> OrderStatus:
        new_qty = self.filled_qty + fill.last_qty
        tolerance = 1e-9 * max(1.0, self.quantity)
        if (not (fill.last_qty > 0 and math.isfinite(fill.last_qty))
                or not math.isfinite(fill.last_px) or new_qty > self.quantity + tolerance):
            raise InvalidStateTransition(
                self.client_order_id, self.status,
                f"OrderFilled(last_qty={fill.last_qty}, filled={self.filled_qty}, "
                f"quantity={self.quantity})")
        self.avg_px = (self.avg_px * self.filled_qty + fill.last_px * fill.last_qty) / new_qty
        self.filled_qty = new_qty
        self.fees += fill.fee
        self.trade_ids.add(fill.trade_id)
        if fill.venue_order_id:
            self.venue_order_id = fill.venue_order_id
        return _FILLED if self.quantity - new_qty <= tolerance else _PARTIALLY_FILLED

    def __repr__(self) -> str:
        c = self.command
        return (f"Order({c.client_order_id} {c.side.value} {self.quantity} {c.symbol} "
                f"{c.order_type.value} {self.status.value} filled={self.filled_qty})")
