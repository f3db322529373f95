"""The pre-trade risk gate: one plain class for the supervisor and for every account.

`RiskGate.pre_trade(cmd, account)` has the signature of `Account`'s `pre_trade` hook, so
one gate guards many accounts; `decide(cmd, view, now_ns)` does the work on a read-only
`RiskView`. A refusal is an `OrderDenied` with a `DenyReason` and a detail naming the limit
and the value, never an exception. The gate fails closed: an account without limits is
UNKNOWN_ACCOUNT; a missing or broken price, mark or equity is NO_PRICE.

Order of checks: account; duplicate order ID; instrument; quantity and explicit prices
finite, > 0, prices on the tick; duplicate signal ID (one opening and one reduce-only
order per signal); a reduce-only order must not exceed the closable position. Closes then
pass: reduce-only orders always (HALTED, below minimums), orders that only reduce a
position unless HALTED. Anything else needs ACTIVE, then: quantity on the step, min/max
quantity, a price, min/max notional, free balance (buys), position per symbol, open
positions, account and fleet exposure, and last the order rate (a denial spends no token).

IDs are remembered when an order passes (bounded by `remembered_ids`); IDs the account
already holds, denied ones included, are caught through `RiskView.knows_order`.

Fleet aggregates: each check (and `observe`) refreshes that account's equity and projected
quantities in a `FleetBook`; an accepted order adds itself at once. The fleet sums hold
every account as of its last check; to let fleet loss limits act between orders, a host
calls `observe(view, now_ns)` after marks or fills. Only the sums a configured fleet limit
reads are kept: quantities and marks for exposure, equity for daily loss and drawdown.
State changes are `TradingStateChanged` events, appended to `events` and passed to `sink`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.clock import Clock
from engine.enums import DenyReason, LiquiditySide, OrderSide, OrderType
from engine.instruments import Instrument, is_finite_positive
from engine.messages import OrderDenied, SubmitOrder
from risk.config import AccountLimits, OrderCaps, RiskConfig
from risk.state import (
    FLEET,
    NS_PER_DAY,
    AccountMemory,
    FleetBook,
    Projection,
    ScopeState,
    TradingState,
    touch_price,
    worst,
)

if TYPE_CHECKING:
    from engine.account import Account

_TOL = 1e-9
_NEEDS_PRICE = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_TRIGGER = (OrderType.STOP, OrderType.STOP_LIMIT)
_MARKET = OrderType.MARKET
_BUY, _TAKER, _ACTIVE = OrderSide.BUY, LiquiditySide.TAKER, TradingState.ACTIVE
Denial = tuple[DenyReason, str]


# --- what the gate reads ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OpenOrderView:
    symbol: str
    side: OrderSide
    leaves_qty: float
    price: float | None
    reduce_only: bool


class RiskView(Protocol):
    """The read-only facts of one account the gate needs (`AccountView` is one)."""

    @property
    def account_id(self) -> str: ...
    @property
    def cash(self) -> float: ...
    @property
    def equity(self) -> float: ...
    @property
    def instruments(self) -> Mapping[str, Instrument]: ...
    @property
    def positions(self) -> Mapping[str, float]: ...        # signed quantity per symbol
    @property
    def marks(self) -> Mapping[str, float]: ...            # valuation price per symbol
    @property
    def quotes(self) -> Mapping[str, tuple[float, float]]: ...   # (bid, ask)
    @property
    def open_orders(self) -> Sequence[OpenOrderView]: ...
    def knows_order(self, client_order_id: str) -> bool: ...


class AccountView:
    """A `RiskView` as plain data; `of(account)` reads an `engine.account.Account`.

    A plain slotted class rather than a dataclass: one is built for every order, and a
    frozen dataclass's __init__ costs several times as much."""

    __slots__ = ("account_id", "cash", "equity", "instruments", "positions", "marks",
                 "quotes", "open_orders", "order_ids")

    def __init__(self, account_id: str, cash: float, equity: float,
                 instruments: Mapping[str, Instrument],
                 positions: Mapping[str, float] | None = None,
                 marks: Mapping[str, float] | None = None,
                 quotes: Mapping[str, tuple[float, float]] | None = None,
                 open_orders: Sequence[OpenOrderView] = (),
                 order_ids: Container[str] = frozenset()) -> None:
        self.account_id, self.cash, self.equity = account_id, cash, equity
        self.instruments = instruments
        self.positions = {} if positions is None else positions
        self.marks = {} if marks is None else marks
        self.quotes = {} if quotes is None else quotes
        self.open_orders, self.order_ids = open_orders, order_ids

    def __repr__(self) -> str:
        return (f"AccountView({self.account_id!r}, cash={self.cash!r}, equity={self.equity!r}, "
                f"positions={dict(self.positions)!r}, open_orders={len(self.open_orders)})")

    def knows_order(self, client_order_id: str) -> bool:
        return client_order_id in self.order_ids

    @classmethod
    def of(cls, account: Account) -> AccountView:
        """Positions are marked at the account's marks, else their average price; open
        orders are those working at the venue or not yet sent."""
        pf = account.portfolio
        positions, marks = {}, {}
        for s, p in pf.positions.items():
            if p.quantity != 0.0:
                positions[s] = p.quantity
                marks[s] = p.avg_price
        marks.update(pf.marks)
        working = [OpenOrderView(o.symbol, o.side, o.leaves_qty, o.price, o.reduce_only)
                   for o in account.working.values()]
        return cls(account.account_id, pf.cash, pf.equity(), account.instruments,
                   positions, marks, account.quotes, working, account.orders.keys())


