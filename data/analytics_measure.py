"""Measuring groupings of a run from its journal, for `data.analytics` (which re-exports
`EquityCurve`, `measure`, `measure_all` and `periods_per_year`).

Several groupings are measured together (`measure_all`): one statement gives every
grouping's aggregates (data.analytics_queries), the round trips are fetched once with a
key code per grouping, walked once in order of entry for the time in the market (the
ordered runs DuckDB returns them in, merged), and placed once on the run's grid for the
curves of realised P&L; the accounts' equity curves are fetched once, and the run's
summed from them. A grouping measured alone runs the same statements restricted to it,
so its figures are the same either way.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from data import analytics_queries as queries
from data import analytics_sql as sql
from data.analytics_kernels import clipped_unions_nb, curve_stats_nb, grid_sums_nb, summed_asof_nb
from data.analytics_summary import CurveFigures, Measured
from data.store import Store

__all__ = ["ALL", "YEAR_NS", "EquityCurve", "curves", "measure", "measure_all",
           "periods_per_year"]

ALL = ("run", "account", "strategy", "symbol")
YEAR_NS = 365.25 * 86_400 * 1_000_000_000
_PNL_CURVES = ("strategy", "symbol")      # curves of realised P&L on the run's grid
_NEVER = np.iinfo(np.int64).max            # a NULL exit: after every time
_EVER = np.iinfo(np.int64).min             # a NULL entry: before every time
_RUNS = 16                                 # _entry_runs: with more, the rows are sorted
# Key codes of round trips: the narrowest type that holds every grouping's (one type for
# all, as the kernels take them together): (most keys, SQL type, numpy dtype).
_CODE_TYPES = ((1 << 8, "UTINYINT", np.uint8), (1 << 16, "USMALLINT", np.uint16),
               (1 << 31, "INTEGER", np.int32))


@dataclass(frozen=True, slots=True, eq=False)
class EquityCurve:
    """One group's equity curve: `ts_ns` ascending, `equity` at those times."""

    by: str
    key: str | None
    ts_ns: np.ndarray
    equity: np.ndarray

    def returns(self) -> np.ndarray:
        """Per-sample simple returns, e_i / e_{i-1} - 1 (one fewer than the samples)."""
        return self.equity[1:] / self.equity[:-1] - 1.0


@dataclass(frozen=True, slots=True)
class _Trips:
    """Round trips fetched once (queries.trip_rows) for the groupings reading them: entry
    and exit time (NULL: the int64 minimum and maximum), net P&L (empty when not read),
    and per grouping the key codes (the run: all 0), of one unsigned or int32 dtype."""

    entry: np.ndarray
    exit: np.ndarray
    net: np.ndarray
    codes: dict[str, np.ndarray]


def measure(store: Store, run_id: str, grouping: str,
            span: tuple[int | None, int | None] | None = None) -> Measured:
    """One grouping ('run', 'account', 'strategy', 'symbol') of a run measured from its
    journal: the aggregates and curve figures (sampling rate inferred) per key. `span`:
    the run's first and last timestamp when known (else read)."""
    return measure_all(store, run_id, (grouping,), span)[grouping]


def measure_all(store: Store, run_id: str, groupings: tuple[str, ...] = ALL,
                span: tuple[int | None, int | None] | None = None) -> dict[str, Measured]:
    """`measure` for each of `groupings`, reading the journal once for all of them."""
    start, end = span or store.rows(sql.SPAN, {"run": run_id})[0]
    with _plan(store, run_id, groupings) as p:
        text = queries.aggregates(p)
        cols = _split(store.query(text, _params(text, run=run_id)), groupings)
        keys = {g: [str(k) for k in cols[g]["key"].tolist()] for g in groupings}
        trips = _fetch_trips(store, run_id, p, keys)
        opened = {g: cols[g].pop("open_from") for g in groupings}
        with ThreadPoolExecutor(1) as pool:        # the store's last query, meanwhile
            sampled = pool.submit(_sampled, store, run_id, groupings)   # Numba's walks
            exposed = _exposure(trips, opened, start, end)
            samples = sampled.result()
        for g in groupings:
            cols[g]["exposed_ns"] = exposed[g]
        traded = {g: np.asarray(cols[g]["trades"]) > 0 for g in groupings}
        found = _curves(samples, groupings, keys, trips, traded)
    span_ns = (end - start) if start is not None else 0
    return {g: Measured(span_ns, _by_key(cols[g]), _curve_stats(found[g]))
            for g in groupings}


