"""Fast-path sweep benchmark: `strategies.fast.run_grid` against vectorbt, in one run.

Called by `phalanx bench backtest` (fields `fast_bar_combos_per_s` and
`vectorbt_bar_combos_per_s`); `python -m benchmarks.fast` prints `run_fast_bench()` as JSON.

The work: SMA crossover over `pairs()` (100 (fast, slow) pairs) on the BTC one-minute file
(45,031 bars); a bar-combination is one bar of one pair. The fast path is timed end to end
as a sweep calls it (validating the param sets, signals, portfolio simulation). vectorbt,
the peer, does the same work its own way: `MA.run` for both windows, `ma_crossed_above` /
`ma_crossed_below`, `Portfolio.from_signals` all-in and `final_value()`.

vectorbt's `from_signals` fills at the close of the signal bar by default, so the fast path
runs with `fill="close"` here (the speed is the same as with next_open). Before timing, the
two are checked against each other: on every pair whose vectorbt entries/exits equal the
fast path's exact LONG/FLAT codes bar for bar (vectorbt compares float averages, so a pair
with an exact tie of the two averages can differ and is counted, not compared), the final
values must agree to `CHECK_REL_TOL` (vectorbt buys cash/price exactly; the fast path floors
onto the 1e-8 lot, which moves a final value by about 1e-9 relative).

Method: both are run once first (Numba compilation, or loading the on-disk cache of the
`cache=True` kernels; `fast_cold_is` says which): that first call is the cold figure. Then
the best of `repeats` timed calls is the warm figure (the median is reported too).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np

from data.importers import read_ohlcv
from strategies.fast import FastSettings, run_grid, signals

BTC_FILE = "btc-perp-20211231-20220201_1m.csv"
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / BTC_FILE
CHECK_REL_TOL = 1e-6
SETTINGS = FastSettings(cash=100_000.0, fill="close", sizing="all-in")


def pairs() -> list[tuple[int, int]]:
    """100 (fast, slow) pairs: fast 5..50 by 5, slow 60..240 by 20."""
    return [(f, s) for f in range(5, 55, 5) for s in range(60, 260, 20)]


def load_bars(path: str | Path = DEFAULT_DATA) -> dict[str, np.ndarray]:
    return read_ohlcv(path, "BTC").columns


def fast_sweep(bars: dict[str, np.ndarray], grid: Sequence[tuple[int, int]]) -> np.ndarray:
    """Final values of the fast path over `grid`."""
    sets = [{"fast": f, "slow": s} for f, s in grid]
    return run_grid("sma_cross", bars, sets, SETTINGS).final_value


def vectorbt_sweep(bars: dict[str, np.ndarray], grid: Sequence[tuple[int, int]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entries, exits, final values) of vectorbt's SMA crossover over `grid`."""
    import pandas as pd
    import vectorbt as vbt

    close = pd.Series(bars["close"])
    fast_ma = vbt.MA.run(close, [f for f, _ in grid], short_name="fast")
    slow_ma = vbt.MA.run(close, [s for _, s in grid], short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma)
    exits = fast_ma.ma_crossed_below(slow_ma)
    pf = vbt.Portfolio.from_signals(close, entries, exits, init_cash=SETTINGS.cash, fees=0.0)
    return entries.values, exits.values, pf.final_value().values


def check_against_vectorbt(bars: dict[str, np.ndarray], grid: Sequence[tuple[int, int]]
                           ) -> dict[str, Any]:
    """Compare final values on the pairs where both emit the same signals."""
    entries, exits, vbt_final = vectorbt_sweep(bars, grid)
    ours = fast_sweep(bars, grid)
    same = []
    for i, (f, s) in enumerate(grid):
        codes = signals("sma_cross", bars, {"fast": f, "slow": s})
        if (entries[:, i] == (codes == 1)).all() and (exits[:, i] == (codes == 2)).all():
            same.append(i)
    rel = np.abs(vbt_final[same] / ours[same] - 1.0) if same else np.zeros(0)
    worst = float(rel.max()) if len(rel) else 0.0
    return {"pairs_compared": len(same), "pairs_with_float_tie_signals": len(grid) - len(same),
            "max_rel_diff_final_value": worst, "ok": bool(same) and worst <= CHECK_REL_TOL}


def _dispatchers() -> list[Any]:
    """The Numba functions of the fast path that have a compile/cache record."""
    from strategies import fast, kernels

    return [fn for mod in (fast, kernels) for fn in vars(mod).values()
            if hasattr(fn, "stats") and hasattr(fn.stats, "cache_hits")]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, float, Any]:
    """(cold seconds, best warm seconds, median warm seconds, the last call's result): the
    first call is the cold one, then `repeats` timed calls."""
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return cold, min(samples), statistics.median(samples), out


def run_fast_bench(path: str | Path = DEFAULT_DATA, *,
                   grid: Sequence[tuple[int, int]] | None = None, repeats: int = 5,
                   peer: bool = True) -> dict[str, Any]:
    """Bar-combinations per second of the fast path (and of vectorbt when `peer`)."""
    bars = load_bars(path)
    grid = list(grid or pairs())
    combos = len(bars["close"]) * len(grid)
    cold, best, median, _ = timed(lambda: fast_sweep(bars, grid), repeats)
    from_cache = sum(sum(fn.stats.cache_hits.values()) for fn in _dispatchers()) > 0
    out: dict[str, Any] = {
        "data": Path(path).name, "bars": len(bars["close"]), "pairs": len(grid),
        "fill": SETTINGS.fill, "threads": numba.get_num_threads(),
        "fast_bar_combos_per_s": combos / best,
        "fast_bar_combos_per_s_median": combos / median,
        "fast_bar_combos_per_s_cold": combos / cold,
        "fast_sweep_s": best, "fast_sweep_cold_s": cold,
        "fast_cold_is": "numba cache load" if from_cache else "numba compilation",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python "
                   f"{platform.python_version()}, numba {numba.__version__}",
    }
    if peer:
        v_cold, v_best, v_median, _ = timed(lambda: vectorbt_sweep(bars, grid), repeats)
        out["vectorbt_check"] = check_against_vectorbt(bars, grid)
        out.update({
            "vectorbt_bar_combos_per_s": combos / v_best,
            "vectorbt_bar_combos_per_s_median": combos / v_median,
            "vectorbt_bar_combos_per_s_cold": combos / v_cold,
            "vectorbt_sweep_s": v_best,
            "fast_vs_vectorbt": v_best / best,
        })
    return out


def main() -> None:
    print(json.dumps(run_fast_bench(), indent=2))


if __name__ == "__main__":
    main()