# --- the gate -------------------------------------------------------------------------------

class RiskGate:
    """Pre-trade checks for a fleet of accounts; see the module docstring."""

    def __init__(self, config: RiskConfig, *, clock: Clock | None = None,
                 sink: Callable[[object], None] | None = None) -> None:
        self.config = config
        self.events: list[object] = []
        self.denials: Counter[DenyReason] = Counter()
        self._clock = clock
        self._sink = sink
        self._books: dict[str, AccountMemory] = {}
        self._fleet = FleetBook()
        self._caps: dict[tuple[str, str], OrderCaps] = {}
        self._fleet_state = ScopeState(FLEET, config.fleet)
        # The fleet book is kept only for the fleet limits that read it (limits are frozen):
        # quantities and marks for exposure, equity sums for daily loss and drawdown.
        self._fleet_exposure = (config.fleet.max_gross_exposure is not None
                                or config.fleet.max_net_exposure is not None)
        self._fleet_losses = self._fleet_state.has_loss_limits

    def set_sink(self, sink: Callable[[object], None] | None) -> None:
        """Where trading-state events go besides `events`; None for nowhere."""
        self._sink = sink

    def pre_trade(self, cmd: SubmitOrder, account: Account) -> OrderDenied | None:
        """The `Account` pre_trade hook. Time is the injected clock's, else cmd.ts_init."""
        now = self._clock.now_ns() if self._clock is not None else cmd.ts_init
        return self.decide(cmd, AccountView.of(account), now)

    def decide(self, cmd: SubmitOrder, view: RiskView, now_ns: int) -> OrderDenied | None:
        """None if `cmd` may go to the venue, else the `OrderDenied` event to record."""
        denial = self._decide(cmd, view, now_ns)
        if denial is None:
            return None
        self.denials[denial[0]] += 1
        return OrderDenied(cmd.account_id, cmd.client_order_id, denial[0], denial[1],
                           now_ns, now_ns, cmd.symbol, cmd.signal_id)

    def observe(self, view: RiskView, now_ns: int) -> TradingState:
        """Take an account's equity and exposure without an order; returns `state()`."""
        if self.config.limits_for(view.account_id) is None:
            return TradingState.HALTED
        self._observe(view, Projection(view), now_ns)
        return self.state(view.account_id)

    def state(self, account_id: str | None = None) -> TradingState:
        """The fleet's state, or the worse of an account's own and the fleet's."""
        if account_id is None:
            return self._fleet_state.state
        return worst(self._book(account_id).scope.state, self._fleet_state.state)

    def kill(self, account_id: str | None = None, *, now_ns: int, detail: str = "") -> None:
        """Halt an account (without one, the fleet) until `release`: only closes pass."""
        self._record(self._scope(account_id).kill(True, now_ns, detail))

    def release(self, account_id: str | None = None, *, now_ns: int) -> None:
        self._record(self._scope(account_id).kill(False, now_ns))

    def reset_drawdown(self, account_id: str | None = None, *, now_ns: int) -> None:
        """Clear a latched drawdown state; the peak restarts from the current equity."""
        self._record(self._scope(account_id).reset_drawdown(now_ns))

    # --- the checks ---------------------------------------------------------------------
    def _decide(self, cmd: SubmitOrder, view: RiskView, now: int) -> Denial | None:
        limits = self.config.limits_for(cmd.account_id)
        if limits is None or view.account_id != cmd.account_id:
            return DenyReason.UNKNOWN_ACCOUNT, (
                f"no risk limits for account {cmd.account_id!r} (view of "
                f"{view.account_id!r}); unlisted accounts are denied")
        proj = Projection(view)
        book = self._observe(view, proj, now)
        coid, sym = cmd.client_order_id, cmd.symbol
        if coid in book.order_ids or view.knows_order(coid):
            return DenyReason.DUPLICATE_ID, f"client_order_id {coid!r} already used"
        inst = view.instruments.get(sym)
        if inst is None:
            return DenyReason.UNKNOWN_INSTRUMENT, f"symbol {sym!r} is not tradable"
        bad = _malformed(cmd, inst)
        if bad is not None:
            return bad
        if cmd.signal_id and (cmd.signal_id, cmd.reduce_only) in book.signal_ids:
            leg = "reduce-only" if cmd.reduce_only else "opening"
            return DenyReason.DUPLICATE_ID, (
                f"signal_id {cmd.signal_id!r} already has an accepted {leg} order")
        held, closable = proj.pos.get(sym, 0.0), proj.closable(sym)
        reduces = held * cmd.side.sign < 0 and cmd.quantity <= closable * (1 + _TOL)
        if cmd.reduce_only and not reduces:
            return DenyReason.REDUCE_ONLY, (
                f"reduce-only {cmd.side.value} {cmd.quantity:.10g} exceeds the closable "
                f"{closable:.10g} of position {held:.10g}")
        state = book.scope.state                                  # self.state(account)
        if state is not self._fleet_state.state:
            state = worst(state, self._fleet_state.state)
        if cmd.reduce_only or (reduces and state is not TradingState.HALTED):
            if book.bucket is not None:
                book.bucket.try_take(now)          # closes spend a token, never wait
            self._remember(book, cmd)
            return None
        if state is not _ACTIVE:
            return max((book.scope, self._fleet_state), key=lambda s: s.state.rank).denial()
        denial = self._check_open(cmd, view, proj, inst, limits)
        if denial is not None:
            return denial
        if book.bucket is not None and not book.bucket.try_take(now):
            return DenyReason.RATE_LIMIT, (
                f"order rate exceeds account.max_orders_per_second="
                f"{limits.max_orders_per_second:.10g} (burst {limits.bucket_size})")
        self._remember(book, cmd)
        if self._fleet_exposure:
            self._fleet.set_quantity(cmd.account_id, sym, proj.worst(sym, _signed(cmd)))
            if sym not in self._fleet.marks:             # valued as the order was
                self._fleet.mark(sym, _valuation(cmd, view), inst.multiplier)
        return None

    def _check_open(self, cmd: SubmitOrder, view: RiskView, proj: Projection,
                    inst: Instrument, limits: AccountLimits) -> Denial | None:
        qty, sym = cmd.quantity, cmd.symbol
        caps = self._caps_for(cmd, limits)
        if not inst.is_on_step(qty):
            return DenyReason.INVALID_QUANTITY, (
                f"quantity {qty!r} is not on instrument.{sym}.qty_step={inst.qty_step!r}")
        found = caps.below("min_order_qty", qty, "quantity", "{sym}.min_qty", inst.min_qty,
                           sym)
        if found:
            return DenyReason.BELOW_MIN_QUANTITY, found
        found = caps.above("max_order_qty", qty, "quantity")
        if found:
            return DenyReason.ABOVE_MAX_QUANTITY, found
        ref = _reference_price(cmd, view)
        if ref is None:
            return DenyReason.NO_PRICE, (
                f"no valid {'ask' if cmd.side is OrderSide.BUY else 'bid'} for {sym}")
        worsts = proj.worsts()
        unmarked = [s for s, q in worsts.items() if s != sym and q != 0.0
                    and not is_finite_positive(view.marks.get(s))]
        if unmarked or not math.isfinite(view.equity):
            return DenyReason.NO_PRICE, (f"no valid mark for held {sorted(unmarked)}"
                                         if unmarked else f"equity {view.equity!r}")
        notional = inst.notional(qty, ref)
        found = caps.below("min_order_notional", notional, "notional",
                           "{sym}.min_notional", inst.min_notional, sym)
        if found:
            return DenyReason.BELOW_MIN_NOTIONAL, found
        found = caps.above("max_order_notional", notional, "notional")
        if found:
            return DenyReason.ABOVE_MAX_NOTIONAL, found
        if cmd.side is _BUY and limits.check_free_balance:
            if proj.unpriced:
                return DenyReason.NO_PRICE, f"no price to reserve open buys in {proj.unpriced}"
            cost = notional + inst.fees.fee(qty, ref, inst.multiplier, _TAKER, True)
            free = view.cash - proj.reserved
            if not cost <= free + _TOL * max(1.0, cost):
                return DenyReason.INSUFFICIENT_FUNDS, (
                    f"cost {cost:.10g} exceeds free balance {free:.10g} (cash "
                    f"{view.cash:.10g} less {proj.reserved:.10g} reserved by open buys)")
        price = _valuation(cmd, view)
        after = proj.worst(sym, _signed(cmd))
        found = (caps.above("max_position_qty", abs(after), "|{sym} position| after", sym)
                 or caps.above("max_position_notional", abs(after) * price * inst.multiplier,
                               "{sym} position notional after", sym))
        if found:
            return DenyReason.MAX_POSITION, found
        cap = limits.max_open_positions
        if cap is not None:
            open_now = {s for s, q in worsts.items() if abs(q) > 1e-12}
            if sym not in open_now and len(open_now) + 1 > cap:
                return DenyReason.MAX_OPEN_POSITIONS, (
                    f"open positions after {len(open_now) + 1} exceeds "
                    f"account.max_open_positions={cap}")
        return self._check_exposure(cmd, view, proj, after, price, inst.multiplier, limits)

    def _check_exposure(self, cmd: SubmitOrder, view: RiskView, proj: Projection,
                        after: float, price: float, multiplier: float,
                        limits: AccountLimits) -> Denial | None:
        fleet = self.config.fleet
        if (limits.max_gross_exposure is None and limits.max_net_exposure is None
                and not self._fleet_exposure):
            return None                   # no exposure cap is set
        gross = net = 0.0
        if limits.max_gross_exposure is not None or limits.max_net_exposure is not None:
            gross, net = abs(after) * price * multiplier, after * price * multiplier
            worsts = proj.worsts()
            for s in proj.symbols() - {cmd.symbol}:     # this order: the same float sums
                inst = view.instruments.get(s)
                value = worsts[s] * view.marks.get(s, 0.0) * (inst.multiplier if inst else 1.0)
                gross, net = gross + abs(value), net + value
        f_gross = f_net = 0.0
        if fleet.max_gross_exposure is not None or fleet.max_net_exposure is not None:
            f_gross, f_net = self._fleet.exposure_with(cmd.account_id, cmd.symbol, after,
                                                       price, multiplier)
        for scope, key, amount, cap in (
                ("account", "max_gross_exposure", gross, limits.max_gross_exposure),
                ("account", "max_net_exposure", abs(net), limits.max_net_exposure),
                ("fleet", "max_gross_exposure", f_gross, fleet.max_gross_exposure),
                ("fleet", "max_net_exposure", abs(f_net), fleet.max_net_exposure)):
            if cap is not None and not amount <= cap * (1 + _TOL):
                what = key.removeprefix("max_").replace("_", " ")
                return DenyReason.MAX_EXPOSURE, (
                    f"{what} after {amount:.10g} exceeds {scope}.{key}={cap:.10g}")
        return None

    # --- memory -------------------------------------------------------------------------
    def _observe(self, view: RiskView, proj: Projection, now: int) -> AccountMemory:
        book = self._book(view.account_id)
        events = book.scope.update(view.equity, now)
        if events:
            self._record(events)
        if self._fleet_losses:
            self._observe_fleet_equity(view.account_id, book.scope, now)
        if self._fleet_exposure:
            self._observe_fleet_exposure(view, proj)
        return book

    def _observe_fleet_equity(self, account_id: str, scope: ScopeState, now: int) -> None:
        """The account's equity into the fleet sums, then the fleet's loss state."""
        fleet, fleet_state = self._fleet, self._fleet_state
        if fleet_state.day is not None and now // NS_PER_DAY > fleet_state.day:
            fleet.new_day()
        if math.isfinite(scope.equity):
            fleet_state.add_to_peak(fleet.set_equity(account_id, scope.equity, scope.sod))
        self._record(fleet_state.update(fleet.total_equity(), now, sod=fleet.total_sod()))

    def _observe_fleet_exposure(self, view: RiskView, proj: Projection) -> None:
        """The account's marks and projected quantities into the fleet sums."""
        fleet, instruments = self._fleet, view.instruments
        marks, multipliers = fleet.marks, fleet.multipliers
        for s, px in view.marks.items():
            inst = instruments.get(s)
            if inst is None or (marks.get(s) == px and multipliers[s] == inst.multiplier):
                continue                  # unknown symbol, or the fleet has this mark already
            if is_finite_positive(px):
                fleet.mark(s, px, inst.multiplier)
        fleet.set_quantities(view.account_id, proj.worsts())

    def _book(self, account_id: str) -> AccountMemory:
        book = self._books.get(account_id)
        if book is None:
            limits = self.config.limits_for(account_id) or AccountLimits()
            book = AccountMemory(account_id, limits, self.config.remembered_ids)
            self._books[account_id] = book
        return book

    def _scope(self, account_id: str | None) -> ScopeState:
        return self._fleet_state if account_id is None else self._book(account_id).scope

    def _caps_for(self, cmd: SubmitOrder, limits: AccountLimits) -> OrderCaps:
        """The order's caps, kept per account and listed strategy (limits are frozen)."""
        listed = cmd.strategy_id if cmd.strategy_id in self.config.strategies else ""
        key = (cmd.account_id, listed)
        caps = self._caps.get(key)
        if caps is None:
            caps = self._caps[key] = OrderCaps(
                limits, self.config.strategies.get(listed) if listed else None, listed)
        return caps

    def _remember(self, book: AccountMemory, cmd: SubmitOrder) -> None:
        book.order_ids.add(cmd.client_order_id)
        if cmd.signal_id:
            book.signal_ids.add((cmd.signal_id, cmd.reduce_only))

    def _record(self, events: Iterable[object]) -> None:
        if not events:
            return
        for event in events:
            self.events.append(event)
            if self._sink is not None:
                self._sink(event)


