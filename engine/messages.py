"""Typed messages: market data, signals, commands and events.

Every message is a frozen, slotted dataclass with integer nanosecond timestamps
`ts_event` (when it happened) and `ts_init` (when this process created the object).
Commands are imperative (`SubmitOrder`), events past tense (`OrderFilled`).
`engine.codec` turns any of them into JSON bytes and back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.enums import (
    DenyReason,
    ErrorCode,
    ExitReason,
    LiquiditySide,
    OrderSide,
    OrderType,
    SessionState,
    SignalSide,
    StateCause,
    TimeInForce,
    TradingState,
)


def message(cls: type) -> type:
    """A frozen, slotted dataclass whose `__init__` stores each field straight into its
    slot. The one `dataclass` writes for a frozen class calls `object.__setattr__` per
    field, which costs about twice as much; messages are built on every hot path."""
    cls = dataclass(frozen=True, slots=True)(cls)
    cls.__init__ = _slot_init(cls)  # type: ignore[misc]
    return cls


def _slot_init(cls: type) -> object:
    """An `__init__` with the dataclass's own signature (names, order, defaults)."""
    env: dict[str, object] = {}
    params, body = [], []
    for f in dataclasses.fields(cls):
        if not f.init or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: messages take plain defaults only")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        env[f"_s_{f.name}"] = getattr(cls, f.name).__set__   # the slot's own setter
        body.append(f"        _s_{f.name}(self, {f.name})")
    src = (f"def _make({', '.join(env)}):\n"
           f"    def __init__(self, {', '.join(params)}):\n" + "\n".join(body) +
           "\n    return __init__\n")
    scope: dict[str, object] = {}
    exec(src, scope)  # noqa: S102 - built from the dataclass's own field names only
    init = scope["_make"](**env)  # type: ignore[operator]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(cls.__init__.__annotations__)  # type: ignore[misc]
    return init


# --- market data -------------------------------------------------------------------------

@message
class QuoteTick:
    symbol: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts_event: int
    ts_init: int


@message
class TradeTick:
    symbol: str
    price: float
    size: float
    ts_event: int
    ts_init: int
    trade_id: str = ""


@message
class Bar:
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts_event: int
    ts_init: int


# --- strategy output ---------------------------------------------------------------------

@message
class Signal:
    """What a strategy wants: a target direction for `symbol`, not an order.

    `stop_loss` and `take_profit` are absolute prices; accounts size and protect the
    resulting position with their own settings where these are absent.
    """

    signal_id: str
    strategy_id: str
    symbol: str
    side: SignalSide
    ts_event: int
    ts_init: int
    confidence: float = 1.0
    stop_loss: float | None = None
    take_profit: float | None = None
    tag: str = ""


@message
class StrategyFailed:
    strategy_id: str
    callback: str
    error: str
    ts_event: int
    ts_init: int


# --- commands ----------------------------------------------------------------------------

@message
class SubmitOrder:
    account_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: float
    ts_event: int
    ts_init: int
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    price: float | None = None
    trigger_price: float | None = None
    reduce_only: bool = False
    signal_id: str = ""
    strategy_id: str = ""
    reason: ExitReason = ExitReason.NONE


@message
class CancelOrder:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int


@message
class ModifyOrder:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int
    quantity: float | None = None
    price: float | None = None
    trigger_price: float | None = None


# --- order events ------------------------------------------------------------------------

@message
class OrderDenied:
    """The order never left the account: a pre-trade check or the sizing said no."""

    account_id: str
    client_order_id: str
    reason: DenyReason
    detail: str
    ts_event: int
    ts_init: int
    symbol: str = ""
    signal_id: str = ""


@message
class OrderSubmitted:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int


@message
class OrderAccepted:
    account_id: str
    client_order_id: str
    venue_order_id: str
    ts_event: int
    ts_init: int


@message
class OrderRejected:
    account_id: str
    client_order_id: str
    code: ErrorCode
    detail: str
    ts_event: int
    ts_init: int


@message
class OrderFilled:
    account_id: str
    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: OrderSide
    last_qty: float
    last_px: float
    fee: float
    ts_event: int
    ts_init: int
    liquidity: LiquiditySide = LiquiditySide.TAKER
    strategy_id: str = ""    # the order's strategy: echoed by a venue that carries client
    #                          tags (the simulated one does), else set by Account._attributed


@message
class OrderPendingCancel:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int


@message
class OrderCancelRejected:
    account_id: str
    client_order_id: str
    detail: str
    ts_event: int
    ts_init: int


@message
class OrderCanceled:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int


@message
class OrderExpired:
    account_id: str
    client_order_id: str
    ts_event: int
    ts_init: int


@message
class OrderUpdated:
    account_id: str
    client_order_id: str
    quantity: float
    price: float | None
    trigger_price: float | None
    ts_event: int
    ts_init: int


# --- position and account events ---------------------------------------------------------

@message
class PositionOpened:
    account_id: str
    symbol: str
    quantity: float          # signed: > 0 long, < 0 short
    avg_price: float
    ts_event: int
    ts_init: int


@message
class PositionChanged:
    account_id: str
    symbol: str
    quantity: float
    avg_price: float
    realized_pnl: float      # realized by this change (before fees)
    ts_event: int
    ts_init: int


@message
class PositionClosed:
    account_id: str
    symbol: str
    entry_qty: float         # signed size at its largest
    avg_entry: float
    avg_exit: float
    realized_pnl: float      # of the whole round trip, before fees
    fees: float
    opened_ns: int
    ts_event: int
    ts_init: int
    reason: ExitReason = ExitReason.NONE
    strategy_id: str = ""    # the strategy of the fill that opened the position


@message
class SessionChanged:
    account_id: str
    state: SessionState
    detail: str
    ts_event: int
    ts_init: int


@message
class TradingStateChanged:
    """An account's (or, with account_id "*", the fleet's) trading state changed."""

    account_id: str
    state: TradingState
    cause: StateCause
    detail: str
    ts_event: int
    ts_init: int


ORDER_EVENTS = (
    OrderDenied, OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
    OrderPendingCancel, OrderCancelRejected, OrderCanceled, OrderExpired, OrderUpdated,
)
ALL_MESSAGES = (
    QuoteTick, TradeTick, Bar, Signal, StrategyFailed, SubmitOrder, CancelOrder, ModifyOrder,
    *ORDER_EVENTS, PositionOpened, PositionChanged, PositionClosed, SessionChanged,
    TradingStateChanged,
)
