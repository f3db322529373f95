"""The interval-union, grid-step and summed-curve kernels against plain-Python references,
on hand cases and random inputs (hypothesis): ties, empty and nested intervals, rows in
runs, times before, on and after the grid, NaN values included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data.analytics_kernels import clipped_unions_nb, grid_sums_nb, summed_asof_nb
from data.analytics_measure import _entry_runs


def reference_union_length(code: list[int], start: list[int], end: list[int],
                           n_keys: int) -> list[int]:
    """Plain Python: per key, merge the sorted non-empty intervals and add their lengths."""
    out = []
    for k in range(n_keys):
        spans = sorted((s, e) for c, s, e in zip(code, start, end, strict=True)
                       if c == k and e > s)
        total, cur_s, cur_e = 0, None, None
        for s, e in spans:
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        if cur_e is not None:
            total += cur_e - cur_s
        out.append(total)
    return out


NEVER = np.iinfo(np.int64).max
EVER = np.iinfo(np.int64).min


def union_length(code, start, end, n_keys: int, order=None) -> list[int]:
    """clipped_unions_nb for one grouping, unclipped (the whole time line, no caps): the
    intervals visited in `order`, else in order of start (a stable sort)."""
    start = np.asarray(start, dtype=np.int64)
    order = np.argsort(start, kind="stable") if order is None else np.asarray(order)
    got = clipped_unions_nb((np.asarray(code, dtype=np.int64),), start,
                            np.asarray(end, dtype=np.int64), order, order + 1, False, EVER,
                            NEVER, (np.full(n_keys, NEVER, dtype=np.int64),))
    return got[0].tolist()


def grid_steps(code, at, value, grid, n_keys: int) -> np.ndarray:
    """grid_sums_nb for one grouping of `n_keys` keys."""
    return grid_sums_nb((np.asarray(code, dtype=np.int64),), np.asarray(at, dtype=np.int64),
                        np.asarray(value, dtype=np.float64), np.asarray(grid, dtype=np.int64),
                        np.array([0, n_keys], dtype=np.int64))


def test_overlapping_nested_touching_and_empty_intervals_count_once():
    # key 0: [0,10) [5,8) nested, [10,12) touching, [20,20) empty -> 12
    # key 1: [3,7) [1,4) given out of order -> [1,7) = 6
    code = [0, 0, 0, 0, 1, 1]
    start = [0, 5, 10, 20, 3, 1]
    end = [10, 8, 12, 20, 7, 4]
    assert union_length(code, start, end, 3) == [12, 6, 0]


def test_intervals_visited_in_any_order_of_tied_starts_give_the_same_union():
    code, start, end = np.zeros(3, np.int64), np.array([0, 0, 0]), np.array([5, 9, 2])
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        assert union_length(code, start, end, 1, order) == [9]


intervals = st.lists(st.tuples(st.integers(0, 3), st.integers(-50, 50), st.integers(0, 40)),
                     max_size=60)


@settings(max_examples=300, deadline=None)
@given(intervals)
def test_the_kernel_matches_the_plain_python_reference(rows):
    code = [c for c, _, _ in rows]
    start = [s for _, s, _ in rows]
    end = [s + d - 5 for _, s, d in rows]           # some empty or reversed
    assert union_length(code, start, end, 4) == reference_union_length(code, start, end, 4)


def reference_grid_steps(code: list[int], at: list[int], value: list[float],
                         grid: list[int], n_keys: int) -> list[list[float]]:
    """Plain Python: each row's value added, in row order, at the first grid time at or
    after its time; rows after the last grid time left out."""
    out = [[0.0] * len(grid) for _ in range(n_keys)]
    for c, t, v in zip(code, at, value, strict=True):
        later = [j for j, g in enumerate(grid) if g >= t]
        if later:
            out[c][later[0]] += v
    return out


def test_steps_land_on_the_first_grid_time_at_or_after_and_none_after_the_grid():
    grid = np.array([10, 20, 30], dtype=np.int64)
    code = np.array([0, 0, 1, 1, 0], dtype=np.int64)
    at = np.array([5, 10, 11, 30, 31], dtype=np.int64)       # before, on, between, last, after
    value = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    got = grid_steps(code, at, value, grid, 3)
    assert got.tolist() == [[3.0, 0.0, 0.0], [0.0, 4.0, 8.0], [0.0, 0.0, 0.0]]


def test_steps_on_an_empty_grid_or_without_rows_are_empty_or_zero():
    none = np.zeros(0, dtype=np.int64)
    assert grid_steps(none, none, np.zeros(0), [1, 2], 2).tolist() == [[0.0] * 2] * 2
    assert grid_steps([0], [1], [1.0], none, 1).shape == (1, 0)


steps = st.lists(st.tuples(st.integers(0, 2), st.integers(-5, 60),
                           st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))),
                 max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps, st.lists(st.integers(0, 50), max_size=12, unique=True))
def test_the_grid_steps_kernel_matches_the_plain_python_reference(rows, grid):
    grid = sorted(grid)
    code = [c for c, _, _ in rows]
    at = [t for _, t, _ in rows]
    value = [v for _, _, v in rows]
    got = grid_steps(code, at, value, grid, 3)
    np.testing.assert_array_equal(got, np.array(reference_grid_steps(code, at, value, grid, 3),
                                                dtype=np.float64).reshape(3, len(grid)))


# --- several groupings at once ----------------------------------------------------------

def reference_clipped_unions(codes: list[list[int]], entry: list[int], exit_: list[int],
                             start: int, end: int, caps: list[list[int]]) -> list[list[int]]:
    """Plain Python: per grouping, the union of each key's intervals clipped to the span
    and to the key's cap."""
    out = []
    for code, cap in zip(codes, caps, strict=True):
        lo = [max(s, start) for s in entry]
        hi = [min(e, end, cap[c]) for c, e in zip(code, exit_, strict=True)]
        out.append(reference_union_length(code, lo, hi, len(cap)))
    return out


