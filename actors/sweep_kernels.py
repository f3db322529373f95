"""The one Numba pass behind a sweep set's curve figures (`actors.sweep_run.curve_figures`).

From a set's fill rows (bar_index, side +1/-1, price, qty, fee) and the closes it rebuilds
the close-marked equity curve [cash0, equity after bar 0, ..., after bar n-1] exactly as
the NumPy steps it replaces did, operation for operation (so the same doubles): cash moves
fill after fill, cash -= side x qty x price + fee; the position by side x qty; bar t's
equity is the cash plus the position at bar t's close after every fill whose bar index
(clipped to n - 1) is at most t. The reference, those NumPy steps, is in
tests/unit/actors/test_sweep_kernels.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def curve_pass_nb(fills: np.ndarray, close: np.ndarray, cash0: float
                  ) -> tuple[np.ndarray, float, int]:
    """(returns, max_drawdown, bars_held) of the curve rebuilt from `fills` (m x 5).

    returns[t] = curve[t+1] / curve[t] - 1 for the n bars; max_drawdown the largest
    1 - curve / running peak (the peak as np.maximum.accumulate has it: NaN once a NaN is
    seen), NaN values skipped and NaN if all are; bars_held the bars that end with a
    non-zero position."""
    n, m = close.shape[0], fills.shape[0]
    last = max(n - 1, 0)
    done_by = np.zeros(max(n, 1), np.int64)       # fills whose bar is t, then up to t
    for k in range(m):
        bar = np.int64(fills[k, 0])
        if bar < 0:
            raise ValueError("a fill row has a negative bar index")
        done_by[min(bar, last)] += 1
    for t in range(1, n):
        done_by[t] += done_by[t - 1]
    cash = np.empty(m + 1)
    pos = np.empty(m + 1)
    cash[0], pos[0] = cash0, 0.0
    for k in range(m):
        signed = fills[k, 1] * fills[k, 3]
        cash[k + 1] = cash[k] - (signed * fills[k, 2] + fills[k, 4])
        pos[k + 1] = pos[k] + signed
    returns = np.empty(n)
    prev = peak = cash0
    deepest, found = 1.0 - cash0 / cash0, False
    if deepest == deepest:
        found = True
    held = 0
    for t in range(n):
        at = done_by[t]
        held += pos[at] != 0.0
        value = cash[at] + pos[at] * close[t]
        returns[t] = value / prev - 1.0
        prev = value
        if peak == peak and (value != value or value > peak):
            peak = value                          # np.maximum: NaN wins, else the larger
        fall = 1.0 - value / peak
        if fall == fall and (not found or fall > deepest):
            deepest, found = fall, True
    return returns, (deepest if found else np.nan), held
