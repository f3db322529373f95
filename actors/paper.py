"""A paper-trading session in one process: several accounts on the simulated broker,
one strategy, synthetic quotes. The Ray runtime hosts the same `Account` and strategy
classes in actors; this module drives them directly.

Flow per quote: the venue sees it first (resting orders may fill), then every account
marks its positions and checks its protective exits. Quotes are rolled into bars of
`bar_seconds`; each finished bar goes to the strategy, and every signal it emits is
sent to all accounts at once (`asyncio.gather`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.journal import Journal, both
from data.synthetic import SyntheticConfig, iter_quote_ticks
from engine.account import Account, AccountConfig, check_fleet_exits
from engine.broker import Credentials
from engine.clock import NANOS_PER_SECOND, SimClock
from engine.enums import OrderStatus
from engine.errors import ConfigError
from engine.exits import ExitConfig
from engine.instruments import FeeSchedule, Instrument
from engine.messages import Bar, OrderDenied, PositionClosed, QuoteTick, StrategyFailed
from engine.sim import FaultConfig, SimAccount, SimBroker
from engine.sizing import SizingConfig, SizingMode
from risk.config import AccountLimits, FleetLimits, RiskConfig
from risk.gate import RiskGate
from strategies import StrategyHost, create_strategy

# The paper session's risk limits when no --risk file is given: generous enough to let
# the demo trade, tight enough that a user sees a denial when sizing runs away.
DEFAULT_RISK = RiskConfig(
    fleet=FleetLimits(max_gross_exposure=5_000_000.0, drawdown_halt=0.2),
    account_defaults=AccountLimits(max_order_notional=150_000.0, max_open_positions=10,
                                   daily_loss_reduce=0.03, daily_loss_halt=0.05,
                                   max_orders_per_second=50.0))

# Three accounts sized three ways, so one signal visibly moves a formation.
DEFAULT_SIZINGS = (
    SizingConfig(SizingMode.PERCENT_EQUITY, percent=20.0),
    SizingConfig(SizingMode.FIXED_NOTIONAL, notional=15_000.0),
    SizingConfig(SizingMode.ALL_CASH),
)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    accounts: int = 3
    symbols: tuple[str, ...] = ("SIM-A", "SIM-B")
    minutes: int = 390                    # one US equity session
    bar_seconds: int = 60
    quote_interval_s: float = 2.0
    seed: int = 7
    cash: float = 100_000.0
    strategy: str = "sma_cross"
    params: dict[str, str] = field(default_factory=lambda: {"fast": "5", "slow": "20"})
    exits: ExitConfig = field(default_factory=lambda: ExitConfig(stop_loss_pct=1.0,
                                                                 trailing_pct=1.5))
    fault_rate: float = 0.0               # per broker call, spread over fault kinds
    risk: RiskConfig = DEFAULT_RISK
    db: str | None = "phalanx.duckdb"     # the run's journal; None records nothing

    def __post_init__(self) -> None:
        for key in ("accounts", "minutes", "bar_seconds"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(key, f"{value!r} must be an integer >= 1")
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ConfigError("symbols", f"{self.symbols!r} must be distinct and non-empty")
        if not (math.isfinite(self.cash) and self.cash > 0):
            raise ConfigError("cash", f"{self.cash!r} must be a number > 0")
        if not 0 <= self.fault_rate <= 0.5:
            raise ConfigError("fault_rate", f"{self.fault_rate!r} must be within [0, 0.5]")


@dataclass(slots=True)
class PaperResult:
    accounts: list[Account]
    broker: SimBroker
    gate: RiskGate
    quotes: int = 0
    bars: int = 0
    signals: int = 0
    failures: list[StrategyFailed] = field(default_factory=list)
    run_id: str = ""


class _BarBuilder:
    """Rolls one symbol's quote mids into time bars."""

    def __init__(self, symbol: str, interval_ns: int) -> None:
        self.symbol, self.interval = symbol, interval_ns
        self.end = 0
        self.o = self.h = self.l = self.c = math.nan
        self.n = 0

    def add(self, ts: int, price: float) -> Bar | None:
        done = None
        if self.n and ts >= self.end:
            done = Bar(self.symbol, self.o, self.h, self.l, self.c, float(self.n),
                       self.end, ts)
            self.n = 0
        if self.n == 0:
            self.end = (ts // self.interval + 1) * self.interval
            self.o = self.h = self.l = price
        self.h, self.l, self.c = max(self.h, price), min(self.l, price), price
        self.n += 1
        return done


def instruments_for(symbols: tuple[str, ...]) -> list[Instrument]:
    fees = FeeSchedule(taker_bps=1.0, maker_bps=0.0)
    return [Instrument(s, price_tick=0.01, qty_step=1.0, min_qty=1.0, fees=fees)
            for s in symbols]


async def run_paper(cfg: PaperConfig,
                    progress: Callable[[float], None] | None = None) -> PaperResult:
    """Run one session; with `cfg.db` set, every event lands in that DuckDB file as a run
    (kind "paper"), and the run is closed as "failed" if the session raises."""
    session = PaperSession(cfg)
    journal = _open_journal(cfg) if cfg.db else None
    if journal is not None:
        session.attach(journal)
    try:
        await session.run(progress)
    except BaseException:
        if journal is not None:
            journal.close("failed")
        raise
    if journal is not None:
        session.result.run_id = journal.run_id
        journal.close("finished")
    return session.result


class PaperSession:
    """The accounts, the broker, the gate and the strategy of one session, driven quote by
    quote on a simulated clock."""

    def __init__(self, cfg: PaperConfig) -> None:
        from risk.exits import KernelExitPolicy  # Numba: imported when a session starts

        self.cfg = cfg
        self.synth = SyntheticConfig(seed=cfg.seed, quote_interval_s=cfg.quote_interval_s)
        self.clock = SimClock(self.synth.start_ns)
        self.instruments = instruments_for(cfg.symbols)
        ids = [f"acct-{i + 1}" for i in range(cfg.accounts)]
        r = cfg.fault_rate
        faults = FaultConfig(seed=cfg.seed, timeout_rate=r / 2, error_rate=r / 4,
                             expire_rate=r / 4, retry_after_s=0.0) if r else None
        self.broker = SimBroker(
            self.instruments,
            {a: SimAccount(cfg.cash, api_key=f"key-{a}", secret=f"secret-{a}") for a in ids},
            clock=self.clock, faults=faults)
        self.gate = RiskGate(cfg.risk, clock=self.clock)
        self.exits = KernelExitPolicy()
        self.accounts = [
            Account(AccountConfig(a, sizing=DEFAULT_SIZINGS[i % len(DEFAULT_SIZINGS)],
                                  exits=cfg.exits),
                    self.broker, Credentials(a, f"key-{a}", f"secret-{a}"), self.instruments,
                    self.clock, exit_policy=self.exits, pre_trade=self.gate.pre_trade)
            for i, a in enumerate(ids)]
        self.result = PaperResult(self.accounts, self.broker, self.gate)
        self.host = StrategyHost(create_strategy(cfg.strategy, cfg.strategy,
                                                 dict(cfg.params), clock=self.clock),
                                 on_failure=self.result.failures.append)
        interval = cfg.bar_seconds * NANOS_PER_SECOND
        self.builders = {s: _BarBuilder(s, interval) for s in cfg.symbols}
        self.journal: Journal | None = None

    def attach(self, journal: Journal) -> None:
        """Send every account, gate and strategy event to the journal."""
        self.journal = journal
        for account in self.accounts:
            account.set_sink(journal.writer.record)
        self.gate.set_sink(journal.writer.record)
        self.host.on_failure = both(self.result.failures.append, journal.writer.record)

    async def run(self, progress: Callable[[float], None] | None = None) -> None:
        await asyncio.gather(*(a.start() for a in self.accounts))
        self.host.start()
        per_symbol = int(self.cfg.minutes * 60 / self.cfg.quote_interval_s)
        total = per_symbol * len(self.cfg.symbols)
        every = max(1, total // 20)
        for n, quote in enumerate(iter_quote_ticks(self.instruments, per_symbol,
                                                   self.synth), 1):
            await self.on_quote(quote)
            if n % every == 0:
                if progress is not None:
                    progress(n / total)
                if self.journal is not None:
                    self.journal.writer.maybe_flush()
        self.host.stop()
        self.broker.set_faults(None)
        for account in self.accounts:
            await account.maintain()
        self.result.quotes = total
        if self.journal is not None:
            self.journal.equity(self.accounts, self.clock.now_ns())

    async def on_quote(self, quote: QuoteTick) -> None:
        self.clock.set_ns(quote.ts_event)
        self.broker.on_quote(quote)
        for account in self.accounts:
            account.on_quote(quote)
            if account.working or account.unconfirmed:
                await account.sync()
        await check_fleet_exits(self.accounts, self.exits, self.clock.now_ns())
        bar = self.builders[quote.symbol].add(quote.ts_event, (quote.bid + quote.ask) / 2)
        if bar is not None:
            await self.on_bar(bar)

    async def on_bar(self, bar: Bar) -> None:
        self.result.bars += 1
        for signal in self.host.bar(bar):
            self.result.signals += 1
            started = time.perf_counter_ns()
            await asyncio.gather(*(a.on_signal(signal) for a in self.accounts))
            if self.journal is not None:
                self.journal.writer.record(signal)
                self.journal.latency("signal_fanout", bar.ts_event,
                                     time.perf_counter_ns() - started)
        if self.journal is not None:
            self.journal.equity(self.accounts, bar.ts_event)


def _open_journal(cfg: PaperConfig) -> Journal:
    journal = Journal.open(cfg.db, "paper", {
        "strategy": cfg.strategy, "params": dict(cfg.params), "seed": cfg.seed,
        "accounts": cfg.accounts, "symbols": list(cfg.symbols), "minutes": cfg.minutes,
        "bar_seconds": cfg.bar_seconds, "fault_rate": cfg.fault_rate})
    # the synthetic symbols are this venue's own: their definitions go with the run
    journal.store.write_instruments(instruments_for(cfg.symbols), venue="sim")
    return journal


def summarize(result: PaperResult) -> dict:
    """Per account figures and open positions, as plain data (JSON-ready)."""
    rows, positions = [], []
    for a in result.accounts:
        pf = a.portfolio
        closed = [e for e in a.events if isinstance(e, PositionClosed)]
        wins = sum(1 for e in closed if e.realized_pnl - e.fees > 0)
        statuses = [o.status for o in a.orders.values()]
        rows.append({
            "account": a.account_id,
            "sizing": a.config.sizing.mode.value,
            "equity": pf.equity(),
            "cash": pf.cash,
            "realized": pf.realized_pnl(),
            "unrealized": pf.unrealized_pnl(),
            "fees": pf.fees(),
            "return_pct": (pf.equity() / pf.initial_cash - 1) * 100,
            "orders": len(statuses),
            "filled": statuses.count(OrderStatus.FILLED),
            "denied": sum(1 for e in a.events if isinstance(e, OrderDenied)),
            "trades": len(closed),
            "risk_state": result.gate.state(a.account_id).value,
            "win_rate_pct": 100.0 * wins / len(closed) if closed else 0.0,
        })
        for p in pf.open_positions():
            mark = pf.marks.get(p.symbol, p.avg_price)
            positions.append({"account": a.account_id, "symbol": p.symbol,
                              "quantity": p.quantity, "avg_price": p.avg_price,
                              "mark": mark, "unrealized": p.unrealized_pnl(mark)})
    denials = {reason.value: n for reason, n in sorted(result.gate.denials.items())}
    return {"run_id": result.run_id, "quotes": result.quotes, "bars": result.bars,
            "signals": result.signals,
            "risk_denials": denials,
            "risk_events": [f"{e.account_id} {e.state.value} ({e.cause.value})"
                            for e in result.gate.events],
            "strategy_failures": [f.error for f in result.failures],
            "accounts": rows, "positions": positions}
