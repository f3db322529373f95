"""sma_cross: backtrader CrossOver parity on ORCL, a numpy reference, and the exact tie rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.clock import SimClock
from engine.enums import SignalSide
from strategies.config import SmaCrossConfig
from strategies.sma_cross import SmaCross
from tests.refdata import ns_date
from tests.unit.strategies.support import FLAT, LONG, SHORT, make_bars, run, run_named


def reference_sma_cross(close: np.ndarray, fast: int, slow: int,
                        allow_short: bool = False) -> list[tuple[int, SignalSide]]:
    """Full recomputation from the definition in ../shared/data/README.md, vectorised.

    Prices as integers of 1e-6; sign(sum_fast*slow - sum_slow*fast) from the first bar
    where the slow SMA exists; the last non-zero difference is a forward fill of that sign
    (seeded on the first bar even when it is zero); a cross at bar t needs the previous
    bar's last non-zero difference and t's own difference of opposite signs.
    """
    units = np.rint(close * 1e6).astype(np.int64)
    csum = np.concatenate(([0], np.cumsum(units)))
    bars = np.arange(slow - 1, len(units))
    sum_fast = csum[bars + 1] - csum[bars + 1 - fast]
    sum_slow = csum[bars + 1] - csum[bars + 1 - slow]
    diff = np.sign(sum_fast * slow - sum_slow * fast)
    where_nonzero = np.where(diff != 0, np.arange(len(diff)), 0)
    last_nonzero = diff[np.maximum.accumulate(where_nonzero)]
    up = (last_nonzero[:-1] < 0) & (diff[1:] > 0)
    down = (last_nonzero[:-1] > 0) & (diff[1:] < 0)
    down_side = SHORT if allow_short else FLAT
    out = [(int(bars[k + 1]), LONG) for k in np.flatnonzero(up)]
    out += [(int(bars[k + 1]), down_side) for k in np.flatnonzero(down)]
    return sorted(out)


def long_only_fills(signals: list[tuple[int, SignalSide]], n_bars: int) -> list[tuple[int, str]]:
    """Enter when flat on LONG, exit when long on FLAT; a signal at bar t fills at t+1."""
    fills, long = [], False
    for i, side in signals:
        if i + 1 >= n_bars:            # a signal on the last bar never fills
            continue
        if side is LONG and not long:
            fills.append((i + 1, "BUY"))
            long = True
        elif side is FLAT and long:
            fills.append((i + 1, "SELL"))
            long = False
    return fills


# --- backtrader parity on ORCL ------------------------------------------------------------

@pytest.mark.refdata
def test_orcl_10_30_long_only_gives_98_entries_and_97_exits_as_backtrader(orcl_bars):
    signals = run_named("sma_cross", orcl_bars, fast=10, slow=30)

    fills = long_only_fills(signals, len(orcl_bars))

    assert len(fills) == 195
    assert sum(1 for _, side in fills if side == "BUY") == 98
    assert sum(1 for _, side in fills if side == "SELL") == 97
    first_fill_bar, first_side = fills[0]
    assert (first_side, ns_date(orcl_bars[first_fill_bar].ts_event)) == ("BUY", "1995-05-12")
    assert orcl_bars[first_fill_bar].open == 2.37037
    first_entry_signal = next(i for i, side in signals if side is LONG)
    assert ns_date(orcl_bars[first_entry_signal].ts_event) == "1995-05-11"


@pytest.mark.refdata
@pytest.mark.parametrize(("whole_shares", "final_value"),
                         [(False, 508_192.3587851795), (True, 508_190.3658970004)])
def test_orcl_10_30_all_in_portfolio_ends_at_backtrader_final_value(orcl_bars, whole_shares,
                                                                      final_value):
    fills = long_only_fills(run_named("sma_cross", orcl_bars, fast=10, slow=30),
                            len(orcl_bars))
    cash, size = 100_000.0, 0.0
    for bar_index, side in fills:
        price = orcl_bars[bar_index].open
        if side == "BUY":
            size = math.floor(cash / price) if whole_shares else cash / price
            cash -= size * price
        else:
            cash, size = cash + size * price, 0.0

    assert cash + size * orcl_bars[-1].close == pytest.approx(final_value, rel=1e-10)


@pytest.mark.refdata
@pytest.mark.parametrize(("fast", "slow", "allow_short"),
                         [(10, 30, False), (1, 20, False), (5, 50, True), (20, 200, True),
                          (2, 3, False)])
def test_orcl_signals_match_the_numpy_reference(orcl_bars, orcl_arrays, fast, slow,
                                               allow_short):
    expected = reference_sma_cross(orcl_arrays["close"], fast, slow, allow_short)

    got = run_named("sma_cross", orcl_bars, fast=fast, slow=slow, allow_short=allow_short)

    assert got == expected
    assert len(got) > 10


# --- when the first cross can happen ------------------------------------------------------

def test_first_possible_signal_is_on_bar_index_slow_not_slow_minus_one():
    # fast=2, slow=4: both averages exist from index 3; a rise at index 3 only seeds the state
    closes = [10, 9, 8, 12, 13, 14]
    signals = run_named("sma_cross", make_bars(closes), fast=2, slow=4)
    assert signals == []                     # seed at index 3 is already positive: no cross

    closes = [10, 9, 8, 7, 13, 14]           # seed negative at index 3, positive at index 4
    assert run_named("sma_cross", make_bars(closes), fast=2, slow=4) == [(4, LONG)]


def test_cross_down_emits_flat_long_only_and_short_when_allowed():
    closes = [10, 11, 12, 13, 5, 4]          # seed positive at index 3, negative at 4
    assert run_named("sma_cross", make_bars(closes), fast=2, slow=4) == [(4, FLAT)]
    assert run_named("sma_cross", make_bars(closes), fast=2, slow=4,
                     allow_short=True) == [(4, SHORT)]


def test_fast_of_one_compares_the_close_itself_with_the_slow_average():
    closes = [5, 4, 3, 2, 1, 9]
    assert run_named("sma_cross", make_bars(closes), fast=1, slow=3) == [(5, LONG)]


# --- the exact-arithmetic tie rule --------------------------------------------------------

TIE_CLOSES = [300.0, 6.64, 167.32, 87.12, 86.84, 200.0]
"""fast=2, slow=4. Index 3: fast < slow. Index 4: 6.64 + 167.32 == 87.12 + 86.84, so the
averages are exactly equal, but float sums put fast above slow. Index 5: fast > slow."""


def _naive_float_difference(closes: list[float], t: int, fast: int, slow: int) -> float:
    return sum(closes[t - fast + 1:t + 1]) / fast - sum(closes[t - slow + 1:t + 1]) / slow


def test_tie_series_is_a_real_float_disagreement():
    assert _naive_float_difference(TIE_CLOSES, 3, 2, 4) < 0
    assert _naive_float_difference(TIE_CLOSES, 4, 2, 4) > 0      # float: a cross up here
    assert round(6.64e6) + round(167.32e6) == round(87.12e6) + round(86.84e6)


def test_exactly_equal_averages_are_a_tie_and_the_cross_waits_for_a_nonzero_difference():
    signals = run_named("sma_cross", make_bars(TIE_CLOSES), fast=2, slow=4)

    assert signals == [(5, LONG)]
    assert reference_sma_cross(np.array(TIE_CLOSES), 2, 4) == [(5, LONG)]


def test_a_tie_followed_by_a_return_to_the_same_side_is_not_a_cross():
    closes = TIE_CLOSES[:5] + [50.0]         # below again after the tie
    assert run_named("sma_cross", make_bars(closes), fast=2, slow=4) == []


# --- behaviour of the class ---------------------------------------------------------------

def test_symbols_are_tracked_independently():
    up = make_bars([10, 9, 8, 7, 13], symbol="UP")
    down = make_bars([10, 11, 12, 13, 5], symbol="DOWN")
    interleaved = [bar for pair in zip(up, down, strict=True) for bar in pair]

    signals = run(SmaCross("x", SmaCrossConfig(fast=2, slow=4), SimClock()), interleaved)

    assert [(s.symbol, s.side) for _, s in signals] == [("UP", LONG), ("DOWN", FLAT)]


def test_signals_carry_the_bar_time_and_tag():
    bars = make_bars([10, 9, 8, 7, 13])
    [(i, signal)] = run(SmaCross("cross", SmaCrossConfig(fast=2, slow=4), SimClock(7)), bars)

    assert (signal.ts_event, signal.ts_init) == (bars[i].ts_event, 7)
    assert (signal.signal_id, signal.strategy_id, signal.tag) == ("cross-1", "cross", "cross_up")