def _signed(cmd: SubmitOrder) -> float:
    return cmd.side.sign * cmd.quantity


def _reference_price(cmd: SubmitOrder, view: RiskView) -> float | None:
    """What the order pays or receives per unit: its limit price, else its trigger price,
    else the touch it would take (ask for a buy, bid for a sell)."""
    if cmd.price is not None:
        return cmd.price
    if cmd.trigger_price is not None:
        return cmd.trigger_price
    return touch_price(view.quotes, cmd.symbol, cmd.side)


def _valuation(cmd: SubmitOrder, view: RiskView) -> float:
    """The price the order's symbol is valued at for exposure: its mark, else the order's."""
    mark = view.marks.get(cmd.symbol)
    return mark if is_finite_positive(mark) else (_reference_price(cmd, view) or math.nan)


def _malformed(cmd: SubmitOrder, inst: Instrument) -> Denial | None:
    if not is_finite_positive(cmd.quantity):
        return DenyReason.INVALID_QUANTITY, f"quantity {cmd.quantity!r} is not finite and > 0"
    if cmd.price is None and cmd.trigger_price is None and cmd.order_type is _MARKET:
        return None                       # nothing more to check on a plain market order
    for name, px, required in (("price", cmd.price, cmd.order_type in _NEEDS_PRICE),
                               ("trigger_price", cmd.trigger_price,
                                cmd.order_type in _NEEDS_TRIGGER)):
        if px is None and required:
            return DenyReason.INVALID_PRICE, f"{cmd.order_type.value} order without {name}"
        if px is not None and not (is_finite_positive(px) and inst.is_on_tick(px)):
            return DenyReason.INVALID_PRICE, (
                f"{name} {px!r} is not finite, > 0 and on instrument.{inst.symbol}."
                f"price_tick={inst.price_tick!r}")
    return None
