"""breakout: Donchian channels of the prior bars, against a numpy full-window reference."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from engine.enums import SignalSide
from tests.unit.strategies.support import FLAT, LONG, SHORT, make_bars, run_named


def _prior_channel(high: np.ndarray, low: np.ndarray, window: int | None):
    """Per bar t: max(high[t-window:t]) and min(low[t-window:t]); NaN where too early."""
    n = len(high)
    upper, lower = np.full(n, np.nan), np.full(n, np.nan)
    if window is not None:
        upper[window:] = sliding_window_view(high, window).max(axis=1)[:-1]
        lower[window:] = sliding_window_view(low, window).min(axis=1)[:-1]
    return upper, lower


def reference_breakout(close: np.ndarray, high: np.ndarray, low: np.ndarray, window: int,
                       exit_window: int | None,
                       allow_short: bool) -> list[tuple[int, SignalSide]]:
    entry_hi, entry_lo = _prior_channel(high, low, window)
    exit_hi, exit_lo = _prior_channel(high, low, exit_window)
    out, side = [], FLAT
    for t, x in enumerate(close):
        target = side
        if x > entry_hi[t]:
            target = LONG
        elif x < entry_lo[t]:
            target = SHORT if allow_short else FLAT
        elif (side is LONG and x < exit_lo[t]) or (side is SHORT and x > exit_hi[t]):
            target = FLAT
        if target is not side:
            out.append((t, target))
            side = target
    return out


@pytest.mark.refdata
@pytest.mark.parametrize(("window", "exit_window", "allow_short"),
                         [(20, None, False), (20, 10, False), (55, 20, True), (5, None, True),
                          (10, 30, True)])
def test_orcl_signals_match_the_numpy_reference(orcl_bars, orcl_arrays, window, exit_window,
                                               allow_short):
    a = orcl_arrays
    expected = reference_breakout(a["close"], a["high"], a["low"], window, exit_window,
                                  allow_short)

    got = run_named("breakout", orcl_bars, window=window, exit_window=exit_window,
                    allow_short=allow_short)

    assert got == expected
    assert len(got) > 10


def test_close_above_the_prior_highest_high_goes_long_and_below_the_lowest_low_goes_flat():
    closes = [10, 11, 10, 12, 11, 9, 8]
    highs = [10.5, 11.5, 10.5, 12, 11.5, 9.5, 8.5]
    lows = [9.5, 10.5, 8.5, 11.5, 10.5, 9, 7.5]
    # index 3: 12 > max(10.5, 11.5, 10.5); index 5: 9 >= min(8.5, 11.5, 10.5);
    # index 6: 8 < min(11.5, 10.5, 9)
    assert run_named("breakout", make_bars(closes, highs, lows), window=3) == [
        (3, LONG), (6, FLAT)]
    assert run_named("breakout", make_bars(closes, highs, lows), window=3,
                     allow_short=True) == [(3, LONG), (6, SHORT)]


def test_the_current_bar_is_not_part_of_its_own_channel():
    # the close equals its own high: with the bar included it could never break out
    closes = [1, 2, 3, 4]
    assert run_named("breakout", make_bars(closes), window=2) == [(2, LONG)]


def test_exit_window_closes_a_long_before_the_entry_channel_would():
    closes = [10, 10, 10, 10, 12, 13, 12.5, 11.5]
    # long at 4; index 7: 11.5 < min(13, 12.5) of the 2-bar exit channel, not < entry low 10
    assert run_named("breakout", make_bars(closes), window=4) == [(4, LONG)]
    assert run_named("breakout", make_bars(closes), window=4, exit_window=2) == [
        (4, LONG), (7, FLAT)]
