"""Backtest benchmarks: the event-driven path and the fast path against backtrader and
vectorbt, in one run, on the same work.

Shared by `benchmarks/test_bench_backtest.py` (pytest-benchmark) and
`phalanx bench backtest --json`, which prints `run_backtest_bench()`.

The work, on the BTC one-minute file (45,031 bars):
- one backtest, SMA crossover 10/30 of the close, all cash in at the next bar's open,
  zero fees, from the file to the final value. Ours: `actors.backtest_data.load_data` +
  `actors.backtest.run_backtest` (event_bars_per_s). backtrader's:
  `benchmarks.backtrader_ref.run_backtrader` with the same rules, its own CSV feed
  (backtrader_bars_per_s). Before timing, the two runs are checked to end on the same
  value (backtrader's fractional size is cash / open exactly, ours floors onto the default
  1e-8 lot, hence a relative tolerance of 1e-6);
- a sweep of 100 (fast, slow) pairs: `benchmarks.fast.run_fast_bench` (fast path vs
  vectorbt, bar-combinations per second; see its docstring for how the two are checked
  against each other);
- the same 100 pairs as a `phalanx sweep` over a local Ray (`ray_sweep_bench`:
  sweep_wall_s, with the Ray start apart as ray_start_s).

Where the event path's time goes (`event_breakdown`, to read against the 20x target): the
best load of the file and the best run on the loaded bars, apart; the signals that traded;
the same run with every signal dropped (`quiet_run_s`: the loop, the bars and the
strategy, no orders); the strategy alone, a `Bar` and a host call per bar and nothing
else (`strategy_only_s`, the floor of any event path with this strategy API); from the
run and the quiet run the cost of one trading signal inside the run
(`signal_in_run_us`); `benchmarks.signal_path`'s cost of one trading signal when signals
come back to back (lower than inside a run), the part of it spent in the risk gate, and
the simulated venue's own cost of one market order with nothing around it
(`venue_order_us`), beside backtrader's cost of one order (same run); and the whole-run
budget the target allows (backtrader's best / 20).

Method: each figure's first call is its cold figure (imports, Numba compilation or
cache load, Ray start); the warm figure is the best of `repeats` calls, the median beside
it. The machine is shared, so the ratios of figures measured in the same run are the
figures to read, not the absolute rates.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.fast import DEFAULT_DATA, run_fast_bench, timed

FAST, SLOW = 10, 30
TARGETS = {"event_vs_backtrader": 20.0, "fast_vs_vectorbt": 5.0}


def _require_peers() -> None:
    import importlib.util

    from engine.errors import ConfigError

    missing = [m for m in ("backtrader", "vectorbt") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError("bench extra", f"{', '.join(missing)} not installed: the peers of "
                          "this benchmark; run `make bench` or `.venv/bin/python -m pip "
                          "install -e '.[bench]'`")


def event_backtest(path: str | Path) -> Any:
    from actors.backtest_data import load_data

    return event_run(load_data(path, "ohlcv", "BTC"))


def event_run(bars: Any) -> Any:
    from actors.backtest import BacktestConfig, run_backtest

    return run_backtest(bars, BacktestConfig(params={"fast": FAST, "slow": SLOW}))


def quiet_run(bars: Any) -> Any:
    """The same backtest with every signal dropped as the strategy emits it: the loop,
    the `Bar` messages and the strategy's updates, and no order (an upper bound of the
    quiet bars' share: dropping costs a call per bar)."""
    from actors.backtest import Backtest, BacktestConfig

    bt = Backtest(BacktestConfig(params={"fast": FAST, "slow": SLOW}), bars.symbol)
    strategy_bar = bt.host.bar

    def muted(bar: Any) -> list:
        strategy_bar(bar)
        return []

    bt.host.bar = muted  # type: ignore[method-assign]
    return bt.run(bars)


def strategy_only(bars: Any) -> int:
    """The floor of any event path with this strategy API: a `Bar` message per bar and
    the strategy host's call, on a simulated clock, and nothing else (no account, gate
    or venue). Returns the signals emitted (checked against the real run's)."""
    from engine.clock import SimClock
    from engine.messages import Bar
    from strategies import StrategyHost, create_strategy

    clock = SimClock(0)
    host = StrategyHost(create_strategy("sma_cross", "sma_cross",
                                        {"fast": FAST, "slow": SLOW}, clock=clock))
    host.start()
    sym, signals = bars.symbol, 0
    ends = (bars.ts_ns + bars.interval_ns).tolist()
    for o, h, lo, c, v, t_end in zip(bars.open.tolist(), bars.high.tolist(),
                                     bars.low.tolist(), bars.close.tolist(),
                                     bars.volume.tolist(), ends, strict=True):
        clock.set_ns(t_end)
        signals += len(host.bar(Bar(sym, o, h, lo, c, v, t_end, t_end)))
    return signals


