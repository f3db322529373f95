"""Incremental indicators against plain full-window references (hypothesis)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from strategies.indicators import (
    CrossOver,
    Donchian,
    RollingMeanStd,
    RollingSum,
    sign,
    to_units,
)

prices = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=80)
floats = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


def test_to_units_rounds_to_micro_units_and_rejects_non_finite_prices():
    assert to_units(2.179012) == 2_179_012
    assert to_units(6.64) == 6_640_000
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidInput):
            to_units(bad)


@settings(max_examples=150, deadline=None)
@given(values=prices, window=st.integers(min_value=1, max_value=12))
def test_rolling_sum_is_the_exact_sum_of_the_last_window_values(values, window):
    rolling = RollingSum(window)
    for t, v in enumerate(values):
        rolling.update(v)
        assert rolling.ready == (t + 1 >= window)
        if rolling.ready:
            assert rolling.total == sum(values[t + 1 - window:t + 1])


@settings(max_examples=150, deadline=None)
@given(values=prices, window=st.integers(min_value=2, max_value=12))
def test_rolling_mean_std_and_zscore_match_numpy_over_the_full_window(values, window):
    stats = RollingMeanStd(window)
    for t, v in enumerate(values):
        stats.update(v)
        if not stats.ready:
            continue
        last = values[t + 1 - window:t + 1]
        w = np.array(last, dtype=float) / 1e6
        assert stats.mean == pytest.approx(w.mean(), rel=1e-12, abs=1e-12)
        # numpy's float std loses digits when the spread is tiny beside the mean (prices
        # near 1e6 that differ by a micro unit); the reference is 50-digit decimal instead
        mean, std = _decimal_mean_std(last)
        assert stats.std == pytest.approx(float(std / 10**6), rel=1e-12, abs=1e-15)
        z = stats.zscore(v)
        if len(set(last)) == 1:
            assert z is None
        else:
            assert z == pytest.approx(float((Decimal(v) - mean) / std), rel=1e-12, abs=1e-12)


def _decimal_mean_std(values: list[int]) -> tuple[Decimal, Decimal]:
    """Population mean and standard deviation of integers, to 50 digits."""
    with localcontext() as ctx:
        ctx.prec = 50
        n = Decimal(len(values))
        mean = sum(Decimal(x) for x in values) / n
        var = sum((Decimal(x) - mean) ** 2 for x in values) / n
        return +mean, var.sqrt()


def test_zscore_is_exactly_zero_at_the_mean_and_the_variance_never_goes_negative():
    stats = RollingMeanStd(3)
    for v in (to_units(0.37), to_units(1.07), to_units(0.72)):
        stats.update(v)
    assert stats.zscore(to_units(0.72)) == 0.0
    for _ in range(10_000):                  # long runs do not drift
        stats.update(to_units(1e5 + 0.1))
    assert stats.std == 0.0 and stats.zscore(to_units(1e5 + 0.1)) is None


@settings(max_examples=150, deadline=None)
@given(bars=st.lists(st.tuples(floats, floats), min_size=1, max_size=80),
       window=st.integers(min_value=1, max_value=12))
def test_donchian_is_the_max_high_and_min_low_of_the_last_window_bars(bars, window):
    channel = Donchian(window)
    for t, (a, b) in enumerate(bars):
        channel.update(max(a, b), min(a, b))
        assert channel.ready == (t + 1 >= window)
        recent = bars[max(0, t + 1 - window):t + 1]
        assert channel.highest == max(max(p) for p in recent)
        assert channel.lowest == min(min(p) for p in recent)


def _reference_crossover(signs: list[int]) -> list[int]:
    out = [0]
    for t in range(1, len(signs)):
        last = next((s for s in reversed(signs[1:t]) if s), signs[0])
        out.append(1 if last < 0 < signs[t] else -1 if last > 0 > signs[t] else 0)
    return out


@settings(max_examples=200, deadline=None)
@given(signs=st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=60))
def test_crossover_needs_the_last_nonzero_difference_on_the_other_side(signs):
    cross = CrossOver()
    assert [cross.update(s) for s in signs] == _reference_crossover(signs)


def test_crossover_seed_never_crosses_and_zero_keeps_the_state():
    cross = CrossOver()
    assert [cross.update(s) for s in (1, -1, 0, 0, 1, 0, 1, -1)] == [0, -1, 0, 0, 1, 0, 0, -1]
    assert sign(-5) == -1 and sign(0) == 0 and sign(7) == 1


def test_windows_must_be_positive():
    for make, bad in ((RollingSum, 0), (RollingMeanStd, 1), (Donchian, 0)):
        with pytest.raises(InvalidInput):
            make(bad)
    assert math.isfinite(RollingSum(1).mean)
