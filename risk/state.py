"""What the risk gate computes and remembers between checks: trading states, the
order-rate bucket, recent IDs, an account's projected book and the fleet's running sums.

Trading state of a scope (one account, or the fleet) is the worst of three parts:
- the kill switch: HALTED until released;
- the daily loss against start-of-day equity (the first equity seen on that UTC day):
  REDUCING or HALTED once a threshold is reached, latched until the next UTC day;
- the drawdown from the peak equity seen: latched until `reset_drawdown`, which restarts
  the peak from the current equity. Equity climbing back does not clear it: an operator
  must say the cause is gone.
Every change of a scope's state is a `TradingStateChanged` event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.clock import NANOS_PER_SECOND
from engine.enums import DenyReason, OrderSide, StateCause, TradingState
from engine.instruments import is_finite_positive
from engine.messages import TradingStateChanged

if TYPE_CHECKING:
    from risk.config import AccountLimits
    from risk.gate import RiskView

NS_PER_DAY = 86_400 * NANOS_PER_SECOND
FLEET = "*"   # the account_id of fleet-wide TradingStateChanged events
_BUY = OrderSide.BUY   # bound once: an Enum class attribute costs ~80 ns a read on 3.11


def worst(*states: TradingState) -> TradingState:
    # what max(states, key=rank) returns (the first of the highest rank), at half the cost
    found = states[0]
    for state in states:
        if _RANK[state] > _RANK[found]:
            found = state
    return found


_RANK = {state: state.rank for state in TradingState}


_DENY = {StateCause.DAILY_LOSS: DenyReason.DAILY_LOSS_LIMIT,
         StateCause.DRAWDOWN: DenyReason.MAX_DRAWDOWN,
         StateCause.KILL_SWITCH: DenyReason.KILL_SWITCH}


def _fraction_lost(base: float, equity: float) -> float:
    """Loss from `base` to `equity` as a fraction of `base` (0 for a gain)."""
    if base > 0:
        return max(0.0, (base - equity) / base)
    return 0.0 if equity >= base else math.inf


class ScopeState:
    """Kill switch, daily loss and drawdown of one account (or of the fleet, `FLEET`).

    `limits` is any object with daily_loss_reduce/halt and drawdown_reduce/halt fields.
    """

    __slots__ = ("account_id", "limits", "killed", "kill_detail", "day", "sod", "peak",
                 "equity", "daily_loss", "daily_loss_detail", "drawdown", "drawdown_detail",
                 "state", "_levels")

    def __init__(self, account_id: str, limits: object) -> None:
        self.account_id, self.limits = account_id, limits
        # per part, the (level, key, threshold) it can latch at, highest first; limits
        # are frozen, so these are read once
        self._levels = {part: tuple(
            (level, f"{part}_{suffix}", getattr(limits, f"{part}_{suffix}"))
            for level, suffix in ((TradingState.HALTED, "halt"),
                                  (TradingState.REDUCING, "reduce"))
            if getattr(limits, f"{part}_{suffix}") is not None)
            for part in ("daily_loss", "drawdown")}
        self.killed, self.kill_detail = False, ""
        self.day: int | None = None
        self.sod = self.peak = self.equity = math.nan
        self.daily_loss = self.drawdown = self.state = TradingState.ACTIVE
        self.daily_loss_detail = self.drawdown_detail = ""

    @property
    def has_loss_limits(self) -> bool:
        """Whether a daily loss or drawdown threshold is set: else equity moves no state."""
        return any(self._levels.values())

    @property
    def label(self) -> str:
        return "fleet" if self.account_id == FLEET else f"account {self.account_id}"

    def update(self, equity: float, now_ns: int, sod: float | None = None
               ) -> list[TradingStateChanged]:
        """Take one equity reading. `sod` overrides the start-of-day equity (the fleet's is
        the sum of its accounts'). A non-finite equity is ignored: nothing is learnt."""
        if not math.isfinite(equity):
            return []
        events: list[TradingStateChanged] = []
        day = now_ns // NS_PER_DAY
        if self.day is None or day > self.day:
            self.day, self.sod, self.daily_loss = day, equity, TradingState.ACTIVE
            events += self._settle(now_ns, StateCause.NEW_DAY)
        if sod is not None and math.isfinite(sod):
            self.sod = sod
        self.equity = equity
        self.peak = equity if not math.isfinite(self.peak) else max(self.peak, equity)
        levels, latched = self._levels, False
        if levels["daily_loss"]:
            latched = self._raise("daily_loss", _fraction_lost(self.sod, equity),
                                  "of start-of-day equity", self.sod)
        if levels["drawdown"]:
            latched |= self._raise("drawdown", _fraction_lost(self.peak, equity),
                                   "from peak equity", self.peak)
        if not latched:     # the state was settled after every change before this one
            return events
        settled = self._settle(now_ns, StateCause.RESET)
        return events + settled if events else settled

    def _raise(self, part: str, lost: float, base: str, base_equity: float) -> bool:
        """Latch `part` (daily_loss or drawdown) at the level `lost` reaches, if higher;
        whether it did."""
        for level, key, threshold in self._levels[part]:
            if lost >= threshold:
                if level.rank > getattr(self, part).rank:
                    setattr(self, part, level)
                    setattr(self, f"{part}_detail", f"{part.replace('_', ' ')} {lost:.4%} "
                                                    f"{base} {base_equity:.2f} reached "
                                                    f"{key}={threshold!r}")
                    return True
                return False
        return False

    def add_to_peak(self, amount: float) -> None:
        """An account joined the fleet: its equity joins the fleet's peak too."""
        if math.isfinite(amount):
            self.peak = amount + (self.peak if math.isfinite(self.peak) else 0.0)

    def kill(self, on: bool, now_ns: int, detail: str = "") -> list[TradingStateChanged]:
        self.killed, self.kill_detail = on, detail
        return self._settle(now_ns, StateCause.RESET)

    def reset_drawdown(self, now_ns: int) -> list[TradingStateChanged]:
        self.peak = self.equity
        self.drawdown, self.drawdown_detail = TradingState.ACTIVE, ""
        return self._settle(now_ns, StateCause.RESET)

    def binding(self) -> tuple[StateCause, str]:
        """The part that sets the current state, and why."""
        if self.killed:
            return StateCause.KILL_SWITCH, "kill switch on" + (
                f": {self.kill_detail}" if self.kill_detail else "")
        if self.daily_loss is self.state:
            return StateCause.DAILY_LOSS, self.daily_loss_detail
        return StateCause.DRAWDOWN, self.drawdown_detail

    def denial(self) -> tuple[DenyReason, str]:
        cause, detail = self.binding()
        what = "only reduce-only orders pass" if self.state is TradingState.HALTED else (
            "only orders reducing a position pass")
        return _DENY[cause], f"{self.label} {self.state.value} ({what}): {detail}"

    def _settle(self, now_ns: int, clear_cause: StateCause) -> list[TradingStateChanged]:
        old = self.state
        new = worst(TradingState.HALTED if self.killed else TradingState.ACTIVE,
                    self.daily_loss, self.drawdown)
        if new is old:
            return []
        self.state = new
        cause, detail = (self.binding() if new.rank > old.rank
                         else (clear_cause, f"{old.value} -> {new.value}"))
        return [TradingStateChanged(self.account_id, new, cause, detail, now_ns, now_ns)]


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second of the given timestamps.

    Time that goes backwards refills nothing. Over any interval of T seconds at most
    capacity + rate x T tokens are taken.
    """

    __slots__ = ("rate", "capacity", "tokens", "last_ns")

    def __init__(self, rate: float, capacity: int) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.last_ns: int | None = None

    def try_take(self, now_ns: int) -> bool:
        if self.last_ns is None:
            self.last_ns = now_ns
        elif now_ns > self.last_ns:
            gained = (now_ns - self.last_ns) * self.rate / NANOS_PER_SECOND
            self.tokens = min(self.capacity, self.tokens + gained)
            self.last_ns = now_ns
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


class RecentIds:
    """The last `capacity` IDs added, for duplicate checks in bounded memory."""

    __slots__ = ("capacity", "_ids")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: dict[object, None] = {}    # insertion-ordered: oldest first

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, key: object) -> None:
        self._ids[key] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]


class Projection:
    """An account's quantities per symbol if its open orders fill, and its reserved cash.

    `worst` is, per symbol, the larger in size of position + working opening orders and
    that plus working reduce-only orders: a cancelled reduce-only order hides nothing.
    """

    __slots__ = ("pos", "opening", "reducing", "against", "reserved", "unpriced", "_worsts")

    def __init__(self, view: RiskView) -> None:
        self.pos = {s: q for s, q in view.positions.items() if q != 0.0}
        self.opening: dict[str, float] = {}
        self.reducing: dict[str, float] = {}
        self.against: dict[str, float] = {}    # leaves working against the position
        self.reserved = 0.0                    # notional of open opening buys
        self.unpriced = ""                     # an open buy with no price to reserve at
        self._worsts: dict[str, float] | None = None
        for o in view.open_orders:
            signed = o.side.sign * o.leaves_qty
            book = self.reducing if o.reduce_only else self.opening
            book[o.symbol] = book.get(o.symbol, 0.0) + signed
            if signed * self.pos.get(o.symbol, 0.0) < 0:
                self.against[o.symbol] = self.against.get(o.symbol, 0.0) + o.leaves_qty
            if o.side is _BUY and not o.reduce_only:
                px = o.price if is_finite_positive(o.price) else (
                    touch_price(view.quotes, o.symbol, o.side) or view.marks.get(o.symbol))
                inst = view.instruments.get(o.symbol)
                if not is_finite_positive(px):
                    self.unpriced = o.symbol
                else:
                    self.reserved += o.leaves_qty * px * (inst.multiplier if inst else 1.0)

    def symbols(self) -> set[str]:
        return self.pos.keys() | self.opening.keys() | self.reducing.keys()

    def worsts(self) -> dict[str, float]:
        """`worst(s)` for every s in `symbols()`, in that order; computed once (the
        projection does not change), as several checks and the fleet book read it."""
        if self._worsts is None:
            self._worsts = {s: self.worst(s) for s in self.symbols()}
        return self._worsts

    def worst(self, symbol: str, delta: float = 0.0) -> float:
        a = self.pos.get(symbol, 0.0) + self.opening.get(symbol, 0.0) + delta
        b = a + self.reducing.get(symbol, 0.0)
        return a if abs(a) >= abs(b) else b

    def closable(self, symbol: str) -> float:
        return max(0.0, abs(self.pos.get(symbol, 0.0)) - self.against.get(symbol, 0.0))


def touch_price(quotes: Mapping[str, tuple[float, float]], symbol: str, side: OrderSide
                ) -> float | None:
    """The ask for a buy, the bid for a sell, from (bid, ask) quotes; None if invalid."""
    quote = quotes.get(symbol)
    if quote is None:
        return None
    px = quote[1] if side is _BUY else quote[0]
    return px if is_finite_positive(px) else None


class AccountMemory:
    """The gate's memory of one account: trading state, rate bucket, accepted IDs."""

    __slots__ = ("scope", "bucket", "order_ids", "signal_ids")

    def __init__(self, account_id: str, limits: AccountLimits, remembered: int) -> None:
        self.scope = ScopeState(account_id, limits)
        rate = limits.max_orders_per_second
        self.bucket = None if rate is None else TokenBucket(rate, limits.bucket_size)
        self.order_ids = RecentIds(remembered)
        self.signal_ids = RecentIds(remembered)


class FleetBook:
    """What the gate last saw of each account (equity, start-of-day equity, projected
    quantity per symbol), with fleet sums per symbol of |qty| and of signed qty and the
    latest mark. Sums are updated in place: a check costs the account's symbols plus the
    fleet's symbols, never the number of accounts.
    """

    __slots__ = ("equity", "sod", "qty", "abs_qty", "net_qty", "marks", "multipliers",
                 "_totals", "_updates")

    _EXACT_EVERY = 4096   # re-add the equity sums exactly this often (float drift)

    def __init__(self) -> None:
        self.equity: dict[str, float] = {}
        self.sod: dict[str, float] = {}
        self.qty: dict[str, dict[str, float]] = {}
        self.abs_qty: dict[str, float] = {}
        self.net_qty: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self.multipliers: dict[str, float] = {}
        self._totals = [0.0, 0.0]     # equity, start-of-day equity
        self._updates = 0

    def set_equity(self, account_id: str, equity: float, sod: float) -> float:
        """Record an account's equity; returns its equity if the account is new, else 0."""
        new = account_id not in self.equity
        self._totals[0] += equity - self.equity.get(account_id, 0.0)
        self._totals[1] += sod - self.sod.get(account_id, 0.0)
        self.equity[account_id], self.sod[account_id] = equity, sod
        self._updates += 1
        if self._updates % self._EXACT_EVERY == 0:
            self._totals = [math.fsum(self.equity.values()), math.fsum(self.sod.values())]
        return equity if new else 0.0

    def new_day(self) -> None:
        """A new UTC day for the fleet: an account not yet seen today starts the day at
        its last known equity (its own check today then replaces that)."""
        self.sod = dict(self.equity)
        self._totals = [math.fsum(self.equity.values()), math.fsum(self.sod.values())]

    def total_equity(self) -> float:
        return self._totals[0]

    def total_sod(self) -> float:
        return self._totals[1]

    def set_quantities(self, account_id: str, quantities: dict[str, float]) -> None:
        old = self.qty.get(account_id, {})
        for symbol in old.keys() | quantities.keys():
            self._move(symbol, old.get(symbol, 0.0), quantities.get(symbol, 0.0))
        self.qty[account_id] = {s: q for s, q in quantities.items() if q != 0.0}

    def set_quantity(self, account_id: str, symbol: str, qty: float) -> None:
        self.set_quantities(account_id, {**self.qty.get(account_id, {}), symbol: qty})

    def mark(self, symbol: str, price: float, multiplier: float) -> None:
        self.marks[symbol] = price
        self.multipliers[symbol] = multiplier

    def exposure_with(self, account_id: str, symbol: str, qty: float, price: float,
                      multiplier: float) -> tuple[float, float]:
        """(gross, net) if `account_id` held `qty` of `symbol`, valued at `price`.
        A symbol held somewhere without a mark makes both NaN: the caller denies."""
        old = self.qty.get(account_id, {}).get(symbol, 0.0)
        gross = net = 0.0
        for s, total in self.abs_qty.items():
            if s == symbol:
                continue
            value = self.marks.get(s, math.nan) * self.multipliers.get(s, 1.0)
            gross += total * value
            net += self.net_qty[s] * value
        gross += (self.abs_qty.get(symbol, 0.0) - abs(old) + abs(qty)) * price * multiplier
        net += (self.net_qty.get(symbol, 0.0) - old + qty) * price * multiplier
        return gross, net

    def _move(self, symbol: str, old: float, new: float) -> None:
        if old == new:
            return
        self.abs_qty[symbol] = max(0.0, self.abs_qty.get(symbol, 0.0) - abs(old) + abs(new))
        self.net_qty[symbol] = self.net_qty.get(symbol, 0.0) - old + new
        if self.abs_qty[symbol] <= 1e-12:
            del self.abs_qty[symbol], self.net_qty[symbol]
