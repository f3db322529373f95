"""Numba kernel of `data.importers`: one pass over a clean bars CSV.

`clean_bars_nb` reads only what it can read exactly and gives up on anything else, so the
importers' line-by-line parser, which names bad lines, stays the reference:

- numbers: `[+-]digits[.digits]`. With a mantissa up to 2**53 and at most 22 decimals,
  mantissa / 10**k is one correctly rounded IEEE division of two exact doubles (Clinger's
  fast path), the same double as Python's `float()`; longer numbers are listed for the
  caller to read with `float()`;
- times: naive ISO `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]]` of a valid calendar date and
  clock time, years 1700..2199, as `data.config.parse_times` reads them before any zone;
- fields: no quotes, no carriage returns, no spaces around numbers or times, no blank
  lines but at the end, exactly `ncols` fields a line.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["clean_bars_nb"]

_COMMA, _NEWLINE, _QUOTE, _CR = 44, 10, 34, 13
_MAX_MANTISSA = 2 ** 53
_POW10 = np.array([10.0 ** k for k in range(23)])      # all exact doubles
_DAY_NS = 86_400_000_000_000


@njit(cache=True)
def clean_bars_nb(buf: np.ndarray, ncols: int, time_col: int, slots: np.ndarray,
                  nslots: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Read `buf` (uint8: the rows of a headerless CSV, blank last lines ignored) into
    naive ns times and `nslots` float columns: column `col` of the file goes to row
    `slots[col]` of the values; slot -1 columns other than `time_col` are skipped unread.

    Returns (status, ts, values, deferred): status 0 when every line was read, else the
    1-based line of `buf` where the kernel gave up (the caller then parses the file the
    careful way). `deferred` rows are (start, end, row, slot) of well-formed numbers too
    long for the exact fast path, whose values are left for the caller to fill.
    """
    n = len(buf)
    while n > 0 and buf[n - 1] == _NEWLINE:
        n -= 1
    nrows = 1 if n else 0
    for i in range(n):
        nrows += buf[i] == _NEWLINE
    ts = np.empty(nrows, np.int64)
    values = np.empty((nslots, nrows))
    deferred = np.empty((64, 4), np.int64)     # grown by doubling: usually few or none
    k = 0
    pos = 0
    for row in range(nrows):
        for col in range(ncols):
            stop = _NEWLINE if col == ncols - 1 else _COMMA
            slot = slots[col]
            if col == time_col:
                pos, ts[row] = _iso_time(buf, pos, n, stop)
            elif slot >= 0:
                start = pos
                pos, values[slot, row], exact = _number(buf, pos, n, stop)
                if not exact and pos >= 0:
                    if k == len(deferred):
                        grown = np.empty((2 * k, 4), np.int64)
                        grown[:k] = deferred
                        deferred = grown
                    deferred[k, 0], deferred[k, 1], deferred[k, 2], deferred[k, 3] = \
                        start, pos, row, slot
                    k += 1
            else:
                while pos < n and buf[pos] != stop:
                    b = buf[pos]
                    if b == _COMMA or b == _NEWLINE or b == _QUOTE or b == _CR:
                        pos = -1
                        break
                    pos += 1
                if pos == n and stop != _NEWLINE:
                    pos = -1
            if pos < 0:
                return row + 1, ts, values, deferred[:k]
            pos += 1
    return (0 if pos == n + 1 else nrows + 1), ts, values, deferred[:k]


@njit(cache=True, inline="always")
def _ends(buf: np.ndarray, pos: int, n: int, stop: int) -> bool:
    """Whether a field ends at `pos`: the `stop` byte, or the end for the last column."""
    return buf[pos] == stop if pos < n else stop == _NEWLINE and pos == n


@njit(cache=True, inline="always")
def _number(buf: np.ndarray, pos: int, n: int, stop: int) -> tuple[int, float, bool]:
    """(where the field ends or -1 if malformed, its value, whether the value is exact)."""
    negative = False
    if pos < n and (buf[pos] == 45 or buf[pos] == 43):         # - +
        negative = buf[pos] == 45
        pos += 1
    pos, mantissa, digits = _more_digits(buf, pos, n, 0)
    decimals = 0
    if pos < n and buf[pos] == 46:                              # .
        pos, mantissa, decimals = _more_digits(buf, pos + 1, n, mantissa)
    digits += decimals
    if digits == 0 or not _ends(buf, pos, n, stop):
        return -1, 0.0, False
    if digits > 18 or mantissa > _MAX_MANTISSA or decimals > 22:   # int64 holds 18 digits
        return pos, 0.0, False
    value = float(mantissa) / _POW10[decimals]
    return pos, -value if negative else value, True


@njit(cache=True, inline="always")
def _more_digits(buf: np.ndarray, pos: int, n: int, mantissa: int) -> tuple[int, int, int]:
    """The ASCII digits from `pos` appended to `mantissa`: (where they end, the new
    mantissa, how many). It may wrap past 18 digits; `_number` then discards it."""
    count = 0
    while pos < n:
        d = np.int64(buf[pos]) - 48
        if d < 0 or d > 9:
            break
        mantissa = mantissa * 10 + d
        count += 1
        pos += 1
    return pos, mantissa, count


@njit(cache=True, inline="always")
def _digits(buf: np.ndarray, pos: int, n: int, count: int) -> int:
    """The integer of `count` ASCII digits at `pos`, -1 if any is not a digit or missing."""
    if pos + count > n:
        return -1
    value = 0
    for i in range(pos, pos + count):
        b = buf[i]
        if b < 48 or b > 57:
            return -1
        value = value * 10 + (b - 48)
    return value


@njit(cache=True, inline="always")
def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


@njit(cache=True, inline="always")
def _iso_time(buf: np.ndarray, pos: int, n: int, stop: int) -> tuple[int, int]:
    """(where the field ends or -1 if it is not a clean ISO time, its naive ns)."""
    year, month, day = _digits(buf, pos, n, 4), _digits(buf, pos + 5, n, 2), \
        _digits(buf, pos + 8, n, 2)
    if year < 1700 or year > 2199 or month < 1 or month > 12 or day < 1 \
            or buf[pos + 4] != 45 or buf[pos + 7] != 45:
        return -1, 0
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = 29 if month == 2 and leap else 28 if month == 2 else \
        30 if month == 4 or month == 6 or month == 9 or month == 11 else 31
    if day > last:
        return -1, 0
    ns = _days_from_civil(year, month, day) * _DAY_NS
    pos += 10
    if pos < n and (buf[pos] == 32 or buf[pos] == 84):          # ' ' or 'T'
        hour, minute = _digits(buf, pos + 1, n, 2), _digits(buf, pos + 4, n, 2)
        if hour < 0 or hour > 23 or minute < 0 or minute > 59 or buf[pos + 3] != 58:
            return -1, 0
        ns += (hour * 60 + minute) * 60_000_000_000
        pos += 6
        if pos < n and buf[pos] == 58:                          # :SS
            second = _digits(buf, pos + 1, n, 2)
            if second < 0 or second > 59:
                return -1, 0
            ns += second * 1_000_000_000
            pos += 3
            if pos < n and buf[pos] == 46:                      # .fraction, 1..9 digits
                pos += 1
                scale = 100_000_000
                count = 0
                while pos < n and 48 <= buf[pos] <= 57:
                    count += 1
                    if count > 9:
                        return -1, 0
                    ns += (buf[pos] - 48) * scale
                    scale //= 10
                    pos += 1
                if count == 0:
                    return -1, 0
    if not _ends(buf, pos, n, stop):
        return -1, 0
    return pos, ns
