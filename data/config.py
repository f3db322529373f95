"""Typed configuration of the history store, and the parsers of the time values users
write (bar intervals, time zones, timestamps). The config is validated once, on
construction (ConfigError naming the key):

    [store]
    path = "phalanx.duckdb"       # relative paths are taken from the working directory
    flush_rows = 10_000            # StoreWriter: flush when this many rows are buffered
    flush_interval_s = 1.0         # ... or when maybe_flush() finds the last flush this old
    snapshot_path = "live.duckdb"  # optional: a read-only copy for other processes
    snapshot_interval_s = 30.0

Intervals ("1m", "5s", "1d") have one canonical spelling, which `bars.interval` holds.
Times: naive ISO dates and times are wall-clock times in a zone (default UTC; a date alone
is that day's midnight), ISO strings with an offset or `Z` are exact, integer epochs are
UTC seconds, ms, us or ns told apart by magnitude.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from engine.errors import ConfigError, InvalidInput

DEFAULT_PATH = "phalanx.duckdb"

_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_UNIT_ALIASES = {"min": "m", "sec": "s", "hour": "h", "day": "d", "t": "m"}
_INTERVAL = re.compile(r"^\s*(\d+)?\s*([a-z]+)\s*$")
_HOUR_NS = 3_600_000_000_000
_EPOCH = dt.datetime(1970, 1, 1)
_ISO_NAIVE = re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?)?")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the store lives and how `StoreWriter` batches its writes."""

    path: str = DEFAULT_PATH
    flush_rows: int = 10_000
    flush_interval_s: float = 1.0
    snapshot_path: str | None = None
    snapshot_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise ConfigError("path", f"must be a non-empty file path, not {self.path!r}")
        if self.path.strip() == ":memory:":
            raise ConfigError("path", "must be a file: the store is the run's durable journal")
        if (not isinstance(self.flush_rows, int) or isinstance(self.flush_rows, bool)
                or self.flush_rows < 1):
            raise ConfigError("flush_rows", f"must be an integer >= 1, not {self.flush_rows!r}")
        for key in ("flush_interval_s", "snapshot_interval_s"):
            value = getattr(self, key)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(key, f"must be a finite number of seconds > 0, not {value!r}")
            object.__setattr__(self, key, float(value))
        if self.snapshot_path is not None:
            if not isinstance(self.snapshot_path, str) or not self.snapshot_path.strip():
                raise ConfigError("snapshot_path", "must be a non-empty file path or absent")
            if Path(self.snapshot_path).resolve() == Path(self.path).resolve():
                raise ConfigError("snapshot_path", "must differ from path")

    @property
    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str | None = None) -> StoreConfig:
        """A config from a parsed file section (e.g. `[store]`). Unknown keys are errors."""
        known = sorted(f.name for f in fields(cls))
        for key in values:
            if key not in known:
                raise ConfigError(str(key), f"unknown key; known: {', '.join(known)}", source)
        try:
            return cls(**dict(values))
        except ConfigError as exc:
            raise ConfigError(exc.key, exc.reason, source) from None


def parse_interval(text: str) -> tuple[int, str]:
    """("1m" -> (60_000_000_000, "1m")): the length in ns and the canonical spelling.

    Units: ns, us, ms, s, m (also min, t), h, d; a missing count means 1 ("m" = "1m").
    The canonical spelling uses the largest unit that divides the length: "60s" -> "1m".
    """
    match = _INTERVAL.match(text.lower()) if isinstance(text, str) else None
    unit = match and _UNIT_ALIASES.get(match.group(2), match.group(2))
    if not match or unit not in _UNITS_NS:
        raise InvalidInput("interval", text, "must be a count and a unit, e.g. 250ms, 5s, "
                                             "1m, 4h, 1d (units: ns us ms s m h d)")
    ns = int(match.group(1) or 1) * _UNITS_NS[unit]
    if ns <= 0:
        raise InvalidInput("interval", text, "must be longer than zero")
    return ns, format_interval(ns)


def format_interval(ns: int) -> str:
    """The canonical spelling of an interval of `ns` nanoseconds ("1d", "15m", "250ms")."""
    for unit, size in sorted(_UNITS_NS.items(), key=lambda kv: -kv[1]):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    raise AssertionError("unreachable: 1 ns divides everything")


def local_to_utc_ns(local_ns: np.ndarray, tz: str) -> np.ndarray:
    """Wall-clock nanoseconds in zone `tz` -> UTC nanoseconds, DST-correct.

    The offset is looked up once per distinct local hour (zone rules change on the hour);
    a wall time that occurs twice when clocks go back takes its first (summer) meaning.
    """
    if tz in ("UTC", "utc", "Etc/UTC"):
        return np.asarray(local_ns, dtype=np.int64)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("tz", f"unknown time zone {tz!r} (use an IANA name such as "
                                "America/New_York)") from None
    hours, inverse = np.unique(np.floor_divide(local_ns, _HOUR_NS), return_inverse=True)
    offsets = np.array([(_EPOCH + dt.timedelta(hours=h)).replace(tzinfo=zone).utcoffset()
                        // dt.timedelta(microseconds=1) * 1000 for h in hours.tolist()],
                       dtype=np.int64)
    return np.asarray(local_ns, dtype=np.int64) - offsets[inverse]


def parse_times(values: np.ndarray, tz: str = "UTC", time_format: str | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(UTC ns as int64, bool mask of values that are not times). See the module doc."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]").astype(np.int64), np.zeros(len(values), bool)
    if values.dtype.kind in "iu":
        return _epoch_ns(values.astype(np.int64)), np.zeros(len(values), bool)
    text = np.char.strip(values.astype(str))
    if len(text) and time_format is None and np.char.isdigit(text).all():
        return _epoch_ns(text.astype(np.int64)), np.zeros(len(text), bool)
    ns = np.zeros(len(text), np.int64)
    naive = np.ones(len(text), bool)
    bad = np.zeros(len(text), bool)
    iso = np.array([time_format is None and _ISO_NAIVE.fullmatch(v) is not None
                    for v in text.tolist()], bool)
    try:
        ns[iso] = text[iso].astype("datetime64[ns]").astype(np.int64)
        slow = np.flatnonzero(~iso)
    except ValueError:                     # e.g. month 13: find the culprits one by one
        slow = np.arange(len(text))
    for i in slow.tolist():
        try:
            stamp = (dt.datetime.strptime(text[i], time_format) if time_format
                     else dt.datetime.fromisoformat(text[i]))
        except ValueError:
            bad[i] = True
            continue
        if stamp.tzinfo is not None:
            naive[i] = False
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        ns[i] = (stamp - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    if naive.any():
        ns[naive] = local_to_utc_ns(ns[naive], tz)
    return ns, bad


def _epoch_ns(ints: np.ndarray) -> np.ndarray:
    """Epoch integers to ns: seconds below 1e11 (year 5138), ms below 1e14, us below 1e17."""
    top = int(np.abs(ints).max()) if len(ints) else 0
    scale = next(s for limit, s in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3))
                 if top < limit) if top < 1e17 else 1
    return ints * scale


def infer_interval(ts: np.ndarray) -> tuple[int, str] | None:
    """The commonest step between distinct times (ns, canonical), None under two times."""
    steps = np.diff(np.unique(ts))
    if not len(steps):
        return None
    values, counts = np.unique(steps, return_counts=True)
    ns = int(values[np.argmax(counts)])
    return ns, format_interval(ns)
