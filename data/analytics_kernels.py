"""Numba kernels of `data.analytics`, for what SQL does slowly: walking curves and
intervals in order. `data.analytics` re-exports `curve_stats_nb` and `CurveStatus`.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit

__all__ = ["CurveStatus", "clipped_unions_nb", "curve_stats_nb", "grid_sums_nb",
           "summed_asof_nb"]


class CurveStatus(IntEnum):
    """Per-curve status of `curve_stats_nb`."""

    OK = 0
    EMPTY = 1              # no samples
    ONE_SAMPLE = 2         # no returns: moments NaN, drawdown 0
    NOT_POSITIVE = 3       # a sample <= 0 or NaN: everything NaN, duration -1


_EMPTY = int(CurveStatus.EMPTY)
_ONE_SAMPLE = int(CurveStatus.ONE_SAMPLE)
_NOT_POSITIVE = int(CurveStatus.NOT_POSITIVE)
_WALK = 8                  # grid_sums_nb: steps walked before a binary search


# --- curves ----------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def curve_stats_nb(offsets: np.ndarray, ts_ns: np.ndarray, equity: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                              np.ndarray]:
    """Return moments and drawdowns of many equity curves stored end to end.

    Curve k is rows offsets[k]:offsets[k+1] of `ts_ns` (int64, ascending within a curve)
    and `equity` (float64). Returns per curve: the mean, the sample standard deviation
    (ddof 1; NaN below two returns) and the downside deviation sqrt(mean(min(r, 0)^2)) of
    the simple returns r_i = e_i / e_{i-1} - 1; the maximum drawdown 1 - e_i / peak_i;
    the longest peak-to-recovery time in ns (to the last sample when not recovered); and
    a `CurveStatus` code. Never raises.

    Reference: `reference_curve_stats` in tests/unit/data/test_analytics.py.
    """
    n_curves = len(offsets) - 1
    mean_r = np.full(n_curves, np.nan)
    std_r = np.full(n_curves, np.nan)
    down_r = np.full(n_curves, np.nan)
    max_dd = np.full(n_curves, np.nan)
    dd_ns = np.full(n_curves, -1, dtype=np.int64)
    status = np.zeros(n_curves, dtype=np.int8)
    for k in range(n_curves):
        lo, hi = offsets[k], offsets[k + 1]
        if hi <= lo:
            status[k] = _EMPTY
            continue
        positive = True
        for i in range(lo, hi):
            if not (equity[i] > 0.0 and equity[i] < np.inf):
                positive = False
                break
        if not positive:
            status[k] = _NOT_POSITIVE
            continue
        peak, peak_ts, under, deepest, longest = equity[lo], ts_ns[lo], False, 0.0, 0
        for i in range(lo + 1, hi):
            if equity[i] >= peak:
                if under:
                    longest = max(longest, ts_ns[i] - peak_ts)
                    under = False
                peak, peak_ts = equity[i], ts_ns[i]
            else:
                under = True
                deepest = max(deepest, 1.0 - equity[i] / peak)
        if under:
            longest = max(longest, ts_ns[hi - 1] - peak_ts)
        max_dd[k], dd_ns[k] = deepest, longest
        m = hi - lo - 1
        if m < 1:
            status[k] = _ONE_SAMPLE
            continue
        total = 0.0
        for i in range(lo + 1, hi):
            total += equity[i] / equity[i - 1] - 1.0
        mean = total / m
        squares, downs = 0.0, 0.0
        for i in range(lo + 1, hi):
            r = equity[i] / equity[i - 1] - 1.0
            squares += (r - mean) * (r - mean)
            if r < 0.0:
                downs += r * r
        mean_r[k] = mean
        down_r[k] = math.sqrt(downs / m)
        if m >= 2:
            std_r[k] = math.sqrt(squares / (m - 1))
    return mean_r, std_r, down_r, max_dd, dd_ns, status


@njit(cache=True, nogil=True)
def summed_asof_nb(offsets: np.ndarray, ts_ns: np.ndarray, values: np.ndarray,
                   grid_ns: np.ndarray) -> np.ndarray:
    """Per time of `grid_ns` (int64, ascending), the sum over many series of each one's
    latest value at or before that time, or its first value while it has none yet.

    Series k is rows offsets[k]:offsets[k+1] of `ts_ns` (int64, ascending within a
    series, one value per time) and `values` (float64); an empty series adds nothing.
    Each cell is summed in series order. Returns float64 (len(grid_ns),). Never raises.
    It is the run's equity curve from its accounts' (an ASOF join summed per time).

    Reference: `reference_summed_asof` in tests/unit/data/test_analytics_kernels.py.
    """
    n_series = len(offsets) - 1
    at = offsets[:-1].copy()            # per series: its latest row at or before the time
    out = np.zeros(len(grid_ns), dtype=np.float64)
    for j in range(len(grid_ns)):
        t = grid_ns[j]
        total = 0.0
        for k in range(n_series):
            i, hi = at[k], offsets[k + 1]
            if i >= hi:
                continue
            while i + 1 < hi and ts_ns[i + 1] <= t:
                i += 1
            at[k] = i
            total += values[i]
        out[j] = total
    return out


@njit(cache=True, nogil=True)
def grid_sums_nb(codes: tuple, at_ns: np.ndarray, value: np.ndarray, grid_ns: np.ndarray,
                 first: np.ndarray) -> np.ndarray:
    """Per grouping, key and grid time, the sum of the values of that key's rows placed at
    that time. Row i is placed once, at the first time of `grid_ns` (int64, ascending) at
    or after `at_ns[i]` (rows after the last grid time are left out), and its value added
    to its key's cell in every grouping.

    `codes` has one array per grouping (one dtype for all), the key of each row; grouping
    g's key k is row first[g] + k of the result (`first`: int64, ascending, one more
    entry than `codes`, the last the number of rows). Returns float64 (first[-1],
    len(grid_ns)), each cell summed in row order. A journal's times come nearly in
    order, so each row's grid time is first looked for a few steps from the previous
    row's, and the grid searched only when it is further. Never raises for codes in range.

    Reference: `reference_grid_steps` per grouping, in
    tests/unit/data/test_analytics_kernels.py.
    """
    n_grid = len(grid_ns)
    out = np.zeros((first[-1], n_grid), dtype=np.float64)
    j = 0
    for i in range(len(at_ns)):
        at = at_ns[i]
        steps = 0
        while j < n_grid and grid_ns[j] < at and steps < _WALK:
            j += 1
            steps += 1
        while j > 0 and grid_ns[j - 1] >= at and steps < _WALK:
            j -= 1
            steps += 1
        if not ((j == n_grid or grid_ns[j] >= at) and (j == 0 or grid_ns[j - 1] < at)):
            j = np.searchsorted(grid_ns, at, side="left")
        if j < n_grid:
            for g in range(len(codes)):
                out[first[g] + codes[g][i], j] += value[i]
    return out


# --- intervals -------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def clipped_unions_nb(codes: tuple, entry: np.ndarray, exit_: np.ndarray,
                      run_lo: np.ndarray, run_hi: np.ndarray, merged: bool, start: int,
                      end: int, caps: tuple) -> np.ndarray:
    """Lengths of unions of intervals, for several groupings of the same intervals in one
    pass: for grouping g, per key k, the length of the union of [max(entry_i, start),
    min(exit_i, end, caps[g][k])) over the intervals i with codes[g][i] == k. Intervals
    are clipped as they are read (no clipped copies are made).

    `codes` and `caps` are tuples with one array per grouping: the key of each interval
    (0 <= code < len(caps[g]); one dtype for all) and, per key, where its intervals end
    at the latest (the int64 maximum: nowhere). The intervals must be visited by
    ascending entry (ties in any order): they are the runs of rows run_lo[r]:run_hi[r],
    each by ascending entry and `merged` by entry (a few runs: each step looks at every
    run's next row), or else taken in turn (any order is runs of one row). Clipping
    every entry to the same `start` keeps that order. Returns int64 (len(codes), the
    most keys of a grouping), row g holding grouping g's lengths. Never raises for
    codes in range.

    Each interval adds the part of it beyond the furthest end seen before it on its key;
    empty intervals add nothing.

    Reference: `reference_union_length` of the clipped intervals, in
    tests/unit/data/test_analytics_kernels.py.
    """
    n_groupings = len(codes)
    width = 0
    for g in range(n_groupings):
        width = max(width, len(caps[g]))
    reach = np.full((n_groupings, width), np.iinfo(np.int64).min, dtype=np.int64)
    out = np.zeros((n_groupings, width), dtype=np.int64)
    if not merged:
        for r in range(len(run_lo)):
            for i in range(run_lo[r], run_hi[r]):
                _add_clipped(i, codes, entry, exit_, start, end, caps, reach, out)
        return out
    at = run_lo.copy()
    while True:
        best = -1
        for r in range(len(at)):
            if at[r] < run_hi[r] and (best < 0 or entry[at[r]] < entry[at[best]]):
                best = r
        if best < 0:
            return out
        _add_clipped(at[best], codes, entry, exit_, start, end, caps, reach, out)
        at[best] += 1


@njit(cache=True, nogil=True, inline="always")
def _add_clipped(i: int, codes: tuple, entry: np.ndarray, exit_: np.ndarray, start: int,
                 end: int, caps: tuple, reach: np.ndarray, out: np.ndarray) -> None:
    """clipped_unions_nb's step: interval i, clipped, added to its key's union in each
    grouping beyond the furthest end seen there (`reach`)."""
    s = max(entry[i], start)
    whole = min(exit_[i], end)
    if whole <= s:
        return
    for g in range(len(codes)):
        k = codes[g][i]
        e = min(whole, caps[g][k])
        if e <= s:
            continue
        lo = max(s, reach[g, k])
        if e > lo:
            out[g, k] += e - lo
        if e > reach[g, k]:
            reach[g, k] = e
