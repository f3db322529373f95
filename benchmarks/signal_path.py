"""The path of a signal that trades: `Account` + `RiskGate` + `SimBroker`, as a backtest
runs it (next bar's open, all cash in, no fees, no latency or faults).

`python -m benchmarks.signal_path [N] [repeats]` times N signals alternating LONG and
FLAT (so every signal sends one order, opening or closing, and fills at once) and prints
the best of `repeats` runs in microseconds per signal. Each signal step is what
`actors.backtest` does for a pending signal: the open reaches the venue, the account sees
it as a quote, then `Account.on_signal` runs to completion.

The peer, in the same run: backtrader's cost of one order (a buy or a close every bar,
filled at the next open) over N bars, less the cost of the same N bars with no orders.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from actors.backtest import drive
from engine.account import Account, AccountConfig
from engine.broker import Credentials
from engine.clock import SimClock
from engine.enums import OrderSide, OrderStatus, SignalSide
from engine.instruments import Instrument
from engine.messages import Bar, OrderFilled, QuoteTick, Signal, SubmitOrder
from engine.sim import FillModel, SimAccount, SimBroker
from engine.sizing import SizingConfig, SizingMode
from risk.config import AccountLimits, RiskConfig
from risk.gate import RiskGate

SYMBOL, ACCOUNT, MINUTE = "BTC", "bench", 60_000_000_000


def _account() -> tuple[Account, SimBroker, SimClock]:
    clock = SimClock(0)
    instrument = Instrument(SYMBOL, price_tick=1e-8, qty_step=1e-8)
    broker = SimBroker([instrument], {ACCOUNT: SimAccount(100_000.0, api_key=ACCOUNT,
                                                          secret=ACCOUNT)},
                       clock=clock, fill_model=FillModel())
    gate = RiskGate(RiskConfig(account_defaults=AccountLimits()), clock=clock)
    account = Account(AccountConfig(ACCOUNT, sizing=SizingConfig(SizingMode.ALL_CASH)),
                      broker, Credentials(ACCOUNT, ACCOUNT, ACCOUNT), [instrument], clock,
                      pre_trade=gate.pre_trade)
    drive(account.start())
    return account, broker, clock


def run_signals(n: int, gate_time: list[float] | None = None) -> tuple[float, Account]:
    """Seconds taken by `n` trading signals on a fresh account, and the account. With
    `gate_time`, the seconds spent in the risk gate's hook are added to its first item."""
    account, broker, clock = _account()
    if gate_time is not None:
        account._pre_trade = _timed(account._pre_trade, gate_time)
    sides = (SignalSide.LONG, SignalSide.FLAT)
    elapsed = 0.0
    for i in range(n):
        t = (i + 1) * MINUTE
        px = 30_000.0 + (i % 7) * 10.0
        bar = Bar(SYMBOL, px, px, px, px, 1.0, t + MINUTE, t + MINUTE)
        signal = Signal(f"s{i}", "bench", SYMBOL, sides[i % 2], t, t)
        start = time.perf_counter()
        clock.set_ns(t)
        broker.on_open(bar)
        account.on_quote(QuoteTick(SYMBOL, px, px, 0.0, 0.0, t, t))
        drive(account.on_signal(signal))
        elapsed += time.perf_counter() - start
    fills = sum(isinstance(e, OrderFilled) for e in account.events)
    if fills != n:
        raise RuntimeError(f"expected {n} fills, got {fills}")
    return elapsed, account


def _timed(hook: Any, total: list[float]) -> Any:
    def timed(cmd: Any, account: Account) -> Any:
        start = time.perf_counter()
        try:
            return hook(cmd, account)
        finally:
            total[0] += time.perf_counter() - start
    return timed


def gate_us_per_signal(n: int = 2000, repeats: int = 5) -> float:
    """The risk gate's share of a signal: time inside its pre_trade hook (timed by a
    wrapper, which adds well under a microsecond), best of `repeats` runs of `n`."""
    times = []
    for _ in range(repeats):
        spent = [0.0]
        run_signals(n, spent)
        times.append(spent[0])
    return min(times) / n * 1e6


def venue_us_per_order(n: int = 2000, repeats: int = 5) -> float:
    """The simulated venue alone: one market order (buys and sells alternating, each
    filled at the open) submitted to `SimVenue` and its events drained, with no account,
    gate or broker session around it. Best of `repeats` runs of `n`, in microseconds."""
    times = []
    for _ in range(repeats):
        _, broker, clock = _account()
        venue, elapsed = broker.venue, 0.0
        for i in range(n):
            t = (i + 1) * MINUTE
            px = 30_000.0 + (i % 7) * 10.0
            side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
            cmd = SubmitOrder(ACCOUNT, f"v{i}", SYMBOL, side, 1.0, t, t)
            clock.set_ns(t)
            broker.on_open(Bar(SYMBOL, px, px, px, px, 1.0, t + MINUTE, t + MINUTE))
            start = time.perf_counter()
            result = venue.submit(ACCOUNT, cmd)
            venue.drain(ACCOUNT)
            elapsed += time.perf_counter() - start
            if not result.ok or result.value.status is not OrderStatus.FILLED:
                raise RuntimeError(f"the venue did not fill {cmd}: {result}")
        times.append(elapsed)
    return min(times) / n * 1e6


def us_per_signal(n: int = 2000, repeats: int = 5) -> float:
    """Best of `repeats` runs of `n` signals (after one warm-up run), in microseconds."""
    run_signals(min(n, 200))
    return min(run_signals(n)[0] for _ in range(repeats)) / n * 1e6


def backtrader_us_per_order(n: int = 2000, repeats: int = 5) -> float:
    """backtrader: best time of n bars with an order on every bar, less the best time of
    the same bars without orders, per order, in microseconds."""
    import backtrader as bt
    import pandas as pd

    px = 30_000.0 + (pd.RangeIndex(n) % 7) * 10.0
    frame = pd.DataFrame({"open": px, "high": px, "low": px, "close": px, "volume": 1.0},
                         index=pd.date_range("2022-01-01", periods=n, freq="min"))

    class Orders(bt.Strategy):
        def next(self) -> None:
            if self.position:
                self.close()
            else:
                self.buy(size=1.0)

    def best(strategy: type) -> float:
        times = []
        for _ in range(repeats):
            cerebro = bt.Cerebro(stdstats=False)
            cerebro.adddata(bt.feeds.PandasData(dataname=frame))
            cerebro.addstrategy(strategy)
            start = time.perf_counter()
            cerebro.run()
            times.append(time.perf_counter() - start)
        return min(times)

    return (best(Orders) - best(bt.Strategy)) / n * 1e6


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 2000
    repeats = int(argv[1]) if len(argv) > 1 else 5
    ours, theirs = us_per_signal(n, repeats), backtrader_us_per_order(n, repeats)
    gate, venue = gate_us_per_signal(n, repeats), venue_us_per_order(n, repeats)
    print(f"signal path: {ours:.1f} us per signal (of which the risk gate {gate:.1f}; the "
          f"venue alone {venue:.1f} an order); backtrader {theirs:.1f} us per order "
          f"(N={n}, best of {repeats}; {theirs / ours:.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1:])
