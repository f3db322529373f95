"""Importers: market data files in, numpy struct-of-arrays out (no database here).

Each reader returns a `Parsed`: the rows of one symbol as columns named like the store's
table (`ticks` or `bars`), plus the rows it dropped; `Store.import_parsed` writes it in
one transaction. Formats (`FORMATS`):

- `yahoo`: daily CSV with a header, any column order; `adjust=True` scales O/H/L/C by
  Adj Close / Close (volume is left as is);
- `ohlcv`: any CSV of bars; columns are found by name, case-insensitively, with aliases
  (o/h/l/c/v; date, time, datetime, timestamp; separate Date and Time columns are joined),
  `mapping` overrides them; `ohlcv_from_columns` does the same for in-memory columns;
- `lean-ticks`: QuantConnect LEAN equity trade ticks (a zip of one headerless CSV: ms
  since midnight exchange time, price x 10000, quantity, exchange, sale condition,
  suspicious flag); the date comes from the file name, the zone is America/New_York.

Times are read by `data.config.parse_times`. A malformed row is a `BadRow(line, reason)`:
`on_error="fail"` raises `ImportFailed` naming the first, `"skip"` drops and lists them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.config import (
    format_interval,
    infer_interval,
    local_to_utc_ns,
    parse_interval,
    parse_times,
)
from engine.errors import ConfigError, PhalanxError

FORMATS = ("yahoo", "ohlcv", "lean-ticks")
ON_ERROR = ("fail", "skip")
LEAN_TZ = "America/New_York"
_EPOCH = dt.datetime(1970, 1, 1)
_ALIASES = {
    "time": ("datetime", "timestamp", "ts", "tsns", "tsevent", "date", "time"),
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"),
    "close": ("close", "c"), "volume": ("volume", "v", "vol"),
    "adj_close": ("adjclose", "adjustedclose"), "vwap": ("vwap",),
    "trades": ("trades", "tradecount", "numtrades", "count"),
}


class ImportFailed(PhalanxError, ValueError):
    """A file could not be imported; nothing was written. Fix the file (the message names
    the line and the reason) or import with on_error="skip" to drop the bad rows."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int          # 1-based line of the file (row number for in-memory columns)
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True, eq=False)
class Parsed:
    """Rows of one symbol for the `table` ("ticks" or "bars"), ordered as in the file."""

    table: str
    symbol: str
    format: str
    source: str
    columns: dict[str, np.ndarray]            # ts_ns first; no symbol/interval column
    interval: str | None = None               # bars only, canonical ("1d", "1m")
    bad_rows: tuple[BadRow, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.columns["ts_ns"])

    @property
    def first_ts(self) -> int | None:
        return int(self.columns["ts_ns"].min()) if len(self) else None

    @property
    def last_ts(self) -> int | None:
        return int(self.columns["ts_ns"].max()) if len(self) else None


# --- public readers ----------------------------------------------------------------------

def read_yahoo(path: str | Path, symbol: str, *, adjust: bool = False,
               on_error: str = "fail") -> Parsed:
    """Daily bars of a Yahoo CSV; both column orders of Volume and Adj Close load."""
    need = ("time", "open", "high", "low", "close", "volume") + (("adj_close",) if adjust else ())
    return read_ohlcv(path, symbol, interval="1d", on_error=on_error, adjust=adjust,
                      _required=need, _format="yahoo")


def read_ohlcv(path: str | Path, symbol: str, *, mapping: Mapping[str, str] | None = None,
               interval: str | None = None, tz: str = "UTC", label: str = "open",
               time_format: str | None = None, adjust: bool = False, on_error: str = "fail",
               _required: tuple[str, ...] = ("time", "open", "high", "low", "close"),
               _format: str = "ohlcv") -> Parsed:
    """Bars of a CSV with a header. `label="close"` if the file stamps bars at their close
    (the store keeps open times); `interval` is inferred from the commonest time step."""
    _, text = _read_text(path)
    header_line, _, body = text.partition("\n")
    header = next(csv.reader([header_line]), [])
    where = _resolve_columns(header, mapping, _required, path)
    if time_format is None and label in ("open", "close"):
        clean = _read_clean(body, len(header), where, tz)
        bars = clean and _clean_bars(path, symbol, _format, *clean, interval=interval,
                                     label=label, adjust=adjust, on_error=on_error)
        if bars:
            return bars
    specs = [(i, f"{name}{'.' + str(k) if k else ''}", "s" if name == "time" else "f")
             for name, idx in where.items() for k, i in enumerate(idx)]
    labels = {spec[1]: header[spec[0]].strip() for spec in specs}
    cols, lines, bad = _parse_rows(body, specs, len(header), 2, labels)
    times = cols.pop("time")
    if "time.1" in cols:                              # separate Date and Time columns
        times = np.char.add(np.char.add(times.astype(str), " "), cols.pop("time.1"))
    return _finish_bars(path, symbol, _format, times, cols, lines, bad, tz=tz,
                        time_format=time_format, interval=interval, label=label,
                        adjust=adjust, on_error=on_error, time_label=labels["time"])


