"""How engine messages become rows of the store's tables (plain Python, no database here).

`rows_of(event, run_id)` returns `(table, row)` pairs, the row's values in the order of
`COLUMNS[table]`. One message can feed several tables: a fill is an order event and a
fill; a denial is an order event and a risk event; a closed position is a round trip
(`trades`) and a flat position snapshot. Enums are stored by name. A fill's or round
trip's `strategy_id` is NULL when the message has none ("": not attributed by the engine),
so `data.analytics` attributes it from `orders` as for runs journaled before schema v3.

Market data messages go to the shared `ticks`, `quotes` and `bars` tables (not run-scoped);
a `Bar` is stamped at its close in the engine and at its open in the store, so it needs
the bar interval (`bar_interval_ns`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from engine.errors import InvalidInput
from engine.messages import (
    ALL_MESSAGES,
    ORDER_EVENTS,
    Bar,
    CancelOrder,
    ModifyOrder,
    OrderDenied,
    OrderFilled,
    PositionChanged,
    PositionClosed,
    PositionOpened,
    QuoteTick,
    SessionChanged,
    Signal,
    StrategyFailed,
    SubmitOrder,
    TradeTick,
    TradingStateChanged,
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "signals": ("run_id", "signal_id", "strategy_id", "symbol", "side", "confidence",
                "stop_loss", "take_profit", "tag", "ts_event", "ts_init"),
    "orders": ("run_id", "account_id", "client_order_id", "symbol", "side", "order_type",
               "time_in_force", "quantity", "price", "trigger_price", "reduce_only",
               "signal_id", "strategy_id", "reason", "ts_event", "ts_init"),
    "order_events": ("run_id", "account_id", "client_order_id", "event", "venue_order_id",
                     "reason", "detail", "quantity", "price", "trigger_price", "ts_event",
                     "ts_init"),
    "fills": ("run_id", "account_id", "client_order_id", "venue_order_id", "trade_id",
              "symbol", "side", "quantity", "price", "fee", "liquidity", "ts_event", "ts_init",
              "strategy_id"),
    "trades": ("run_id", "account_id", "symbol", "side", "quantity", "entry_ts_ns",
               "exit_ts_ns", "avg_entry", "avg_exit", "gross_pnl", "fees", "net_pnl",
               "holding_ns", "exit_reason", "strategy_id"),
    "positions": ("run_id", "account_id", "symbol", "ts_ns", "quantity", "avg_price",
                  "realized_pnl", "event"),
    "risk_events": ("run_id", "account_id", "ts_ns", "kind", "state", "cause", "reason",
                    "detail", "client_order_id", "symbol"),
    "run_events": ("run_id", "ts_ns", "kind", "source", "state", "detail"),
    "ticks": ("symbol", "ts_ns", "price", "size"),
    "quotes": ("symbol", "ts_ns", "bid", "ask", "bid_size", "ask_size"),
    "bars": ("symbol", "interval", "ts_ns", "open", "high", "low", "close", "volume"),
}

Rows = list[tuple[str, tuple[Any, ...]]]


def _name(value: object) -> object:
    return value.name if isinstance(value, Enum) else value


def _order_event(e: Any, run: str) -> Rows:
    """Any order lifecycle message: one row in order_events (missing fields are NULL)."""
    reason = getattr(e, "reason", None) or getattr(e, "code", None)
    return [("order_events", (
        run, e.account_id, e.client_order_id, type(e).__name__,
        getattr(e, "venue_order_id", None), _name(reason), getattr(e, "detail", None),
        getattr(e, "last_qty", getattr(e, "quantity", None)),
        getattr(e, "last_px", getattr(e, "price", None)), getattr(e, "trigger_price", None),
        e.ts_event, e.ts_init))]


def _fill(e: OrderFilled, run: str) -> Rows:
    return _order_event(e, run) + [("fills", (
        run, e.account_id, e.client_order_id, e.venue_order_id, e.trade_id, e.symbol,
        e.side.name, e.last_qty, e.last_px, e.fee, e.liquidity.name, e.ts_event, e.ts_init,
        e.strategy_id or None))]


def _denied(e: OrderDenied, run: str) -> Rows:
    return _order_event(e, run) + [("risk_events", (
        run, e.account_id, e.ts_event, "DENIED", None, None, e.reason.name, e.detail,
        e.client_order_id, e.symbol or None))]


def _signal(e: Signal, run: str) -> Rows:
    return [("signals", (run, e.signal_id, e.strategy_id, e.symbol, e.side.name, e.confidence,
                         e.stop_loss, e.take_profit, e.tag, e.ts_event, e.ts_init))]


def _submit(e: SubmitOrder, run: str) -> Rows:
    return [("orders", (
        run, e.account_id, e.client_order_id, e.symbol, e.side.name, e.order_type.name,
        e.time_in_force.name, e.quantity, e.price, e.trigger_price, e.reduce_only,
        e.signal_id, e.strategy_id, e.reason.name, e.ts_event, e.ts_init))]


def _position(e: PositionOpened | PositionChanged, run: str) -> Rows:
    event = "OPENED" if isinstance(e, PositionOpened) else "CHANGED"
    return [("positions", (run, e.account_id, e.symbol, e.ts_event, e.quantity, e.avg_price,
                           getattr(e, "realized_pnl", 0.0), event))]


def _closed(e: PositionClosed, run: str) -> Rows:
    return [
        ("trades", (run, e.account_id, e.symbol, "LONG" if e.entry_qty > 0 else "SHORT",
                    abs(e.entry_qty), e.opened_ns, e.ts_event, e.avg_entry, e.avg_exit,
                    e.realized_pnl, e.fees, e.realized_pnl - e.fees, e.ts_event - e.opened_ns,
                    e.reason.name, e.strategy_id or None)),
        ("positions", (run, e.account_id, e.symbol, e.ts_event, 0.0, None, e.realized_pnl,
                       "CLOSED")),
    ]


def _state(e: TradingStateChanged, run: str) -> Rows:
    return [("risk_events", (run, e.account_id, e.ts_event, "STATE", e.state.name,
                             e.cause.name, None, e.detail, None, None))]


def _session(e: SessionChanged, run: str) -> Rows:
    return [("run_events", (run, e.ts_event, "SessionChanged", e.account_id, e.state.name,
                            e.detail))]


def _strategy_failed(e: StrategyFailed, run: str) -> Rows:
    return [("run_events", (run, e.ts_event, "StrategyFailed", e.strategy_id, e.callback,
                            e.error))]


def _trade_tick(e: TradeTick, run: str) -> Rows:
    return [("ticks", (e.symbol, e.ts_event, e.price, e.size))]


def _quote(e: QuoteTick, run: str) -> Rows:
    return [("quotes", (e.symbol, e.ts_event, e.bid, e.ask, e.bid_size, e.ask_size))]


_MAPPERS: dict[type, Callable[[Any, str], Rows]] = {
    **{cls: _order_event for cls in (*ORDER_EVENTS, CancelOrder, ModifyOrder)},
    OrderFilled: _fill, OrderDenied: _denied, Signal: _signal, SubmitOrder: _submit,
    PositionOpened: _position, PositionChanged: _position, PositionClosed: _closed,
    TradingStateChanged: _state, SessionChanged: _session, StrategyFailed: _strategy_failed,
    TradeTick: _trade_tick, QuoteTick: _quote,
}
assert set(_MAPPERS) | {Bar} == set(ALL_MESSAGES), "every message type has a table"


def rows_of(event: object, run_id: str, bar_interval: tuple[int, str] | None = None) -> Rows:
    """The `(table, row)` pairs of one message. `bar_interval` = (ns, canonical name)."""
    mapper = _MAPPERS.get(type(event))
    if mapper is not None:
        return mapper(event, run_id)
    if isinstance(event, Bar):
        if bar_interval is None:
            raise InvalidInput("bar_interval", None, "is needed to store Bar messages "
                                                     "(the store keys bars by interval)")
        return [("bars", (event.symbol, bar_interval[1], event.ts_event - bar_interval[0],
                          event.open, event.high, event.low, event.close, event.volume))]
    raise InvalidInput("event", type(event).__name__, "is not a message the store knows")
