"""mean_reversion: z-score entries and exits against a numpy full-window reference."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from engine.enums import SignalSide
from tests.unit.strategies.support import FLAT, LONG, SHORT, make_bars, run_named


def reference_mean_reversion(close: np.ndarray, window: int, entry_z: float, exit_z: float,
                             allow_short: bool) -> list[tuple[int, SignalSide]]:
    """z from numpy's mean and std (ddof=0) of each full window, then the rule bar by bar.

    A close exactly at the mean (in integers of 1e-6) has z = 0 exactly, as the strategy
    promises; float means cannot see that equality.
    """
    windows = sliding_window_view(close, window)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    units = sliding_window_view(np.rint(close * 1e6).astype(np.int64), window)
    at_mean = units[:, -1] * window == units.sum(axis=1)
    out, side = [], FLAT
    for k, (x, m, s) in enumerate(zip(close[window - 1:], mean, std, strict=True)):
        if s == 0:
            continue
        z = 0.0 if at_mean[k] else (x - m) / s
        target = side
        if z <= -entry_z:
            target = LONG
        elif z >= entry_z and allow_short:
            target = SHORT
        elif abs(z) <= exit_z:
            target = FLAT
        if target is not side:
            out.append((k + window - 1, target))
            side = target
    return out


@pytest.mark.refdata
@pytest.mark.parametrize(("window", "entry_z", "exit_z", "allow_short"),
                         [(20, 2.0, 0.5, False), (20, 2.0, 0.5, True), (10, 1.5, 0.0, True),
                          (60, 2.5, 1.0, False)])
def test_orcl_signals_match_the_numpy_reference(orcl_bars, orcl_arrays, window, entry_z,
                                               exit_z, allow_short):
    expected = reference_mean_reversion(orcl_arrays["close"], window, entry_z, exit_z,
                                        allow_short)

    got = run_named("mean_reversion", orcl_bars, window=window, entry_z=entry_z,
                    exit_z=exit_z, allow_short=allow_short)

    assert got == expected
    assert len(got) > 10


def test_enters_long_on_a_deep_dip_and_exits_when_back_near_the_mean():
    closes = [10, 10.1, 9.9, 10, 10.1, 9.9, 8, 9.7, 10.3]
    # z at index 6 is about -2.22; at index 7 about +0.14
    assert run_named("mean_reversion", make_bars(closes), window=6, entry_z=2.0,
                     exit_z=0.5) == [(6, LONG), (7, FLAT)]


def test_a_spike_is_shorted_only_when_shorts_are_allowed():
    closes = [10, 10.1, 9.9, 10, 10.1, 9.9, 12]
    assert run_named("mean_reversion", make_bars(closes), window=6, entry_z=2.0,
                     exit_z=0.5) == []
    assert run_named("mean_reversion", make_bars(closes), window=6, entry_z=2.0,
                     exit_z=0.5, allow_short=True) == [(6, SHORT)]


def test_a_flat_window_has_no_z_and_holds():
    assert run_named("mean_reversion", make_bars([5.0] * 30), window=5) == []


def test_exit_z_of_zero_exits_when_the_close_is_exactly_the_mean():
    closes = [10, 10, 10, 10, 6, 9]          # index 5: 9 == mean(10, 10, 10, 6, 9)
    assert run_named("mean_reversion", make_bars(closes), window=5, entry_z=1.9,
                     exit_z=0.0) == [(4, LONG), (5, FLAT)]


def test_close_at_the_mean_is_z_zero_even_where_a_float_mean_differs():
    closes = [1.0, 1.0, 0.37, 1.07, 0.72]    # index 4: 0.72 == (0.37 + 1.07 + 0.72) / 3
    assert np.mean(closes[2:]) != closes[4]

    assert run_named("mean_reversion", make_bars(closes), window=3, entry_z=1.2,
                     exit_z=0.0) == [(2, LONG), (4, FLAT)]
