"""The interval-union and grid-step kernels against plain-Python references, on hand cases
and random inputs (hypothesis): ties, empty and nested intervals, times before, on and
after the grid, NaN values included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data.analytics_kernels import covered_ns, grid_steps_nb, union_length_nb


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


def test_overlapping_nested_touching_and_empty_intervals_count_once():
    # key 0: [0,10) [5,8) nested, [10,12) touching, [20,20) empty -> 12
    # key 1: [3,7) [1,4) given out of order -> [1,7) = 6
    code = [0, 0, 0, 0, 1, 1]
    start = [0, 5, 10, 20, 3, 1]
    end = [10, 8, 12, 20, 7, 4]
    got = covered_ns(np.array(code), np.array(start), np.array(end), 3)
    assert got.tolist() == [12, 6, 0]


def test_intervals_visited_in_any_order_of_tied_starts_give_the_same_union():
    code, start, end = np.zeros(3, np.int64), np.array([0, 0, 0]), np.array([5, 9, 2])
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        assert union_length_nb(code, start, end, np.array(order), 1).tolist() == [9]


intervals = st.lists(st.tuples(st.integers(0, 3), st.integers(-50, 50), st.integers(0, 40)),
                     max_size=60)


@settings(max_examples=300, deadline=None)
@given(intervals)
def test_the_kernel_matches_the_plain_python_reference(rows):
    code = [c for c, _, _ in rows]
    start = [s for _, s, _ in rows]
    end = [s + d - 5 for _, s, d in rows]           # some empty or reversed
    got = covered_ns(np.array(code, dtype=np.int64), np.array(start, dtype=np.int64),
                     np.array(end, dtype=np.int64), 4)
    assert got.tolist() == reference_union_length(code, start, end, 4)


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
    got = grid_steps_nb(code, at, value, grid, 3)
    assert got.tolist() == [[3.0, 0.0, 0.0], [0.0, 4.0, 8.0], [0.0, 0.0, 0.0]]


def test_steps_on_an_empty_grid_or_without_rows_are_empty_or_zero():
    none = np.zeros(0, dtype=np.int64)
    assert grid_steps_nb(none, none, np.zeros(0), np.array([1, 2]), 2).tolist() == [[0.0] * 2] * 2
    assert grid_steps_nb(np.array([0]), np.array([1]), np.array([1.0]), none, 1).shape == (1, 0)


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
    got = grid_steps_nb(np.array(code, dtype=np.int64), np.array(at, dtype=np.int64),
                        np.array(value, dtype=np.float64), np.array(grid, dtype=np.int64), 3)
    np.testing.assert_array_equal(got, np.array(reference_grid_steps(code, at, value, grid, 3),
                                                dtype=np.float64).reshape(3, len(grid)))
