"""Reference market data for tests: where it lives and how to load it.

The data sits beside the project in `../shared/data` (see its README) and is never copied
into the repository. Tests that need it call `refdata_path(...)`, which skips the test with
a clear message when the folder is absent; a missing file inside a present folder is an
error, not a skip.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from engine.messages import Bar

REFDATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ORCL = "orcl-1995-2014.txt"
ORCL_2015 = "orcl-2015/orcl-1995-2014.txt"

_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = dt.date(1970, 1, 1)
_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Volume")


def refdata_path(*parts: str) -> Path:
    """Path of a file under ../shared/data; skips the calling test if the folder is absent."""
    if not REFDATA_DIR.is_dir():
        pytest.skip(f"reference data folder {REFDATA_DIR} is absent "
                    "(expected at ../shared/data beside the repository; see its README.md)")
    return REFDATA_DIR.joinpath(*parts)


def date_ns(day: str | dt.date) -> int:
    """UTC midnight of `day` ("YYYY-MM-DD" or a date) as integer nanoseconds."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return (day - _EPOCH).days * _NS_PER_DAY


def ns_date(ts_ns: int) -> str:
    """The "YYYY-MM-DD" of a UTC-midnight timestamp made by `date_ns`."""
    return (_EPOCH + dt.timedelta(days=ts_ns // _NS_PER_DAY)).isoformat()


def load_yahoo_daily(path: str | Path, symbol: str) -> list[Bar]:
    """Bars of a Yahoo daily CSV, oldest first, ts_event = ts_init = UTC midnight of Date.

    Columns are found by header name, so both `Date,Open,High,Low,Close,Adj Close,Volume`
    and `Date,Open,High,Low,Close,Volume,Adj Close` load; `Adj Close` is ignored.
    """
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} in header {header}")
        at = {c: header.index(c) for c in _COLUMNS}
        bars = []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                ts = date_ns(row[at["Date"]].strip())
                bars.append(Bar(symbol=symbol, open=float(row[at["Open"]]),
                                high=float(row[at["High"]]), low=float(row[at["Low"]]),
                                close=float(row[at["Close"]]), volume=float(row[at["Volume"]]),
                                ts_event=ts, ts_init=ts))
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path}:{line_no}: {exc}: {row}") from None
    return bars


def load_orcl() -> list[Bar]:
    """The split-adjusted ORCL daily bars 1995-2014 (the backtrader parity series)."""
    return load_yahoo_daily(refdata_path(ORCL), "ORCL")