def ohlcv_from_columns(columns: Mapping[str, np.ndarray], symbol: str, source: str, *,
                       mapping: Mapping[str, str] | None = None, **options: object) -> Parsed:
    """`read_ohlcv` for columns already in memory (e.g. a Parquet file read by the store);
    `BadRow.line` is then the 1-based row number."""
    names = list(columns)
    where = _resolve_columns(names, mapping, ("time", "open", "high", "low", "close"), source)
    picked = {f: columns[names[idx[0]]] for f, idx in where.items()}
    times = np.asarray(picked.pop("time"))
    if len(where["time"]) > 1:
        times = np.char.add(np.char.add(times.astype(str), " "),
                            np.asarray(columns[names[where["time"][1]]]).astype(str))
    lines = np.arange(1, len(times) + 1)
    missing = np.ma.getmaskarray(columns[names[where["time"][0]]]).copy()
    for f in set(picked) - {"vwap", "trades"}:            # optional ones may be NULL
        missing |= np.ma.getmaskarray(picked[f])
    bad = _check(lines, [(missing, lambda i: "missing value")])
    values = {f: np.ma.filled(np.ma.asarray(v).astype(np.float64), np.nan)[~missing]
              for f, v in picked.items()}
    return _finish_bars(source, symbol, "ohlcv", times[~missing], values, lines[~missing], bad,
                        time_label=names[where["time"][0]], **options)  # type: ignore[arg-type]


