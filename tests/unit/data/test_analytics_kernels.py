"""The interval-union kernel against a plain-Python reference, on hand cases and random
intervals (hypothesis), ties, empty and nested intervals included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data.analytics_kernels import covered_ns, union_length_nb


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
