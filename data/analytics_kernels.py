"""Numba kernels of `data.analytics`, for what SQL does slowly: walking curves and
intervals in order. `data.analytics` re-exports `curve_stats_nb` and `CurveStatus`.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit

__all__ = ["CurveStatus", "covered_ns", "curve_stats_nb", "grid_steps_nb",
           "union_length_nb"]


class CurveStatus(IntEnum):
    """Per-curve status of `curve_stats_nb`."""

    OK = 0
    EMPTY = 1              # no samples
    ONE_SAMPLE = 2         # no returns: moments NaN, drawdown 0
    NOT_POSITIVE = 3       # a sample <= 0 or NaN: everything NaN, duration -1


_EMPTY = int(CurveStatus.EMPTY)
_ONE_SAMPLE = int(CurveStatus.ONE_SAMPLE)
_NOT_POSITIVE = int(CurveStatus.NOT_POSITIVE)


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


@njit(cache=True)
def grid_steps_nb(code: np.ndarray, at_ns: np.ndarray, value: np.ndarray,
                  grid_ns: np.ndarray, n_keys: int) -> np.ndarray:
    """Per key and grid time, the sum of the values of that key placed at that time.

    Row i (key `code[i]`, 0 <= code < n_keys) is placed at the first time of `grid_ns`
    (int64, ascending) at or after `at_ns[i]`; rows after the last grid time are left out.
    Returns float64 (n_keys, len(grid_ns)), each cell summed in row order (as
    numpy.bincount with weights does). Never raises for codes in range.

    Reference: `reference_grid_steps` in tests/unit/data/test_analytics_kernels.py.
    """
    n_grid = len(grid_ns)
    out = np.zeros((n_keys, n_grid), dtype=np.float64)
    for i in range(len(code)):
        j = np.searchsorted(grid_ns, at_ns[i], side="left")
        if j < n_grid:
            out[code[i], j] += value[i]
    return out


# --- intervals -------------------------------------------------------------------------

@njit(cache=True)
def union_length_nb(code: np.ndarray, start: np.ndarray, end: np.ndarray,
                    order: np.ndarray, n_keys: int) -> np.ndarray:
    """Per key, the length of the union of the intervals [start_i, end_i) of that key.

    `code` (int, 0 <= code < n_keys) names each interval's key; `order` visits the
    intervals by ascending start (ties in any order). Each interval adds the part of it
    beyond the furthest end seen before it on its key; empty intervals (end <= start) add
    nothing. Returns int64 lengths, one per key. Never raises for codes in range.

    Reference: `reference_union_length` in tests/unit/data/test_analytics_kernels.py.
    """
    reach = np.full(n_keys, np.iinfo(np.int64).min, dtype=np.int64)
    out = np.zeros(n_keys, dtype=np.int64)
    for j in range(len(order)):
        i = order[j]
        k = code[i]
        s, e = start[i], end[i]
        if e <= s:
            continue
        lo = max(s, reach[k])
        if e > lo:
            out[k] += e - lo
        if e > reach[k]:
            reach[k] = e
    return out


def covered_ns(code: np.ndarray, start: np.ndarray, end: np.ndarray, n_keys: int
               ) -> np.ndarray:
    """`union_length_nb` with the intervals put in order of start (a stable sort, fast on
    the nearly sorted starts of a journal)."""
    code = np.ascontiguousarray(code, dtype=np.int64)
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    order = np.argsort(start, kind="stable")
    return union_length_nb(code, start, end, order, n_keys)
