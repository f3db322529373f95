"""The gate's fast paths decide exactly as its general path does.

The gate skips work its configuration cannot need: the fleet book when no fleet limit
reads it, a fleet mark it already holds, re-settling a trading state nothing moved.
`GeneralGate` below does all of that work every time, as the gate once did; random
streams of views, orders, kill switches and days through both must give the same
decisions (reason and detail), the same `TradingStateChanged` events and the same states.
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import NANOS_PER_SECOND
from engine.enums import OrderSide, OrderType, StateCause, TradingState
from engine.instruments import FeeSchedule, Instrument, is_finite_positive
from engine.messages import SubmitOrder
from risk.config import AccountLimits, FleetLimits, RiskConfig, StrategyLimits
from risk.gate import AccountView, OpenOrderView, RiskGate, RiskView
from risk.state import NS_PER_DAY, AccountMemory, Projection, ScopeState, worst

INSTRUMENTS = {
    "AAA": Instrument("AAA", price_tick=0.01, qty_step=1.0, min_qty=1.0, min_notional=10.0),
    "BBB": Instrument("BBB", price_tick=0.5, qty_step=0.5, min_qty=0.5, multiplier=2.0,
                      fees=FeeSchedule(taker_bps=5.0, per_order=1.0)),
    "CCC": Instrument("CCC", price_tick=0.01, qty_step=1.0)}
SYMBOLS = sorted(INSTRUMENTS)
BAD = [math.nan, math.inf, 0.0, -3.0]
T0 = 1_700_000_000 * NANOS_PER_SECOND


class SettledScope(ScopeState):
    """A scope that checks, after every equity reading, that settling moves nothing."""

    __slots__ = ()

    def update(self, equity, now_ns, sod=None):
        events = super().update(equity, now_ns, sod)
        assert self._settle(now_ns, StateCause.RESET) == [], "update left a state unsettled"
        return events


class GeneralGate(RiskGate):
    """The gate without its fast paths: the whole fleet book, every mark rewritten."""

    def __init__(self, config: RiskConfig) -> None:
        super().__init__(config)
        self._fleet_exposure = self._fleet_losses = True
        self._fleet_state = SettledScope(self._fleet_state.account_id, config.fleet)

    def _book(self, account_id: str) -> AccountMemory:
        new = account_id not in self._books
        book = super()._book(account_id)
        if new:
            book.scope = SettledScope(account_id, book.scope.limits)
        return book

    def _observe_fleet_exposure(self, view: RiskView, proj: Projection) -> None:
        for s, px in view.marks.items():
            inst = view.instruments.get(s)
            if inst is not None and is_finite_positive(px):
                self._fleet.mark(s, px, inst.multiplier)
        self._fleet.set_quantities(view.account_id,
                                   {s: proj.worst(s) for s in proj.symbols()})


# --- random configurations and streams -------------------------------------------------------

def _sometimes(rng: random.Random, value, p: float = 0.5):
    return value if rng.random() < p else None


def _limits(rng: random.Random, cls: type, p: float):
    """`cls` with each limit set with probability `p` (loss thresholds in pairs)."""
    ranges = {"min_order_qty": (1, 5), "max_order_qty": (5, 60), "min_order_notional": (5, 200),
              "max_order_notional": (500, 8000), "max_position_qty": (10, 80),
              "max_position_notional": (1000, 9000), "max_open_positions": (0, 3),
              "max_gross_exposure": (1000, 12000), "max_net_exposure": (1000, 9000)}
    names = set(cls.__dataclass_fields__)
    kw: dict[str, object] = {}
    for key, (low, high) in ranges.items():
        if key in names and rng.random() < p:
            kw[key] = rng.randint(low, high) if key == "max_open_positions" else float(
                rng.randint(low, high))
    for part in ("daily_loss", "drawdown"):
        if f"{part}_halt" in names and rng.random() < p:
            reduce = rng.choice([0.01, 0.02, 0.05])
            kw[f"{part}_reduce"] = _sometimes(rng, reduce)
            kw[f"{part}_halt"] = _sometimes(rng, 2 * reduce, 0.7)
    if "max_orders_per_second" in names and rng.random() < p:
        kw["max_orders_per_second"] = rng.choice([1.0, 4.0, 100.0])
        kw["order_burst"] = _sometimes(rng, rng.randint(1, 4))
    if "check_free_balance" in names:
        kw["check_free_balance"] = rng.random() < 0.8
    return cls(**kw)


def _config(rng: random.Random) -> RiskConfig:
    p = rng.choice([0.0, 0.3, 0.6])       # 0: no limit anywhere, every fast path taken
    return RiskConfig(
        fleet=_limits(rng, FleetLimits, rng.choice([0.0, 0.0, 0.5])),
        accounts={"A1": _limits(rng, AccountLimits, p), "A2": _limits(rng, AccountLimits, p)},
        account_defaults=_sometimes(rng, _limits(rng, AccountLimits, p), 0.3),
        strategies={"s1": _limits(rng, StrategyLimits, p)},
        remembered_ids=rng.choice([3, 1000]))


def _view(rng: random.Random, account_id: str, market: dict[str, float],
          ids: list[str]) -> AccountView:
    """Mostly the shared market's prices (so fleet marks repeat), sometimes broken ones."""
    prices = {s: rng.choice(BAD) if rng.random() < 0.05 else (
        market[s] if rng.random() < 0.8 else rng.uniform(20, 200)) for s in SYMBOLS}
    positions = {s: float(rng.randint(-30, 30)) for s in rng.sample(SYMBOLS, rng.randint(0, 3))}
    marks = {s: px for s, px in prices.items() if rng.random() < 0.9}
    quotes = {s: (px - 0.5, px + 0.5) for s, px in prices.items() if rng.random() < 0.9}
    open_orders = tuple(
        OpenOrderView(rng.choice(SYMBOLS), rng.choice(list(OrderSide)), float(rng.randint(1, 20)),
                      _sometimes(rng, round(rng.uniform(20, 200), 2)), rng.random() < 0.3)
        for _ in range(rng.choice([0, 0, 1, 2])))
    cash = rng.uniform(-100, 20_000)
    equity = math.nan if rng.random() < 0.05 else cash + sum(
        q * marks.get(s, math.nan) for s, q in positions.items())
    return AccountView(account_id, cash, equity, INSTRUMENTS, positions, marks, quotes,
                       open_orders, frozenset(ids))


