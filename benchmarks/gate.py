"""Risk-gate throughput: pre-trade decisions per second for a fleet of accounts.

The gate keeps fleet exposure as running per-symbol sums, so a decision costs the number
of symbols, not the number of accounts. The peer, measured in the same run, is the naive
formulation of the fleet check alone: re-adding every account's exposure for each order
(what a gate without running sums must do). The ratio says what the running sums buy;
the gate's figure includes every other check (quantity, notional, balance, position,
rate, loss state, duplicate IDs), the peer's only the fleet sum.

Each account holds a position in some of the symbols, has quotes for all of them, and
receives orders round-robin with random sides and sizes, most within limits and some
past them, so both the accept and the deny paths are timed.
"""

from __future__ import annotations

import random
import time

from engine.clock import NANOS_PER_SECOND
from engine.enums import OrderSide
from engine.instruments import Instrument
from engine.messages import SubmitOrder
from risk.config import AccountLimits, FleetLimits, RiskConfig
from risk.gate import AccountView, RiskGate

SYMBOLS = tuple(f"S{i:02d}" for i in range(20))
T0 = 1_700_000_000 * NANOS_PER_SECOND


def _fleet(accounts: int, seed: int) -> tuple[list[AccountView], dict[str, float]]:
    rng = random.Random(seed)
    instruments = {s: Instrument(s, price_tick=0.01, qty_step=1.0) for s in SYMBOLS}
    prices = {s: round(rng.uniform(20, 500), 2) for s in SYMBOLS}
    quotes = {s: (p - 0.01, p + 0.01) for s, p in prices.items()}
    views = []
    for i in range(accounts):
        held = {s: float(rng.randint(-50, 50)) for s in rng.sample(SYMBOLS, 3)}
        views.append(AccountView(f"acct-{i}", 100_000.0, 100_000.0, instruments, held,
                                 dict(prices), quotes))
    return views, prices


def _orders(views: list[AccountView], n: int, seed: int) -> list[SubmitOrder]:
    rng = random.Random(seed + 1)
    out = []
    for k in range(n):
        view = views[k % len(views)]
        out.append(SubmitOrder(view.account_id, f"c{k}", rng.choice(SYMBOLS),
                               rng.choice((OrderSide.BUY, OrderSide.SELL)),
                               float(rng.randint(1, 120)), T0, T0 + k * 1_000_000,
                               signal_id=f"s{k}"))
    return out


def _config() -> RiskConfig:
    return RiskConfig(
        fleet=FleetLimits(max_gross_exposure=5e9),
        account_defaults=AccountLimits(max_order_notional=25_000.0, max_position_qty=150.0,
                                       max_open_positions=8, max_gross_exposure=400_000.0,
                                       daily_loss_halt=0.05, max_orders_per_second=1000.0))


def naive_fleet_gross(views: list[AccountView], prices: dict[str, float]) -> float:
    return sum(abs(q) * prices[s] for v in views for s, q in v.positions.items())


def run_gate_bench(accounts: int = 1000, orders: int = 20_000, naive_orders: int = 500,
                   seed: int = 7) -> dict[str, float | int]:
    views, prices = _fleet(accounts, seed)
    by_id = {v.account_id: v for v in views}
    cmds = _orders(views, orders, seed)
    gate = RiskGate(_config())
    for view in views:                       # every account seen once, as a live gate has
        gate.observe(view, T0)
    start = time.perf_counter()
    denied = sum(gate.decide(c, by_id[c.account_id], c.ts_init) is not None for c in cmds)
    gate_s = time.perf_counter() - start
    limit = gate.config.fleet.max_gross_exposure
    start = time.perf_counter()
    for c in cmds[:naive_orders]:
        extra = c.quantity * prices[c.symbol]
        _ = naive_fleet_gross(views, prices) + extra > limit
    naive_s = time.perf_counter() - start
    gate_rate = orders / gate_s
    naive_rate = naive_orders / naive_s
    return {"accounts": accounts, "decisions": orders, "denied_share": denied / orders,
            "decisions_per_s": gate_rate, "naive_fleet_decisions_per_s": naive_rate,
            "ratio_vs_naive": gate_rate / naive_rate}
