"""Integer codes shared by the risk kernels and the Python code around them.

Numba kernels take and return integers, never enums or strings. The `IntEnum`s below name
those integers on the Python side; the kernels compare against the same values.

Sizing modes (`SizingModeCode`, one per account row of `size_fleet_nb`); u = price x mult
    FIXED_QUANTITY    0  param = quantity
    FIXED_NOTIONAL    1  param = notional in account currency:  param / u
    PERCENT_EQUITY    2  param = percent, 10.0 = 10 %:          equity x param / 100 / u
    ALL_CASH          3  param ignored:                         free_cash / (u x (1 + taker))
    FIXED_FRACTIONAL  4  param = risk fraction, 0.01 = 1 %:     equity x param / (d x mult),
                                                                d = |price - stop|
    VOLATILITY_TARGET 5  param = fraction of equity per ATR:    equity x param / (ATR x mult)
The first four are `engine.sizing.SizingMode`'s modes (`mode_code` converts).

Sizing status (`SizeStatus`, one per row, int8). The tens digit says what happened:
    0-9    a quantity > 0 was sized; the code says which cap, if any, reduced it
    10-19  the rules sized the row to zero (minimums, no cash)
    20-29  an input was NaN, infinite, non-positive or unknown; the row is zero
`deny_reason` maps every zero-quantity status onto the `engine.enums.DenyReason` an
`OrderDenied` event carries.

Trailing-stop modes (`TrailMode`, one per position row of `trail_and_exit_nb`)
    NONE      0  no trailing; an existing trail_stop level is still checked
    PERCENT   1  trail_param percent behind the best price (engine.exits semantics)
    ABSOLUTE  2  trail_param price units behind the best price
    ATR       3  trail_param x ATR behind the best price

Exit reasons are `engine.enums.ExitReason`'s integer values (NONE=0, STOP_LOSS=1,
TAKE_PROFIT=2, TRAILING_STOP=3, MAX_HOLDING_TIME=4, BREAK_EVEN=5).
"""

from __future__ import annotations

from enum import IntEnum

from engine.enums import DenyReason, ExitReason
from engine.sizing import SizingMode


class SizingModeCode(IntEnum):
    FIXED_QUANTITY = 0
    FIXED_NOTIONAL = 1
    PERCENT_EQUITY = 2
    ALL_CASH = 3
    FIXED_FRACTIONAL = 4
    VOLATILITY_TARGET = 5


class SizeStatus(IntEnum):
    """Outcome of sizing one row. Codes below `FIRST_ZERO_STATUS` carry a quantity > 0."""

    OK = 0                    # sized, no cap reduced it
    CAPPED_MAX_QTY = 1        # reduced to the row's max_qty
    CAPPED_MAX_NOTIONAL = 2   # reduced to the row's max_notional
    CAPPED_CASH = 3           # reduced to what free cash pays for, taker fee included
    BELOW_MIN_QTY = 10        # on the step it is zero or below the instrument's min_qty
    BELOW_MIN_NOTIONAL = 11   # below the instrument's min_notional
    INSUFFICIENT_CASH = 12    # free cash <= 0, or what it pays for is below the minimums
    INVALID_PRICE = 20        # price NaN, infinite or <= 0 (every row)
    INVALID_INSTRUMENT = 21   # qty_step / multiplier <= 0, min_qty / min_notional < 0,
                              # or any of them (or the taker fee) not finite (every row)
    INVALID_MODE = 22         # mode is not a SizingModeCode
    INVALID_PARAM = 23        # param NaN, infinite or <= 0, or the raw size overflowed
    INVALID_EQUITY = 24       # equity NaN, infinite or <= 0 in a mode that uses it
    INVALID_CASH = 25         # free_cash NaN or infinite
    INVALID_LIMIT = 26        # max_qty or max_notional NaN or <= 0 (+inf = no cap)
    INVALID_STOP = 27         # FIXED_FRACTIONAL: stop NaN, infinite, <= 0 or == price
    INVALID_ATR = 28          # VOLATILITY_TARGET: ATR NaN, infinite or <= 0
    SIZE_OVERFLOW = 29        # the size needs 2**52 or more steps of the step's decimals:
                              # beyond what float64 can put on the step grid


FIRST_ZERO_STATUS = 10
"""`status < FIRST_ZERO_STATUS` exactly when the row's quantity is > 0."""


class TrailMode(IntEnum):
    NONE = 0
    PERCENT = 1
    ABSOLUTE = 2
    ATR = 3


_DENY = {
    SizeStatus.BELOW_MIN_QTY: DenyReason.BELOW_MIN_QUANTITY,
    SizeStatus.BELOW_MIN_NOTIONAL: DenyReason.BELOW_MIN_NOTIONAL,
    SizeStatus.INSUFFICIENT_CASH: DenyReason.INSUFFICIENT_FUNDS,
    SizeStatus.INVALID_PRICE: DenyReason.INVALID_PRICE,
    SizeStatus.INVALID_INSTRUMENT: DenyReason.INVALID_QUANTITY,
    SizeStatus.INVALID_MODE: DenyReason.INVALID_QUANTITY,
    SizeStatus.INVALID_PARAM: DenyReason.INVALID_QUANTITY,
    SizeStatus.INVALID_EQUITY: DenyReason.INSUFFICIENT_FUNDS,
    SizeStatus.INVALID_CASH: DenyReason.INSUFFICIENT_FUNDS,
    SizeStatus.INVALID_LIMIT: DenyReason.MAX_POSITION,
    SizeStatus.INVALID_STOP: DenyReason.INVALID_SIGNAL,
    SizeStatus.INVALID_ATR: DenyReason.INVALID_SIGNAL,
    SizeStatus.SIZE_OVERFLOW: DenyReason.ABOVE_MAX_QUANTITY,
}


def is_sized(status: int) -> bool:
    """True when the row got a quantity > 0 (possibly reduced by a cap)."""
    return 0 <= status < FIRST_ZERO_STATUS


def deny_reason(status: int) -> DenyReason | None:
    """The denial an account records for a row with this status; None when it was sized."""
    if is_sized(status):
        return None
    return _DENY[SizeStatus(status)]


def mode_code(mode: SizingMode | str) -> SizingModeCode:
    """The kernel's code for an `engine.sizing.SizingMode` (or its string value)."""
    return _MODE_CODES[SizingMode(mode)]


_MODE_CODES = {
    SizingMode.FIXED_QUANTITY: SizingModeCode.FIXED_QUANTITY,
    SizingMode.FIXED_NOTIONAL: SizingModeCode.FIXED_NOTIONAL,
    SizingMode.PERCENT_EQUITY: SizingModeCode.PERCENT_EQUITY,
    SizingMode.ALL_CASH: SizingModeCode.ALL_CASH,
}

EXIT_REASONS: tuple[ExitReason, ...] = tuple(ExitReason(i) for i in range(len(ExitReason)))
"""`EXIT_REASONS[code]` is the ExitReason for a kernel's integer code (a tuple index is
faster than calling the enum)."""
