"""Parameter sweeps in the DuckDB store: one row per sweep, one row per parameter set.

    with Store.open("phalanx.duckdb") as store:
        ensure_tables(store)
        begin_sweep(store, "sweep-...", {"strategy": "sma_cross", ...}, sets=100)
        write_results(store, "sweep-...", rows)          # one transaction per batch
        done = finished_sets(store, "sweep-...")         # what a resume skips
        end_sweep(store, "sweep-...", "finished")

Tables (schema version 6 of `data.schema`; every store file has them):

- `sweeps`: sweep_id, started_ns, ended_ns, config (JSON text), status
  ('running' | 'finished' | 'incomplete': some sets lost | 'interrupted'), sets (grid size), path
  ('fast' | 'event').
- `sweep_results`: sweep_id, set_index (position in the expanded grid), params (JSON text),
  status ('ok' | 'failed' | 'lost'), error, then the metric columns of `METRICS`, and
  written_ns. Keyed by (sweep_id, set_index): writing a set again replaces it.

'failed' is a set whose configuration or backtest raised (it fails the same way every
time); 'lost' is a set whose whole task died (a worker crash): a resume runs 'lost' sets
again and skips the others.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from data.store import Store

# The metric columns of `sweep_results` and their SQL types (created by migration 6 of
# data.schema; tests hold the two equal).
METRICS: dict[str, str] = {
    "final_value": "DOUBLE", "total_return": "DOUBLE", "sharpe": "DOUBLE",
    "max_drawdown": "DOUBLE", "closed_trades": "BIGINT", "open_trades": "BIGINT",
    "fills": "BIGINT", "wins": "BIGINT", "losses": "BIGINT", "win_rate": "DOUBLE",
    "gross_profit": "DOUBLE", "gross_loss": "DOUBLE", "fees": "DOUBLE", "exposure": "DOUBLE",
    "cash": "DOUBLE", "position": "DOUBLE",
}
STATUSES = ("ok", "failed", "lost")
_RESULT_KEYS = ("set_index", "params", "status", "error", *METRICS)



def begin_sweep(store: Store, sweep_id: str, config: Mapping[str, Any], *, sets: int,
                path: str) -> None:
    """Record a new sweep as 'running'."""
    with store.transaction():
        store.rows("INSERT INTO sweeps VALUES (?, ?, NULL, ?, 'running', ?, ?)",
                   [sweep_id, time.time_ns(), _json(config), sets, path])


def resume_sweep(store: Store, sweep_id: str) -> None:
    """Mark a recorded sweep as running again."""
    with store.transaction():
        store.rows("UPDATE sweeps SET status = 'running', ended_ns = NULL WHERE sweep_id = ?",
                   [sweep_id])


def end_sweep(store: Store, sweep_id: str, status: str) -> None:
    with store.transaction():
        store.rows("UPDATE sweeps SET status = ?, ended_ns = ? WHERE sweep_id = ?",
                   [status, time.time_ns(), sweep_id])


def sweep_record(store: Store, sweep_id: str) -> dict[str, Any] | None:
    """The sweeps row (config parsed back from JSON), or None if there is none."""
    rows = store.rows("SELECT sweep_id, started_ns, ended_ns, config, status, sets, path "
                      "FROM sweeps WHERE sweep_id = ?", [sweep_id])
    if not rows:
        return None
    keys = ("sweep_id", "started_ns", "ended_ns", "config", "status", "sets", "path")
    record = dict(zip(keys, rows[0], strict=True))
    record["config"] = orjson.loads(record["config"])
    return record


def write_results(store: Store, sweep_id: str, results: Sequence[Mapping[str, Any]]) -> int:
    """Insert (or replace) the results of one batch in ONE transaction. Each result has
    set_index, params (a mapping), status, error and any of the METRICS (missing = NULL).
    Written as columns through `Store.insert(..., replace=True)`, the store's own
    columnar path, rather than one statement of bound parameters per 200 rows."""
    if not results:
        return 0
    for r in results:
        if r["status"] not in STATUSES:
            raise ValueError(f"status {r['status']!r} is not one of {STATUSES}")
    columns: dict[str, Any] = {
        "sweep_id": sweep_id, "set_index": [int(r["set_index"]) for r in results],
        "params": [_json(r["params"]) for r in results],
        "status": [r["status"] for r in results], "error": [r.get("error") for r in results],
        **{m: [r.get(m) for r in results] for m in METRICS}, "written_ns": time.time_ns()}
    return store.insert("sweep_results", columns, replace=True)


def finished_sets(store: Store, sweep_id: str) -> set[int]:
    """Set indices a resume must not run again: every recorded set except 'lost' ones."""
    return {i for (i,) in store.rows("SELECT set_index FROM sweep_results WHERE sweep_id = ? "
                                     "AND status <> 'lost'", [sweep_id])}


def read_results(store: Store, sweep_id: str) -> list[dict[str, Any]]:
    """Every recorded set of the sweep, in grid order, params parsed back from JSON."""
    rows = store.rows(f"SELECT {', '.join(_RESULT_KEYS)} FROM sweep_results "
                      "WHERE sweep_id = ? ORDER BY set_index", [sweep_id])
    out = []
    for row in rows:
        record = dict(zip(_RESULT_KEYS, row, strict=True))
        record["params"] = orjson.loads(record["params"])
        out.append(record)
    return out


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS
                        ).decode()
