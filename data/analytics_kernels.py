"""Numba kernels of `data.analytics`, for what SQL does slowly: walking curves and
intervals in order. `data.analytics` re-exports `curve_stats_nb` and `CurveStatus`.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit

__all__ = ["CurveStatus", "clipped_unions_nb", "covered_ns", "curve_stats_nb", "grid_slots_nb",
           "grid_steps_nb", "slot_sums_nb", "union_length_nb"]


class CurveStatus(IntEnum):
    """Per-curve status of `curve_stats_nb`."""

    OK = 0
    EMPTY = 1              # no samples
    ONE_SAMPLE = 2         # no returns: moments NaN, drawdown 0
    NOT_POSITIVE = 3       # a sample <= 0 or NaN: everything NaN, duration -1


_EMPTY = int(CurveStatus.EMPTY)
_ONE_SAMPLE = int(CurveStatus.ONE_SAMPLE)
_NOT_POSITIVE = int(CurveStatus.NOT_POSITIVE)
_WALK = 8                  # grid_steps_nb: steps walked before a binary search


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
    numpy.bincount with weights does). Never raises for codes in range. It is
    `slot_sums_nb` of `grid_slots_nb`: rows placed once serve several groupings.

    Reference: `reference_grid_steps` in tests/unit/data/test_analytics_kernels.py.
    """
    return slot_sums_nb(code, grid_slots_nb(at_ns, grid_ns), value, n_keys, len(grid_ns))


@njit(cache=True)
def grid_slots_nb(at_ns: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """Per row, the index of the first time of `grid_ns` (int64, ascending) at or after
    `at_ns[i]` (numpy.searchsorted, side 'left'); len(grid_ns) after the last. A
    journal's times come nearly in order, so each row's slot is first looked for a few
    steps from the previous row's, and the grid searched only when it is further."""
    n_grid = len(grid_ns)
    out = np.empty(len(at_ns), dtype=np.int64)
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
        out[i] = j
    return out


@njit(cache=True)
def slot_sums_nb(code: np.ndarray, slot: np.ndarray, value: np.ndarray, n_keys: int,
                 n_slots: int) -> np.ndarray:
    """Per key and slot, the sum of the values of the rows there, in row order: float64
    (n_keys, n_slots); rows with a slot outside [0, n_slots) are left out."""
    out = np.zeros((n_keys, n_slots), dtype=np.float64)
    for i in range(len(code)):
        j = slot[i]
        if 0 <= j < n_slots:
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


@njit(cache=True, nogil=True)
def clipped_unions_nb(codes: tuple, entry: np.ndarray, exit_: np.ndarray,
                      order: np.ndarray, start: int, end: int, caps: tuple) -> np.ndarray:
    """`union_length_nb` for several groupings of the same intervals in one pass: for
    grouping g, per key k, the length of the union of [max(entry_i, start),
    min(exit_i, end, caps[g][k])) over the intervals i with codes[g][i] == k. Intervals
    are clipped as they are read (no clipped copies are made).

    `codes` and `caps` are tuples with one array per grouping: the key of each interval
    (0 <= code < len(caps[g])) and, per key, where its intervals end at the latest (the
    int64 maximum: nowhere). `order` visits the intervals by ascending entry (ties in
    any order): clipping every entry to the same `start` keeps that order. Returns int64
    (len(codes), the most keys of a grouping), row g holding grouping g's lengths. Never
    raises for codes in range.

    Reference: `reference_union_length` of the clipped intervals, in
    tests/unit/data/test_analytics_kernels.py.
    """
    n_groupings = len(codes)
    width = 0
    for g in range(n_groupings):
        width = max(width, len(caps[g]))
    reach = np.full((n_groupings, width), np.iinfo(np.int64).min, dtype=np.int64)
    out = np.zeros((n_groupings, width), dtype=np.int64)
    for j in range(len(order)):
        i = order[j]
        s = max(entry[i], start)
        whole = min(exit_[i], end)
        if whole <= s:
            continue
        for g in range(n_groupings):
            k = codes[g][i]
            e = min(whole, caps[g][k])
            if e <= s:
                continue
            lo = max(s, reach[g, k])
            if e > lo:
                out[g, k] += e - lo
            if e > reach[g, k]:
                reach[g, k] = e
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