def read_lean_trades(path: str | Path, symbol: str | None = None, *,
                     on_error: str = "fail") -> Parsed:
    """Trade ticks of a LEAN equity `YYYYMMDD_trade.zip` (or the CSV inside it)."""
    path = Path(path)
    inner, text = _read_text(path)
    day = next((m.group(1) for n in (path.name, inner) if (m := re.match(r"(\d{8})", n))), None)
    if day is None:
        raise ImportFailed(path, "cannot tell the trading date: LEAN file names start "
                                 "with YYYYMMDD (e.g. 20131008_trade.zip)")
    try:
        date = dt.datetime.strptime(day, "%Y%m%d")
    except ValueError:
        raise ImportFailed(path, f"{day!r} in the file name is not a date") from None
    if symbol is None:
        parts = inner.split("_")
        if len(parts) < 3:
            raise ImportFailed(path, "cannot tell the symbol from the file; give --symbol")
        symbol = parts[1].upper()
    specs = [(0, "ms", "i"), (1, "price", "f"), (2, "size", "f"), (3, "exchange", "s"),
             (4, "sale_condition", "s"), (5, "suspicious", "i")]
    cols, lines, bad = _parse_rows(text, specs, 6, 1, {s[1]: s[1] for s in specs})
    ms, price, size, flag = cols["ms"], cols["price"], cols["size"], cols["suspicious"]
    bad += _check(lines, [
        ((ms < 0) | (ms >= 86_400_000), lambda i: f"time {ms[i]} ms is not within the day"),
        (~(price > 0) | ~np.isfinite(price), lambda i: f"price {price[i]} is not > 0"),
        (~(size > 0) | ~np.isfinite(size), lambda i: f"quantity {size[i]} is not > 0"),
        ((flag != 0) & (flag != 1), lambda i: f"suspicious flag {flag[i]} is not 0 or 1"),
    ])
    if bad:
        keep = _keep(lines, bad)
        ms, price, size, flag, lines = ms[keep], price[keep], size[keep], flag[keep], lines[keep]
        exchange, condition = cols["exchange"][keep], cols["sale_condition"][keep]
    else:                                                     # no copies of clean columns
        exchange, condition = cols["exchange"], cols["sale_condition"]
    midnight_ns = (date - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    # The zone's offset changes only on the hour: convert the day's 24 local hours (as
    # local_to_utc_ns would each time) and shift every print by its hour's offset.
    hour_ns = midnight_ns + np.arange(24, dtype=np.int64) * 3_600_000_000_000
    offset = hour_ns - local_to_utc_ns(hour_ns, LEAN_TZ)
    columns = {"ts_ns": midnight_ns + ms * 1_000_000 - offset[ms // 3_600_000],
               "seq": lines - 1,                              # file order
               "price": price / 10_000.0, "size": size,
               "exchange": exchange, "sale_condition": condition,
               "suspicious": flag == 1}
    return _result(path, "ticks", symbol, "lean-ticks", columns, bad, on_error, None)


def parse_mapping(text: str) -> dict[str, str]:
    """"close=Last,volume=Qty" -> {"close": "Last", "volume": "Qty"} (ConfigError if bad)."""
    out = {}
    for pair in (p for p in text.split(",") if p.strip()):
        key, sep, column = pair.partition("=")
        field_name = _canonical(key)
        if not sep or not key.strip() or not column.strip():
            raise ConfigError("--map", f"{pair!r} is not FIELD=COLUMN (e.g. close=Last)")
        if field_name is None:
            raise ConfigError("--map", f"unknown field {key.strip()!r}; known: "
                                       f"{', '.join(_ALIASES)}")
        out[field_name] = column.strip()
    return out


# --- the shared machinery ----------------------------------------------------------------

def _read_text(path: str | Path) -> tuple[str, str]:
    """(name of the CSV, its text); a .zip must hold exactly one CSV."""
    path = Path(path)
    try:
        if path.suffix.lower() != ".zip":
            text = path.read_bytes().decode("utf-8-sig")
            return path.name, text.replace("\r\n", "\n") if "\r" in text else text
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise ImportFailed(path, f"expected one CSV in the zip, found {members}")
            raw = archive.read(members[0])
            return members[0], raw.decode("utf-8-sig").replace("\r\n", "\n")
    except FileNotFoundError:
        raise ImportFailed(path, "no such file") from None
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ImportFailed(path, f"cannot read as CSV text: {exc}") from None


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.strip().lower())


def _canonical(name: str) -> str | None:
    return next((f for f, names in _ALIASES.items() if _norm(name) in names), None)


def _resolve_columns(header: list[str], mapping: Mapping[str, str] | None,
                     required: tuple[str, ...], path: str | Path) -> dict[str, list[int]]:
    """Canonical field -> column indexes (two for a Date + Time pair)."""
    keys = [_norm(h) for h in header]
    where: dict[str, list[int]] = {}
    for name, column in (mapping or {}).items():
        if _norm(column) not in keys:
            raise ConfigError("--map", f"{name}={column}: no column {column!r} in "
                                       f"{', '.join(h.strip() for h in header)}")
        where[name] = [keys.index(_norm(column))]
    for name, aliases in _ALIASES.items():
        taken = {i for idx in where.values() for i in idx}
        free = [keys.index(a) for a in aliases if a in keys and keys.index(a) not in taken]
        if name not in where and free:
            where[name] = [free[0]]
    if "date" in keys and "time" in keys and where.get("time") == [keys.index("date")]:
        where["time"].append(keys.index("time"))     # separate Date and Time columns
    missing = [f for f in required if f not in where]
    if missing:
        raise ImportFailed(path, f"line 1: no column for {', '.join(missing)} in the header "
                                 f"{', '.join(h.strip() for h in header)} (name it or use "
                                 "--map FIELD=COLUMN)")
    return where


def _parse_rows(text: str, specs: list[tuple[int, str, str]], ncols: int, first_line: int,
                labels: Mapping[str, str]) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                    list[BadRow]]:
    """Columns `specs` = [(index, name, kind 'i'|'f'|'s')] of a headerless CSV `text`.

    Fast path: DuckDB's CSV reader (`data.store.read_csv_columns`, strings as object
    arrays), when every line has `ncols` clean fields and no quotes or blank lines.
    Otherwise line by line, collecting a `BadRow` per malformed line.
    """
    body = text.rstrip("\n")
    nrows = body.count("\n") + 1 if body else 0
    if body and '"' not in body and "\n\n" not in body \
            and body.count(",") == nrows * (ncols - 1):
        # the store owns DuckDB
        from data.store import read_csv_columns

        cols = read_csv_columns(body, specs, ncols, nrows)  # one C pass over the file
        if cols is not None:
            return cols, np.arange(first_line, first_line + nrows), []
    out: dict[str, list] = {name: [] for _, name, _ in specs}
    lines, bad = [], []
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        line = first_line + reader.line_num - 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != ncols:
            bad.append(BadRow(line, f"expected {ncols} fields, found {len(row)}"))
            continue
        parsed = []
        for idx, name, kind in specs:
            try:
                parsed.append(_CASTS[kind](row[idx].strip()))
            except ValueError:
                bad.append(BadRow(line, f"bad {_WHAT[kind]} {row[idx]!r} in column "
                                        f"{labels[name]}"))
                break
        else:
            for (_, name, _), value in zip(specs, parsed, strict=True):
                out[name].append(value)
            lines.append(line)
    cols = {name: np.array(out[name], dtype=_DTYPES[kind]) for _, name, kind in specs}
    return cols, np.array(lines, np.int64), bad


