"""A finished run's analytics, materialised when the run ends, so analysing it reads a few
hundred rows instead of its whole journal.

`Store.end_run` measures the run once for every grouping (`data.analytics.summarize`) and
writes the pieces `data.analytics.analyze` assembles its results from (schema v4):
- `run_summaries`: one row per summarised run: the journal it was measured on (its
  `fingerprint`) and the run's span;
- `run_summary_groups`: per grouping ('run', 'account', 'strategy', 'symbol') and key, the
  aggregates over round trips and fills (`has_agg`) and the figures of the group's equity
  curve (`has_curve`), with the sampling rate inferred from the curve;
- `run_summary_latency`: the `latency` statistics per hop.

Results are the same with or without the summary, to the last bit: both paths run the
same computation, and the summary stores its intermediate values (DOUBLEs round-trip
exactly; NaN is written as NULL and read back as NaN). The summary is used only while the
run's journal is the one it was measured on: the fingerprint is the run's row count in
every table the analytics read plus a hash of the instruments' multipliers. Every read
first compares the same counts over all runs, from DuckDB's metadata (about 2 ms): while
they are unchanged, nothing was appended anywhere (the journal is append-only). When they
changed (another run wrote since), the run's own counts decide (a scan, about 30 ms over
10 million fills), and the store remembers the verdict while the table counts stay as
they were then. Rows appended to the run after it ended (or an instrument redefined)
make its summary stale, and the analytics are then computed from the journal again. Rows
deleted, or edited in place, without changing the counts are not detected: call
`Store.summarize_run` after such an edit. Runs that ended before v4, or that have not
ended, have no summary and are computed from the journal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from data import analytics_sql as sql
from data.store import Store

SUMMARY_VERSION = 4           # the schema version that has the summary tables

AGG_FIELDS = ("trades", "wins", "losses", "gross_pnl", "fees", "win_sum", "loss_sum",
              "fills", "fill_fees", "notional", "exposed_ns")
_INT_AGGS = frozenset({"trades", "wins", "losses", "fills", "exposed_ns"})


@dataclass(frozen=True, slots=True)
class CurveFigures:
    """What `data.analytics` needs of one equity curve; `ppy` is the sampling rate used
    (inferred from the curve unless given)."""

    samples: int
    start: float
    end: float
    mean: float
    mean_r: float
    std_r: float
    down_r: float
    max_dd: float
    dd_ns: int | None
    ppy: float


CURVE_FIELDS = CurveFigures.__slots__


@dataclass(frozen=True, slots=True)
class Measured:
    """One grouping of a run, measured: the pieces `data.analytics.analyze` assembles."""

    span_ns: int
    aggs: dict[str | None, dict[str, Any]]
    curves: dict[str | None, CurveFigures]


def fingerprint(store: Store, run_id: str) -> str:
    """The state of the run's journal the analytics read (see the module docstring)."""
    return _joined(store.rows(sql.FINGERPRINT, {"run": run_id})[0])


def tables_fingerprint(store: Store) -> str:
    """The same over every run's rows: cheap, and unchanged while nothing is appended."""
    return _joined(store.rows(sql.TABLES_FINGERPRINT)[0])


def _joined(values: tuple[Any, ...]) -> str:
    return ",".join("" if v is None else str(v) for v in values)


