"""Numba kernels of the risk package: fleet sizing, trailing stops and exit evaluation.

Each kernel takes a struct of arrays (float64 prices and amounts, int64 codes and
nanosecond times; any integer dtype works for the codes) plus scalars, handles every row
in one call, and reports per row with an integer code from `risk.codes`. Kernels never
raise: bad input is a status code on the rows it concerns, and they compile with
`error_model="numpy"` so that a zero divisor gives inf or NaN, never ZeroDivisionError.

Each docstring names the plain-Python reference the kernel is held to. The references live
in `tests/unit/risk/reference.py`; property tests (hypothesis) hold kernel and reference
together on random arrays with NaN, infinities, zeros and negative values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from engine.enums import ExitReason
from risk.codes import SizeStatus, SizingModeCode, TrailMode

# Numba freezes module-level integers as compile-time constants.
_OK = int(SizeStatus.OK)
_CAPPED_MAX_QTY = int(SizeStatus.CAPPED_MAX_QTY)
_CAPPED_MAX_NOTIONAL = int(SizeStatus.CAPPED_MAX_NOTIONAL)
_CAPPED_CASH = int(SizeStatus.CAPPED_CASH)
_BELOW_MIN_QTY = int(SizeStatus.BELOW_MIN_QTY)
_BELOW_MIN_NOTIONAL = int(SizeStatus.BELOW_MIN_NOTIONAL)
_INSUFFICIENT_CASH = int(SizeStatus.INSUFFICIENT_CASH)
_INVALID_PRICE = int(SizeStatus.INVALID_PRICE)
_INVALID_INSTRUMENT = int(SizeStatus.INVALID_INSTRUMENT)
_INVALID_MODE = int(SizeStatus.INVALID_MODE)
_INVALID_PARAM = int(SizeStatus.INVALID_PARAM)
_INVALID_EQUITY = int(SizeStatus.INVALID_EQUITY)
_INVALID_CASH = int(SizeStatus.INVALID_CASH)
_INVALID_LIMIT = int(SizeStatus.INVALID_LIMIT)
_INVALID_STOP = int(SizeStatus.INVALID_STOP)
_INVALID_ATR = int(SizeStatus.INVALID_ATR)
_SIZE_OVERFLOW = int(SizeStatus.SIZE_OVERFLOW)
_PENDING = -1     # rows size_fleet_nb finishes outside its vectorised loop are <= this
_RECHECK = -64    # rows the common-case pass leaves to the exact row (`_size_row`)

_FIXED_QUANTITY = int(SizingModeCode.FIXED_QUANTITY)
_FIXED_NOTIONAL = int(SizingModeCode.FIXED_NOTIONAL)
_PERCENT_EQUITY = int(SizingModeCode.PERCENT_EQUITY)
_ALL_CASH = int(SizingModeCode.ALL_CASH)
_FIXED_FRACTIONAL = int(SizingModeCode.FIXED_FRACTIONAL)
_VOLATILITY_TARGET = int(SizingModeCode.VOLATILITY_TARGET)

_TRAIL_PERCENT = int(TrailMode.PERCENT)
_TRAIL_ABSOLUTE = int(TrailMode.ABSOLUTE)
_TRAIL_ATR = int(TrailMode.ATR)

_EXIT_NONE = int(ExitReason.NONE)
_EXIT_STOP_LOSS = int(ExitReason.STOP_LOSS)
_EXIT_TAKE_PROFIT = int(ExitReason.TAKE_PROFIT)
_EXIT_TRAILING_STOP = int(ExitReason.TRAILING_STOP)
_EXIT_MAX_HOLDING_TIME = int(ExitReason.MAX_HOLDING_TIME)
_EXIT_BREAK_EVEN = int(ExitReason.BREAK_EVEN)

_GRID_EPS = 1e-9           # engine.instruments' grid tolerance, in steps (absolute part)
_GRID_REL_EPS = 1e-14      # and its relative part, for float noise on large unit counts
_MAX_STEP_DECIMALS = 17
_MAX_GRID_UNITS = 2.0 ** 52    # beyond this float64 cannot count steps of the grid exactly

# The common-case pass of size_fleet_nb (`_common_target`, `_common_finish`): it takes the
# rows whose amounts lie in [_COMMON_LO, _COMMON_HI] (so that no quotient it forms under-
# or overflows, which `_div_exact` needs) and whose size is below _COMMON_GRID_UNITS units
# of the step's last decimal (so that the step count times the step's digits stays exact);
# every other row goes to `_size_row`. It works in blocks of _BLOCK rows, two loops a block.
_COMMON_LO = 1e-50
_COMMON_HI = 1e50
_COMMON_GRID_UNITS = 2.0 ** 47
_BLOCK = 512
# int8 status codes: the common-case pass keeps codes in byte lanes
_I8_OK = np.int8(_OK)
_I8_CAPPED_MAX_QTY = np.int8(_CAPPED_MAX_QTY)
_I8_CAPPED_MAX_NOTIONAL = np.int8(_CAPPED_MAX_NOTIONAL)
_I8_CAPPED_CASH = np.int8(_CAPPED_CASH)
_I8_BELOW_MIN_QTY = np.int8(_BELOW_MIN_QTY)
_I8_BELOW_MIN_NOTIONAL = np.int8(_BELOW_MIN_NOTIONAL)
_I8_INSUFFICIENT_CASH = np.int8(_INSUFFICIENT_CASH)
_I8_RECHECK = np.int8(_RECHECK)

_NO_DEADLINE_HINT = np.iinfo(np.int64).min   # earliest_deadline_ns that promises nothing
_NO_DEADLINE = np.iinfo(np.int64).max        # earliest_deadline of a book without limits


# --- exact division by a per-call constant, and vector width ---------------------------------
@intrinsic
def _fma(typingctx, a, b, c):
    """a x b + c with one rounding (llvm.fma; vectorises)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return sig, codegen


