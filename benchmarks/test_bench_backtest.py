"""Backtests against backtrader and vectorbt, each peer timed in the same test.

pytest-benchmark times ours: one event-driven backtest of the BTC minute file (SMA
crossover 10/30, from the file to the final value), and the fast path over 100 (fast,
slow) pairs. backtrader and vectorbt do the same work in the same test through the shared
code in `benchmarks.backtest` and `benchmarks.fast`; every figure and ratio goes into
`benchmark.extra_info`. Nothing asserts a time: the targets are reported in
`extra_info["meets_target"]`.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.backtest import TARGETS, backtrader_backtest, event_backtest
from benchmarks.fast import DEFAULT_DATA, fast_sweep, load_bars, pairs, vectorbt_sweep
from benchmarks.timing import timings

ROUNDS = 3


def _best(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def test_event_backtest_against_backtrader(benchmark):
    if not DEFAULT_DATA.is_file():
        pytest.fail(f"{DEFAULT_DATA} is missing (../shared/data beside the repository)")
    ours = event_backtest(DEFAULT_DATA)                 # warm up, and the parity check
    theirs = backtrader_backtest(DEFAULT_DATA)
    assert ours.final_value == pytest.approx(theirs.final_value, rel=1e-6)
    benchmark.group = "backtest: one run"
    benchmark.pedantic(event_backtest, args=(DEFAULT_DATA,), rounds=ROUNDS, iterations=1)
    bars = ours.bars
    ours_s = timings(benchmark).min
    theirs_s = _best(lambda: backtrader_backtest(DEFAULT_DATA))
    ratio = theirs_s / ours_s
    benchmark.extra_info.update(
        bars=bars, event_bars_per_s=bars / ours_s, backtrader_bars_per_s=bars / theirs_s,
        event_vs_backtrader=ratio, meets_target=ratio >= TARGETS["event_vs_backtrader"])


def test_fast_path_sweep_against_vectorbt(benchmark):
    bars, grid = load_bars(), pairs()
    fast_sweep(bars, grid)                              # compile / load the Numba cache
    vectorbt_sweep(bars, grid)
    benchmark.group = "backtest: 100-pair sweep"
    benchmark.pedantic(fast_sweep, args=(bars, grid), rounds=ROUNDS, iterations=1)
    combos = len(bars["close"]) * len(grid)
    ours_s = timings(benchmark).min
    theirs_s = _best(lambda: vectorbt_sweep(bars, grid))
    ratio = theirs_s / ours_s
    benchmark.extra_info.update(
        pairs=len(grid), fast_bar_combos_per_s=combos / ours_s,
        vectorbt_bar_combos_per_s=combos / theirs_s, fast_vs_vectorbt=ratio,
        meets_target=ratio >= TARGETS["fast_vs_vectorbt"])
