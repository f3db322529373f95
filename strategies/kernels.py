"""Numba signal kernels: the built-in strategies over whole arrays of bars.

Each strategy's signals come in two steps: an indicator kernel computed once per distinct
window (so a grid of parameter sets shares it), and a signal kernel per parameter set that
writes one int8 code per bar: 1 LONG, -1 SHORT, 2 FLAT, 0 no signal. The codes are exactly
what the strategy class emits bar by bar under `strategies.StrategyHost`; each docstring
names that reference. The tests hold kernel and class equal on every file in
../shared/data and on random bars.

Prices enter as integers of 1e-6 (`strategies.indicators.to_units`, here `np.rint(p * 1e6)`)
where the class uses them, so sums are exact. The mean-reversion radicand n*Q - S^2 needs up
to ~2^126 for BTC-sized prices, so it is kept in unsigned 128-bit arithmetic (two uint64
limbs) and rounded to float64 once, as Python rounds its exact integer. Kernels never
raise; the callers in `strategies.fast` check the exact-arithmetic ranges first.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

LONG = np.int8(1)
SHORT = np.int8(-1)
FLAT = np.int8(2)
NONE = np.int8(0)

_MASK32 = uint64(0xFFFFFFFF)
_S32 = uint64(32)
_ONE = uint64(1)
_ZERO = uint64(0)


# --- exact indicators ------------------------------------------------------------------------
@njit(cache=True)
def rolling_sum_nb(units, window, out):
    """Write into `out` the sum of the last `window` integers at each bar (0 before bar
    window-1). Reference: `strategies.indicators.RollingSum.total` once `ready`."""
    total = np.int64(0)
    for i in range(units.shape[0]):
        total += units[i]
        if i >= window:
            total -= units[i - window]
        out[i] = total if i >= window - 1 else 0
    return out


@njit(cache=True)
def _mul64(a, b):
    """(hi, lo) of the 128-bit product of two uint64."""
    a0, a1 = a & _MASK32, a >> _S32
    b0, b1 = b & _MASK32, b >> _S32
    lo0, mid1, mid2 = a0 * b0, a1 * b0, a0 * b1
    carry = ((lo0 >> _S32) + (mid1 & _MASK32) + (mid2 & _MASK32)) >> _S32
    return a1 * b1 + (mid1 >> _S32) + (mid2 >> _S32) + carry, a * b


@njit(cache=True)
def _add128(hi, lo, bhi, blo):
    new_lo = lo + blo
    return hi + bhi + (_ONE if new_lo < lo else _ZERO), new_lo


@njit(cache=True)
def _sub128(hi, lo, bhi, blo):
    return hi - bhi - (_ONE if blo > lo else _ZERO), lo - blo


@njit(cache=True)
def _abs_u64(x):
    return uint64(-x) if x < 0 else uint64(x)


@njit(cache=True)
def u128_to_float_nb(hi, lo):
    """The 128-bit integer hi*2^64 + lo rounded to the nearest float64 (ties to even), as
    Python's float(int) rounds."""
    if hi == _ZERO:
        return float(lo)
    nb = 0
    h = hi
    while h != _ZERO:
        h >>= _ONE
        nb += 1
    if nb < 64:
        shift = uint64(nb)
        top = (hi << uint64(64 - nb)) | (lo >> shift)
        rest = lo & ((_ONE << shift) - _ONE)
    else:
        top, rest = hi, lo
    if rest != _ZERO:
        top |= _ONE              # sticky bit: below the rounding position of a 64-bit value
    return float(top) * 2.0 ** nb


@njit(cache=True)
def zscore_nb(units, window, out):
    """Write into `out` the z-score of each bar's value against the last `window` values
    (NaN when not ready or the window is flat).

    Reference: `strategies.indicators.RollingMeanStd.zscore` once `ready`:
    (n*x - S) / sqrt(n*Q - S^2), numerator and radicand exact, each rounded to float once.
    """
    n_bars = units.shape[0]
    out[:] = np.nan
    n = uint64(window)
    s = np.int64(0)
    q_hi, q_lo = _ZERO, _ZERO
    for i in range(n_bars):
        x = units[i]
        s += x
        sq_hi, sq_lo = _mul64(_abs_u64(x), _abs_u64(x))
        q_hi, q_lo = _add128(q_hi, q_lo, sq_hi, sq_lo)
        if i >= window:
            old = units[i - window]
            s -= old
            sq_hi, sq_lo = _mul64(_abs_u64(old), _abs_u64(old))
            q_hi, q_lo = _sub128(q_hi, q_lo, sq_hi, sq_lo)
        if i < window - 1:
            continue
        nq_hi, nq_lo = _mul64(q_lo, n)
        nq_hi += q_hi * n
        ss_hi, ss_lo = _mul64(_abs_u64(s), _abs_u64(s))
        r_hi, r_lo = _sub128(nq_hi, nq_lo, ss_hi, ss_lo)
        if r_hi == _ZERO and r_lo == _ZERO:
            continue
        out[i] = float(np.int64(window) * x - s) / np.sqrt(u128_to_float_nb(r_hi, r_lo))
    return out