@intrinsic
def _prefer_512_bit_vectors(typingctx):
    """Let LLVM vectorise the calling function with 512-bit vectors where the CPU has them
    (its default on AVX-512 CPUs is 256). Results do not change, only the vector width."""
    def codegen(context, builder, signature, args):
        # llvmlite checks attribute names against a list without string attributes, so
        # the set's own add is used; should a later llvmlite refuse that, the kernel
        # compiles as before, only with LLVM's default vector width
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except (TypeError, AttributeError):
            pass
        return context.get_dummy_value()
    return types.none(), codegen


@njit(inline="always", error_model="numpy")
def _div_exact(a, b, recip_b):
    """a / b rounded as IEEE division rounds it, from recip_b = 1.0 / b, with a multiply and
    two FMAs (Markstein's correction: q = a x recip_b is within one ulp of a / b, the FMA
    gives the remainder a - q x b exactly, and q + remainder x recip_b rounds to the
    correctly rounded quotient). Holds when neither a, b nor a / b is subnormal, infinite
    or NaN, and a may be 0; callers keep to that range."""
    q = a * recip_b
    r = _fma(-q, b, a)
    return _fma(r, recip_b, q)


# --- sizing ---------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def step_scale_nb(qty_step: float) -> float:
    """10**d for the fewest decimals d that write `qty_step` exactly (0.001 -> 1000.0),
    or 0.0 when no d <= 17 does.

    The same d as `engine.instruments._decimals` (the decimals of the step's shortest
    repr): a d-decimal value round-trips through float64 exactly when
    round(step x 10**d) / 10**d == step.
    """
    scale = 1.0
    for _ in range(_MAX_STEP_DECIMALS + 1):
        if np.floor(qty_step * scale + 0.5) / scale == qty_step:
            return scale
        scale *= 10.0
    return 0.0


@njit(cache=True, error_model="numpy")
def floor_units_nb(qty: float, qty_step: float) -> float:
    """Whole steps in `qty` (>= 0), as `engine.instruments.Instrument.floor_qty` counts
    them: the nearest whole number (Python's `round`: a half goes to the even one) when
    `qty / step` is within 1e-9 + 1e-14 x |units| of it (float noise), otherwise rounded
    down. From 5e13 units on the tolerance reaches half a step, so there a count ending
    in exactly .5 is a tie that must go to the even number, as `round` does."""
    units = qty / qty_step
    nearest = np.rint(units)
    if abs(units - nearest) <= _GRID_EPS + _GRID_REL_EPS * abs(units):
        return nearest
    return np.floor(units)


@njit(inline="always", error_model="numpy")
def _round_to_scale(x, scale):
    """Python's round(x, d) for scale = 10**d (0 <= d <= 17): the integer nearest to the
    exact product x x 10**d, a half to the even one, divided by 10**d (correctly rounded,
    as round's decimal-string round trip does). The float product p = x x scale is itself
    rounded, and its error can make it a half that the exact product is not
    (x = 31508697868099.97265625, d = 2: x x 100 = 3150869786809997.265625 rounds up to
    ...97.5, where floor(p + 0.5) gives ...98 and round gives ...97). So the product's
    remainder e (x x scale == p + e exactly, by FMA) settles a p on a half: e > 0 is above
    it, e < 0 below, e == 0 a true tie (rint's even). A p off the half is on the same side
    as the exact product (a half below 2**52 is a float), and from 2**52 on p is already the
    integer nearest the product, ties to even."""
    p = x * scale
    e = _fma(x, scale, -p)
    k = np.rint(p)
    d = p - k                        # exact, |d| <= 0.5
    k = k + 1.0 if (d == 0.5) & (e > 0.0) else k
    k = k - 1.0 if (d == -0.5) & (e < 0.0) else k
    return k / scale


@njit(cache=True, error_model="numpy")
def units_to_qty_nb(units: float, qty_step: float, scale: float) -> float:
    """`units` steps as a quantity, rounded to the step's decimals as
    `engine.instruments.Instrument.floor_qty` does (0.30000000000000004 -> 0.3; exactly
    Python's round(units x step, d), see `_round_to_scale`)."""
    if scale == 0.0:
        return units * qty_step
    return _round_to_scale(units * qty_step, scale)


