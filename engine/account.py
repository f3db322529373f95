"""A trading account: one broker session, its orders, positions, cash and protections.

The same class runs in a unit test, in a paper session and inside an account actor; the
actor adds hosting, nothing else. Every state change is an event appended to `events`
(and passed to `sink` when one is given), so a host can journal the account completely.

Money-path rules kept here:
- client order IDs derive from the signal (or the exit's identity), so a replayed signal
  or a retried submit is recognised and never sends a second order;
- a submit whose outcome is unknown (timeout) is checked with `order_status` before it is
  sent again, and always with the same client order ID;
- every order ends in a terminal state that is recorded, or stays in `unconfirmed` until
  `maintain()` reconciles it with the broker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.broker.interface import Broker, Credentials, OrderReport
from engine.clock import Clock
from engine.enums import DenyReason, ErrorCode, ExitReason, OrderSide, OrderStatus, SignalSide
from engine.errors import BrokerUnavailable, ConfigError, InvalidStateTransition
from engine.exits import ExitConfig, ExitPolicy, PlainExitPolicy, Protection
from engine.instruments import (
    Instrument,
    is_finite_positive,
    is_positive_float,
    require_finite,
)
from engine.intents import plan
from engine.messages import (
    Bar,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSubmitted,
    PositionClosed,
    PositionOpened,
    QuoteTick,
    Signal,
    SubmitOrder,
)
from engine.orders import Order, client_order_id
from engine.positions import Portfolio
from engine.session import BrokerSession, SessionConfig
from engine.sizing import SizingConfig, size_order

PreTradeCheck = Callable[[SubmitOrder, "Account"], OrderDenied | None]

# Bound once, for the signal path: reading a member off an Enum class costs ~80 ns on
# Python 3.11 (its metaclass defines __getattr__).
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_SUBMITTED = OrderStatus.SUBMITTED
_WANT = {SignalSide.LONG: 1, SignalSide.SHORT: -1, SignalSide.FLAT: 0}  # target direction


@dataclass(frozen=True, slots=True)
class AccountConfig:
    account_id: str
    broker: str = "sim"
    sizing: SizingConfig = field(default_factory=SizingConfig)
    exits: ExitConfig = field(default_factory=ExitConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    allow_short: bool = False
    max_send_attempts: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.account_id, str) or not self.account_id:
            raise ConfigError("account_id", f"{self.account_id!r} must be a non-empty string")
        if not isinstance(self.max_send_attempts, int) or self.max_send_attempts < 1:
            raise ConfigError("max_send_attempts",
                              f"{self.max_send_attempts!r} must be an integer >= 1")


class Account:
    def __init__(self, config: AccountConfig, broker: Broker, credentials: Credentials,
                 instruments: Iterable[Instrument], clock: Clock, *,
                 exit_policy: ExitPolicy | None = None,
                 pre_trade: PreTradeCheck | None = None,
                 sink: Callable[[object], None] | None = None) -> None:
        if credentials.account_id != config.account_id:
            raise ConfigError("credentials.account_id",
                              f"{credentials.account_id!r} != {config.account_id!r}")
        self.config = config
        self.account_id = config.account_id
        self.broker = broker
        self.clock = clock
        self.instruments = {i.symbol: i for i in instruments}
        self.portfolio = Portfolio(config.account_id, 0.0)
        self.portfolio.multipliers.update(
            {s: i.multiplier for s, i in self.instruments.items()})
        self.orders: dict[str, Order] = {}
        self.working: dict[str, Order] = {}   # not terminal yet: may still fill
        self.protections: dict[str, Protection] = {}
        self.quotes: dict[str, tuple[float, float]] = {}
        self.unconfirmed: set[str] = set()
        self.signals_seen: set[str] = set()
        self.events: list[object] = []
        self._levels: dict[str, tuple[float | None, float | None]] = {}
        self._fill_strategy: dict[str, str] = {}     # symbol -> latest fill's strategy
        self._exit_policy = exit_policy or PlainExitPolicy()
        self._pre_trade = pre_trade
        self._sink = sink
        self.session = BrokerSession(broker, credentials, clock, config.session, self._record)

    def __repr__(self) -> str:
        return f"Account({self.account_id!r}, equity={self.equity():.2f})"

    def set_sink(self, sink: Callable[[object], None] | None) -> None:
        """Where every new event goes besides `events` (a journal writer, an actor's
        stream); None for nowhere."""
        self._sink = sink

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Log in and take cash and positions from the broker's view of the account.
        Raises BrokerUnavailable when the broker cannot tell us after every retry."""
        await self.session.login()
        balances = await self._read(self.broker.balances)
        if balances:
            self.portfolio.cash = balances[0].cash
            self.portfolio.initial_cash = balances[0].equity
        for report in await self._read(self.broker.positions):
            pos = self.portfolio.position(report.symbol)
            pos.quantity, pos.avg_price = report.quantity, report.avg_price
            pos.opened_ns = self.clock.now_ns()

    async def _read(self, method: Callable[..., Any]) -> Any:
        """A read-only broker call, retried on transient errors with the session backoff."""
        result = None
        for attempt in range(self.config.max_send_attempts):
            if attempt:
                await self.session.sleep(max(self.config.session.backoff_s(attempt),
                                             result.retry_after_s))
            result = await self.session.call(method)
            if result.ok:
                return result.value
            if not result.code.retryable:
                break
        raise BrokerUnavailable(f"account {self.account_id}: {method.__name__} failed "
                                f"({result.code.value}: {result.detail})")

    async def stop(self) -> None:
        await self.sync()
        await self.session.logout()

    async def health(self) -> dict[str, object]:
        """The account's health as plain data: session state, the broker's own health
        check, seconds until the token expires, orders awaiting reconciliation."""
        result = await self.session.health()
        session = self.session.session
        expires_in = None if session is None else (
            (session.expires_ns - self.clock.now_ns()) / 1e9)
        return {"account_id": self.account_id, "session": self.session.state.value,
                "broker_ok": bool(result.ok and result.value and result.value.ok),
                "broker_latency_ms": result.value.latency_ms if result.ok else None,
                "token_expires_in_s": expires_in, "unconfirmed": len(self.unconfirmed),
                "open_orders": len(self.open_orders())}

    async def maintain(self) -> None:
        """Periodic upkeep: refresh the session, take new events, reconcile unknown orders."""
        await self.session.ensure()
        await self.sync()
        for coid in sorted(self.unconfirmed):
            await self.reconcile(coid)

    # --- market data ----------------------------------------------------------------------
    def on_quote(self, quote: QuoteTick) -> None:
        bid, ask = quote.bid, quote.ask
        if not is_positive_float(bid):
            bid = require_finite(f"{quote.symbol}.bid", bid, positive=True)
        if not is_positive_float(ask):
            ask = require_finite(f"{quote.symbol}.ask", ask, positive=True)
        self.quotes[quote.symbol] = (bid, ask)
        self.portfolio.mark(quote.symbol, (bid + ask) / 2)

    def on_bar(self, bar: Bar) -> None:
        close = bar.close
        if not is_positive_float(close):
            close = require_finite(f"{bar.symbol}.close", close, positive=True)
        self.quotes[bar.symbol] = (close, close)
        self.portfolio.mark(bar.symbol, close)

    # --- signals --------------------------------------------------------------------------
    async def on_signal(self, signal: Signal) -> list[object]:
        """Turn a signal into zero, one or two orders (close, then open) and send them.
        Returns the events this produced. Never raises for a bad signal: it is denied."""
        start = len(self.events)
        denial = self._check_signal(signal)
        if denial is not None:
            self._deny(*denial, signal=signal)
            return self.events[start:]
        self.signals_seen.add(signal.signal_id)
        await self._settle(signal.symbol)
        target = signal.side
        if target is SignalSide.SHORT and not self.config.allow_short:
            target = SignalSide.FLAT
        want = _WANT[target]
        steps = plan(want, self.portfolio.quantity(signal.symbol), self._live(signal.symbol))
        for coid in steps.cancel:
            await self.cancel(coid)
        if steps.cancel:   # a cancel may have lost the race to a fill: plan again
            steps = plan(want, self.portfolio.quantity(signal.symbol),
                         self._live(signal.symbol))
        if steps.close_qty > 0:
            side = _SELL if self.portfolio.quantity(signal.symbol) > 0 else _BUY
            await self._send(self._command(signal, 0, side, steps.close_qty,
                                           reduce_only=True, reason=ExitReason.SIGNAL))
        if steps.open:
            side = _BUY if want > 0 else _SELL
            qty = self._size(signal, side)
            if qty > 0:
                cmd = self._command(signal, 1, side, qty)
                self._levels[cmd.client_order_id] = (signal.stop_loss, signal.take_profit)
                await self._send(cmd)
        return self.events[start:]

    def _check_signal(self, s: object) -> tuple[str, DenyReason, str, str] | None:
        if not isinstance(s, Signal):
            return "", DenyReason.INVALID_SIGNAL, f"not a Signal: {type(s).__name__}", ""
        if not isinstance(s.signal_id, str) or not s.signal_id:
            return "", DenyReason.INVALID_SIGNAL, f"signal_id={s.signal_id!r}", s.symbol
        if not isinstance(s.side, SignalSide):
            return "", DenyReason.INVALID_SIGNAL, f"side={s.side!r}", s.symbol
        if s.symbol not in self.instruments:
            return "", DenyReason.UNKNOWN_INSTRUMENT, f"symbol={s.symbol!r}", s.symbol
        for name in ("stop_loss", "take_profit"):
            level = getattr(s, name)
            if level is not None and not is_finite_positive(level):
                return "", DenyReason.INVALID_SIGNAL, f"{name}={level!r}", s.symbol
        if not (isinstance(s.confidence, (int, float)) and 0 <= s.confidence <= 1):
            return "", DenyReason.INVALID_SIGNAL, f"confidence={s.confidence!r}", s.symbol
        if s.signal_id in self.signals_seen:
            return "", DenyReason.DUPLICATE_ID, f"signal_id={s.signal_id!r} seen", s.symbol
        return None

    def _size(self, s: Signal, side: OrderSide) -> float:
        price = self._price(s.symbol, side)
        if price is None:
            self._deny(client_order_id(self.account_id, s.signal_id, 1), DenyReason.NO_PRICE,
                       f"no price for {s.symbol}", s.symbol, signal=s)
            return 0.0
        reserved = self._reserved()
        qty, reason = size_order(self.config.sizing, self.instruments[s.symbol], price,
                                 self.equity(), self.portfolio.cash - reserved)
        if reason is not None:
            self._deny(client_order_id(self.account_id, s.signal_id, 1), reason,
                       f"sizing {self.config.sizing.mode.value} at {price}", s.symbol,
                       signal=s)
        return qty

    def _command(self, s: Signal, leg: int, side: OrderSide, qty: float, *,
                 reduce_only: bool = False, reason: ExitReason = ExitReason.NONE
                 ) -> SubmitOrder:
        now = self.clock.now_ns()
        return SubmitOrder(self.account_id, client_order_id(self.account_id, s.signal_id, leg),
                           s.symbol, side, qty, s.ts_event, now, reduce_only=reduce_only,
                           signal_id=s.signal_id, strategy_id=s.strategy_id, reason=reason)

    # --- protective exits -----------------------------------------------------------------
    async def check_exits(self) -> list[object]:
        """Evaluate every open position's protection at current prices; close the ones
        that trigger with a reduce-only market order. Returns the events produced.

        A host with many accounts in one process evaluates them all in one call instead:
        see `check_fleet_exits`."""
        protections, prices = self.exit_candidates()
        reasons = self._exit_policy.evaluate(protections, prices, self.clock.now_ns())
        return await self.act_on_exits(protections, reasons)

    def exit_candidates(self) -> tuple[list[Protection], list[float]]:
        """The armed protections to evaluate now (no order working on the symbol) and the price
        each would exit at (bid for a long, ask for a short; NaN without a quote)."""
        live = [p for p in self.protections.values() if p.armed and not self._live(p.symbol)]
        return live, [self._exit_price(p) for p in live]

    async def act_on_exits(self, protections: list[Protection],
                           reasons: list[ExitReason]) -> list[object]:
        """Close each position whose reason is not NONE; the exit's client order ID is
        derived from the position, so the same exit is never sent twice."""
        start = len(self.events)
        for prot, reason in zip(protections, reasons, strict=True):
            if reason is ExitReason.NONE:
                continue
            qty = self.portfolio.quantity(prot.symbol)
            if qty == 0:
                continue
            now = self.clock.now_ns()
            coid = client_order_id(self.account_id, f"exit:{prot.symbol}:{prot.opened_ns}")
            if coid in self.orders:
                continue
            side = OrderSide.SELL if qty > 0 else OrderSide.BUY
            await self._send(SubmitOrder(self.account_id, coid, prot.symbol, side, abs(qty),
                                         now, now, reduce_only=True, reason=ExitReason(reason)))
        return self.events[start:]

    def _exit_price(self, p: Protection) -> float:
        quote = self.quotes.get(p.symbol)
        if quote is None:
            return math.nan
        return quote[0] if p.direction > 0 else quote[1]

    # --- sending and reconciling ----------------------------------------------------------
    async def _send(self, cmd: SubmitOrder) -> None:
        denial = self._pre_checks(cmd)
        order = Order(cmd)
        self.orders[cmd.client_order_id] = order
        self.working[cmd.client_order_id] = order
        self._record(cmd)                     # the journal keeps the command itself
        if denial is not None:
            self._apply_to(order, denial)
            return
        now = self.clock.now_ns()
        self._apply_to(order, OrderSubmitted(self.account_id, cmd.client_order_id, now, now))
        reached = False
        result = None
        detail = ""
        for _ in range(self.config.max_send_attempts):
            try:
                result = await self.session.call(self.broker.submit, cmd)
            except BrokerUnavailable as exc:
                result = None
                detail = str(exc)
                break
            reached = True
            if result.ok:
                break
            if result.code in (ErrorCode.TIMEOUT, ErrorCode.VENUE_ERROR):
                status = await self._status(cmd.client_order_id)
                if status is not None:
                    break          # it did reach the venue: do not send again
                continue
            if result.code is ErrorCode.RATE_LIMITED:
                await self.session.sleep(max(result.retry_after_s, 0.01))
                continue
            if result.code in (ErrorCode.SESSION_EXPIRED, ErrorCode.SESSION_NOT_FOUND):
                continue
            break                  # a definitive refusal
        await self.sync()
        if order.is_terminal or order.status is not _SUBMITTED:
            return
        if result is not None and not result.ok and not result.code.retryable:
            self._reject(order, result.code, result.detail)
        elif not reached:
            self._reject(order, ErrorCode.VENUE_ERROR, f"never sent: {detail}")
        elif result is None or not result.ok:
            self.unconfirmed.add(cmd.client_order_id)

    async def cancel(self, coid: str) -> None:
        """Ask the broker to cancel one working order and take the outcome. A cancel whose
        answer is lost leaves the order PENDING_CANCEL in `unconfirmed` for `maintain()`."""
        order = self.orders.get(coid)
        if order is None or not order.is_open or order.status is OrderStatus.PENDING_CANCEL:
            return
        now = self.clock.now_ns()
        self._apply_to(order, OrderPendingCancel(self.account_id, coid, now, now))
        try:
            await self.session.call(self.broker.cancel, coid)
        except BrokerUnavailable:
            pass
        await self.sync()
        if order.status is OrderStatus.PENDING_CANCEL:
            await self.reconcile(coid)
        if order.status is OrderStatus.PENDING_CANCEL:
            self.unconfirmed.add(coid)

    def _pre_checks(self, cmd: SubmitOrder) -> OrderDenied | None:
        inst = self.instruments[cmd.symbol]
        if not is_finite_positive(cmd.quantity):
            return self._denial(cmd, DenyReason.INVALID_QUANTITY, f"quantity={cmd.quantity!r}")
        if not cmd.reduce_only:
            price = self._price(cmd.symbol, cmd.side)
            if price is None:
                return self._denial(cmd, DenyReason.NO_PRICE, f"no price for {cmd.symbol}")
            if cmd.side is _BUY:
                cost = inst.notional(cmd.quantity, price) * (1 + inst.fees.taker_bps * 1e-4)
                free = self.portfolio.cash - self._reserved()
                if cost > free + 1e-9 * max(1.0, cost):
                    return self._denial(cmd, DenyReason.INSUFFICIENT_FUNDS,
                                        f"needs {cost:.2f}, free {free:.2f}")
        if self._pre_trade is not None:
            return self._pre_trade(cmd, self)
        return None

    async def _status(self, coid: str) -> OrderReport | None:
        try:
            result = await self.session.call(self.broker.order_status, coid)
        except BrokerUnavailable:
            return None
        return result.value if result.ok else None

    async def reconcile(self, coid: str) -> None:
        """Bring one order in line with the broker's report: add missing acks and fills,
        then its terminal state. An order the broker never saw is recorded as rejected."""
        order = self.orders[coid]
        try:
            result = await self.session.call(self.broker.order_status, coid)
        except BrokerUnavailable:
            return
        if not result.ok:
            if result.code is ErrorCode.UNKNOWN_ORDER and not order.is_terminal:
                self._reject(order, ErrorCode.UNKNOWN_ORDER, "never reached the venue")
                self.unconfirmed.discard(coid)
            return
        report: OrderReport = result.value
        now = self.clock.now_ns()
        if order.status is OrderStatus.SUBMITTED and report.status is not OrderStatus.REJECTED:
            self._apply(OrderAccepted(self.account_id, coid, report.venue_order_id, now, now))
        for fill in report.fills:
            self._apply(OrderFilled(self.account_id, coid, report.venue_order_id,
                                    fill.trade_id, report.symbol, report.side, fill.quantity,
                                    fill.price, fill.fee, fill.ts_ns, now))
        if order.status is OrderStatus.PENDING_CANCEL and report.status.is_open:
            self._apply(OrderCancelRejected(self.account_id, coid, "still working", now, now))
        terminal = {OrderStatus.CANCELED: OrderCanceled, OrderStatus.EXPIRED: OrderExpired}
        if report.status in terminal and not order.is_terminal:
            self._apply(terminal[report.status](self.account_id, coid, now, now))
        elif report.status is OrderStatus.REJECTED and not order.is_terminal:
            self._reject(order, report.reject_code or ErrorCode.VENUE_ERROR, report.detail)
        if order.status not in (OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL):
            self.unconfirmed.discard(coid)

    async def _settle(self, symbol: str) -> None:
        """Reconcile the symbol's orders of unknown fate before deciding anything on it."""
        for coid in sorted(self.unconfirmed):
            if self.orders[coid].symbol == symbol:
                await self.reconcile(coid)

    async def sync(self) -> None:
        """Apply the broker's new execution events."""
        try:
            result = await self.session.call(self.broker.drain_events)
        except BrokerUnavailable:
            return
        for event in result.value or []:
            self._apply(event)

    # --- applying events ------------------------------------------------------------------
    def _apply(self, event: object) -> None:
        coid = getattr(event, "client_order_id", "")
        order = self.orders.get(coid)
        if isinstance(event, OrderFilled):
            event = self._attributed(event, order)
        if order is None:
            self._record(event)              # a venue event for an order we did not send
            if isinstance(event, OrderFilled):
                self._on_fill(event, ExitReason.NONE)
            return
        self._apply_to(order, event)

    def _apply_to(self, order: Order, event: object) -> None:
        try:
            applied = order.apply(event)
        except InvalidStateTransition:
            self.unconfirmed.add(order.client_order_id)   # out of order: reconcile later
            return
        if not applied:
            return
        if order.is_terminal:
            self.unconfirmed.discard(order.client_order_id)
            self.working.pop(order.client_order_id, None)
        self._record(event)
        if isinstance(event, OrderFilled):
            self._on_fill(event, order.reason)

    def _attributed(self, fill: OrderFilled, order: Order | None) -> OrderFilled:
        """The fill as journaled, with its strategy: its order's, or (an order without
        one, such as a protective exit, or not ours) that of the latest earlier fill on
        the symbol that had one (the convention of docs/analytics.md)."""
        strategy = (order.command.strategy_id if order is not None else "") or \
            self._fill_strategy.get(fill.symbol, "")
        if not strategy or fill.strategy_id == strategy:
            return fill
        f = fill   # dataclasses.replace, spelt out: it is on every fill's path
        return OrderFilled(f.account_id, f.client_order_id, f.venue_order_id, f.trade_id,
                           f.symbol, f.side, f.last_qty, f.last_px, f.fee, f.ts_event,
                           f.ts_init, f.liquidity, strategy)

    def _on_fill(self, fill: OrderFilled, reason: ExitReason) -> None:
        if fill.strategy_id:
            self._fill_strategy[fill.symbol] = fill.strategy_id
        levels = self._levels.get(fill.client_order_id, (None, None))
        for ev in self.portfolio.apply_fill(fill, reason):
            self._record(ev)
            if isinstance(ev, PositionClosed):
                self.protections.pop(ev.symbol, None)
            elif isinstance(ev, PositionOpened):
                self.protections[ev.symbol] = Protection.for_position(
                    ev.symbol, 1 if ev.quantity > 0 else -1, ev.avg_price, ev.ts_event,
                    self.config.exits, *levels)

    def _record(self, event: object) -> None:
        self.events.append(event)
        if self._sink is not None:
            self._sink(event)

    def _denial(self, cmd: SubmitOrder, reason: DenyReason, detail: str) -> OrderDenied:
        now = self.clock.now_ns()
        return OrderDenied(self.account_id, cmd.client_order_id, reason, detail, now, now,
                           cmd.symbol, cmd.signal_id)

    def _deny(self, coid: str, reason: DenyReason, detail: str, symbol: str = "", *,
              signal: object = None) -> None:
        now = self.clock.now_ns()
        self._record(OrderDenied(self.account_id, coid, reason, detail, now, now, symbol,
                                 getattr(signal, "signal_id", "") or ""))

    def _reject(self, order: Order, code: ErrorCode, detail: str) -> None:
        now = self.clock.now_ns()
        self._apply_to(order, OrderRejected(self.account_id, order.client_order_id, code,
                                            detail, now, now))

    # --- views ----------------------------------------------------------------------------
    def _price(self, symbol: str, side: OrderSide) -> float | None:
        quote = self.quotes.get(symbol)
        if quote is None:
            return None
        return quote[1] if side is _BUY else quote[0]

    def _live(self, symbol: str) -> list[Order]:
        """The symbol's orders that may still fill."""
        return [o for o in self.working.values() if o.symbol == symbol]

    def _reserved(self) -> float:
        total = 0.0
        for o in self.working.values():
            if o.is_open and o.side is OrderSide.BUY and not o.reduce_only:
                price = o.price or self._price(o.symbol, OrderSide.BUY) or 0.0
                total += self.instruments[o.symbol].notional(o.leaves_qty, price)
        return total

    def equity(self) -> float:
        return self.portfolio.equity()

    def open_orders(self) -> list[Order]:
        return [o for o in self.working.values() if o.is_open]


async def check_fleet_exits(accounts: list[Account], policy: ExitPolicy,
                            now_ns: int) -> list[object]:
    """One exit evaluation for every protection of many accounts (one kernel call for a
    whole book instead of one per account), then each account acts on its own."""
    batches = [a.exit_candidates() for a in accounts]
    protections = [p for prots, _ in batches for p in prots]
    if not protections:
        return []
    prices = [px for _, pxs in batches for px in pxs]
    reasons = policy.evaluate(protections, prices, now_ns)
    events: list[object] = []
    at = 0
    for account, (prots, _) in zip(accounts, batches, strict=True):
        mine = reasons[at:at + len(prots)]
        at += len(prots)
        if any(r is not ExitReason.NONE for r in mine):
            events += await account.act_on_exits(prots, mine)
    return events