def curves(store: Store, run_id: str, grouping: str) -> list[EquityCurve]:
    """The grouping's equity curves (see `data.analytics`), sorted by key."""
    with _plan(store, run_id, (grouping,)) as p:
        keys: dict[str, list[str]] = {}
        trips: dict[str, _Trips] = {}
        if grouping in _PNL_CURVES:
            text = queries.group_keys(p)
            found = store.query(text, _params(text, run=run_id))["key"].tolist()
            keys[grouping] = [str(k) for k in found]
            trips = _fetch_trips(store, run_id, p, keys)
        samples = _sampled(store, run_id, (grouping,))
        return _curves(samples, (grouping,), keys, trips, {})[grouping]


def periods_per_year(ts_ns: np.ndarray) -> float:
    """The observed sampling rate of a curve: (n - 1) samples over its span, per year of
    365.25 days; NaN for fewer than two samples or a zero span."""
    if len(ts_ns) < 2 or ts_ns[-1] <= ts_ns[0]:
        return math.nan
    return (len(ts_ns) - 1) / ((int(ts_ns[-1]) - int(ts_ns[0])) / YEAR_NS)


# --- internals --------------------------------------------------------------------------

@contextmanager
def _plan(store: Store, run_id: str, groupings: tuple[str, ...]) -> Iterator[queries.Plan]:
    """What the groupings read. By strategy: the journaled strategy_id of fills and
    trades when every row of the run has one; otherwise the attribution, first
    materialised in a temporary table (one pass over the fills), dropped after."""
    if "strategy" not in groupings or not store.rows(sql.UNJOURNALED, {"run": run_id})[0][0]:
        yield queries.plan(groupings)
        return
    table = f"phalanx_attributed_{uuid.uuid4().hex[:12]}"
    store.rows(sql.attribute(table), {"run": run_id})
    try:
        yield queries.plan(groupings, journaled=False, table=table)
    finally:
        store.rows(f"DROP TABLE IF EXISTS {table}")


def _params(text: str, **values: Any) -> dict[str, Any]:
    """The named parameters `text` uses (DuckDB refuses unused ones)."""
    return {name: v for name, v in values.items() if f"${name}" in text}


def _split(cols: dict[str, np.ndarray], groupings: tuple[str, ...]
           ) -> dict[str, dict[str, np.ndarray]]:
    """The aggregates' columns per grouping (rows are ordered by grouping, then key)."""
    which = np.asarray(cols.pop("grouping"), dtype=object)
    rows = {g: which == g for g in groupings}
    return {g: {name: col[rows[g]] for name, col in cols.items()} for g in groupings}


def _fetch_trips(store: Store, run_id: str, p: queries.Plan, keys: dict[str, list[str]]
                 ) -> dict[str, _Trips]:
    """The round trips of every grouping with keys, fetched once per CTE they read."""
    out: dict[str, _Trips] = {}
    for source in dict.fromkeys(r.trips for r in p.reads):
        mine = tuple(r.grouping for r in p.reads if r.trips == source and keys.get(r.grouping))
        if not mine:
            continue
        coded = tuple(g for g in mine if g != "run")
        most = max((len(keys[g]) for g in coded), default=1)
        sql_type, dtype = next((t, d) for n, t, d in _CODE_TYPES if most <= n)
        text = queries.trip_rows(p, source, coded, net=any(g in _PNL_CURVES for g in mine),
                                 code_type=sql_type)
        cols = store.query(text, _params(text, run=run_id,
                                         **{f"keys_{g}": keys[g] for g in coded}))
        entry = _filled(cols["entry_ts_ns"], np.int64, _EVER)
        codes = {g: (np.ascontiguousarray(np.ma.getdata(cols[f"code_{g}"]), dtype=dtype)
                     if g != "run" else np.zeros(len(entry), dtype=dtype)) for g in mine}
        net = (_filled(cols["net"], np.float64, np.nan) if "net" in cols
               else np.zeros(0, dtype=np.float64))
        trips = _Trips(entry, _filled(cols["exit_ts_ns"], np.int64, _NEVER), net, codes)
        out.update(dict.fromkeys(mine, trips))
    return out


def _filled(column: np.ndarray, dtype: type, missing: Any) -> np.ndarray:
    """`column` as a contiguous array of `dtype`, NULLs (masked) as `missing`."""
    if isinstance(column, np.ma.MaskedArray):
        column = np.ma.filled(column.astype(dtype), missing)
    return np.ascontiguousarray(column, dtype=dtype)