@njit(cache=True, error_model="numpy")
def size_fleet_nb(equity, free_cash, mode, param, max_qty, max_notional,
                  price, stop_price, atr, qty_step, min_qty, min_notional, multiplier,
                  taker_fee_bps):
    """Size one entry signal for every account of a fleet; returns (qty, status).

    Reference: `tests.unit.risk.reference.size_fleet_reference`, and
    `engine.sizing.size_order` for the modes they share (FIXED_QUANTITY, FIXED_NOTIONAL,
    PERCENT_EQUITY, and ALL_CASH without fixed per-order or per-unit fees).

    Per account (arrays of length N): equity, free_cash (float64), mode (int,
    `risk.codes.SizingModeCode`), param (the mode's parameter), max_qty and max_notional
    (float64 caps, +inf = no cap).
    Scalars of the signal and instrument: price (entry), stop_price (FIXED_FRACTIONAL),
    atr (VOLATILITY_TARGET, in price units), qty_step, min_qty, min_notional, multiplier,
    taker_fee_bps (negative rebates count as 0, as in engine.sizing).

    Per row:
    1. the raw size from the mode (formulas in `risk.codes`);
    2. the smallest of raw size, max_qty, max_notional / (price x mult) and
       free_cash / (price x mult x (1 + taker)); status names the cap that won (strictly
       below the raw size);
    3. SIZE_OVERFLOW when that size is 2**52 or more units of the step's last decimal
       (float64 could not count the steps); otherwise rounded toward zero onto qty_step
       and written with the step's decimals, exactly as Instrument.floor_qty (a size
       within float noise below a whole number of steps counts as that number,
       `floor_units_nb`); if that tolerance lifted the result over a cap, or the float
       cost of an exact fit rounds above it, it is lowered one step at a time, so the
       result never breaks a cap:
       qty <= max_qty, qty x price x mult <= max_notional and
       qty x price x mult x (1 + taker) <= free_cash (evaluated left to right);
    4. zero when qty <= 0 or qty < min_qty (BELOW_MIN_QTY) or qty x price x mult <
       min_notional (BELOW_MIN_NOTIONAL); INSUFFICIENT_CASH instead when the cash cap
       won in step 2.
    Invalid inputs give qty 0 and an INVALID_* status (see `risk.codes.SizeStatus`); so do
    products that under- or overflow (price x multiplier, |price - stop| x multiplier,
    ATR x multiplier).

    The common case (valid amounts in a wide range, a step with at most 17 decimals) runs
    in blocks through two branch-free, vectorised loops: `_common_target` (raw size, caps)
    and `_common_finish` (the step, the status), with each division by a per-call constant
    done exactly by `_div_exact`. Any other row, and the rare row whose size on the step
    breaks a cap, is marked and sized afterwards by the general row `_size_row` (and
    `_finish_pending_rows`), which the parallel twin uses for every row. An int8 `mode`
    array reads fewer bytes than int64.
    """
    n = equity.shape[0]
    qty = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.int8)
    fail, unit_value, taker, scale, ff_den, vt_den = _sizing_scalars(
        price, stop_price, atr, qty_step, min_qty, min_notional, multiplier, taker_fee_bps)
    if fail != _OK:
        qty[:] = 0.0
        status[:] = fail
        return qty, status
    _prefer_512_bit_vectors()
    cost_per_unit = unit_value * (1.0 + taker)
    common = (scale > 0.0 and _in_common_range(unit_value)
              and _in_common_range(cost_per_unit) and _in_common_range(qty_step)
              and _in_common_range(scale))
    pending = 0
    if common:
        flagged = _size_common_rows(equity, free_cash, mode, param, max_qty, max_notional,
                                    qty, status, price, qty_step, min_qty, min_notional,
                                    multiplier, unit_value, taker, scale, ff_den, vt_den)
        for block in range(flagged.shape[0]):
            if not flagged[block]:
                continue
            for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n)):
                if status[i] == _RECHECK:
                    pending += _size_row(i, equity, free_cash, mode, param, max_qty,
                                         max_notional, qty, status, price, qty_step, min_qty,
                                         min_notional, multiplier, unit_value, taker, scale,
                                         ff_den, vt_den)
    else:
        for i in range(n):
            pending += _size_row(i, equity, free_cash, mode, param, max_qty, max_notional,
                                 qty, status, price, qty_step, min_qty, min_notional,
                                 multiplier, unit_value, taker, scale, ff_den, vt_den)
    if pending:
        _finish_pending_rows(max_qty, max_notional, free_cash, qty, status, price,
                             qty_step, min_qty, min_notional, multiplier, taker, scale)
    return qty, status


@njit(cache=True, parallel=True, error_model="numpy")
def size_fleet_parallel_nb(equity, free_cash, mode, param, max_qty, max_notional,
                           price, stop_price, atr, qty_step, min_qty, min_notional,
                           multiplier, taker_fee_bps):
    """`size_fleet_nb` with its rows spread over the process's Numba threads (prange).

    Same arguments, same results row for row; see `trail_and_exit_parallel_nb` for when
    to use it. Reference: `size_fleet_nb`, held equal by the property tests.
    """
    n = equity.shape[0]
    qty = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.int8)
    fail, unit_value, taker, scale, ff_den, vt_den = _sizing_scalars(
        price, stop_price, atr, qty_step, min_qty, min_notional, multiplier, taker_fee_bps)
    if fail != _OK:
        qty[:] = 0.0
        status[:] = fail
        return qty, status
    pending = 0
    for i in prange(n):
        pending += _size_row(i, equity, free_cash, mode, param, max_qty, max_notional, qty,
                             status, price, qty_step, min_qty, min_notional, multiplier,
                             unit_value, taker, scale, ff_den, vt_den)
    if pending:
        _finish_pending_rows(max_qty, max_notional, free_cash, qty, status, price,
                             qty_step, min_qty, min_notional, multiplier, taker, scale)
    return qty, status