def columns(run_id: str, measured: dict[str, Measured], hops: list[tuple[Any, ...]],
            prints: tuple[str, str], span_ns: int, written_ns: int, code: str
            ) -> list[tuple[str, dict[str, Any]]]:
    """The summary of a run as (table, columns) batches for `Store.insert_batches`."""
    rows = []
    for grouping, m in measured.items():
        keys = [run_id] if grouping == "run" else sorted(
            set(m.aggs) | set(m.curves), key=lambda k: (k is None, k or ""))
        for key in keys:
            rows.append((grouping, key, m.aggs.get(key), m.curves.get(key)))
    groups: dict[str, Any] = {
        "run_id": run_id, "grouping": [r[0] for r in rows], "key": [r[1] for r in rows],
        "has_agg": np.array([r[2] is not None for r in rows], dtype=bool),
        "has_curve": np.array([r[3] is not None for r in rows], dtype=bool)}
    for name in AGG_FIELDS:
        values = [None if r[2] is None else r[2][name] for r in rows]
        groups[name] = values if name in _INT_AGGS else np.array(
            [math.nan if v is None else float(v) for v in values])
    for name in CURVE_FIELDS:
        values = [None if r[3] is None else getattr(r[3], name) for r in rows]
        groups[f"c_{name}"] = values if name in ("samples", "dd_ns") else np.array(
            [math.nan if v is None else float(v) for v in values])
    latency = {"run_id": run_id, **{name: [h[i] for h in hops] for i, name in enumerate(
        ("hop", "count", "mean", "p50", "p90", "p99", "max"))}}
    head = {"run_id": run_id, "fingerprint": prints[0], "tables_fingerprint": prints[1],
            "span_ns": span_ns, "written_ns": written_ns, "code_version": code}
    batches = [("run_summaries", head), ("run_summary_groups", groups)]
    if hops:
        batches.append(("run_summary_latency", latency))
    return batches


def load(store: Store, run_id: str, grouping: str) -> Measured | None:
    """The grouping as summarised, or None without a current summary."""
    if not _current(store, run_id):
        return None
    cols = store.query(sql.SUMMARY_GROUPS, {"run": run_id, "grouping": grouping})
    span = store.rows(sql.SUMMARY_SPAN, {"run": run_id})[0][0]
    n = len(cols["grouping"])
    keys = [None if k is None else str(k) for k in _objects(cols["key"])]
    has_agg, has_curve = _objects(cols["has_agg"]), _objects(cols["has_curve"])
    values = {name: (_objects(cols[name]) if name in _INT_AGGS else _floats(cols[name]))
              for name in AGG_FIELDS}
    curve = {name: (_objects(cols[f"c_{name}"]) if name in ("samples", "dd_ns")
                    else _floats(cols[f"c_{name}"])) for name in CURVE_FIELDS}
    aggs = {keys[i]: {name: values[name][i] for name in AGG_FIELDS}
            for i in range(n) if has_agg[i]}
    curves = {keys[i]: CurveFigures(**{name: curve[name][i] for name in CURVE_FIELDS})
              for i in range(n) if has_curve[i]}
    return Measured(int(span), aggs, curves)


def load_latency(store: Store, run_id: str) -> list[tuple[Any, ...]] | None:
    """The latency rows as summarised, or None without a current summary."""
    if not _current(store, run_id):
        return None
    return store.rows(sql.SUMMARY_LATENCY, {"run": run_id})


# Per open store, per run: the tables' fingerprint when the run's own counts last matched
# its summary. While the tables are unchanged since, so are the run's rows.
_verified: WeakKeyDictionary[Store, dict[str, str]] = WeakKeyDictionary()


def _current(store: Store, run_id: str) -> bool:
    if store.schema_version < SUMMARY_VERSION:
        return False
    stored = store.rows(sql.SUMMARY_FINGERPRINT, {"run": run_id})
    if not stored:
        return False
    run_print, tables_print = stored[0]
    now = tables_fingerprint(store)
    seen = _verified.setdefault(store, {})
    if now in (tables_print, seen.get(run_id)):
        return True
    if run_print != fingerprint(store, run_id):
        return False
    seen[run_id] = now
    return True


def _objects(col: np.ndarray) -> list[Any]:
    """Python values, NULL as None."""
    if np.ma.isMaskedArray(col):
        return [None if m else v for v, m in zip(col.data.tolist(),
                                                 np.ma.getmaskarray(col).tolist(),
                                                 strict=True)]
    return col.tolist()


def _floats(col: np.ndarray) -> list[float]:
    """Python floats, NULL (a NaN written) as NaN."""
    return np.ma.filled(np.ma.asarray(col).astype(np.float64), math.nan).tolist()
