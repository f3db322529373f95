"""backtrader as an independent reference for the SMA-crossover backtest, and the exact rule.

`run_backtrader` runs backtrader 1.9.78.123 the way ../shared/data/README.md describes its
parity result: simple moving averages of Close, `bt.ind.CrossOver`, long only, a buy with
all the cash on a cross up while flat and a close of the whole position on a cross down,
both taken at the signal bar's close and filled at the next bar's open (cheat-on-open: the
order is placed in `next_open` of the fill bar, sized there as cash / open, floored to
whole units when `lot` is 1), zero commission, and the book marked at the last close.
One `Cerebro.optstrategy` call runs every (fast, slow, lot) in this process, on one feed
whose file is parsed once (`_ParsedOnce`).

The exact rule (`exact_signs`, `crossovers`) is the one Phalanx uses, written here
independently: closes as integers of 1e-6, sum_fast * slow compared with sum_slow * fast.
`replay` turns a crossover series into fills and a final value, so a pair whose signals
differ between the engines can still be checked end to end against each engine's own
signals.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import backtrader as bt
import numpy as np

PRICE_SCALE = 1_000_000
BUY, SELL = "buy", "sell"


@dataclass(frozen=True, slots=True)
class Fill:
    bar: int          # index of the bar whose open it traded at
    side: str         # BUY or SELL
    price: float
    size: float       # always positive
    when: str = field(default="", compare=False)  # the bar's date or minute, if known


@dataclass(slots=True)
class Outcome:
    """One run of one engine (or of `replay`) for one (fast, slow, lot)."""

    fills: list[Fill]
    final_value: float
    refused: list[str] = field(default_factory=list)
    cross: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    diff: np.ndarray = field(default_factory=lambda: np.zeros(0))   # fast - slow, floats
    dates: tuple[str, str] = ("", "")                               # first and last bar


def all_in(cash: float, price: float, lot: float | None) -> float:
    """cash / price, floored to `lot` when given. Without a lot it is the largest float
    whose cost does not exceed the cash: cash / price rounds up about half the time, and
    backtrader refuses (Margin) a buy that costs one ulp more than the cash. This is how
    the README's 508,192.3587851795 is reproduced to the last digit."""
    size = cash / price
    if lot is not None:
        return math.floor(size / lot) * lot
    return math.nextafter(size, 0.0) if size * price > cash else size


# --- backtrader -----------------------------------------------------------------------------

class _SmaCrossAllIn(bt.Strategy):
    params = (("run", (10, 30, None)),)       # fast, slow, lot

    def __init__(self) -> None:
        fast, slow, self.lot = self.p.run
        self.fast = bt.ind.SMA(self.data.close, period=fast)
        self.slow = bt.ind.SMA(self.data.close, period=slow)
        self.cross = bt.ind.CrossOver(self.fast, self.slow)
        self.signal = 0            # the cross of the bar just closed, acted on at next open
        self.fills: list[Fill] = []
        self.refused: list[str] = []       # orders backtrader did not fill (must stay empty)

    def next(self) -> None:
        self.signal = int(self.cross[0])

    def next_open(self) -> None:
        # Runs before the broker sees this bar: a market order placed here fills at this
        # bar's open. The previous bar's cross is the signal.
        signal, self.signal = self.signal, 0
        if signal > 0 and not self.position:
            size = all_in(self.broker.getcash(), self.data.open[0], self.lot)
            if size > 0:
                self.buy(size=size)
        elif signal < 0 and self.position:
            self.close()

    def _stamp(self) -> str:
        """The bar's date (daily data) or its minute, as written in the file."""
        when = self.data.datetime.datetime(0)
        if self.data._timeframe >= bt.TimeFrame.Days:
            return when.date().isoformat()
        when += dt.timedelta(seconds=30)     # the float day count may fall a hair short
        return when.strftime("%Y-%m-%d %H:%M")

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            # executed.price is a size-weighted average, which can be an ulp off the
            # price of a single execution; the execution bits carry the price as filled.
            (bit,) = order.executed.exbits
            self.fills.append(Fill(len(self.data) - 1, BUY if order.isbuy() else SELL,
                                   bit.price, abs(bit.size), self._stamp()))
        elif order.status in (order.Margin, order.Rejected, order.Canceled):
            self.refused.append(f"bar {len(self.data) - 1}: {order.getstatusname()}")


class _Record(bt.Analyzer):
    """What a run leaves behind, kept by an analyzer so that `optreturn` (and worker
    processes) can carry it back without the strategy and its lines."""

    def stop(self) -> None:
        strat = self.strategy
        first = strat.data.datetime.date(1 - len(strat.data))
        self.outcome = Outcome(
            strat.fills, strat.broker.getvalue(), strat.refused,
            np.nan_to_num(np.asarray(strat.cross.array)).astype(np.int8),
            np.asarray(strat.fast.array) - np.asarray(strat.slow.array),
            (first.isoformat(), strat.data.datetime.date(0).isoformat()))

    def get_analysis(self) -> Outcome:
        return self.outcome