@njit(inline="always", error_model="numpy")
def _in_common_range(x):
    return (x >= _COMMON_LO) & (x <= _COMMON_HI)


@njit(inline="always", error_model="numpy")
def _size_common_rows(equity, free_cash, mode, param, max_qty, max_notional, qty, status,
                      price, qty_step, min_qty, min_notional, multiplier, unit_value, taker,
                      scale, ff_den, vt_den):
    """The common-case pass of `size_fleet_nb` over all rows, block by block; returns one
    flag per block, True when it left rows of that block with status _RECHECK. Needs
    scale > 0 and unit value, cost per unit, step and scale in the common range."""
    n = equity.shape[0]
    cost_per_unit = unit_value * (1.0 + taker)
    ff_ok = ff_den == ff_den and _in_common_range(ff_den)
    vt_ok = vt_den == vt_den and _in_common_range(vt_den)
    # rows of a mode beyond this are rechecked (their stop or ATR is invalid or extreme)
    mode_limit = _VOLATILITY_TARGET if (ff_ok and vt_ok) else _ALL_CASH
    ffd = ff_den if ff_ok else 1.0
    vtd = vt_den if vt_ok else 1.0
    step_digits = np.floor(qty_step * scale + 0.5)   # the step in units of its last decimal
    rec = (1.0 / unit_value, 1.0 / cost_per_unit, 1.0 / ffd, 1.0 / vtd)
    target = np.empty(_BLOCK, dtype=np.float64)
    code = np.empty(_BLOCK, dtype=np.int8)
    flagged = np.zeros((n + _BLOCK - 1) // _BLOCK, dtype=np.bool_)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        eq_b, cash_b, mode_b = equity[start:stop], free_cash[start:stop], mode[start:stop]
        param_b, cap_qty_b = param[start:stop], max_qty[start:stop]
        cap_notional_b = max_notional[start:stop]
        for j in range(stop - start):
            _common_target(j, eq_b, cash_b, mode_b, param_b, cap_qty_b, cap_notional_b,
                           target, code, unit_value, cost_per_unit, ffd, vtd, rec, scale,
                           mode_limit)
        qty_b, status_b = qty[start:stop], status[start:stop]
        recheck = False
        for j in range(stop - start):
            recheck |= _common_finish(j, cash_b, cap_qty_b, cap_notional_b, qty_b, status_b,
                                      target, code, price, qty_step, min_qty, min_notional,
                                      multiplier, 1.0 + taker, 1.0 / qty_step, scale,
                                      1.0 / scale, step_digits)
        flagged[start // _BLOCK] = recheck
    return flagged


@njit(inline="always", error_model="numpy")
def _common_target(j, equity, free_cash, mode, param, max_qty, max_notional, target, code,
                   unit_value, cost_per_unit, ff_den, vt_den, rec, scale, mode_limit):
    """Steps 1-2 of `size_fleet_nb` for row j of a block, as `_size_row` computes them:
    target[j] = the capped size, code[j] = the cap that won, or _RECHECK when the row is
    not in the common case (any invalid or extreme amount, an overflowing size)."""
    r_unit_value, r_cost_per_unit, r_ff_den, r_vt_den = rec
    m = mode[j]
    p = param[j]
    cash = free_cash[j]
    eq = equity[j]
    cap_qty = max_qty[j]
    cap_notional = max_notional[j]

    # raw size: FIXED_QUANTITY is param itself, ALL_CASH the cash cap (the same quotient)
    eqp = eq * p
    pct = _div_exact(eqp, 100.0, 0.01)   # 0.01 == 1.0 / 100.0, correctly rounded
    num = p
    num = pct if m == _PERCENT_EQUITY else num
    num = eqp if m >= _FIXED_FRACTIONAL else num
    den = unit_value
    rden = r_unit_value
    den = ff_den if m == _FIXED_FRACTIONAL else den
    rden = r_ff_den if m == _FIXED_FRACTIONAL else rden
    den = vt_den if m == _VOLATILITY_TARGET else den
    rden = r_vt_den if m == _VOLATILITY_TARGET else rden
    raw = _div_exact(num, den, rden)
    no_notional_cap = cap_notional == np.inf
    notional_cap = _div_exact(cap_notional, unit_value, r_unit_value)
    notional_cap = np.inf if no_notional_cap else notional_cap
    cash_cap = _div_exact(cash, cost_per_unit, r_cost_per_unit)
    raw = cash_cap if m == _ALL_CASH else raw
    raw = p if m == _FIXED_QUANTITY else raw

    capped = cap_qty < raw
    size = cap_qty if capped else raw
    won = _I8_CAPPED_MAX_QTY if capped else _I8_OK
    capped = notional_cap < size
    size = notional_cap if capped else size
    won = _I8_CAPPED_MAX_NOTIONAL if capped else won
    capped = cash_cap < size
    size = cash_cap if capped else size
    won = _I8_CAPPED_CASH if capped else won

    # the common case: every amount the row uses in [_COMMON_LO, _COMMON_HI] (+inf caps
    # allowed); a NaN anywhere makes `total` NaN, so the min may skip NaNs
    p_ = 1.0 if m == _ALL_CASH else p
    eq_ = eq if (m == _PERCENT_EQUITY) | (m >= _FIXED_FRACTIONAL) else 1.0
    cap_qty_ = 1.0 if cap_qty == np.inf else cap_qty
    cap_notional_ = 1.0 if no_notional_cap else cap_notional
    low = p_ if p_ < eq_ else eq_
    low2 = cash if cash < cap_qty_ else cap_qty_
    low = low if low < low2 else low2
    low = low if low < cap_notional_ else cap_notional_
    total = ((p_ + eq_) + (cash + cap_qty_)) + cap_notional_
    common = (low >= _COMMON_LO) & (total <= _COMMON_HI)
    common &= (m >= 0) & (m <= mode_limit)
    common &= size * scale < _COMMON_GRID_UNITS
    target[j] = size
    code[j] = won if common else _I8_RECHECK


@njit(inline="always", error_model="numpy")
def _common_finish(j, free_cash, max_qty, max_notional, qty, status, target, code, price,
                   qty_step, min_qty, min_notional, multiplier, taker1, r_qty_step, scale,
                   r_scale, step_digits):
    """Steps 3-4 of `size_fleet_nb` for row j of a block after `_common_target`: the size
    on the step (floor_units_nb; then units x step written with the step's decimals, which
    is (units x step_digits) / scale exactly below _COMMON_GRID_UNITS) and the status.
    Returns True when the row is left _RECHECK (not common, or its size on the step broke
    a cap)."""
    size = target[j]
    won = code[j]
    cash = free_cash[j]
    cap_qty = max_qty[j]
    cap_notional = max_notional[j]
    units = _div_exact(size, qty_step, r_qty_step)
    nearest = np.rint(units)         # Python's round: ties to even (see floor_units_nb)
    near = abs(units - nearest) <= _GRID_EPS + _GRID_REL_EPS * units
    units = nearest if near else np.floor(units)
    q = _div_exact(units * step_digits, scale, r_scale)
    notional = q * price * multiplier
    breaks = (units > 0.0) & ((q > cap_qty) | (notional > cap_notional)
                              | (notional * taker1 > cash))
    small_q = (q <= 0.0) | (q < min_qty)
    below = small_q | (notional < min_notional)
    reason = _I8_BELOW_MIN_QTY if small_q else _I8_BELOW_MIN_NOTIONAL
    reason = _I8_INSUFFICIENT_CASH if won == _I8_CAPPED_CASH else reason
    st = reason if below else won
    recheck = breaks | (won == _I8_RECHECK)
    st = _I8_RECHECK if recheck else st
    qty[j] = 0.0 if below else q
    status[j] = st
    return recheck


@njit(inline="always", error_model="numpy")
def _sizing_scalars(price, stop_price, atr, qty_step, min_qty, min_notional, multiplier,
                    taker_fee_bps):
    """The per-call part of `size_fleet_nb`: (status of every row when the signal or the
    instrument is invalid, else OK; unit value; taker fee; step scale; the divisors of
    FIXED_FRACTIONAL and VOLATILITY_TARGET, NaN when their stop or ATR is invalid)."""
    nan = np.nan
    if not (math.isfinite(price) and price > 0.0):
        return _INVALID_PRICE, nan, nan, nan, nan, nan
    if not (math.isfinite(qty_step) and qty_step > 0.0
            and math.isfinite(multiplier) and multiplier > 0.0
            and math.isfinite(min_qty) and min_qty >= 0.0
            and math.isfinite(min_notional) and min_notional >= 0.0
            and math.isfinite(taker_fee_bps)):
        return _INVALID_INSTRUMENT, nan, nan, nan, nan, nan
    unit_value = price * multiplier
    taker = max(taker_fee_bps, 0.0) * 1e-4
    if not (unit_value > 0.0 and unit_value * (1.0 + taker) < np.inf):
        return _INVALID_INSTRUMENT, nan, nan, nan, nan, nan   # the products under/overflow
    stop_distance = abs(price - stop_price)
    stop_ok = (math.isfinite(stop_price) and stop_price > 0.0
               and stop_distance * multiplier > 0.0 and stop_distance * multiplier < np.inf)
    atr_ok = math.isfinite(atr) and atr * multiplier > 0.0 and atr * multiplier < np.inf
    ff_den = stop_distance * multiplier if stop_ok else nan
    vt_den = atr * multiplier if atr_ok else nan
    return _OK, unit_value, taker, step_scale_nb(qty_step), ff_den, vt_den


@njit(inline="always", error_model="numpy")
def _size_row(i, equity, free_cash, mode, param, max_qty, max_notional, qty, status,
              price, qty_step, min_qty, min_notional, multiplier, unit_value, taker, scale,
              ff_den, vt_den):
    """Row i of `size_fleet_nb` (see its docstring), written without branches (selects
    only) so that LLVM vectorises the loop. Returns 1 when the row's size on the step
    broke a cap (rare): the row is then left pending for `_finish_pending_rows`, with
    status _PENDING - code and qty = the capped size before rounding."""
    m = mode[i]
    p = param[i]
    cash = free_cash[i]
    eq = equity[i]
    cap_qty = max_qty[i]
    cap_notional = max_notional[i]
    cost_per_unit = unit_value * (1.0 + taker)

    # raw size = num / den with the mode's numerator and denominator (FIXED_QUANTITY: p/1)
    eqp = eq * p
    num = eqp
    num = cash if m == _ALL_CASH else num
    num = eqp / 100.0 if m == _PERCENT_EQUITY else num
    num = p if m <= _FIXED_NOTIONAL else num
    den = vt_den
    den = ff_den if m == _FIXED_FRACTIONAL else den
    den = cost_per_unit if m == _ALL_CASH else den
    den = unit_value if (m == _FIXED_NOTIONAL) | (m == _PERCENT_EQUITY) else den
    den = 1.0 if m == _FIXED_QUANTITY else den
    raw = num / den

    # the tightest cap
    notional_cap = cap_notional / unit_value
    cash_cap = cash / cost_per_unit
    capped = cap_qty < raw
    target = cap_qty if capped else raw
    code = _CAPPED_MAX_QTY if capped else _OK
    capped = notional_cap < target
    target = notional_cap if capped else target
    code = _CAPPED_MAX_NOTIONAL if capped else code
    capped = cash_cap < target
    target = cash_cap if capped else target
    code = _CAPPED_CASH if capped else code

    # onto the step grid (floor_units_nb and units_to_qty_nb, as selects)
    grid_units = target * scale if scale > 0.0 else target / qty_step
    units = target / qty_step
    nearest = np.rint(units)         # Python's round: ties to even (see floor_units_nb)
    near = abs(units - nearest) <= _GRID_EPS + _GRID_REL_EPS * abs(units)
    units = nearest if near else np.floor(units)
    q = units * qty_step
    q = _round_to_scale(q, scale) if scale != 0.0 else q
    notional = q * price * multiplier
    breaks = (units > 0.0) & ((q > cap_qty) | (notional > cap_notional)
                              | (notional * (1.0 + taker) > cash))

    # the status: the last assignment is the first rule in order
    cash_bound = code == _CAPPED_CASH
    st = code
    st = (_INSUFFICIENT_CASH if cash_bound else _BELOW_MIN_NOTIONAL) if (
        notional < min_notional) else st
    st = (_INSUFFICIENT_CASH if cash_bound else _BELOW_MIN_QTY) if (
        (q <= 0.0) | (q < min_qty)) else st
    st = _PENDING - code if breaks else st
    st = _SIZE_OVERFLOW if grid_units >= _MAX_GRID_UNITS else st
    st = _INVALID_PARAM if not (abs(raw) < np.inf) else st
    st = _INVALID_ATR if (m == _VOLATILITY_TARGET) & (vt_den != vt_den) else st
    st = _INVALID_STOP if (m == _FIXED_FRACTIONAL) & (ff_den != ff_den) else st
    uses_equity = (m == _PERCENT_EQUITY) | (m >= _FIXED_FRACTIONAL)
    st = _INVALID_EQUITY if uses_equity & ~((eq > 0.0) & (eq < np.inf)) else st
    st = _INSUFFICIENT_CASH if cash <= 0.0 else st
    st = _INVALID_LIMIT if ~((cap_qty > 0.0) & (cap_notional > 0.0)) else st
    st = _INVALID_CASH if ~(abs(cash) < np.inf) else st
    st = _INVALID_PARAM if (m != _ALL_CASH) & ~((p > 0.0) & (p < np.inf)) else st
    st = _INVALID_MODE if (m < _FIXED_QUANTITY) | (m > _VOLATILITY_TARGET) else st
    sized = q if (st >= _OK) & (st < _BELOW_MIN_QTY) else 0.0
    qty[i] = target if st <= _PENDING else sized     # one store: LLVM keeps it contiguous
    status[i] = st
    return 1 if st <= _PENDING else 0


@njit(error_model="numpy")
def _finish_pending_rows(max_qty, max_notional, free_cash, qty, status, price, qty_step,
                         min_qty, min_notional, multiplier, taker, scale):
    """The rows `_size_row` left pending (status _PENDING - code, qty = the capped target):
    their size on the step broke a cap, so it is lowered one step at a time until it keeps
    every cap, then checked against the minimums."""
    for i in range(status.shape[0]):
        if status[i] > _PENDING:
            continue
        code = _PENDING - status[i]
        cash = free_cash[i]
        units = floor_units_nb(qty[i], qty_step)
        q = units_to_qty_nb(units, qty_step, scale)
        while units > 0.0 and (q > max_qty[i] or q * price * multiplier > max_notional[i]
                               or q * price * multiplier * (1.0 + taker) > cash):
            units -= 1.0
            q = units_to_qty_nb(units, qty_step, scale)
        status[i] = code
        qty[i] = q
        if q <= 0.0 or q < min_qty:
            status[i] = _INSUFFICIENT_CASH if code == _CAPPED_CASH else _BELOW_MIN_QTY
            qty[i] = 0.0
        elif q * price * multiplier < min_notional:
            status[i] = _INSUFFICIENT_CASH if code == _CAPPED_CASH else _BELOW_MIN_NOTIONAL
            qty[i] = 0.0


# --- trailing stops and exits ---------------------------------------------------------------
# The exit rows are written without branches (selects only) so that LLVM vectorises the
# loops: the state is stored back on every row, unchanged where nothing moved.
@njit(inline="always", error_model="numpy")
def _exit_reason(px, d, stop, take, ts, deadline, now_ns, break_even):
    """Steps 2-6 of `trail_and_exit_nb` for one live row: the last assignment is the first
    rule in order, and NaN levels never fire."""
    reason = _EXIT_NONE
    reason = (_EXIT_MAX_HOLDING_TIME
              if (deadline != 0) & (now_ns >= deadline) else reason)
    reason = _EXIT_BREAK_EVEN if break_even else reason
    reason = _EXIT_TRAILING_STOP if (px - ts) * d <= 0.0 else reason
    reason = _EXIT_TAKE_PROFIT if (px - take) * d >= 0.0 else reason
    reason = _EXIT_STOP_LOSS if (px - stop) * d <= 0.0 else reason
    return reason


@njit(inline="always", error_model="numpy")
def _trail_row(i, direction, entry, stop, take, trail_mode, trail_param, atr, activation,
               best, trail_stop, be_trigger, deadline_ns, price, now_ns):
    """One row of `trail_and_exit_nb` (see its docstring): updates best and trail_stop
    of row i in place and returns its ExitReason code."""
    px = price[i]
    d = np.float64(direction[i])
    live = (px > 0.0) & (px < np.inf) & ((d == 1.0) | (d == -1.0))   # NaN fails
    mode = trail_mode[i]
    param = trail_param[i]
    row_atr = atr[i]
    be = be_trigger[i]
    trails = (((mode == _TRAIL_PERCENT) | (mode == _TRAIL_ABSOLUTE)
               | ((mode == _TRAIL_ATR) & (row_atr > 0.0) & (row_atr < np.inf)))
              & (param > 0.0) & (param < np.inf))
    arms = be >= 0.0

    # 1. best price and trailing stop
    old_best = best[i]
    new_best = live & (trails | arms) & ((px - old_best) * d > 0.0)
    b = px if new_best else old_best
    best[i] = b
    act = activation[i]
    activated = (act != act) | ((px - act) * d >= 0.0)            # NaN = no activation
    candidate = px - d * param * row_atr
    candidate = px - d * param if mode == _TRAIL_ABSOLUTE else candidate
    candidate = px * (1.0 - d * param / 100.0) if mode == _TRAIL_PERCENT else candidate
    old_trail = trail_stop[i]
    tighten = (new_best & trails & activated
               & ((old_trail != old_trail) | ((candidate - old_trail) * d > 0.0)))
    ts = candidate if tighten else old_trail
    trail_stop[i] = ts

    # 2-6. exits
    en = entry[i]
    break_even = arms & ((b - en) * d >= be) & ((px - en) * d <= 0.0)
    reason = _exit_reason(px, d, stop[i], take[i], ts, deadline_ns[i], now_ns, break_even)
    return reason if live else _EXIT_NONE


@njit(cache=True, error_model="numpy")
def trail_and_exit_nb(direction, entry, stop, take, trail_mode, trail_param, atr, activation,
                      best, trail_stop, be_trigger, deadline_ns, price, now_ns):
    """Move the trailing stops of a batch of positions to one tick of prices and say which
    positions must exit; returns the ExitReason code per row (int8).

    Reference: `engine.exits.PlainExitPolicy` for the percent trail (rows built by
    `risk.exits.pack_protections`), and `tests.unit.risk.reference.trail_and_exit_reference`
    for every mode. A book that only trails by a percent runs faster through
    `trail_and_exit_percent_nb` (same results on the rows it accepts).

    Arrays of length N: direction (+1 long, -1 short), entry, stop and take (absolute
    prices, NaN = none), trail_mode (`risk.codes.TrailMode`), trail_param (percent, price
    offset or ATR multiple), atr (price units, used by TrailMode.ATR), activation (price
    the best price must reach before the trail starts, NaN = from the start; for an
    activation profit pass entry +/- that profit), best (high-water mark of a long,
    low-water mark of a short; updated in place), trail_stop (NaN = not set yet; updated
    in place), be_trigger (favourable move from entry, in price units, after which the
    stop is at entry; NaN = off), deadline_ns (int64, the time at which the position has
    been held too long, as `engine.exits.Protection.deadline_ns`; 0 = no limit),
    price (the price an exit would trade at); scalar now_ns.

    Per row, in this order (the order of PlainExitPolicy):
    0. a price that is NaN, infinite or <= 0, or a direction other than +1/-1: NONE, and
       nothing is updated;
    1. best and trail: when the row trails (trail_mode 1-3 with a finite trail_param > 0,
       and a finite ATR > 0 for mode 3) or has a break-even trigger, a price better than
       best becomes the new best (a NaN best never moves, as in PlainExitPolicy). On a new
       best of a trailing row whose best has reached the activation price, the candidate
       stop is best x (1 - d x param / 100), best - d x param or best - d x param x ATR,
       and it replaces trail_stop only when trail_stop is NaN or the candidate is tighter:
       the trailing stop never loosens;
    2. STOP_LOSS when d x (price - stop) <= 0;
    3. TAKE_PROFIT when d x (price - take) >= 0;
    4. TRAILING_STOP when d x (price - trail_stop) <= 0 (whatever the trail_mode);
    5. BREAK_EVEN when be_trigger >= 0, d x (best - entry) >= be_trigger and
       d x (price - entry) <= 0;
    6. MAX_HOLDING_TIME when deadline_ns != 0 and now_ns >= deadline_ns;
    otherwise NONE.
    """
    n = price.shape[0]
    out = np.empty(n, dtype=np.int8)
    for i in range(n):
        out[i] = _trail_row(i, direction, entry, stop, take, trail_mode, trail_param, atr,
                            activation, best, trail_stop, be_trigger, deadline_ns, price,
                            now_ns)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def trail_and_exit_parallel_nb(direction, entry, stop, take, trail_mode, trail_param, atr,
                               activation, best, trail_stop, be_trigger, deadline_ns, price,
                               now_ns):
    """`trail_and_exit_nb` with its rows spread over the process's Numba threads (prange).

    Same arguments, same results row for row (the rows are independent). For a host
    that owns the cores it runs on (a supervisor evaluating a whole book); an actor
    sharing a core with others should call the single-threaded kernel.
    Reference: `trail_and_exit_nb`, held equal by the property tests.
    """
    n = price.shape[0]
    out = np.empty(n, dtype=np.int8)
    for i in prange(n):
        out[i] = _trail_row(i, direction, entry, stop, take, trail_mode, trail_param, atr,
                            activation, best, trail_stop, be_trigger, deadline_ns, price,
                            now_ns)
    return out


@njit(inline="always", error_model="numpy")
def _percent_row(i, direction, stop, take, trail_pct, best, trail_stop, deadline_ns, price,
                 now_ns, read_deadline):
    """One row of `trail_and_exit_percent_nb`: `_trail_row` of a percent-trail row
    without activation and break-even, reading only the arrays such a row needs; with
    `read_deadline` False (a compile-time constant) the deadline column is not read."""
    px = price[i]
    d = np.float64(direction[i])
    live = (px > 0.0) & (px < np.inf) & ((d == 1.0) | (d == -1.0))   # NaN fails
    pct = trail_pct[i]
    trails = (pct > 0.0) & (pct < np.inf)

    old_best = best[i]
    new_best = live & trails & ((px - old_best) * d > 0.0)
    best[i] = px if new_best else old_best
    candidate = px * (1.0 - d * pct / 100.0)
    old_trail = trail_stop[i]
    tighten = new_best & ((old_trail != old_trail) | ((candidate - old_trail) * d > 0.0))
    ts = candidate if tighten else old_trail
    trail_stop[i] = ts

    deadline = deadline_ns[i] if read_deadline else 0
    reason = _exit_reason(px, d, stop[i], take[i], ts, deadline, now_ns, False)
    return reason if live else _EXIT_NONE


@njit(cache=True, error_model="numpy")
def trail_and_exit_percent_nb(direction, stop, take, trail_pct, best, trail_stop,
                              deadline_ns, price, now_ns, earliest_deadline_ns=_NO_DEADLINE_HINT):
    """`trail_and_exit_nb` for a book that trails by a percent only: no ATR, activation
    or break-even arrays, so each row reads 58 bytes instead of 106 (50 while no
    position can reach its holding limit, see earliest_deadline_ns).

    Reference: `trail_and_exit_nb` on rows with trail_mode PERCENT (or NONE and a trail
    percent that is not a finite number > 0), activation NaN and no break-even trigger,
    held equal by the property tests; `engine.exits.PlainExitPolicy` through
    `risk.exits.KernelExitPolicy`, which picks this kernel for `Protection`s.

    Arrays of length N as in `trail_and_exit_nb`; trail_pct is the percent the stop
    trails behind the best price (NaN, or anything but a finite number > 0 = no trail).
    earliest_deadline_ns (optional) is the caller's promise that no nonzero deadline_ns
    is earlier (`earliest_deadline` computes it; a book keeps it as positions open):
    while now_ns is before it no row can reach MAX_HOLDING_TIME, and the deadline
    column is not read. The default, the smallest int64, promises nothing.
    """
    n = price.shape[0]
    out = np.empty(n, dtype=np.int8)
    if now_ns >= earliest_deadline_ns:
        for i in range(n):
            out[i] = _percent_row(i, direction, stop, take, trail_pct, best, trail_stop,
                                  deadline_ns, price, now_ns, True)
    else:
        for i in range(n):
            out[i] = _percent_row(i, direction, stop, take, trail_pct, best, trail_stop,
                                  deadline_ns, price, now_ns, False)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def trail_and_exit_percent_parallel_nb(direction, stop, take, trail_pct, best, trail_stop,
                                       deadline_ns, price, now_ns,
                                       earliest_deadline_ns=_NO_DEADLINE_HINT):
    """`trail_and_exit_percent_nb` over the process's Numba threads (prange); see
    `trail_and_exit_parallel_nb` for when to use it.
    Reference: `trail_and_exit_percent_nb`, held equal by the property tests.
    """
    n = price.shape[0]
    out = np.empty(n, dtype=np.int8)
    if now_ns >= earliest_deadline_ns:
        for i in prange(n):
            out[i] = _percent_row(i, direction, stop, take, trail_pct, best, trail_stop,
                                  deadline_ns, price, now_ns, True)
    else:
        for i in prange(n):
            out[i] = _percent_row(i, direction, stop, take, trail_pct, best, trail_stop,
                                  deadline_ns, price, now_ns, False)
    return out


@njit(cache=True)
def earliest_deadline(deadline_ns):
    """The earliest nonzero deadline_ns (0 = no holding limit), or the largest int64
    when there is none: the `earliest_deadline_ns` a book of these rows may promise."""
    earliest = _NO_DEADLINE
    for i in range(deadline_ns.shape[0]):
        d = deadline_ns[i]
        earliest = d if (d != 0) & (d < earliest) else earliest
    return earliest
