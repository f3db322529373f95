"""Walk-forward: cut the bars into N consecutive windows of (nearly) equal length; for each
window k < N-1, sweep the whole grid on window k (the fit, recorded as a sweep of its own),
take the best set by the metric, and run that one set on window k+1 (the test).

Each window starts flat with the full cash, and indicators warm up inside it (the test
window does not see the fit window's bars), so a test figure is what the set would have
done had it been switched on at the window's first bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from actors.backtest_data import BarSeries, TickSeries
from actors.sweep import Executor, Progress, Sweep
from actors.sweep_report import best
from actors.sweep_run import SweepSpec, run_batch
from actors.table import render
from data.store import Store
from engine.errors import ConfigError


def windows(data: BarSeries | TickSeries, n: int) -> list[BarSeries]:
    """`data` cut into `n` consecutive windows, oldest first."""
    if not isinstance(data, BarSeries):
        raise ConfigError("--walk-forward", "needs bars (yahoo or ohlcv data)")
    if n < 2 or n > max(2, len(data) // 2):
        raise ConfigError("--walk-forward", f"{n} windows: give 2 to {len(data) // 2} "
                                            f"for {len(data):,} bars")
    edges = np.linspace(0, len(data), n + 1).astype(int)
    cols = ("ts_ns", "open", "high", "low", "close", "volume")
    return [dataclasses.replace(data, **{c: getattr(data, c)[a:b] for c in cols})
            for a, b in zip(edges[:-1], edges[1:], strict=True)]


def walk_forward(store: Store, spec: SweepSpec, data: BarSeries | TickSeries,
                 sets: Sequence[Mapping[str, Any]], config: Mapping[str, Any],
                 executor: Executor, n: int, metric: str, *,
                 progress: Progress | None = None, batch: int | None = None
                 ) -> list[dict[str, Any]]:
    """One row per fit/test pair: the windows' spans, the fit's sweep_id, the best set's
    params and its metric on the fit window and on the test window."""
    parts = windows(data, n)
    steps = []
    for k in range(n - 1):
        fit_win, test_win = parts[k], parts[k + 1]
        fit = Sweep(store, spec, fit_win, sets, {**config, "walk_forward": [k, n]}).run(
            executor, progress=progress, batch=batch)
        top = best(fit.results, metric, 1)
        step: dict[str, Any] = {
            "window": k, "fit_sweep_id": fit.sweep_id,
            "fit_start_ns": int(fit_win.ts_ns[0]), "fit_end_ns": int(fit_win.ts_ns[-1]),
            "test_start_ns": int(test_win.ts_ns[0]), "test_end_ns": int(test_win.ts_ns[-1]),
            "set_index": None, "params": None, "fit": None, "test": None,
            "test_status": None, "test_error": None, "test_final_value": None,
            "test_closed_trades": None}
        if top:
            chosen = top[0]
            test = run_batch(spec, test_win, [(chosen["set_index"], chosen["params"])])[0]
            step.update(set_index=chosen["set_index"], params=chosen["params"],
                        fit=chosen[metric], test=test.get(metric),
                        test_status=test["status"], test_error=test["error"],
                        test_final_value=test.get("final_value"),
                        test_closed_trades=test.get("closed_trades"))
        steps.append(step)
    return steps


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M").removesuffix(
        " 00:00")


def render_steps(steps: Sequence[Mapping[str, Any]], names: Sequence[str], metric: str
                 ) -> str:
    """The walk-forward as a table: one line per fit/test pair."""
    extra = metric != "final_value"         # else the test metric is the final value
    rows = [[s["window"], f"{_day(s['fit_start_ns'])} .. {_day(s['fit_end_ns'])}",
             f"{_day(s['test_start_ns'])} .. {_day(s['test_end_ns'])}",
             *((s["params"] or {}).get(n) for n in names), s["fit"], s["test"],
             *([s["test_final_value"]] if extra else []), s["test_closed_trades"]]
            for s in steps]
    return render(["k", "fit window", "test window", *names, f"fit {metric}",
                   f"test {metric}", *(["test final_value"] if extra else []), "test trades"],
                  rows, f"walk-forward by {metric}: best set of window k, run on window k+1")