@njit(cache=True)
def prior_extremes_nb(high, low, window, hi_out, lo_out):
    """Write the highest high and lowest low of the `window` bars before each bar into
    `hi_out` and `lo_out` (NaN before bar `window`), by monotonic deques.

    Reference: `strategies.indicators.Donchian.highest/lowest` read before the bar's update,
    as `strategies.breakout.Breakout.on_bar` reads them."""
    n = high.shape[0]
    hi_out[:] = np.nan
    lo_out[:] = np.nan
    hq = np.empty(n, np.int64)
    lq = np.empty(n, np.int64)
    h_head = h_tail = l_head = l_tail = 0
    for i in range(n):
        if i >= window:
            hi_out[i] = high[hq[h_head]]
            lo_out[i] = low[lq[l_head]]
        while h_tail > h_head and high[hq[h_tail - 1]] <= high[i]:
            h_tail -= 1
        hq[h_tail] = i
        h_tail += 1
        while l_tail > l_head and low[lq[l_tail - 1]] >= low[i]:
            l_tail -= 1
        lq[l_tail] = i
        l_tail += 1
        if hq[h_head] <= i - window:
            h_head += 1
        if lq[l_head] <= i - window:
            l_head += 1
    return hi_out, lo_out


# --- signals ---------------------------------------------------------------------------------
@njit(cache=True)
def sma_cross_signals_nb(sum_fast, sum_slow, fast, slow, allow_short, out):
    """Write sma_cross codes into `out` from the rolling sums of the two windows.

    Reference: `strategies.sma_cross.SmaCross.on_bar`: sign(sum_fast*slow - sum_slow*fast)
    from bar slow-1 through backtrader's CrossOver (`strategies.indicators.CrossOver`)."""
    down = SHORT if allow_short else FLAT
    out[:] = NONE
    last = 0
    for i in range(slow - 1, sum_slow.shape[0]):
        diff = sum_fast[i] * slow - sum_slow[i] * fast
        d = 1 if diff > 0 else (-1 if diff < 0 else 0)
        if i > slow - 1:
            if last < 0 < d:
                out[i] = LONG
            elif last > 0 > d:
                out[i] = down
            if d != 0:
                last = d
        else:
            last = d
    return out


@njit(cache=True)
def sma_trend_signals_nb(units, sums, period, out):
    """Write sma_trend codes into `out`: LONG when the close rises above its SMA, FLAT when
    it falls below, equality holds. Reference: `strategies.sma_trend.SmaTrend.on_bar`."""
    out[:] = NONE
    side = FLAT
    for i in range(period - 1, units.shape[0]):
        above = units[i] * period - sums[i]
        target = LONG if above > 0 else (FLAT if above < 0 else side)
        if target != side:
            side = target
            out[i] = target
    return out


@njit(cache=True)
def mean_reversion_signals_nb(z, entry_z, exit_z, allow_short, out):
    """Write mean_reversion codes into `out` from the z-scores of `zscore_nb` (NaN holds).

    Reference: `strategies.mean_reversion.MeanReversion.on_bar`."""
    out[:] = NONE
    side = FLAT
    for i in range(z.shape[0]):
        zi = z[i]
        if np.isnan(zi):
            continue
        target = side
        if zi <= -entry_z:
            target = LONG
        elif zi >= entry_z and allow_short:
            target = SHORT
        elif abs(zi) <= exit_z:
            target = FLAT
        if target != side:
            side = target
            out[i] = target
    return out


@njit(cache=True)
def breakout_signals_nb(close, entry_hi, entry_lo, exit_hi, exit_lo, has_exit, allow_short,
                        out):
    """Write breakout codes into `out` from the prior-bar channels of `prior_extremes_nb`
    (NaN = channel not ready). Reference: `strategies.breakout.Breakout.on_bar`."""
    down = SHORT if allow_short else FLAT
    out[:] = NONE
    side = FLAT
    for i in range(close.shape[0]):
        c = close[i]
        target = side
        if c > entry_hi[i]:                       # False while the channel is NaN
            target = LONG
        elif c < entry_lo[i]:
            target = down
        elif has_exit and ((target == LONG and c < exit_lo[i])
                           or (target == SHORT and c > exit_hi[i])):
            target = FLAT
        if target != side:
            side = target
            out[i] = target
    return out
