"""The earliest-deadline hint of the percent exit kernels, and `ExitArrays.evaluate`'s
choice between the single-threaded and the parallel kernel."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import risk.exits
from engine.exits import ExitConfig, Protection
from risk.exits import ExitArrays, pack_protections
from risk.kernels import (
    earliest_deadline,
    trail_and_exit_percent_nb,
    trail_and_exit_percent_parallel_nb,
)
from tests.unit.risk.test_kernels_exits import (
    ORDER,
    PERCENT_ORDER,
    SEC,
    SETTINGS,
    _resized,
    percent_rows,
    price_paths,
    rows_to_arrays,
)

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
deadlines = st.lists(st.one_of(st.just(0), st.integers(INT64_MIN, INT64_MAX)), max_size=30)


@SETTINGS
@given(values=deadlines)
def test_earliest_deadline_is_the_smallest_nonzero_deadline(values):
    expected = min((d for d in values if d != 0), default=INT64_MAX)
    assert earliest_deadline(np.array(values, dtype=np.int64)) == expected


def test_a_book_without_holding_limits_has_no_earliest_deadline():
    assert earliest_deadline(np.zeros(5, dtype=np.int64)) == INT64_MAX


@SETTINGS
@given(rows=percent_rows, paths=price_paths, t0=st.integers(-20 * SEC, 300 * SEC),
       slack=st.integers(0, 100 * SEC))
def test_a_truthful_earliest_deadline_changes_nothing(rows, paths, t0, slack):
    """Told any time at or before the earliest deadline, both percent kernels give the
    results (and leave the state) of the kernel that reads every deadline."""
    plain, single, parallel = (rows_to_arrays(rows) for _ in range(3))
    earliest = int(earliest_deadline(plain["deadline_ns"]))
    hint = np.int64(max(earliest - slack, INT64_MIN))
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 40 * SEC
        px = np.array(prices)
        expected = trail_and_exit_percent_nb(*[plain[k] for k in PERCENT_ORDER], px, now)
        a = trail_and_exit_percent_nb(*[single[k] for k in PERCENT_ORDER], px, now, hint)
        b = trail_and_exit_percent_parallel_nb(*[parallel[k] for k in PERCENT_ORDER], px,
                                               now, hint)
        assert a.tolist() == b.tolist() == expected.tolist()
        for arrays in (single, parallel):
            np.testing.assert_array_equal(arrays["best"], plain["best"])
            np.testing.assert_array_equal(arrays["trail_stop"], plain["trail_stop"])


def test_before_the_earliest_deadline_the_deadline_column_is_not_read():
    """The hint is a promise: a deadline earlier than it is not looked at."""
    arrays = rows_to_arrays([{"deadline_ns": 5 * SEC}])
    args = [arrays[k] for k in PERCENT_ORDER]
    px = np.array([100.0])
    assert trail_and_exit_percent_nb(*args, px, 10 * SEC).tolist() == [4]
    assert trail_and_exit_percent_nb(*args, px, 10 * SEC, np.int64(60 * SEC)).tolist() == [0]


@SETTINGS
@given(rows=percent_rows, paths=price_paths, t0=st.integers(0, 300 * SEC))
def test_exit_arrays_give_the_same_results_on_one_thread_and_on_all(rows, paths, t0):
    books = []
    for _ in range(2):
        arrays = rows_to_arrays(rows)
        books.append(ExitArrays(**{k: arrays[k] for k in ORDER}, percent_only=True,
                                earliest_deadline_ns=int(earliest_deadline(
                                    arrays["deadline_ns"]))))
    single, parallel = books
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 10 * SEC
        a = single.evaluate(np.array(prices), now)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(risk.exits, "PARALLEL_MIN_ROWS", 0)
            b = parallel.evaluate(np.array(prices), now)
        assert a.tolist() == b.tolist()
        np.testing.assert_array_equal(single.best, parallel.best)
        np.testing.assert_array_equal(single.trail_stop, parallel.trail_stop)


def test_packed_protections_carry_their_earliest_deadline():
    ps = [Protection.for_position("X", 1, 100.0, 5, ExitConfig(2.0, 3.0, 4.0, hold))
          for hold in (60.0, 30.0)] + [Protection("Y", 1, 50.0, 0)]
    assert pack_protections(ps).earliest_deadline_ns == 5 + 30 * SEC
