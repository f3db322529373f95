"""Random order and price streams through the gate: no accepted order breaks a limit.

A small simulation: two configured accounts (and one unknown) trade two instruments;
every accepted order fills at once at its limit price, else at the current price. Prices
move randomly and are sometimes NaN, infinite, zero or negative; quantities and limit
prices are sometimes malformed; IDs repeat; time jumps across UTC days; kill switches
flip. After each decision the simulation checks the limits against its own books, and
keeps its own record of start-of-day and peak equity to know when only closes may pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import NANOS_PER_SECOND
from engine.enums import DenyReason, OrderSide, OrderType
from engine.instruments import Instrument
from engine.messages import OrderDenied, SubmitOrder
from risk.config import AccountLimits, FleetLimits, RiskConfig, StrategyLimits
from risk.gate import AccountView, RiskGate
from risk.state import NS_PER_DAY

INSTRUMENTS = {"AAA": Instrument("AAA", price_tick=0.01, qty_step=1.0, min_qty=1.0,
                                 min_notional=10.0),
               "BBB": Instrument("BBB", price_tick=0.5, qty_step=0.5, min_qty=0.5),
               "CCC": Instrument("CCC", price_tick=0.01, qty_step=1.0)}
LIMITS = AccountLimits(max_order_qty=40, max_order_notional=4000, max_position_qty=60,
                       max_position_notional=6000, max_open_positions=2,
                       max_gross_exposure=7000, max_net_exposure=5000,
                       daily_loss_reduce=0.03, daily_loss_halt=0.06,
                       drawdown_reduce=0.05, drawdown_halt=0.08,
                       max_orders_per_second=4, order_burst=3)
STRATEGY = StrategyLimits(max_order_qty=10, max_position_qty=30)
FLEET = FleetLimits(max_gross_exposure=8_000, max_net_exposure=6_000)
CONFIG = RiskConfig(fleet=FLEET, accounts={"A1": LIMITS, "A2": LIMITS},
                    strategies={"s1": STRATEGY})
START = (1_700_000_000 * NANOS_PER_SECOND // NS_PER_DAY + 1) * NS_PER_DAY - 7200 * NANOS_PER_SECOND
TOL = 1e-9
BAD = [math.nan, math.inf, -math.inf, 0.0, -5.0]

sides = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
symbols = st.sampled_from(sorted(INSTRUMENTS))
accounts = st.sampled_from(["A1", "A2"] * 4 + ["ZZ"])
quantities = st.one_of(st.integers(1, 60).map(float), st.integers(1, 40).map(lambda n: n / 2),
                       st.integers(1, 60).map(float), st.sampled_from([*BAD, 0.3]))
limit_prices = st.one_of(st.none(), st.none(), st.none(), st.floats(20, 300).map(
    lambda x: round(x * 2) / 2), st.sampled_from(BAD))
price_steps = st.tuples(st.just("price"), symbols,
                        st.one_of(st.floats(0.8, 1.25), st.floats(0.8, 1.25),
                                  st.sampled_from(BAD)))
time_steps = st.tuples(st.just("time"), st.sampled_from(
    [0, 0, 1_000_000, 250_000_000, NANOS_PER_SECOND, 1800 * NANOS_PER_SECOND, NS_PER_DAY]))
any_orders = st.tuples(
    st.just("order"), accounts, symbols, sides, quantities,
    st.sampled_from([False, False, False, True]), limit_prices,
    st.sampled_from(["", "", "s1", "s2"]), st.sampled_from(["", "", "g1", "g2"]),
    st.sampled_from([None] * 5 + ["dup"]))
plain_orders = st.tuples(st.just("order"), accounts, symbols, sides,
                         st.integers(1, 40).map(float), st.just(False), st.none(), st.just(""),
                         st.just(""), st.none())
closes = st.tuples(st.just("close"), accounts, symbols)
kills = st.tuples(st.just("kill"), st.sampled_from([None, "A1", "A2"]),
                  st.sampled_from([True, False, False, False]))
steps = st.one_of(price_steps, price_steps, time_steps, any_orders, plain_orders,
                  plain_orders, closes, kills)


def ok(x: float) -> bool:
    return math.isfinite(x) and x > 0


@dataclass
class Book:
    cash: float = 10_000.0
    pos: dict[str, float] = field(default_factory=dict)
    coids: set[str] = field(default_factory=set)
    signals: set[tuple[str, bool]] = field(default_factory=set)
    opened_at: list[int] = field(default_factory=list)
    killed: bool = False
    day: int | None = None
    sod: float = math.nan
    peak: float = math.nan
    daily: int = 0         # 0 active, 1 reducing, 2 halted (latched for the day)
    drawdown: int = 0      # latched until reset (never reset here)

    def observe(self, equity: float, now: int) -> None:
        """The gate's rule, kept independently: first equity of a UTC day is its start."""
        if not math.isfinite(equity):
            return
        if self.day is None or now // NS_PER_DAY > self.day:
            self.day, self.sod, self.daily = now // NS_PER_DAY, equity, 0
        self.peak = equity if math.isnan(self.peak) else max(self.peak, equity)
        self.daily = max(self.daily, level(self.sod, equity, LIMITS.daily_loss_reduce,
                                           LIMITS.daily_loss_halt))
        self.drawdown = max(self.drawdown, level(self.peak, equity, LIMITS.drawdown_reduce,
                                                 LIMITS.drawdown_halt))


