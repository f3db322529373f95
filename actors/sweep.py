"""Parameter sweeps: one strategy, every set of a grid, batches run anywhere, every result
in DuckDB as its batch finishes.

    sets = expand(parse_grid(["fast=2:20:2", "slow=30:120:10"]))
    spec = SweepSpec("sma_cross", BacktestConfig(), *choose_path(...)[:2])
    with Store.open("phalanx.duckdb") as store:
        outcome = Sweep(store, spec, data, sets, config).run(executor)

The executor maps batches to result rows: `InProcess` here (tests, --no-ray), or
`actors.sweep_ray.RayExecutor` (a local Ray or a cluster). The driver is the only writer
of the store: each finished batch is one transaction, so an interrupted sweep loses at
most the batches that were running, and `--resume` runs only the sets not yet recorded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.backtest import BACKTEST_RISK, BacktestConfig, FillAt
from actors.backtest_data import BarSeries, TickSeries
from actors.sweep_grid import batch_size, batches
from actors.sweep_run import SweepSpec, failed, run_batch
from data import store_sweeps as db
from data.store import Store
from engine.errors import ConfigError, InvalidInput
from engine.exits import ExitConfig
from engine.sizing import SizingMode

Sets = Sequence[Mapping[str, Any]]
Progress = Callable[[int, int], None]       # (sets ok, sets failed) just finished


class Executor(Protocol):
    cpus: int

    def map(self, spec: SweepSpec, data: BarSeries | TickSeries,
            work: list[list[tuple[int, Mapping[str, Any]]]]
            ) -> Iterator[tuple[list[tuple[int, Mapping[str, Any]]], list[dict] | BaseException]]:
        """Yield (batch, its rows) as batches finish, or (batch, error) if a task died."""
        ...


class InProcess:
    """Runs the batches one after the other in this process (tests, --no-ray)."""

    cpus = 1

    def map(self, spec, data, work):  # type: ignore[no-untyped-def]
        for batch in work:
            yield batch, run_batch(spec, data, batch)


def choose_path(cfg: BacktestConfig, data: BarSeries | TickSeries, sets: Sets,
                want: str = "auto") -> tuple[str, Any, str]:
    """("fast" | "event", FastSettings or None, why). The fast path takes only settings it
    reproduces exactly; `want="fast"` makes a refusal an error instead of a fallback."""
    reason = _fast_refusal(cfg, data, sets) if want != "event" else "--path event"
    if reason is None:
        from strategies.fast import FastSettings
        mode = cfg.sizing.mode
        settings = FastSettings(
            cash=cfg.cash, fill=cfg.fill.value,
            sizing="fixed" if mode is SizingMode.FIXED_QUANTITY else "all-in",
            quantity=cfg.sizing.quantity if mode is SizingMode.FIXED_QUANTITY else 0.0,
            qty_step=cfg.lot_size, fee_bps=cfg.fee_bps)
        return "fast", settings, "the strategy has a Numba kernel and the settings fit it"
    if want == "fast":
        raise ConfigError("--path", f"fast does not apply: {reason}")
    return "event", None, reason


def _fast_refusal(cfg: BacktestConfig, data: BarSeries | TickSeries, sets: Sets) -> str | None:
    try:
        from strategies.fast import supports
    except ImportError:
        return "strategies.fast is not available"
    checks = [
        (not supports(cfg.strategy), f"{cfg.strategy} has no fast path"),
        (isinstance(data, TickSeries), "ticks run on the event path"),
        (cfg.fill not in (FillAt.NEXT_OPEN, FillAt.CLOSE), f"fill {cfg.fill.value}"),
        (cfg.sizing.mode not in (SizingMode.ALL_CASH, SizingMode.FIXED_QUANTITY),
         f"sizing {cfg.sizing.mode.value}"),
        (cfg.slippage_bps != 0.0, "slippage"),
        (cfg.exits != ExitConfig(), "protective exits"),
        (cfg.risk != BACKTEST_RISK, "risk limits"),
        (cfg.allow_short or any("allow_short" in s for s in sets), "short selling"),
    ]
    return next((why for refused, why in checks if refused), None)


def new_sweep_id() -> str:
    return f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class Outcome:
    sweep_id: str
    path: str
    sets: int
    ran: int = 0                  # sets run by this call (a resume skips the others)
    skipped: int = 0
    failed: int = 0
    lost: int = 0                 # sets of tasks that died; a resume runs them again
    batches: int = 0
    batch_size: int = 0
    elapsed_s: float = 0.0
    status: str = "running"
    results: list[dict[str, Any]] = field(default_factory=list)


class Sweep:
    """One sweep against one store: records it, runs what is not done, writes results."""

    def __init__(self, store: Store, spec: SweepSpec, data: BarSeries | TickSeries,
                 sets: Sets, config: Mapping[str, Any]) -> None:
        self.store, self.spec, self.data = store, spec, data
        self.sets = [dict(s) for s in sets]
        self.config = {**config, "path": spec.path, "sets": len(self.sets)}

    def start(self, sweep_id: str | None = None) -> tuple[str, set[int]]:
        """A new sweep (sweep_id None), or the recorded one to resume: its ID and the set
        indices already done. A resume must have the same configuration."""
        if sweep_id is None:
            sweep_id = new_sweep_id()
            db.begin_sweep(self.store, sweep_id, self.config, sets=len(self.sets),
                           path=self.spec.path)
            return sweep_id, set()
        self.check_resume(sweep_id)
        db.resume_sweep(self.store, sweep_id)
        return sweep_id, db.finished_sets(self.store, sweep_id)

    def check_resume(self, sweep_id: str) -> None:
        """Raise unless `sweep_id` is recorded with this sweep's configuration."""
        record = db.sweep_record(self.store, sweep_id)
        if record is None:
            raise InvalidInput("--resume", sweep_id, f"no such sweep in {self.store.path}")
        stored = record["config"]
        for key in sorted(set(stored) | set(self.config)):
            if _canon(stored.get(key)) != _canon(self.config.get(key)):
                raise ConfigError("--resume", f"{sweep_id} was run with {key}="
                                              f"{stored.get(key)!r}, not {self.config.get(key)!r}")

    def run(self, executor: Executor, *, resume: str | None = None,
            started: tuple[str, set[int]] | None = None, progress: Progress | None = None,
            batch: int | None = None) -> Outcome:
        """Run the sets not yet done (`started` is what `start` returned, else it is called
        with `resume`); each finished batch is written at once. Ends with every recorded
        result of the sweep, in grid order."""
        t0 = time.perf_counter()
        sweep_id, done = started or self.start(resume)
        todo = [i for i in range(len(self.sets)) if i not in done]
        size = batch or batch_size(len(todo) or 1, executor.cpus, self.spec.path)
        work = [[(i, self.sets[i]) for i in part] for part in batches(todo, size)]
        out = Outcome(sweep_id, self.spec.path, len(self.sets), skipped=len(done),
                      batches=len(work), batch_size=size)
        try:
            for part, rows in executor.map(self.spec, self.data, work):
                if isinstance(rows, BaseException):
                    why = f"task died: {_last_line(rows)}"
                    rows = [failed(i, p, why, status="lost") for i, p in part]
                db.write_results(self.store, sweep_id, rows)
                bad = sum(r["status"] != "ok" for r in rows)
                out.ran += len(rows)
                out.failed += sum(r["status"] == "failed" for r in rows)
                out.lost += sum(r["status"] == "lost" for r in rows)
                if progress is not None:
                    progress(len(rows) - bad, bad)
            out.status = "incomplete" if out.lost else "finished"
        except BaseException:
            out.status = "interrupted"
            raise
        finally:
            db.end_sweep(self.store, sweep_id, out.status)
            out.elapsed_s = time.perf_counter() - t0
        out.results = db.read_results(self.store, sweep_id)
        return out


def _canon(value: Any) -> Any:
    """JSON's view of a value (tuples are lists, keys are strings) for comparing configs."""
    import orjson
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SORT_KEYS
                                     | orjson.OPT_NON_STR_KEYS))


def _last_line(exc: BaseException) -> str:
    """The gist of a (possibly multi-line, traceback-carrying) task error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