def _order(rng: random.Random, account_id: str, n: int, now: int, ids: list[str]
           ) -> SubmitOrder:
    order_type = rng.choice([OrderType.MARKET] * 4 + [OrderType.LIMIT, OrderType.STOP,
                                                      OrderType.STOP_LIMIT])
    price = trigger = None
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and rng.random() < 0.95:
        price = round(rng.uniform(20, 200) * 2) / 2
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and rng.random() < 0.95:
        trigger = round(rng.uniform(20, 200) * 2) / 2
    sizes = [float(rng.randint(1, 60)), rng.randint(1, 40) / 2]
    qty = rng.choice(sizes + [0.3, math.nan] if rng.random() < 0.05 else sizes)
    coid = rng.choice(ids) if ids and rng.random() < 0.05 else f"o{n}"
    symbol = "ZZZ" if rng.random() < 0.03 else rng.choice(SYMBOLS)
    return SubmitOrder(account_id, coid, symbol, rng.choice(list(OrderSide)), qty, now, now,
                       order_type=order_type, price=price, trigger_price=trigger,
                       reduce_only=rng.random() < 0.2, strategy_id=rng.choice(["", "s1", "s2"]),
                       signal_id=rng.choice(["", "", "g1", "g2", f"g{n}"]))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_gate_decides_as_its_general_path_does(seed):
    rng = random.Random(seed)      # one stream per seed (hypothesis draws are slow here)
    config = _config(rng)
    fast, general = RiskGate(config), GeneralGate(config)
    market = {s: rng.uniform(20, 200) for s in SYMBOLS}
    ids: dict[str, list[str]] = {"A1": [], "A2": [], "A3": []}
    now = T0
    for n in range(60):
        if rng.random() < 0.1:
            market[rng.choice(SYMBOLS)] = rng.uniform(20, 200)
        step, account_id = rng.random(), rng.choice(["A1", "A2", "A1", "A2", "A3"])
        if step < 0.1:
            now += rng.choice([1_000_000, NANOS_PER_SECOND, 3600 * NANOS_PER_SECOND,
                               NS_PER_DAY])
        elif step < 0.15:
            target = rng.choice([None, "A1", "A2"])
            action = rng.choice(["kill", "release", "reset_drawdown"])
            for gate in (fast, general):
                getattr(gate, action)(target, now_ns=now)
        elif step < 0.25:
            v = _view(rng, account_id, market, ids[account_id])
            assert fast.observe(v, now) is general.observe(v, now)
        else:
            v = _view(rng, account_id, market, ids[account_id])
            cmd = _order(rng, account_id, n, now, ids[account_id])
            assert fast.decide(cmd, v, now) == general.decide(cmd, v, now)
            if rng.random() < 0.5:
                ids[account_id].append(cmd.client_order_id)
        assert fast.events == general.events
        for account in (None, "A1", "A2"):
            assert fast.state(account) is general.state(account)


@given(st.lists(st.sampled_from(list(TradingState)), min_size=1, max_size=4))
def test_worst_is_the_first_state_of_the_highest_rank(states):
    assert worst(*states) is max(states, key=lambda s: s.rank)


def test_without_fleet_limits_the_gate_keeps_no_fleet_book():
    gate = RiskGate(RiskConfig(account_defaults=AccountLimits()))
    v = AccountView("A1", 1_000.0, 1_000.0, INSTRUMENTS, {"AAA": 2.0}, {"AAA": 50.0},
                    {"AAA": (50.0, 50.0)})
    order = SubmitOrder("A1", "o1", "AAA", OrderSide.BUY, 1.0, T0, T0)
    assert gate.decide(order, v, T0) is None
    assert gate._fleet.qty == {} and gate._fleet.marks == {} and gate._fleet.equity == {}
