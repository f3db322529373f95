"""Event-driven backtests: the live `Strategy`, `Account`, `RiskGate` and `SimBroker` on a
simulated clock, in one process, over bars or trade ticks.

Fill rules (`FillAt`):

- NEXT_OPEN (bars, the default): signals of bar t are acted on at bar t+1's open. The
  account sees the open as its price, sizes there, and its market orders fill there. A
  signal on the last bar is never acted on.
- CLOSE (bars): signals of bar t are acted on at once at bar t's close.
- TICK (trade ticks): ticks are rolled into bars of `bar_seconds` for the strategy; a bar
  is finished by the first tick after it, and the signals act on that tick's price.

Per bar: the venue sees the bar (resting orders such as protective exits may fill), the
account marks its position at the close and checks its protective exits, then the
strategy sees the bar. The account is the same async class the live runtime hosts; here
`drive` runs its coroutines to completion without an event loop (the simulated broker
only ever yields, it never waits), which keeps a backtest in one thread and fast.

With `db` set, the run lands in DuckDB (kind "backtest"): every signal, order, fill,
trade and risk event, and one equity sample per bar, so `phalanx analytics` and
`phalanx report` work on it as on a live run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from actors.backtest_data import BarSeries, TickSeries
from actors.journal import Journal, both
from engine.account import Account, AccountConfig, check_fleet_exits
from engine.broker import Credentials
from engine.clock import NANOS_PER_SECOND, SimClock
from engine.errors import ConfigError, config_number
from engine.exits import ExitConfig, PlainExitPolicy
from engine.instruments import FeeSchedule, Instrument
from engine.messages import (
    Bar,
    OrderDenied,
    OrderFilled,
    PositionClosed,
    QuoteTick,
    Signal,
    StrategyFailed,
    TradeTick,
)
from engine.sim import BarFillRule, FillModel, SimAccount, SimBroker
from engine.sim.models import BpsSlippage, NoSlippage
from engine.sizing import SizingConfig, SizingMode
from risk.config import AccountLimits, RiskConfig
from risk.gate import RiskGate
from strategies import StrategyHost, create_strategy

ACCOUNT = "backtest"

# No limits beyond the structural checks (finite prices, free cash, known symbol): a
# backtest measures the strategy; pass a RiskConfig to hold it to a desk's limits.
BACKTEST_RISK = RiskConfig(account_defaults=AccountLimits())


class FillAt(str, Enum):
    NEXT_OPEN = "next_open"
    CLOSE = "close"
    TICK = "tick"


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    strategy: str = "sma_cross"
    params: Mapping[str, object] = field(default_factory=dict)
    cash: float = 100_000.0
    fill: FillAt = FillAt.NEXT_OPEN
    sizing: SizingConfig = field(default_factory=lambda: SizingConfig(SizingMode.ALL_CASH))
    lot_size: float = 1e-8          # quantity step; 1 = whole units
    fee_bps: float = 0.0            # taker and maker fee, basis points of notional
    slippage_bps: float = 0.0       # market orders fill this much worse
    exits: ExitConfig = field(default_factory=ExitConfig)
    allow_short: bool = False
    risk: RiskConfig = BACKTEST_RISK
    bar_seconds: int = 60           # tick data: the bars the strategy sees
    db: str | None = None           # DuckDB file for the run; None records nothing

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "fill", FillAt(self.fill))
        except ValueError:
            raise ConfigError("fill", f"{self.fill!r} is not one of "
                                      f"{[f.value for f in FillAt]}") from None
        for key in ("cash", "lot_size"):
            config_number(key, getattr(self, key), above=0.0)
        for key in ("fee_bps", "slippage_bps"):
            config_number(key, getattr(self, key), minimum=0.0)
        if not isinstance(self.bar_seconds, int) or self.bar_seconds < 1:
            raise ConfigError("bar_seconds", f"{self.bar_seconds!r} must be an integer >= 1")
        for key, cls in (("sizing", SizingConfig), ("exits", ExitConfig),
                         ("risk", RiskConfig)):
            if not isinstance(getattr(self, key), cls):
                raise ConfigError(key, f"must be a {cls.__name__}")


@dataclass(slots=True)
class BacktestResult:
    strategy: str
    params: dict[str, object]
    symbol: str
    fill: str
    bars: int = 0
    ticks: int = 0
    signals: int = 0
    final_value: float = 0.0
    cash: float = 0.0
    position: float = 0.0
    fees: float = 0.0
    fills: list[OrderFilled] = field(default_factory=list)
    trades: list[PositionClosed] = field(default_factory=list)
    denials: list[OrderDenied] = field(default_factory=list)
    failure: StrategyFailed | None = None
    equity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    elapsed_s: float = 0.0
    run_id: str = ""

    @property
    def open_trades(self) -> int:
        return int(self.position != 0.0)

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (what `phalanx backtest --json` prints)."""
        wins = [t for t in self.trades if t.realized_pnl - t.fees > 0]
        return {
            "run_id": self.run_id, "strategy": self.strategy, "params": self.params,
            "symbol": self.symbol, "fill": self.fill, "bars": self.bars, "ticks": self.ticks,
            "signals": self.signals, "final_value": self.final_value, "cash": self.cash,
            "position": self.position, "fills": len(self.fills),
            "closed_trades": len(self.trades), "open_trades": self.open_trades,
            "win_rate": len(wins) / len(self.trades) if self.trades else 0.0,
            "fees": self.fees, "denials": len(self.denials),
            "strategy_failure": self.failure.error if self.failure else None,
            "elapsed_s": self.elapsed_s,
            "first_fill": _fill_row(self.fills[0]) if self.fills else None,
        }


