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

from actors.backtest import drive
from engine.account import Account, AccountConfig
from engine.broker import Credentials
from engine.clock import SimClock
from engine.enums import SignalSide
from engine.instruments import Instrument
from engine.messages import Bar, OrderFilled, QuoteTick, Signal
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


def run_signals(n: int) -> tuple[float, Account]:
    """Seconds taken by `n` trading signals on a fresh account, and the account."""
    account, broker, clock = _account()
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
    print(f"signal path: {ours:.1f} us per signal; backtrader {theirs:.1f} us per order "
          f"(N={n}, best of {repeats}; {theirs / ours:.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1:])