def event_breakdown(path: str | Path, repeats: int, backtrader_best_s: float
                    ) -> dict[str, Any]:
    """The event path's time in parts (see the module docstring)."""
    from actors.backtest_data import load_data
    from benchmarks.signal_path import (
        backtrader_us_per_order,
        gate_us_per_signal,
        us_per_signal,
        venue_us_per_order,
    )

    _, load_s, _, bars = timed(lambda: load_data(path, "ohlcv", "BTC"), repeats)
    _, run_s, _, result = timed(lambda: event_run(bars), repeats)
    _, quiet_s, _, quiet = timed(lambda: quiet_run(bars), repeats)
    _, floor_s, _, emitted = timed(lambda: strategy_only(bars), repeats)
    if quiet.fills or emitted != result.signals:
        raise RuntimeError("the quiet run traded, or the strategy alone signalled "
                           f"{emitted} times against the run's {result.signals}")
    return {"load_s": load_s, "run_s": run_s, "signals": result.signals,
            "quiet_run_s": quiet_s, "strategy_only_s": floor_s,
            "signal_in_run_us": (run_s - quiet_s) / max(1, result.signals) * 1e6,
            "signal_path_us": us_per_signal(2000, repeats),
            "signal_gate_us": gate_us_per_signal(2000, repeats),
            "venue_order_us": venue_us_per_order(2000, repeats),
            "backtrader_order_us": backtrader_us_per_order(2000, repeats),
            "target_budget_s": backtrader_best_s / TARGETS["event_vs_backtrader"]}


def backtrader_backtest(path: str | Path) -> Any:
    from benchmarks.backtrader_ref import run_backtrader

    (outcome,) = run_backtrader(Path(path), "ohlcv", [(FAST, SLOW, None)]).values()
    return outcome


def ray_sweep_bench(path: str | Path = DEFAULT_DATA, *, repeats: int = 2) -> dict[str, Any]:
    """The 100-pair sweep as `phalanx sweep` runs it: a local Ray on every CPU (started
    first, its start time reported apart), the fast path, batches as tasks, results into a
    throwaway DuckDB file. The first sweep is the cold figure (each worker imports Numba
    and loads the kernel cache); the best of the next `repeats` the warm one. Every sweep
    is checked to end with the in-process fast path's final values."""
    import tempfile

    import numpy as np

    from actors.backtest import BacktestConfig
    from actors.backtest_data import load_data
    from actors.sweep import Sweep, choose_path
    from actors.sweep_ray import RayExecutor
    from actors.sweep_run import SweepSpec
    from benchmarks.fast import pairs
    from data.store import Store
    from strategies.fast import run_grid

    data = load_data(path, "ohlcv", "BTC")
    sets = [{"fast": f, "slow": s} for f, s in pairs()]
    cfg = BacktestConfig(strategy="sma_cross", params={})
    chosen, settings, _ = choose_path(cfg, data, sets, "fast")
    spec = SweepSpec("sma_cross", cfg, chosen, settings)
    expected = run_grid("sma_cross", data.columns(), sets, settings).final_value
    times = []
    with tempfile.TemporaryDirectory(prefix="phalanx-bench-sweep-") as tmp, \
            Store.open(Path(tmp) / "sweep.duckdb") as store, \
            RayExecutor(num_cpus=os.cpu_count()) as ray_exec:
        for k in range(1 + repeats):
            t = time.perf_counter()
            out = Sweep(store, spec, data, sets, {"round": k}).run(ray_exec)
            times.append(time.perf_counter() - t)
            got = np.array([r["final_value"] for r in out.results])
            if out.failed or out.lost or not np.array_equal(got, expected):
                raise RuntimeError(f"the benchmark sweep disagrees with run_grid: {out}")
        start_s, cpus = ray_exec.start_s, ray_exec.cpus
    combos = len(data) * len(sets)
    return {"sweep_pairs": len(sets), "sweep_cpus": cpus, "ray_start_s": start_s,
            "sweep_cold_s": times[0], "sweep_wall_s": min(times[1:]),
            "sweep_bar_combos_per_s": combos / min(times[1:])}


def run_backtest_bench(path: str | Path = DEFAULT_DATA, *, repeats: int = 3,
                       sweep: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON report of `phalanx bench backtest`. `sweep`, if given, runs the 100-pair
    sweep over Ray and returns its figures (see actors/bench_cli.py)."""
    from actors.backtest_data import load_data

    _require_peers()
    bars = len(load_data(path, "ohlcv", "BTC"))
    e_cold, e_best, e_med, ours = timed(lambda: event_backtest(path), repeats)
    b_cold, b_best, b_med, theirs = timed(lambda: backtrader_backtest(path), repeats)
    agree = abs(ours.final_value - theirs.final_value) <= 1e-6 * abs(theirs.final_value)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "bars": bars,
        "event_bars_per_s": bars / e_best,
        "event_bars_per_s_median": bars / e_med,
        "event_cold_bars_per_s": bars / e_cold,
        "backtrader_bars_per_s": bars / b_best,
        "backtrader_bars_per_s_median": bars / b_med,
        "backtrader_cold_bars_per_s": bars / b_cold,
        "event_vs_backtrader": b_best / e_best,
        "event_check": {"final_value": ours.final_value, "backtrader": theirs.final_value,
                        "fills": len(ours.fills), "backtrader_fills": len(theirs.fills),
                        "agree": agree},
        "event_breakdown": event_breakdown(path, repeats, b_best),
    }
    fast = run_fast_bench(path, repeats=repeats)
    report.update({k: v for k, v in fast.items() if k not in ("machine", "bars")})
    if sweep is not None:
        report.update(sweep())
        report["sweep_vs_vectorbt"] = (report["sweep_bar_combos_per_s"]
                                       / report["vectorbt_bar_combos_per_s"])
    report["targets"] = {
        "event_vs_backtrader": TARGETS["event_vs_backtrader"],
        "event_met": report["event_vs_backtrader"] >= TARGETS["event_vs_backtrader"],
        "fast_vs_vectorbt": TARGETS["fast_vs_vectorbt"],
        "fast_met": report["fast_vs_vectorbt"] >= TARGETS["fast_vs_vectorbt"],
        "sweep_met": report.get("sweep_vs_vectorbt", 0.0) >= TARGETS["fast_vs_vectorbt"]}
    return report
