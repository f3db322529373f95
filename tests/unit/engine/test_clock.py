"""Clocks: simulated time only moves forward; live time is the wall clock."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clock import NANOS_PER_SECOND, Clock, LiveClock, SimClock
from engine.errors import InvalidInput


def test_sim_clock_starts_where_it_is_told_and_defaults_to_zero():
    assert SimClock().now_ns() == 0
    assert SimClock(1_700_000_000 * NANOS_PER_SECOND).now_ns() == 1_700_000_000 * NANOS_PER_SECOND


def test_set_ns_moves_forward_and_to_the_same_time():
    clock = SimClock(100)
    clock.set_ns(250)
    assert clock.now_ns() == 250
    clock.set_ns(250)
    assert clock.now_ns() == 250


def test_set_ns_backwards_raises_invalid_input_and_keeps_the_time():
    clock = SimClock(1_000)
    with pytest.raises(InvalidInput) as info:
        clock.set_ns(999)
    assert info.value.field == "ts_ns"
    assert clock.now_ns() == 1_000


def test_advance_adds_seconds_as_nanoseconds_and_returns_the_new_time():
    clock = SimClock(10)
    assert clock.advance(1.5) == 10 + 1_500_000_000
    assert clock.advance(0) == 10 + 1_500_000_000
    assert clock.advance(1e-9) == 10 + 1_500_000_001
    assert clock.now_ns() == 1_500_000_011


def test_advance_by_a_negative_duration_raises_and_keeps_the_time():
    clock = SimClock(10)
    with pytest.raises(InvalidInput) as info:
        clock.advance(-0.001)
    assert info.value.field == "seconds"
    assert clock.now_ns() == 10


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, True])
def test_advance_by_a_non_finite_or_non_number_raises_invalid_input(bad):
    clock = SimClock(10)
    with pytest.raises(InvalidInput):
        clock.advance(bad)
    assert clock.now_ns() == 10


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, True])
def test_set_ns_to_a_non_finite_or_non_number_raises_invalid_input(bad):
    clock = SimClock(10)
    with pytest.raises(InvalidInput):
        clock.set_ns(bad)
    assert clock.now_ns() == 10


@pytest.mark.parametrize("bad", [math.nan, "0", None])
def test_sim_clock_rejects_a_bad_start(bad):
    with pytest.raises(InvalidInput):
        SimClock(bad)


def test_numpy_timestamps_are_accepted_and_stored_as_python_ints():
    clock = SimClock(np.int64(5))
    clock.set_ns(np.int64(1_700_000_000_000_000_000))
    assert clock.now_ns() == 1_700_000_000_000_000_000
    assert type(clock.now_ns()) is int


@given(st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(-(10**12), 10**12)),
    st.tuples(st.just("advance"), st.floats(-10.0, 10.0)),
), max_size=40))
def test_sim_clock_never_goes_backwards_whatever_it_is_asked(steps):
    clock = SimClock(0)
    for kind, value in steps:
        before = clock.now_ns()
        try:
            if kind == "set":
                clock.set_ns(value)
            else:
                clock.advance(value)
        except InvalidInput:
            assert clock.now_ns() == before
        assert clock.now_ns() >= before


def test_live_clock_reads_the_wall_clock_in_nanoseconds():
    clock = LiveClock()
    before = time.time_ns()
    now = clock.now_ns()
    after = time.time_ns()
    assert before <= now <= after
    assert type(now) is int


def test_both_clocks_satisfy_the_clock_protocol():
    def read(clock: Clock) -> int:
        return clock.now_ns()

    assert read(SimClock(7)) == 7
    assert read(LiveClock()) > 1_600_000_000 * NANOS_PER_SECOND