def _exposure(trips: dict[str, _Trips], opened: dict[str, np.ndarray],
              start: int | None, end: int | None) -> dict[str, np.ndarray]:
    """Per grouping and key, the time in [start, end] with a position of it open (ns):
    the union of its round trips' [entry, exit) and, from `opened` (each key's
    open_from; masked: none), of the positions still open at the end, all clipped to the
    span. Such a position covers [open_from, end] whole, so the round trips count only
    before it: their ends are capped there. The groupings sharing a fetch of round trips
    are measured in one pass, in order of entry (`_entry_runs`)."""
    out = {g: np.zeros(len(o), dtype=np.int64) for g, o in opened.items()}
    if start is None or end is None:
        return out
    caps, tails = {}, {}
    for g, open_from in opened.items():
        has_open = ~np.ma.getmaskarray(open_from)
        open_s = np.maximum(np.ma.getdata(open_from)[has_open].astype(np.int64), start)
        keys = np.flatnonzero(has_open)[open_s < end]
        caps[g] = np.full(len(open_from), _NEVER, dtype=np.int64)
        caps[g][keys] = open_s[open_s < end]
        tails[g] = (keys, end - open_s[open_s < end])
    for t in {id(t): t for t in trips.values()}.values():
        mine = [g for g in opened if trips.get(g) is t and len(opened[g])]
        if not mine:
            continue
        lengths = clipped_unions_nb(tuple(t.codes[g] for g in mine), t.entry, t.exit,
                                    *_entry_runs(t.entry), start, end,
                                    tuple(caps[g] for g in mine))
        for row, g in enumerate(mine):
            out[g] = lengths[row, :len(opened[g])].copy()
    for g, (keys, length) in tails.items():
        out[g][keys] += length
    return out


