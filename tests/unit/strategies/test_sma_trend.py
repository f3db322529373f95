"""sma_trend: long above the SMA, flat below, only on changes; against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from engine.enums import SignalSide
from tests.unit.strategies.support import FLAT, LONG, make_bars, run_named


def reference_sma_trend(close: np.ndarray, period: int) -> list[tuple[int, SignalSide]]:
    """Sign of close*period - window sum (integers of 1e-6), forward-filled over zeros;
    LONG where the last non-zero sign is positive, FLAT otherwise; report the changes."""
    units = np.rint(close * 1e6).astype(np.int64)
    csum = np.concatenate(([0], np.cumsum(units)))
    bars = np.arange(period - 1, len(units))
    above = np.sign(units[bars] * period - (csum[bars + 1] - csum[bars + 1 - period]))
    where_nonzero = np.where(above != 0, np.arange(len(above)), -1)
    filled = np.maximum.accumulate(where_nonzero)
    last_sign = np.where(filled >= 0, above[np.maximum(filled, 0)], 0)
    is_long = np.concatenate(([False], last_sign > 0))
    changes = np.flatnonzero(is_long[1:] != is_long[:-1])
    return [(int(bars[k]), LONG if is_long[k + 1] else FLAT) for k in changes]


@pytest.mark.refdata
@pytest.mark.parametrize("period", [1, 20, 50, 200])
def test_orcl_signals_match_the_numpy_reference(orcl_bars, orcl_arrays, period):
    expected = reference_sma_trend(orcl_arrays["close"], period)

    got = run_named("sma_trend", orcl_bars, period=period)

    assert got == expected
    assert period == 1 or len(got) > 10


def test_goes_long_above_the_average_and_flat_below_emitting_only_changes():
    closes = [10, 10, 10, 11, 12, 13, 9, 8, 12]
    assert run_named("sma_trend", make_bars(closes), period=3) == [
        (3, LONG), (6, FLAT), (8, LONG)]


def test_close_exactly_on_the_average_keeps_the_current_side_where_floats_say_below():
    closes = [0.37, 0.37, 1.07, 0.72, 0.5]   # index 3: 0.72 == (0.37 + 1.07 + 0.72) / 3
    assert sum(closes[1:4]) / 3 > closes[3]  # a float mean would call index 3 "below"

    signals = run_named("sma_trend", make_bars(closes), period=3)

    assert signals == [(2, LONG), (4, FLAT)]
