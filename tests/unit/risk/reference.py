"""Plain-Python references of the kernels in `risk/kernels.py`, one row at a time.

Written from the kernels' documented rules, not from their code: quantities are rounded
the way `engine.instruments.Instrument.floor_qty` rounds them (integer unit counts, Decimal
repr decimals and `round`), and every row is a straight sequence of checks. Inputs are
sequences of Python numbers; outputs are lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from engine.enums import ExitReason
from risk.codes import SizeStatus, SizingModeCode, TrailMode


def step_decimals(step: float) -> int:
    """Decimals of the step's shortest repr, as engine.instruments does."""
    return max(0, -int(Decimal(repr(step)).normalize().as_tuple().exponent))


def floor_units(qty: float, step: float) -> int:
    """Whole steps in qty: the nearest whole number within float noise, else floor."""
    units = qty / step
    nearest = round(units)
    if abs(units - nearest) <= 1e-9 + 1e-14 * abs(units):
        return nearest
    return math.floor(units)


def on_step(units: int, step: float) -> float:
    return round(units * step, step_decimals(step))


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def size_one_reference(equity: float, free_cash: float, mode: int, param: float,
                       max_qty: float, max_notional: float, price: float, stop_price: float,
                       atr: float, qty_step: float, min_qty: float, min_notional: float,
                       multiplier: float, taker_fee_bps: float) -> tuple[float, SizeStatus]:
    """One account of `size_fleet_nb`."""
    if not _finite_positive(price):
        return 0.0, SizeStatus.INVALID_PRICE
    instrument_ok = (_finite_positive(qty_step) and _finite_positive(multiplier)
                     and math.isfinite(min_qty) and min_qty >= 0
                     and math.isfinite(min_notional) and min_notional >= 0
                     and math.isfinite(taker_fee_bps))
    if not instrument_ok:
        return 0.0, SizeStatus.INVALID_INSTRUMENT
    unit_value = price * multiplier
    taker = max(taker_fee_bps, 0.0) * 1e-4
    if not (unit_value > 0 and math.isfinite(unit_value * (1.0 + taker))):
        return 0.0, SizeStatus.INVALID_INSTRUMENT
    if mode not in set(SizingModeCode):
        return 0.0, SizeStatus.INVALID_MODE
    mode = SizingModeCode(mode)
    if mode is not SizingModeCode.ALL_CASH and not _finite_positive(param):
        return 0.0, SizeStatus.INVALID_PARAM
    if not math.isfinite(free_cash):
        return 0.0, SizeStatus.INVALID_CASH
    if math.isnan(max_qty) or max_qty <= 0 or math.isnan(max_notional) or max_notional <= 0:
        return 0.0, SizeStatus.INVALID_LIMIT
    if free_cash <= 0:
        return 0.0, SizeStatus.INSUFFICIENT_CASH
    if mode in (SizingModeCode.PERCENT_EQUITY, SizingModeCode.FIXED_FRACTIONAL,
                SizingModeCode.VOLATILITY_TARGET) and not _finite_positive(equity):
        return 0.0, SizeStatus.INVALID_EQUITY

    if mode is SizingModeCode.FIXED_QUANTITY:
        raw = param
    elif mode is SizingModeCode.FIXED_NOTIONAL:
        raw = param / unit_value
    elif mode is SizingModeCode.PERCENT_EQUITY:
        raw = equity * param / 100.0 / unit_value
    elif mode is SizingModeCode.ALL_CASH:
        raw = free_cash / (unit_value * (1.0 + taker))
    elif mode is SizingModeCode.FIXED_FRACTIONAL:
        distance = abs(price - stop_price)
        if not (_finite_positive(stop_price) and _finite_positive(distance * multiplier)):
            return 0.0, SizeStatus.INVALID_STOP
        raw = equity * param / (distance * multiplier)
    else:
        if not (_finite_positive(atr) and _finite_positive(atr * multiplier)):
            return 0.0, SizeStatus.INVALID_ATR
        raw = equity * param / (atr * multiplier)
    if not math.isfinite(raw):
        return 0.0, SizeStatus.INVALID_PARAM

    candidates = [
        (raw, SizeStatus.OK),
        (max_qty, SizeStatus.CAPPED_MAX_QTY),
        (max_notional / unit_value, SizeStatus.CAPPED_MAX_NOTIONAL),
        (free_cash / (unit_value * (1.0 + taker)), SizeStatus.CAPPED_CASH),
    ]
    target, status = candidates[0]
    for value, code in candidates[1:]:      # a later cap wins only when strictly smaller
        if value < target:
            target, status = value, code

    def breaks_a_cap(q: float) -> bool:
        notional = q * price * multiplier
        return (q > max_qty or notional > max_notional
                or notional * (1.0 + taker) > free_cash)

    decimals = step_decimals(qty_step)
    grid_units = target * 10.0 ** decimals if decimals <= 17 else target / qty_step
    if grid_units >= 2.0 ** 52:
        return 0.0, SizeStatus.SIZE_OVERFLOW
    units = floor_units(target, qty_step)
    qty = on_step(units, qty_step)
    while units > 0 and breaks_a_cap(qty):
        units -= 1
        qty = on_step(units, qty_step)

    if qty <= 0 or qty < min_qty:
        cash_bound = status is SizeStatus.CAPPED_CASH
        return 0.0, SizeStatus.INSUFFICIENT_CASH if cash_bound else SizeStatus.BELOW_MIN_QTY
    if qty * price * multiplier < min_notional:
        cash_bound = status is SizeStatus.CAPPED_CASH
        return 0.0, (SizeStatus.INSUFFICIENT_CASH if cash_bound
                     else SizeStatus.BELOW_MIN_NOTIONAL)
    return qty, status