def level(base: float, equity: float, reduce: float, halt: float) -> int:
    lost = max(0.0, (base - equity) / base) if base > 0 else (0.0 if equity >= base
                                                               else math.inf)
    return 2 if lost >= halt else 1 if lost >= reduce else 0


class Market:
    def __init__(self) -> None:
        self.now = START
        self.price = {"AAA": 100.0, "BBB": 50.0, "CCC": 20.0}
        self.last_good = dict(self.price)
        self.books = {"A1": Book(), "A2": Book(cash=4_000.0), "ZZ": Book()}
        self.fleet_killed = False
        self.gate = RiskGate(CONFIG)

    def view(self, aid: str) -> AccountView:
        b = self.books[aid]
        held = {s: q for s, q in b.pos.items() if q != 0.0}
        equity = b.cash + sum(q * self.price[s] if ok(self.price[s]) else math.nan
                              for s, q in held.items())
        return AccountView(aid, b.cash, equity, INSTRUMENTS, held, dict(self.price),
                           {s: (p, p) for s, p in self.price.items()}, (),
                           frozenset(b.coids))

    def submit(self, cmd: SubmitOrder) -> OrderDenied | None:
        aid, b = cmd.account_id, self.books[cmd.account_id]
        view = self.view(aid)
        b.observe(view.equity, self.now)
        result = self.gate.decide(cmd, view, self.now)
        if result is not None:
            assert isinstance(result.reason, DenyReason) and result.detail
            return result
        self.check_accepted(cmd, b)
        return None

    def check_accepted(self, cmd: SubmitOrder, b: Book) -> None:
        assert cmd.account_id in CONFIG.accounts
        assert cmd.client_order_id not in b.coids
        assert not cmd.signal_id or (cmd.signal_id, cmd.reduce_only) not in b.signals
        b.coids.add(cmd.client_order_id)
        if cmd.signal_id:
            b.signals.add((cmd.signal_id, cmd.reduce_only))
        held = b.pos.get(cmd.symbol, 0.0)
        signed = cmd.side.sign * cmd.quantity
        closes = held * signed < 0 and cmd.quantity <= abs(held) * (1 + TOL)
        state = 2 if (b.killed or self.fleet_killed) else max(b.daily, b.drawdown)
        if cmd.reduce_only or state == 2:
            assert cmd.reduce_only and closes, "halted or reduce-only: only closes pass"
        if state == 1:
            assert closes, "reducing: only orders reducing a position pass"
        fill = cmd.price if cmd.price is not None else self.price[cmd.symbol]
        if not ok(fill):
            fill = self.last_good[cmd.symbol]
        b.cash -= signed * fill
        b.pos[cmd.symbol] = held + signed
        self.last_good[cmd.symbol] = fill
        if not closes:
            b.opened_at.append(self.now)
            self.check_opening(cmd, b, fill)

    def check_opening(self, cmd: SubmitOrder, b: Book, fill: float) -> None:
        inst = INSTRUMENTS[cmd.symbol]
        strategy = cmd.strategy_id == "s1"
        qty = cmd.quantity
        assert inst.is_on_step(qty) and qty >= inst.min_qty
        assert qty <= (STRATEGY.max_order_qty if strategy else LIMITS.max_order_qty)
        assert inst.min_notional * (1 - TOL) <= qty * fill <= LIMITS.max_order_notional * (
            1 + TOL)
        if cmd.side is OrderSide.BUY:
            assert b.cash >= -TOL * qty * fill, "free balance"
        after = abs(b.pos[cmd.symbol])
        assert after <= (STRATEGY.max_position_qty if strategy else LIMITS.max_position_qty)
        assert sum(1 for q in b.pos.values() if q != 0.0) <= LIMITS.max_open_positions
        value = {s: p if ok(p) else (fill if s == cmd.symbol else math.nan)
                 for s, p in self.price.items()}
        assert after * value[cmd.symbol] <= LIMITS.max_position_notional * (1 + TOL)
        gross = sum(abs(q) * value[s] for s, q in b.pos.items() if q)
        net = sum(q * value[s] for s, q in b.pos.items() if q)
        assert gross <= LIMITS.max_gross_exposure * (1 + TOL)
        assert abs(net) <= LIMITS.max_net_exposure * (1 + TOL)
        held = [(s, q) for book in self.books.values() for s, q in book.pos.items() if q]
        if all(math.isfinite(value[s]) for s, _ in held):
            assert sum(abs(q) * value[s] for s, q in held) <= FLEET.max_gross_exposure * (
                1 + TOL)
            assert abs(sum(q * value[s] for s, q in held)) <= FLEET.max_net_exposure * (
                1 + TOL)

    def check_rate(self) -> None:
        """At most burst + rate x T opening orders in any window of T seconds."""
        for b in self.books.values():
            times = b.opened_at
            for i, start in enumerate(times):
                for j in range(i, len(times)):
                    window = (times[j] - start) / NANOS_PER_SECOND
                    allowed = LIMITS.order_burst + LIMITS.max_orders_per_second * window
                    assert j - i + 1 <= allowed + TOL


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, min_size=30, max_size=80))
def test_no_accepted_order_ever_breaks_a_configured_limit(stream):
    m = Market()
    n = 0
    for step in stream:
        n += 1
        kind = step[0]
        if kind == "price":
            _, sym, move = step
            m.price[sym] = m.last_good[sym] * move if 0.5 < move < 2 else move
            if ok(m.price[sym]):
                m.last_good[sym] = m.price[sym]
        elif kind == "time":
            m.now += step[1]
        elif kind == "kill":
            _, target, on = step
            (m.gate.kill if on else m.gate.release)(target, now_ns=m.now)
            if target is None:
                m.fleet_killed = on
            else:
                m.books[target].killed = on
        elif kind == "close":
            _, aid, sym = step
            held = m.books[aid].pos.get(sym, 0.0)
            side = OrderSide.SELL if held > 0 else OrderSide.BUY
            m.submit(SubmitOrder(aid, f"c{n}", sym, side, abs(held) or 1.0, m.now, m.now,
                                 reduce_only=True))
        else:
            _, aid, sym, side, qty, reduce_only, price, strategy, signal, coid = step
            kw = {} if price is None else {"order_type": OrderType.LIMIT, "price": price}
            m.submit(SubmitOrder(aid, coid or f"o{n}", sym, side, qty, m.now, m.now,
                                 reduce_only=reduce_only, strategy_id=strategy,
                                 signal_id=signal, **kw))
    m.check_rate()