def _entry_runs(entry: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """How `clipped_unions_nb` visits the round trips by ascending entry: runs of rows
    (first rows, ends) and whether to merge them. A journal's round trips come in order
    of entry, but DuckDB's parallel join may return them as a few ordered runs (one per
    thread): fewer than `_RUNS` are merged as they are read, with no sort of the rows nor
    an order of them kept (millions of rows). More are sorted (a stable sort), and taken
    in turn as runs of one row."""
    n = len(entry)
    cuts = np.flatnonzero(entry[1:] < entry[:-1]) + 1 if n > 1 else np.zeros(0, np.int64)
    if len(cuts) < _RUNS:
        return np.concatenate([[0], cuts]), np.concatenate([cuts, [n]]), True
    order = np.argsort(entry, kind="stable")
    return order, order + 1, False


def _sampled(store: Store, run_id: str, groupings: tuple[str, ...]
             ) -> dict[str, dict[str, np.ndarray]]:
    """What the curves read of the equity samples, fetched once: the accounts' curves
    ("account"), the run's ("run": at each time any account sampled, the sum of every
    account's latest sample, summed by `summed_asof_nb`) and the grid ("grid": the run's
    curve, whose first value is its starting equity, the sum of the first samples)."""
    if not {"run", "account", *_PNL_CURVES} & set(groupings):
        return {}
    accounts = store.query(sql.ACCOUNT_CURVES, {"run": run_id})
    cols = {"account": accounts}
    if {"run", *_PNL_CURVES} & set(groupings):
        cols["run"] = cols["grid"] = _run_curve(run_id, accounts)
    return cols


def _run_curve(run_id: str, accounts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The run's curve from its accounts' (key-sorted, NULL-free columns of
    ACCOUNT_CURVES), as columns: key, ts_ns, equity and base (the starting equity)."""
    keys = np.asarray(accounts["key"], dtype=object)
    ts = np.ascontiguousarray(np.ma.getdata(accounts["ts_ns"]), dtype=np.int64)
    equity = np.ascontiguousarray(np.ma.getdata(accounts["equity"]), dtype=np.float64)
    cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    offsets = np.concatenate([[0], cuts, [len(keys)]]).astype(np.int64)
    grid = np.unique(ts)
    summed = summed_asof_nb(offsets, ts, equity, grid)
    return {"key": np.full(len(grid), run_id, dtype=object), "ts_ns": grid,
            "equity": summed, "base": summed[:1]}


def _curves(samples: dict[str, dict[str, np.ndarray]], groupings: tuple[str, ...],
            keys: dict[str, list[str]], trips: dict[str, _Trips],
            traded: dict[str, np.ndarray]) -> dict[str, list[EquityCurve]]:
    """Each grouping's curves: the run's and the accounts' from their equity samples,
    the others' from the round trips placed on the run's grid (`samples`: `_sampled`)."""
    out: dict[str, list[EquityCurve]] = {}
    for g in groupings:
        if g not in _PNL_CURVES:
            c = samples[g]
            out[g] = [EquityCurve(g, key, ts, equity) for key, ts, equity
                      in _segments(c["key"], c["ts_ns"], c["equity"])]
    pnl = tuple(g for g in groupings if g in _PNL_CURVES)
    if pnl:
        out.update(_pnl_curves(pnl, samples["grid"], keys, trips, traded))
    return {g: out[g] for g in groupings}


def _pnl_curves(groupings: tuple[str, ...], grid_cols: dict[str, np.ndarray],
                keys: dict[str, list[str]], trips: dict[str, _Trips],
                traded: dict[str, np.ndarray]) -> dict[str, list[EquityCurve]]:
    """Base + cumulative net P&L on the run's grid (the run's curve's times), for each key
    with round trips: each trip steps its key's curve at the first grid time at or after
    its exit (none after the last). The groupings sharing a fetch of round trips are
    placed in one pass (`grid_sums_nb`). `traded`: per key, whether it has round trips
    (a grouping absent: every key has)."""
    out: dict[str, list[EquityCurve]] = {g: [] for g in groupings}
    grid = np.ascontiguousarray(np.ma.getdata(grid_cols["ts_ns"]), dtype=np.int64)
    if not len(grid):
        return out
    base = float(grid_cols["base"][0])
    for t in {id(t): t for g, t in trips.items() if g in groupings}.values():
        mine = tuple(g for g in groupings if trips.get(g) is t)
        sizes = [len(keys.get(g, [])) for g in mine]
        first = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        codes = tuple(t.codes[g] for g in mine)
        steps = grid_sums_nb(codes, t.exit, t.net, grid, first)
        for g, lo, hi in zip(mine, first[:-1], first[1:], strict=True):
            has = traded.get(g, np.ones(hi - lo, dtype=bool))
            out[g] = [EquityCurve(g, _key(key), grid, base + np.cumsum(step))
                      for key, step, h in zip(keys[g], steps[lo:hi], has, strict=True) if h]
    return out


def _segments(keys: np.ndarray, ts: np.ndarray, values: np.ndarray
              ) -> Iterator[tuple[str | None, np.ndarray, np.ndarray]]:
    """(key, ts_ns, values) per run of equal keys in key-sorted columns; NULL times -1,
    NULL values NaN."""
    keys = np.asarray(keys, dtype=object)
    ts = np.ma.filled(np.ma.asarray(ts).astype(np.int64), -1)
    values = np.ma.filled(np.ma.asarray(values).astype(np.float64), np.nan)
    cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b > a:
            yield _key(keys[a]), ts[a:b], values[a:b]


def _key(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _by_key(cols: dict[str, np.ndarray]) -> dict[str | None, dict[str, Any]]:
    names = list(cols)
    return {_key(row[0]): dict(zip(names, row, strict=True))
            for row in zip(*(cols[n].tolist() for n in names), strict=True)}


def _curve_stats(found: list[EquityCurve]) -> dict[str | None, CurveFigures]:
    """Figures of each curve, keyed by its key, the sampling rate inferred."""
    if not found:
        return {}
    sizes = np.array([len(c.ts_ns) for c in found], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ts = np.concatenate([c.ts_ns for c in found]).astype(np.int64)
    equity = np.concatenate([c.equity for c in found]).astype(np.float64)
    mean_r, std_r, down_r, max_dd, dd_ns, _ = curve_stats_nb(offsets, ts, equity)
    out = {}
    for k, c in enumerate(found):
        n = len(c.equity)
        out[c.key] = CurveFigures(
            n, float(c.equity[0]) if n else math.nan, float(c.equity[-1]) if n else math.nan,
            float(c.equity.mean()) if n else math.nan, float(mean_r[k]), float(std_r[k]),
            float(down_r[k]), float(max_dd[k]), int(dd_ns[k]) if dd_ns[k] >= 0 else None,
            periods_per_year(c.ts_ns))
    return out