trips = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(-20, 60),
                           st.integers(-5, 30)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(trips, st.integers(-10, 20), st.integers(0, 50), st.integers(1, 4),
       st.lists(st.integers(-5, 60), min_size=4, max_size=4))
def test_clipped_unions_in_runs_merged_or_sorted_match_the_plain_python_reference(
        rows, start, length, n_runs, cap_at):
    # the rows come in order of entry cut into runs, shuffled (as a parallel join returns
    # them); _entry_runs merges a few, and sorts more
    rows = sorted(rows, key=lambda r: r[2])
    cut = np.array_split(np.arange(len(rows)), n_runs)
    order = [int(i) for part in cut[::-1] for i in part]
    rows = [rows[i] for i in order]
    codes = [[a for a, _, _, _ in rows], [b for _, b, _, _ in rows]]
    entry = [e for _, _, e, _ in rows]
    exit_ = [e + d for _, _, e, d in rows]
    caps = [[NEVER, cap_at[0], NEVER], [cap_at[1], NEVER, cap_at[2], cap_at[3]]]
    end = start + length
    arrays = tuple(np.array(c, dtype=np.uint8) for c in codes)
    e = np.array(entry, dtype=np.int64)
    for lo, hi, merged in (_entry_runs(e), (*_entry_runs_sorted(e), False)):
        got = clipped_unions_nb(arrays, e, np.array(exit_, dtype=np.int64), lo, hi, merged,
                                start, end, tuple(np.array(c, dtype=np.int64) for c in caps))
        want = reference_clipped_unions(codes, entry, exit_, start, end, caps)
        assert got[0, :3].tolist() == want[0] and got[1].tolist() == want[1]


def _entry_runs_sorted(entry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(entry, kind="stable")
    return order, order + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(-5, 60),
                          st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))),
                max_size=60),
       st.lists(st.integers(0, 50), max_size=12, unique=True))
def test_grid_sums_of_several_groupings_are_each_groupings_grid_steps(rows, grid):
    grid = np.array(sorted(grid), dtype=np.int64)
    a = np.array([r[0] for r in rows], dtype=np.uint8)
    b = np.array([r[1] for r in rows], dtype=np.uint8)
    at = np.array([r[2] for r in rows], dtype=np.int64)
    value = np.array([r[3] for r in rows], dtype=np.float64)
    got = grid_sums_nb((a, b), at, value, grid, np.array([0, 3, 7], dtype=np.int64))
    assert got.shape == (7, len(grid))
    for rows_of, code, n in ((slice(0, 3), a, 3), (slice(3, 7), b, 4)):
        want = reference_grid_steps(code.tolist(), at.tolist(), value.tolist(), grid.tolist(), n)
        np.testing.assert_array_equal(got[rows_of], np.array(want).reshape(n, len(grid)))


# --- the run's curve from its accounts' ---------------------------------------------------

def reference_summed_asof(series: list[tuple[list[int], list[float]]], grid: list[int]
                          ) -> list[float]:
    """Plain Python: at each grid time, each series' latest value at or before it (its
    first before it has one), summed in series order."""
    out = []
    for t in grid:
        total = 0.0
        for ts, values in series:
            if ts:
                seen = [v for s, v in zip(ts, values, strict=True) if s <= t]
                total += seen[-1] if seen else values[0]
        out.append(total)
    return out


def test_a_series_counts_with_its_first_value_until_it_has_one():
    offsets = np.array([0, 2, 2, 4], dtype=np.int64)           # the second is empty
    ts = np.array([0, 20, 10, 30], dtype=np.int64)
    values = np.array([100.0, 120.0, 50.0, 60.0])
    got = summed_asof_nb(offsets, ts, values, np.array([0, 10, 20, 30], dtype=np.int64))
    assert got.tolist() == [150.0, 150.0, 170.0, 180.0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.integers(-5, 40), st.floats(-1e6, 1e6), max_size=8),
                max_size=5),
       st.lists(st.integers(-10, 50), max_size=12, unique=True))
def test_the_summed_curve_kernel_matches_the_plain_python_reference(series, grid):
    series = [(sorted(s), [s[t] for t in sorted(s)]) for s in series]
    sizes = [len(ts) for ts, _ in series]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ts = np.array([t for s, _ in series for t in s], dtype=np.int64)
    values = np.array([v for _, vs in series for v in vs], dtype=np.float64)
    grid = sorted(grid)
    got = summed_asof_nb(offsets, ts, values, np.array(grid, dtype=np.int64))
    assert got.tolist() == reference_summed_asof(series, grid)
