"""`curve_pass_nb` against the NumPy steps it replaced: the same doubles, curve for curve,
on hand-made fills and on random ones (fills at any bar, several per bar, flips, fees, a
bar index past the end, no fills, no bars)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.sweep_kernels import curve_pass_nb
from actors.sweep_run import curve_figures


def reference(fills: np.ndarray, close: np.ndarray, cash0: float) -> tuple:
    """The NumPy curve of actors.sweep_run before the kernel (returns, drawdown, held)."""
    n = len(close)
    signed = fills[:, 1] * fills[:, 3]
    cash_after = np.subtract.accumulate(np.concatenate([[cash0], signed * fills[:, 2]
                                                        + fills[:, 4]]))
    pos_after = np.concatenate([[0.0], np.add.accumulate(signed) if len(fills) else signed])
    bars = np.minimum(fills[:, 0].astype(np.int64), max(n - 1, 0))
    at = np.cumsum(np.bincount(bars, minlength=n))[:n]
    bar_pos = pos_after[at]
    curve = np.concatenate([[cash0], cash_after[at] + bar_pos * close])
    peak = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = float(np.nanmax(1.0 - curve / peak))
        returns = curve[1:] / curve[:-1] - 1.0
    return returns, drawdown, int(np.count_nonzero(bar_pos))


def random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    n = int(rng.integers(0, 300))
    close = rng.uniform(5.0, 200.0, n).round(2)
    m = int(rng.integers(0, 40))
    bars = np.sort(rng.integers(0, max(n, 1) + 3, m))      # a few past the last bar
    side = rng.choice([-1.0, 1.0], m)
    fills = np.column_stack([bars, side, rng.uniform(5.0, 200.0, m),
                             rng.uniform(0.0, 50.0, m).round(3), rng.uniform(0.0, 2.0, m)])
    return fills.reshape(-1, 5), close, float(rng.uniform(1e3, 1e6))


def assert_same(fills: np.ndarray, close: np.ndarray, cash0: float) -> None:
    want_r, want_dd, want_held = reference(fills, close, cash0)
    got_r, got_dd, got_held = curve_pass_nb(fills, close, cash0)
    assert got_r.tobytes() == want_r.tobytes()
    assert (got_dd == want_dd) or (math.isnan(got_dd) and math.isnan(want_dd))
    assert got_held == want_held


def test_hand_made_fills_give_the_numpy_curve():
    close = np.array([10.0, 11.0, 9.0, 12.0, 8.0])
    fills = np.array([[0, 1, 10.0, 100.0, 1.0], [2, -1, 9.0, 100.0, 1.0],
                      [2, -1, 9.0, 50.0, 0.5], [9, 1, 8.0, 50.0, 0.5]])    # flip, past end
    assert_same(fills, close, 1000.0)
    returns, drawdown, held = curve_pass_nb(fills, close, 1000.0)
    assert held == 4 and drawdown > 0        # flat only after the last bar's fill


@pytest.mark.parametrize("seed", range(40))
def test_random_fills_give_the_numpy_curve(seed):
    assert_same(*random_case(np.random.default_rng(seed)))


def test_no_fills_no_bars_and_a_bad_bar_index():
    assert_same(np.zeros((0, 5)), np.array([1.0, 2.0]), 10.0)
    assert_same(np.zeros((0, 5)), np.zeros(0), 10.0)
    with pytest.raises(ValueError, match="negative bar index"):
        curve_pass_nb(np.array([[-1, 1, 1.0, 1.0, 0.0]]), np.array([1.0]), 10.0)


def test_figures_from_the_kernel_curve():
    fills, close, cash0 = random_case(np.random.default_rng(7))
    returns, drawdown, held = reference(fills, close, cash0)
    got = curve_figures(fills, close, cash0, 252.0)
    assert got["max_drawdown"] == max(drawdown, 0.0)
    assert got["exposure"] == held / len(close)
    assert got["sharpe"] == pytest.approx(
        np.mean(returns) / np.std(returns, ddof=1) * math.sqrt(252.0), rel=1e-12)