class _ParsedOnce(bt.feeds.GenericCSVData):
    """backtrader's own CSV feed, which re-reads its file for every run of an optstrategy
    in one process; this one keeps what the first run parsed from each line (date parsing
    is most of a feed's cost) and replays it in later runs."""

    def _loadline(self, linetokens: list[str]) -> bool:
        memo = self.__dict__.setdefault("_memo", {})
        key = tuple(linetokens)
        values = memo.get(key)
        if values is None:
            super()._loadline(linetokens)
            memo[key] = tuple(line[0] for line in self.lines)
        else:
            for line, value in zip(self.lines, values, strict=True):
                line[0] = value
        return True


def _feed(path: Path, fmt: str) -> bt.feeds.GenericCSVData:
    if fmt == "yahoo":      # Date,Open,High,Low,Close,Adj Close,Volume; Adj Close unused
        return _ParsedOnce(dataname=str(path), dtformat="%Y-%m-%d", datetime=0, open=1,
                           high=2, low=3, close=4, volume=6, openinterest=-1,
                           timeframe=bt.TimeFrame.Days)
    if fmt == "ohlcv":      # timestamp,open,high,low,close,volume; one-minute bars
        return _ParsedOnce(dataname=str(path), dtformat="%Y-%m-%d %H:%M:%S.%f", datetime=0,
                           open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
                           timeframe=bt.TimeFrame.Minutes, compression=1)
    raise ValueError(f"unknown format {fmt!r}")


Run = tuple[int, int, float | None]
"""fast, slow, lot (None: fractional, see `all_in`; 1: whole units)."""


def run_backtrader(path: Path, fmt: str, runs: Sequence[Run], cash: float = 100_000.0,
                   maxcpus: int = 1) -> dict[Run, Outcome]:
    """Every run on one preloaded feed, in `maxcpus` processes."""
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, optreturn=True,
                         maxcpus=maxcpus, preload=True, runonce=True)
    cerebro.adddata(_feed(path, fmt))
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=0.0)
    # The order-time check prices a market order at the close of the bar it was placed
    # on, which would refuse an all-in buy whenever that close is above the open.
    cerebro.broker.set_checksubmit(False)
    cerebro.addanalyzer(_Record, _name="record")
    cerebro.optstrategy(_SmaCrossAllIn, run=list(runs))
    return {done.params.run: done.analyzers.record.get_analysis()
            for (done,) in cerebro.run()}


# --- the exact rule and a replay ------------------------------------------------------------

def exact_signs(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """sign(SMA_fast - SMA_slow) per bar in exact integer arithmetic; 0 before index
    slow - 1 (no slow average yet) and on exact ties."""
    units = np.round(np.asarray(close) * PRICE_SCALE).astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(units)])

    def window_sums(n: int) -> np.ndarray:
        s = np.zeros(len(units), dtype=np.int64)
        s[n - 1:] = cum[n:] - cum[:-n]
        return s

    diff = window_sums(fast) * slow - window_sums(slow) * fast
    signs = np.sign(diff).astype(np.int8)
    signs[:slow - 1] = 0
    return signs


def exact_ties(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Indices of the bars (from slow - 1 on) where the two averages are exactly equal."""
    signs = exact_signs(close, fast, slow)
    return np.flatnonzero(signs[slow - 1:] == 0) + slow - 1


def crossovers(signs: np.ndarray, slow: int) -> np.ndarray:
    """backtrader's CrossOver on a series of difference signs: the state (last non-zero
    difference) is seeded at index slow - 1; +1 where it was negative and the difference
    is now positive, -1 mirrored."""
    cross = np.zeros(len(signs), dtype=np.int8)
    if len(signs) < slow:
        return cross
    state = int(signs[slow - 1])
    for i in range(slow, len(signs)):
        d = int(signs[i])
        if d and state and d != state:
            cross[i] = d
        if d:
            state = d
    return cross


def replay(cross: np.ndarray, opens: np.ndarray, closes: np.ndarray, lot: float | None,
           cash: float = 100_000.0) -> Outcome:
    """Long-only all-in fills of a crossover series at the next bar's open, and the book
    marked at the last close; the README's rules, as plain arithmetic."""
    fills: list[Fill] = []
    size = 0.0
    for i in np.flatnonzero(cross[:-1]).tolist():
        px = float(opens[i + 1])
        if cross[i] > 0 and size == 0.0:
            qty = all_in(cash, px, lot)
            if qty > 0:
                fills.append(Fill(i + 1, BUY, px, qty))
                cash -= qty * px
                size = qty
        elif cross[i] < 0 and size > 0.0:
            fills.append(Fill(i + 1, SELL, px, size))
            cash += size * px
            size = 0.0
    return Outcome(fills, cash + size * float(closes[-1]), cross=cross)