def _read_clean(body: str, ncols: int, where: Mapping[str, list[int]], tz: str
                ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(UTC ns, float columns by field) of a CSV body the kernel reads in one pass, or
    None if any line needs `_parse_rows` (ISO times only, one time column)."""
    fields = {name: idx[0] for name, idx in where.items() if name != "time"}
    used = sorted(set(fields.values()))
    if len(where["time"]) != 1 or where["time"][0] in used or not body.isascii():
        return None
    from data.import_kernels import clean_bars_nb  # Numba: loaded on first use

    slots = np.full(ncols, -1, np.int64)
    slots[used] = np.arange(len(used))
    raw = body.encode()
    status, ts, values, deferred = clean_bars_nb(np.frombuffer(raw, np.uint8), ncols,
                                                 where["time"][0], slots, len(used))
    if status or len(ts) < 2:
        return None
    for start, end, row, slot in deferred.tolist():          # too long for the kernel
        values[slot, row] = value = float(raw[start:end])
        if not math.isfinite(value):                          # e.g. 1e400 written out
            return None
    return local_to_utc_ns(ts, tz), {name: values[slots[i]] for name, i in fields.items()}


def _clean_bars(path: str | Path, symbol: str, fmt: str, ts: np.ndarray,
                values: dict[str, np.ndarray], *, interval: str | None, label: str,
                adjust: bool, on_error: str) -> Parsed | None:
    """What `_finish_bars` returns for rows that pass all its checks; None if any row
    would be a BadRow (the careful path then names them) or the interval is not clear."""
    o, h, lo, c = (values[k] for k in ("open", "high", "low", "close"))
    v = values.get("volume")
    adj = values["adj_close"] if adjust else c
    if not ((o > 0) & (h > 0) & (lo > 0) & (c > 0) & (adj > 0)).all() \
            or (v is not None and (v < 0).any()) \
            or ((h < np.maximum(np.maximum(o, c), lo)) | (lo > np.minimum(o, c))).any():
        return None
    steps = np.diff(ts)
    if not (steps > 0).all() and len(np.unique(ts)) < len(ts):    # duplicate times
        return None
    if interval:
        step = parse_interval(interval)
    elif (steps > 0).all() and (steps == steps[0]).all():
        step = int(steps[0]), format_interval(int(steps[0]))
    else:
        step = infer_interval(ts)
    if step is None:
        return None
    columns = {"ts_ns": ts - step[0] if label == "close" else ts}
    factor = adj / c if adjust else None           # 1.0 on every row when not adjusting
    for k in ("open", "high", "low", "close"):
        columns[k] = values[k] * factor if adjust else values[k]
    columns["volume"] = v if v is not None else np.zeros(len(ts))
    columns.update({k: values[k] for k in ("vwap", "trades") if k in values})
    return _result(path, "bars", symbol, fmt, columns, [], on_error, step[1])


_DTYPES = {"i": np.int64, "f": np.float64, "s": str}
_CASTS: dict[str, Callable[[str], object]] = {"i": int, "f": float, "s": str}
_WHAT = {"i": "integer", "f": "number", "s": "text"}


def _check(lines: np.ndarray, checks: list[tuple[np.ndarray, Callable[[int], str]]]
           ) -> list[BadRow]:
    """A BadRow for each row failing a check (the first failing check names the reason)."""
    seen = np.zeros(len(lines), bool)
    bad = []
    for mask, reason in checks:
        for i in np.flatnonzero(mask & ~seen).tolist():
            bad.append(BadRow(int(lines[i]), reason(i)))
        seen |= mask
    return bad


def _keep(lines: np.ndarray, bad: list[BadRow]) -> np.ndarray:
    return ~np.isin(lines, [b.line for b in bad])


def _finish_bars(path: str | Path, symbol: str, fmt: str, times: np.ndarray,
                 values: dict[str, np.ndarray], lines: np.ndarray, bad: list[BadRow], *,
                 time_label: str, tz: str = "UTC", time_format: str | None = None,
                 interval: str | None = None, label: str = "open", adjust: bool = False,
                 on_error: str = "fail") -> Parsed:
    if label not in ("open", "close"):
        raise ConfigError("--label", f"must be open or close, not {label!r}")
    ts, bad_time = parse_times(times, tz, time_format)
    o, h, lo, c = (values[k] for k in ("open", "high", "low", "close"))
    v = values.get("volume", np.zeros(len(ts)))
    adj = values["adj_close"] if adjust else c
    positive = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) \
        & np.isfinite(adj) & (o > 0) & (h > 0) & (lo > 0) & (c > 0) & (adj > 0)
    order = np.lexsort((lines, ts))
    dup = np.zeros(len(ts), bool)
    dup[order[1:]] = (np.diff(ts[order]) == 0) & ~bad_time[order[1:]] & ~bad_time[order[:-1]]
    first = lines[order][np.searchsorted(ts[order], ts)]     # first line with the same time
    bad = bad + _check(lines, [
        (bad_time, lambda i: f"bad time {str(times[i])!r} in column {time_label}"),
        (~positive, lambda i: f"prices must be positive numbers: o={o[i]} h={h[i]} "
                              f"l={lo[i]} c={c[i]}" + (f" adj={adj[i]}" if adjust else "")),
        (~np.isfinite(v) | (v < 0), lambda i: f"volume {v[i]} is not >= 0"),
        ((h < np.maximum(np.maximum(o, c), lo)) | (lo > np.minimum(o, c)),
         lambda i: f"inconsistent bar: o={o[i]} h={h[i]} l={lo[i]} c={c[i]}"),
        (dup, lambda i: f"duplicate time {str(times[i])!r} (first on line {first[i]})"),
    ])
    keep = _keep(lines, bad)
    if not keep.any():                                   # fail, or "no rows to import"
        return _result(path, "bars", symbol, fmt, {"ts_ns": ts[keep]}, bad, on_error, None)
    step = parse_interval(interval) if interval else infer_interval(ts[~bad_time])
    ts = ts[keep]
    if step is None:
        raise ImportFailed(path, "cannot infer the bar interval from fewer than two "
                                 "distinct times; give --interval")
    interval_ns, canonical = step
    if label == "close":
        ts = ts - interval_ns
    factor = adj[keep] / c[keep]
    columns = {"ts_ns": ts, **{k: values[k][keep] * factor for k in ("open", "high", "low",
                                                                    "close")},
               "volume": v[keep]}
    columns.update({k: values[k][keep] for k in ("vwap", "trades") if k in values})
    return _result(path, "bars", symbol, fmt, columns, bad, on_error, canonical)


def _result(path: str | Path, table: str, symbol: str, fmt: str,
            columns: dict[str, np.ndarray], bad: list[BadRow], on_error: str,
            interval: str | None) -> Parsed:
    if on_error not in ON_ERROR:
        raise ConfigError("--on-error", f"must be fail or skip, not {on_error!r}")
    bad.sort(key=lambda b: b.line)
    if bad and on_error == "fail":
        more = f" (and {len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
        raise ImportFailed(path, f"{bad[0]}{more}; nothing was written "
                                 "(on_error='skip' / --on-error skip drops bad rows)")
    if not len(columns["ts_ns"]):
        raise ImportFailed(path, "no rows to import" + (f" ({len(bad)} bad)" if bad else ""))
    if not isinstance(symbol, str) or not symbol.strip():
        raise ConfigError("--symbol", f"must be a non-empty name, not {symbol!r}")
    return Parsed(table, symbol.strip(), fmt, str(path), columns, interval, tuple(bad))