def size_fleet_reference(equity: Sequence[float], free_cash: Sequence[float],
                         mode: Sequence[int], param: Sequence[float],
                         max_qty: Sequence[float], max_notional: Sequence[float],
                         *scalars: float) -> tuple[list[float], list[int]]:
    """`size_fleet_nb` with the same arguments, as lists."""
    rows = [size_one_reference(*row, *scalars)
            for row in zip(equity, free_cash, mode, param, max_qty, max_notional, strict=True)]
    return [q for q, _ in rows], [int(s) for _, s in rows]


def trail_and_exit_reference(direction, entry, stop, take, trail_mode, trail_param, atr,
                             activation, best, trail_stop, be_trigger, deadline_ns, price,
                             now_ns) -> list[int]:
    """`trail_and_exit_nb`: `best` and `trail_stop` are lists updated in place."""
    out = []
    for i, px in enumerate(price):
        out.append(int(_exit_one(i, direction, entry, stop, take, trail_mode, trail_param,
                                  atr, activation, best, trail_stop, be_trigger, deadline_ns,
                                  px, now_ns)))
    return out


def _exit_one(i, direction, entry, stop, take, trail_mode, trail_param, atr, activation,
              best, trail_stop, be_trigger, deadline_ns, px, now_ns) -> ExitReason:
    if not _finite_positive(px):
        return ExitReason.NONE
    d = int(direction[i])
    if d not in (1, -1):
        return ExitReason.NONE
    mode, param = int(trail_mode[i]), float(trail_param[i])
    trails = (mode in (TrailMode.PERCENT, TrailMode.ABSOLUTE, TrailMode.ATR)
              and _finite_positive(param)
              and (mode != TrailMode.ATR or _finite_positive(atr[i])))
    be = float(be_trigger[i])
    arms = not math.isnan(be) and be >= 0

    # 1. best price and trailing stop
    if (trails or arms) and not math.isnan(best[i]) and d * (px - best[i]) > 0:
        best[i] = px
        act = activation[i]
        if trails and (math.isnan(act) or d * (px - act) >= 0):
            if mode == TrailMode.PERCENT:
                candidate = px * (1 - d * param / 100)
            elif mode == TrailMode.ABSOLUTE:
                candidate = px - d * param
            else:
                candidate = px - d * param * atr[i]
            if math.isnan(trail_stop[i]) or d * (candidate - trail_stop[i]) > 0:
                trail_stop[i] = candidate

    # 2-6. the exits, first match wins
    if not math.isnan(stop[i]) and d * (px - stop[i]) <= 0:
        return ExitReason.STOP_LOSS
    if not math.isnan(take[i]) and d * (px - take[i]) >= 0:
        return ExitReason.TAKE_PROFIT
    if not math.isnan(trail_stop[i]) and d * (px - trail_stop[i]) <= 0:
        return ExitReason.TRAILING_STOP
    if arms and d * (best[i] - entry[i]) >= be and d * (px - entry[i]) <= 0:
        return ExitReason.BREAK_EVEN
    if deadline_ns[i] != 0 and now_ns >= deadline_ns[i]:
        return ExitReason.MAX_HOLDING_TIME
    return ExitReason.NONE
