"""The synchronous matching core of the simulated broker: accounts, orders, fills.

`SimVenue` is plain and synchronous so a backtest drives it directly; `SimBroker` wraps it
behind the async `Broker` interface. Time is the given clock's; market data timestamps
are not used for expiry.

Life of an order (prices: see `engine.sim.models`):

- Checked on arrival; a refusal is an `OrderRejected` event and a REJECTED record (a resend
  with the same client order ID gets the same refusal). Otherwise `OrderAccepted`.
- It *enters* the book on the first market update it meets while active: at once when
  the symbol has a current price, else on the next update. A market order with no price yet
  therefore rests until the first price arrives. Under `BarFillRule.NEXT_OPEN` there is no
  current price between bars, so every order waits for the next bar. A stop enters when it
  triggers. Fills made on entering are TAKER; later fills of limit-type orders are MAKER.
- IOC and FOK apply on entering: IOC fills what the update offers and expires the rest; FOK
  fills all or nothing and otherwise expires. A stop with IOC/FOK applies it on trigger.
- DAY orders expire at the end of the UTC day of submission (`OrderExpired`). An order
  whose time in force runs out gets `OrderExpired`; `OrderCanceled` answers a cancel, or
  means the venue stopped an order it could no longer fill (funds, reduce-only), with
  the reason in the report's `detail`.
- Each order fills at most once per market update, up to the size that update shows
  (quote size on the side it takes, trade size, bar volume times `bar_volume_fraction`);
  the rest keeps working.

Money (buying power, reservations, shorting, reduce-only): see `engine.sim.account`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from engine.broker.interface import Balance, BrokerResult, FillReport, OrderReport, PositionReport
from engine.clock import Clock
from engine.enums import ErrorCode, LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.errors import InvalidInput, UnknownName
from engine.instruments import Instrument, is_positive_float, require_finite
from engine.messages import (
    Bar,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    QuoteTick,
    SubmitOrder,
    TradeTick,
)
from engine.positions import Portfolio
from engine.sim.account import AccountBook, SimAccount
from engine.sim.models import INF, BarFillRule, FillModel, Touch, marketable
from engine.sim.venue_order import (
    Refusal,
    SimOrder,
    is_valid_client_id,
    modified,
    parse_submit,
    rejected_record,
)

S = OrderStatus
# Read on every order, so bound once: a member read off an Enum class costs ~80 ns on
# Python 3.11 (its metaclass defines __getattr__).
_FOK = TimeInForce.FOK
_IOC_FOK = (TimeInForce.IOC, TimeInForce.FOK)
_TAKES_MARKET = (OrderType.MARKET, OrderType.STOP)   # fill as market orders
_TAKER = LiquiditySide.TAKER


class SimVenue:
    """Matches orders of many accounts against one market-data stream per symbol."""

    def __init__(self, instruments: Iterable[Instrument], accounts: Mapping[str, SimAccount],
                 clock: Clock, fill_model: FillModel | None = None) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.fill_model = fill_model or FillModel()
        self.clock = clock
        self._last_px: dict[str, float] = {}
        self._books = {aid: AccountBook(aid, acct, self.instruments, self._last_px,
                                        self.fill_model.fees)
                       for aid, acct in accounts.items()}
        self._working: dict[str, list[SimOrder]] = {s: [] for s in self.instruments}
        self._touch: dict[str, Touch | None] = {}     # what a new order meets now
        self._seq = self._order_no = self._trade_no = 0
        self._next_expiry = math.inf

    def __repr__(self) -> str:
        return f"SimVenue(instruments={len(self.instruments)}, accounts={len(self._books)})"

    # --- market data ------------------------------------------------------------------------
    def on_quote(self, quote: QuoteTick) -> None:
        """Raises InvalidInput (NaN, non-positive, bid above ask) or UnknownName; the venue
        is then unchanged."""
        self._check_data(quote, QuoteTick, ("bid", "ask"), ("bid_size", "ask_size"))
        if quote.bid > quote.ask:
            raise InvalidInput("QuoteTick.ask", quote.ask, f"is below the bid {quote.bid}")
        touch = Touch.of_quote(self._seq + 1, quote)
        self._update(quote.symbol, touch, touch, (quote.bid + quote.ask) / 2)

    def on_trade(self, trade: TradeTick) -> None:
        self._check_data(trade, TradeTick, ("price",), ("size",))
        touch = Touch.of_trade(self._seq + 1, trade)
        self._update(trade.symbol, touch, touch, trade.price)

    def on_bar(self, bar: Bar) -> None:
        self._check_data(bar, Bar, ("open", "high", "low", "close"), ("volume",))
        if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
            raise InvalidInput("Bar.high", bar.high, "low <= open, close <= high does not hold")
        fm, seq = self.fill_model, self._seq + 1
        touch = Touch.of_bar(seq, bar, fm.bar_rule, fm.bar_volume_fraction)
        after = (None if fm.bar_rule is BarFillRule.NEXT_OPEN
                 else Touch.at_price(seq, bar.close, touch.bid_size))
        self._update(bar.symbol, touch, after, bar.close)

    def on_open(self, bar: Bar) -> None:
        """The opening print of `bar`, before the bar itself: resting orders that it
        reaches fill at the open, and orders sent until the next update take the open too.
        Backtests call it to act at the next bar's open on signals of the bar before.
        The size shown is the bar's volume share of the fill model (unlimited by default)."""
        self._check_data(bar, Bar, ("open",), ("volume",))
        fraction = self.fill_model.bar_volume_fraction
        size = INF if fraction is None else bar.volume * fraction
        touch = Touch.at_price(self._seq + 1, bar.open, size)
        self._update(bar.symbol, touch, touch, bar.open)

    def _check_data(self, msg: object, cls: type, prices: tuple, sizes: tuple) -> None:
        if not isinstance(msg, cls):
            raise InvalidInput(cls.__name__, type(msg).__name__, f"must be a {cls.__name__}")
        symbol = getattr(msg, "symbol", None)
        if not isinstance(symbol, str) or symbol not in self.instruments:
            raise UnknownName("symbol", str(symbol), list(self.instruments))
        for name in prices:   # the name of the field is built only for an error
            x = getattr(msg, name)
            if not is_positive_float(x):
                require_finite(f"{cls.__name__}.{name}", x, positive=True)
        for name in sizes:
            x = getattr(msg, name)
            if not (type(x) is float and 0.0 <= x < math.inf):
                require_finite(f"{cls.__name__}.{name}", x, non_negative=True)

    def _update(self, symbol: str, touch: Touch, after: Touch | None, last_px: float) -> None:
        self._sweep_expired()
        self._seq = touch.seq
        self._touch[symbol] = after
        self._last_px[symbol] = last_px
        for order in self._working[symbol]:
            self._match(order, touch)
        self._working[symbol] = [o for o in self._working[symbol] if o.is_open]

    # --- order entry ------------------------------------------------------------------------
    def submit(self, account_id: str, command: SubmitOrder) -> BrokerResult[OrderReport]:
        """Accept or refuse `command`. A client order ID seen before returns that order's
        current report (and its original refusal, if refused) and changes nothing."""
        self._sweep_expired()
        book = self._book(account_id)
        if not isinstance(command, SubmitOrder):
            return BrokerResult.failure(ErrorCode.INVALID_ORDER,
                                        f"expected a SubmitOrder, not {type(command).__name__}")
        if not is_valid_client_id(command.client_order_id):
            return BrokerResult.failure(ErrorCode.INVALID_ORDER,
                                        "client_order_id must be a printable string of 1-64 chars")
        known = book.orders.get(command.client_order_id)
        if known is not None:
            return _reply(known)
        now = self.clock.now_ns()
        order = parse_submit(command, account_id, self.instruments, now)
        if isinstance(order, Refusal):
            return self._reject(book, rejected_record(account_id, command, order, now))
        refusal = book.check_order(order, self._ref_price(order))
        if refusal is not None:
            order.status, order.reject_code, order.detail = S.REJECTED, *refusal
            return self._reject(book, order)
        self._order_no += 1
        order.venue_order_id = f"SIM-{self._order_no}"
        book.orders[order.client_order_id] = book.open[order.client_order_id] = order
        self._emit(book, OrderAccepted(account_id, order.client_order_id,
                                       order.venue_order_id, now, now))
        self._working[order.symbol].append(order)
        if order.expire_ns is not None:
            self._next_expiry = min(self._next_expiry, order.expire_ns)
        self._match(order, self._touch.get(order.symbol))
        return _reply(order)

    def cancel(self, account_id: str, client_order_id: str) -> BrokerResult[OrderReport]:
        self._sweep_expired()
        order, missing = self._find(account_id, client_order_id)
        if order is None:
            return missing  # type: ignore[return-value]
        if not order.is_open:
            return BrokerResult(order.report(), ErrorCode.INVALID_ORDER,
                                f"order is {order.status.value}; nothing to cancel")
        self._finish(order, S.CANCELED)
        return BrokerResult.success(order.report())

    def modify(self, account_id: str, command: ModifyOrder) -> BrokerResult[OrderReport]:
        """Change the quantity, limit or (untriggered) trigger of a working order; emits
        `OrderUpdated` and may fill at once as a taker if the new price is marketable.
        A refused modify changes nothing and emits nothing."""
        self._sweep_expired()
        if not isinstance(command, ModifyOrder):
            return BrokerResult.failure(ErrorCode.INVALID_ORDER,
                                        f"expected a ModifyOrder, not {type(command).__name__}")
        order, missing = self._find(account_id, command.client_order_id)
        if order is None:
            return missing  # type: ignore[return-value]
        trial = modified(order, command, self.instruments[order.symbol])
        if isinstance(trial, Refusal):
            return BrokerResult(order.report(), trial.code, trial.detail)
        refusal = self._books[account_id].check_order(trial, self._ref_price(trial),
                                                      replacing=order)
        if refusal is not None:
            return BrokerResult(order.report(), refusal.code, refusal.detail)
        repriced = (trial.price, trial.trigger_price) != (order.price, order.trigger_price)
        order.quantity, order.price = trial.quantity, trial.price
        order.trigger_price, order.reserve = trial.trigger_price, trial.reserve
        now = self.clock.now_ns()
        self._emit(self._books[account_id], OrderUpdated(
            account_id, order.client_order_id, order.quantity, order.price,
            order.trigger_price, now, now))
        reenter = repriced and order.entered    # one taker chance at the current price
        order.entered = not reenter and order.entered
        self._match(order, self._touch.get(order.symbol))
        order.entered = order.entered or reenter
        return BrokerResult.success(order.report())

    # --- queries ----------------------------------------------------------------------------
    def order_status(self, account_id: str, client_order_id: str) -> BrokerResult[OrderReport]:
        self._sweep_expired()
        order, missing = self._find(account_id, client_order_id)
        return missing if order is None else BrokerResult.success(order.report())  # type: ignore

    def open_orders(self, account_id: str) -> list[OrderReport]:
        self._sweep_expired()
        return [o.report() for o in self._book(account_id).open.values()]

    def all_orders(self, account_id: str) -> list[OrderReport]:
        """Every order the account ever sent, one per client order ID, oldest first."""
        self._sweep_expired()
        return [o.report() for o in self._book(account_id).orders.values()]

    def positions(self, account_id: str) -> list[PositionReport]:
        return self._book(account_id).positions()

    def balances(self, account_id: str) -> list[Balance]:
        self._sweep_expired()
        return self._book(account_id).balances()

    def portfolio(self, account_id: str) -> Portfolio:
        """The account's cash and positions (read only: change them through orders)."""
        self._sweep_expired()
        book = self._book(account_id)
        book.mark()
        return book.portfolio

    def drain(self, account_id: str) -> list[object]:
        """Events since the last drain, oldest first, each delivered once."""
        self._sweep_expired()
        book = self._book(account_id)
        events, book.events = book.events, []
        return events

    def has_account(self, account_id: object) -> bool:
        return isinstance(account_id, str) and account_id in self._books

    # --- checks -----------------------------------------------------------------------------
    def _ref_price(self, order: SimOrder) -> float | None:
        if order.is_limit_like:
            return order.price
        base = order.trigger_price
        if base is None:
            touch = self._touch.get(order.symbol)
            base = touch.take(order.side) if touch else self._last_px.get(order.symbol)
        if base is None:
            return None
        return self.fill_model.slippage.apply(base, order.side, self.instruments[order.symbol])

    # --- matching ---------------------------------------------------------------------------
    def _match(self, order: SimOrder, touch: Touch | None) -> None:
        if touch is None or not order.is_open or order.last_seq == touch.seq:
            return
        side, just_triggered = order.side, False
        if not order.triggered:
            if not touch.triggers(side, order.trigger_price):  # type: ignore[arg-type]
                return
            order.triggered = just_triggered = True
        entering, order.entered = not order.entered, True
        priced = self._fill_price(order, touch, entering, just_triggered)
        if priced is not None:
            px, liquidity = priced
            qty = self._available(order, touch.size(side))
            qty, why = (self._books[order.account_id].affordable(order, qty, px, liquidity)
                        if qty > 0 else (0.0, ""))
            if entering and order.tif is _FOK and qty < order.leaves:
                qty = 0.0
            if qty > 0:
                self._fill(order, qty, px, liquidity, touch.seq)
            elif why:
                self._finish(order, S.CANCELED, why)
        if entering and order.is_open and order.tif in _IOC_FOK:
            self._finish(order, S.EXPIRED)

    def _fill_price(self, order: SimOrder, touch: Touch, entering: bool,
                    just_triggered: bool) -> tuple[float, LiquiditySide] | None:
        side, instrument = order.side, self.instruments[order.symbol]
        take = (touch.stop_price(side, order.trigger_price)  # type: ignore[arg-type]
                if just_triggered else touch.take(side))
        slip = self.fill_model.slippage.apply
        if order.order_type in _TAKES_MARKET:
            return slip(take, side, instrument), _TAKER
        limit: float = order.price  # type: ignore[assignment]
        if entering and marketable(side, take, limit):
            px = slip(take, side, instrument)
            return (min(px, limit) if side is OrderSide.BUY else max(px, limit)), \
                LiquiditySide.TAKER
        if touch.reaches(side, limit):
            return touch.resting_price(side, limit), LiquiditySide.MAKER
        return None

    def _available(self, order: SimOrder, size: float) -> float:
        leaves = order.leaves
        if size >= leaves * (1 - 1e-9):
            return leaves
        return max(0.0, self.instruments[order.symbol].floor_qty(size))

    def _fill(self, order: SimOrder, qty: float, px: float, liquidity: LiquiditySide,
              seq: int) -> None:
        book, instrument = self._books[order.account_id], self.instruments[order.symbol]
        now = self.clock.now_ns()
        fee = self.fill_model.fees.fee(instrument, qty, px, liquidity, order.filled_qty == 0)
        self._trade_no += 1
        trade_id = f"SIM-T{self._trade_no}"
        order.last_seq = seq
        order.add_fill(FillReport(trade_id, qty, px, fee, now))
        event = OrderFilled(order.account_id, order.client_order_id, order.venue_order_id,
                            trade_id, order.symbol, order.side, qty, px, fee, now, now,
                            liquidity, order.strategy_id)
        book.portfolio.apply_fill(event)
        self._emit(book, event)
        if not order.is_open:
            book.open.pop(order.client_order_id, None)

    def _finish(self, order: SimOrder, status: OrderStatus, detail: str = "") -> None:
        book, now = self._books[order.account_id], self.clock.now_ns()
        order.status = status
        if detail:
            order.detail = detail
        book.open.pop(order.client_order_id, None)
        cls = OrderCanceled if status is S.CANCELED else OrderExpired
        self._emit(book, cls(order.account_id, order.client_order_id, now, now))

    def _sweep_expired(self) -> None:
        now = self.clock.now_ns()
        if now < self._next_expiry:
            return
        upcoming = math.inf
        for orders in self._working.values():
            for o in orders:
                if o.is_open and o.expire_ns is not None:
                    if o.expire_ns <= now:
                        self._finish(o, S.EXPIRED)
                    else:
                        upcoming = min(upcoming, o.expire_ns)
        self._next_expiry = upcoming

    # --- plumbing ---------------------------------------------------------------------------
    def _book(self, account_id: str) -> AccountBook:
        book = self._books.get(account_id)
        if book is None:
            raise UnknownName("account", str(account_id), list(self._books))
        return book

    def _find(self, account_id: str, client_order_id: str
              ) -> tuple[SimOrder | None, BrokerResult | None]:
        book = self._book(account_id)
        order = book.orders.get(client_order_id) if isinstance(client_order_id, str) else None
        if order is None:
            return None, BrokerResult.failure(ErrorCode.UNKNOWN_ORDER,
                                              f"no order {client_order_id!r} on this account")
        return order, None

    def _reject(self, book: AccountBook, order: SimOrder) -> BrokerResult[OrderReport]:
        now = self.clock.now_ns()
        book.orders[order.client_order_id] = order
        self._emit(book, OrderRejected(book.account_id, order.client_order_id,
                                       order.reject_code, order.detail, now, now))  # type: ignore
        return _reply(order)

    def _emit(self, book: AccountBook, event: object) -> None:
        book.events.append(event)


def _reply(order: SimOrder) -> BrokerResult[OrderReport]:
    if order.reject_code is not None:
        return BrokerResult(order.report(), order.reject_code, order.detail)
    return BrokerResult.success(order.report())
