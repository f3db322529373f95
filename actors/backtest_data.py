"""What a backtest runs over: a symbol's bars or trade ticks as numpy columns, loaded
straight from a file (the importers of `phalanx data import`) or from the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.config import parse_interval
from data.importers import Parsed, ohlcv_from_columns, read_lean_trades, read_ohlcv, read_yahoo
from engine.errors import ConfigError, UnknownName

FORMATS = ("yahoo", "ohlcv", "lean-ticks")


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """Bars of one symbol, oldest first; `ts_ns` are the bars' open times."""

    symbol: str
    interval_ns: int
    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.ts_ns)

    def columns(self) -> dict[str, np.ndarray]:
        """The arrays by name, as the fast path takes them."""
        return {"ts_ns": self.ts_ns, "open": self.open, "high": self.high, "low": self.low,
                "close": self.close, "volume": self.volume}

    @classmethod
    def from_parsed(cls, parsed: Parsed) -> BarSeries:
        c = parsed.columns
        order = np.argsort(c["ts_ns"], kind="stable")
        interval_ns, _ = parse_interval(parsed.interval or "1d")
        return cls(parsed.symbol, interval_ns,
                   *(np.ascontiguousarray(c[k][order], dtype=np.int64 if k == "ts_ns"
                                          else np.float64)
                     for k in ("ts_ns", "open", "high", "low", "close", "volume")),
                   source=parsed.source)


@dataclass(frozen=True, slots=True, eq=False)
class TickSeries:
    """Trade ticks of one symbol, oldest first."""

    symbol: str
    ts_ns: np.ndarray
    price: np.ndarray
    size: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.ts_ns)

    @classmethod
    def from_parsed(cls, parsed: Parsed) -> TickSeries:
        c = parsed.columns          # prints flagged suspicious by the feed are left out
        keep = ~np.asarray(c.get("suspicious", np.zeros(len(parsed), bool)), dtype=bool)
        order = np.flatnonzero(keep)[np.argsort(c["ts_ns"][keep], kind="stable")]
        return cls(parsed.symbol, np.ascontiguousarray(c["ts_ns"][order], dtype=np.int64),
                   np.ascontiguousarray(c["price"][order], dtype=np.float64),
                   np.ascontiguousarray(c["size"][order], dtype=np.float64),
                   source=parsed.source)


def load_data(path: str | Path, fmt: str, symbol: str | None = None, *,
              interval: str | None = None) -> BarSeries | TickSeries:
    """Bars (yahoo, ohlcv: CSV or Parquet) or trade ticks (lean-ticks) of one file.
    A malformed row fails the load with its line number (data.importers.ImportFailed)."""
    if fmt not in FORMATS:
        raise UnknownName("format", str(fmt), list(FORMATS))
    if not Path(path).exists():
        raise ConfigError("--data", f"{path} does not exist")
    if fmt == "lean-ticks":
        return TickSeries.from_parsed(read_lean_trades(path, symbol))
    symbol = symbol or Path(path).stem.split("-")[0].upper()
    if fmt == "yahoo":
        return BarSeries.from_parsed(read_yahoo(path, symbol))
    if Path(path).suffix.lower() == ".parquet":
        from data.store import read_parquet
        return BarSeries.from_parsed(ohlcv_from_columns(read_parquet(path), symbol, str(path),
                                                        interval=interval))
    return BarSeries.from_parsed(read_ohlcv(path, symbol, interval=interval))


def load_from_store(db: str, symbol: str, *, interval: str | None = None,
                    ticks: bool = False) -> BarSeries | TickSeries:
    """A symbol's stored bars (of `interval`; the only stored interval if None) or trade
    ticks (suspicious prints left out), oldest first, from the DuckDB file `db`."""
    from data.store import Store

    if not Path(db).exists():
        raise ConfigError("--db", f"{db} does not exist")
    with Store.open(db) as store:        # read-write: an older schema is migrated first
        if ticks:
            cols = store.query("SELECT ts_ns, price, size FROM ticks WHERE symbol = ? AND "
                               "NOT suspicious ORDER BY ts_ns, seq", [symbol])
            if not len(cols["ts_ns"]):
                raise UnknownName("symbol", symbol, _stored(store, "ticks"))
            return TickSeries(symbol, cols["ts_ns"].astype(np.int64),
                              cols["price"].astype(float), cols["size"].astype(float),
                              source=f"{db}:ticks")
        found = [r[0] for r in store.rows("SELECT DISTINCT interval FROM bars WHERE "
                                          "symbol = ? ORDER BY 1", [symbol])]
        if not found:
            raise UnknownName("symbol", symbol, _stored(store, "bars"))
        if interval is None and len(found) > 1:
            raise ConfigError("--interval", f"{symbol} has bars of {', '.join(found)}; "
                                            "choose one")
        canonical = parse_interval(interval)[1] if interval else found[0]
        if canonical not in found:
            raise UnknownName("interval", canonical, found)
        cols = store.query("SELECT ts_ns, open, high, low, close, volume FROM bars WHERE "
                           "symbol = ? AND interval = ? ORDER BY ts_ns", [symbol, canonical])
    return BarSeries(symbol, parse_interval(canonical)[0],
                     *(np.ascontiguousarray(cols[k], dtype=np.int64 if k == "ts_ns"
                                            else np.float64)
                       for k in ("ts_ns", "open", "high", "low", "close", "volume")),
                     source=f"{db}:bars/{canonical}")


def _stored(store: object, table: str) -> list[str]:
    return [r[0] for r in store.rows(f"SELECT DISTINCT symbol FROM {table} "  # type: ignore
                                     "ORDER BY 1")]