def _fill_row(f: OrderFilled) -> dict[str, Any]:
    return {"ts_ns": f.ts_event, "side": f.side.value, "price": f.last_px, "qty": f.last_qty}


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run `coro` to completion in this thread without an event loop. It may only yield
    bare (as `asyncio.sleep(0)` does); anything that needs a loop is a bug here."""
    try:
        while True:
            if coro.send(None) is not None:
                coro.close()
                raise RuntimeError("a backtest coroutine waited on a future; the simulated "
                                   "broker must not sleep (set no latency model)")
    except StopIteration as done:
        return done.value


class Backtest:
    """One strategy, one account, one symbol, driven bar by bar (or tick by tick)."""

    def __init__(self, cfg: BacktestConfig, symbol: str) -> None:
        self.cfg = cfg
        self.symbol = symbol
        self.clock = SimClock(0)
        fees = FeeSchedule(maker_bps=cfg.fee_bps, taker_bps=cfg.fee_bps)
        self.instrument = Instrument(symbol, price_tick=1e-8, qty_step=cfg.lot_size,
                                     fees=fees)
        rule = BarFillRule.CLOSE if cfg.fill is FillAt.CLOSE else BarFillRule.NEXT_OPEN
        slippage = BpsSlippage(cfg.slippage_bps) if cfg.slippage_bps else NoSlippage()
        self.broker = SimBroker(
            [self.instrument],
            {ACCOUNT: SimAccount(cfg.cash, api_key=ACCOUNT, secret=ACCOUNT,
                                 allow_short=cfg.allow_short)},
            clock=self.clock, fill_model=FillModel(slippage=slippage, bar_rule=rule))
        self.gate = RiskGate(cfg.risk, clock=self.clock)
        self.exits = PlainExitPolicy()   # one position: cheaper than packing arrays
        self.account = Account(
            AccountConfig(ACCOUNT, sizing=cfg.sizing, exits=cfg.exits,
                          allow_short=cfg.allow_short),
            self.broker, Credentials(ACCOUNT, ACCOUNT, ACCOUNT), [self.instrument],
            self.clock, exit_policy=self.exits, pre_trade=self.gate.pre_trade)
        self.result = BacktestResult(cfg.strategy, dict(cfg.params), symbol, cfg.fill.value)
        self.host = StrategyHost(create_strategy(cfg.strategy, cfg.strategy, dict(cfg.params),
                                                 clock=self.clock),
                                 on_failure=self._failed)
        self.journal: Journal | None = None
        self._book: list[tuple[int, float, float, float, float, float]] = []

    def _failed(self, failure: StrategyFailed) -> None:
        self.result.failure = failure

    def attach(self, journal: Journal) -> None:
        """Send every account, gate and strategy event to the journal."""
        self.journal = journal
        self.account.set_sink(journal.writer.record)
        self.gate.set_sink(journal.writer.record)
        self.host.on_failure = both(self._failed, journal.writer.record)

    # --- the loop ---------------------------------------------------------------------------
    def run(self, data: BarSeries | TickSeries,
            progress: Callable[[float], None] | None = None) -> BacktestResult:
        started = time.perf_counter()
        drive(self.account.start())
        self.host.start()
        if isinstance(data, TickSeries):
            closes = self._run_ticks(data, progress)
        else:
            if self.cfg.fill is FillAt.TICK:
                raise ConfigError("fill", "tick needs trade ticks (--format lean-ticks); "
                                          "bars fill at next_open or close")
            closes = self._run_bars(data, progress)
        self.host.stop()
        for coid in list(self.account.working):      # every order ends terminal
            drive(self.account.cancel(coid))
        drive(self.account.sync())
        self._finish(closes)
        self.result.elapsed_s = time.perf_counter() - started
        return self.result

    def _run_bars(self, bars: BarSeries, progress: Callable[[float], None] | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        sym, account, broker, clock, host = (self.symbol, self.account, self.broker,
                                             self.clock, self.host)
        close_now = self.cfg.fill is FillAt.CLOSE
        opens, ends = bars.ts_ns.tolist(), (bars.ts_ns + bars.interval_ns).tolist()
        rows = zip(bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
                   bars.close.tolist(), bars.volume.tolist(), opens, ends, strict=True)
        n, every = len(bars), max(1, len(bars) // 50)
        working, events = account.working, account.events   # the account keeps these
        pending: list[Signal] = []
        seen, armed, bar = 0, False, None
        for i, (o, h, lo, c, v, t_open, t_end) in enumerate(rows):
            bar = Bar(sym, o, h, lo, c, v, t_end, t_end)
            if pending or working:
                clock.set_ns(t_open)
                broker.on_open(bar)
                account.on_quote(QuoteTick(sym, o, o, 0.0, 0.0, t_open, t_open))
                if working:
                    drive(account.sync())
                for signal in pending:
                    drive(account.on_signal(signal))
                pending = []
            clock.set_ns(t_end)
            # The venue and the account see a bar only when something can happen on it:
            # an order is working, a protection is armed, or a signal acts at this close.
            shown = armed or bool(working)
            if shown:
                self._show(bar)
            signals = host.bar(bar)
            if signals:
                self._signals(signals)
                if close_now:
                    if not shown:
                        self._show(bar)
                    for signal in signals:
                        drive(account.on_signal(signal))
                else:
                    pending = signals
            if len(events) != seen:
                seen = len(events)
                armed = any(p.armed for p in account.protections.values())
                self._snapshot(i)
            if progress is not None and (i + 1) % every == 0:
                progress((i + 1) / n)
        if bar is not None:
            account.on_bar(bar)        # the final mark
        self.result.bars = n
        return bars.close, bars.ts_ns + bars.interval_ns

    def _run_ticks(self, ticks: TickSeries, progress: Callable[[float], None] | None
                   ) -> tuple[np.ndarray, np.ndarray]:
        sym, account, broker, clock = self.symbol, self.account, self.broker, self.clock
        interval = self.cfg.bar_seconds * NANOS_PER_SECOND
        n, every = len(ticks), max(1, len(ticks) // 50)
        closes: list[float] = []
        ends: list[int] = []
        end, o, h, lo, c, v = -1, 0.0, 0.0, 0.0, 0.0, 0.0
        seen, armed = 0, False
        rows = zip(ticks.ts_ns.tolist(), ticks.price.tolist(), ticks.size.tolist(),
                   strict=True)
        for i, (ts, px, size) in enumerate(rows):
            clock.set_ns(ts)
            broker.on_trade(TradeTick(sym, px, size, ts, ts))
            account.on_quote(QuoteTick(sym, px, px, 0.0, 0.0, ts, ts))
            if account.working:
                drive(account.sync())
            if armed:
                drive(check_fleet_exits([account], self.exits, ts))
            if ts >= end:
                if end >= 0:       # the bar before this tick is done: the strategy sees it
                    closes.append(c)
                    ends.append(end)
                    signals = self.host.bar(Bar(sym, o, h, lo, c, v, end, ts))
                    self._signals(signals)
                    for signal in signals:
                        drive(account.on_signal(signal))
                end = (ts // interval + 1) * interval
                o = h = lo = px
                v = 0.0
            h, lo, c, v = max(h, px), min(lo, px), px, v + size
            if len(account.events) != seen:
                seen = len(account.events)
                armed = any(p.armed for p in account.protections.values())
                self._snapshot(len(closes))
            if progress is not None and (i + 1) % every == 0:
                progress((i + 1) / n)
        if end >= 0:
            closes.append(c)
            ends.append(end)
            self.host.bar(Bar(sym, o, h, lo, c, v, end, end))  # signals here never act
        self.result.ticks = n
        self.result.bars = len(closes)
        return np.array(closes), np.array(ends, dtype=np.int64)

    def _show(self, bar: Bar) -> None:
        """The bar to the venue (resting orders may fill), then to the account (mark,
        new fills, protective exits)."""
        account = self.account
        self.broker.on_bar(bar)
        account.on_bar(bar)
        if account.working:
            drive(account.sync())
        if account.protections:
            drive(check_fleet_exits([account], self.exits, bar.ts_event))

    def _signals(self, signals: list[Signal]) -> None:
        self.result.signals += len(signals)
        if self.journal is not None:
            for signal in signals:
                self.journal.writer.record(signal)

    def _snapshot(self, bar_index: int) -> None:
        """The account's book after something happened on bar `bar_index`; the equity
        curve is rebuilt from these at the end instead of summing the book every bar."""
        pf = self.account.portfolio
        pos = pf.position(self.symbol)
        self._book.append((bar_index, pf.cash, pos.quantity, pos.avg_price,
                           pf.realized_pnl(), pf.fees()))

    def _finish(self, closes_ends: tuple[np.ndarray, np.ndarray]) -> None:
        closes, ends = closes_ends
        self._snapshot(len(closes) - 1 if len(closes) else 0)
        r, pf = self.result, self.account.portfolio
        events = self.account.events
        r.fills = [e for e in events if isinstance(e, OrderFilled)]
        r.trades = [e for e in events if isinstance(e, PositionClosed)]
        r.denials = [e for e in events if isinstance(e, OrderDenied)]
        r.cash, r.position, r.fees = pf.cash, pf.quantity(self.symbol), pf.fees()
        r.final_value = pf.equity()
        cols = self._columns(closes)
        r.equity = cols["equity"]
        if self.journal is not None and len(closes):
            self.journal.writer.append("equity", {
                "account_id": np.full(len(closes), ACCOUNT, dtype=object),
                "ts_ns": np.asarray(ends, dtype=np.int64), **cols})
        stuck = [o for o in self.account.orders.values() if not o.is_terminal]
        if stuck:
            raise RuntimeError(f"orders not terminal after the run: "
                               f"{[(o.client_order_id, o.status.value) for o in stuck]}")

    def _columns(self, closes: np.ndarray) -> dict[str, np.ndarray]:
        """Per bar: the book as of the end of that bar, forward-filled from snapshots."""
        book = np.array(self._book, dtype=float).reshape(-1, 6)
        at = np.searchsorted(book[:, 0], np.arange(len(closes)), side="right") - 1
        first = np.array([-1.0, self.cfg.cash, 0.0, 0.0, 0.0, 0.0])
        rows = np.where((at >= 0)[:, None], book[np.maximum(at, 0)], first)
        cash, qty, avg, realized, fees = (rows[:, k] for k in range(1, 6))
        mult = self.instrument.multiplier
        return {"equity": cash + qty * closes * mult, "cash": cash,
                "realized_pnl": realized, "unrealized_pnl": qty * (closes - avg) * mult,
                "fees": fees}


def run_backtest(data: BarSeries | TickSeries, cfg: BacktestConfig,
                 progress: Callable[[float], None] | None = None) -> BacktestResult:
    """Run one backtest; with `cfg.db` set the run is recorded (kind "backtest") and
    closed as "failed" if the backtest raises."""
    bt = Backtest(cfg, data.symbol)
    journal = _open_journal(cfg, data) if cfg.db else None
    if journal is not None:
        bt.attach(journal)
    try:
        result = bt.run(data, progress)
    except BaseException:
        if journal is not None:
            journal.close("failed")
        raise
    if journal is not None:
        result.run_id = journal.run_id
        journal.close("finished")
    return result


def _open_journal(cfg: BacktestConfig, data: BarSeries | TickSeries) -> Journal:
    return Journal.open(cfg.db, "backtest", {  # type: ignore[arg-type]
        "strategy": cfg.strategy, "params": dict(cfg.params), "symbol": data.symbol,
        "source": data.source, "cash": cfg.cash, "fill": cfg.fill.value,
        "sizing": cfg.sizing.mode.value, "lot_size": cfg.lot_size, "fee_bps": cfg.fee_bps,
        "slippage_bps": cfg.slippage_bps, "allow_short": cfg.allow_short})
