"""Store benchmarks: ingest into the DuckDB history store and analytics over it, with the
peers measured in the same run.

Shared by `benchmarks/test_bench_store.py` (pytest-benchmark) and `phalanx bench store
--json`, which prints `run_store_bench()` as JSON.

Measured, each in its own store file in a temporary directory deleted afterwards:
- synthetic ingest (the headline, `ingest_ticks_per_s`): `ticks` numpy columns (8
  symbols, LEAN-like exchanges and sale conditions, 8 columns) made by `synthetic_ticks`
  (not timed), written with `Store.insert`, one transaction per `batch_rows` rows, then a
  CHECKPOINT so the rows are in the main file;
- SPY ingest: the 451,545 prints of `20131008_trade.zip`, parsed by
  `data.importers.read_lean_trades` and written by `Store.import_parsed`, timed apart;
- naive peer: the same kind of ticks inserted one row at a time, `INSERT INTO ticks
  VALUES (?, ...)` through `Store.rows`, in one transaction (its best case; one commit
  per row is reported too, on fewer rows);
- pandas peer: `pandas.read_csv` of the SPY zip, the same columns made in pandas (UTC
  nanoseconds, price / 10,000, file order), then DuckDB inserting the DataFrame; its
  table is checked equal to ours (count, time range, traded value) before it is timed.
  Both SPY writes end with a CHECKPOINT. duckdb is imported here for this peer only:
  pandas plus DuckDB's own DataFrame scan, without our Store, IS the peer; everything of
  ours goes through the Store API;
- analytics (`analytics_s`): a run journal of `fills` fills (half as many round trips,
  an order and a position snapshot per fill, equity and latency samples; fills and round
  trips carry their strategy_id, as the engine journals them since schema v3) is generated in
  SQL (not timed); the run is ended and its analytics summary written
  (`Store.summarize_run`, what `end_run` does, timed apart as `seconds.run_summary`),
  then the full metric set of `data.analytics` is timed: the run, per account, per
  strategy and per symbol (`analyze`), and `latency`, as a user gets them
  (`analytics_s`, read from the summary, each call checking it is current) and measured
  from the journal with `summary=False`: every grouping at once (`analyze_all`, which
  reads the journal once for all of them) and `latency` (`analytics_journal_s`), and
  one `analyze` call per grouping (`analytics_journal_each_s`). Without that module (or
  with `analytics="sql"`) a representative set of SQL aggregates is timed instead.

Method: ingest and peer figures are the best of `repeats` samples, each into a fresh file
(the naive peers, thousands of inserts at about a millisecond each, are timed once);
the analytics set runs after an untimed warm-up on a small run (Numba compilation, the
code paths), each part the best of `repeats` calls (they only read, so each call sees the
same run; one call swung by about 0.1 s from run to run). Targets are reported, not
asserted.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from data.importers import Parsed, read_lean_trades
from data.store import Store
from engine.errors import PhalanxError, UnknownName

TICKS = 10_000_000
FILLS = 10_000_000
NAIVE_ROWS = 20_000
NAIVE_AUTOCOMMIT_ROWS = 2_000
BATCH_ROWS = 1_000_000
REPEATS = 3
TARGET_INGEST_TICKS_PER_S = 2_000_000
TARGET_ANALYTICS_S = 1.0
SPY_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "20131008_trade.zip"
ANALYTICS = ("auto", "data.analytics", "sql")
_JOURNAL_TABLES = ("fills", "trades", "orders", "positions", "equity", "latency")

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
_MIN_SPAN_NS = 30 * 86_400 * SEC
_SYMBOLS = np.array([f"SYM{i}" for i in range(8)], dtype=object)
_EXCHANGES = np.array(list("PQZDKBYJXWCM"), dtype=object)              # as in the SPY day
_CONDITIONS = np.array(["1", "20000020", "20", "20002020", "2000"], dtype=object)
_LEAN_COLUMNS = ["ms", "price", "size", "exchange", "sale_condition", "suspicious"]
_INSERT_ROW = "INSERT INTO ticks VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
FINGERPRINT = ("SELECT count(*), min(ts_ns), max(ts_ns), round(sum(price * size), 2), "
                "count(*) FILTER (WHERE suspicious) FROM ticks")


# --- workloads ---------------------------------------------------------------------------

def synthetic_ticks(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """`n` trade prints as the `ticks` table's columns, in time order (seq = file order)."""
    rng = np.random.default_rng(seed)
    sid = rng.integers(0, len(_SYMBOLS), n)
    walk = np.cumsum(rng.standard_normal(n)) * 0.01
    return {
        "symbol": _SYMBOLS[sid],
        "ts_ns": T0 + np.cumsum(rng.integers(0, 2_000_000, n)),
        "seq": np.arange(n, dtype=np.int64),
        "price": np.round(50.0 + 25.0 * sid + walk - walk.min(), 2),
        "size": rng.integers(1, 1_000, n).astype(np.float64),
        "exchange": _EXCHANGES[rng.integers(0, len(_EXCHANGES), n)],
        "sale_condition": _CONDITIONS[rng.integers(0, len(_CONDITIONS), n)],
        "suspicious": rng.random(n) < 0.001,
    }


def _sql(store: Store, text: str, params: Mapping[str, Any]) -> None:
    """Run `text` with the named parameters it uses (DuckDB rejects unused ones)."""
    store.rows(text, {k: v for k, v in params.items() if f"${k}" in text})


# One round trip per k: account, symbol and strategy cycle; prices, sizes, sides and
# holding times come from hash(k, salt), so every statement derives the same trip.
_TRIPS = """
SELECT k, 'acct-' || lpad((k % $accounts)::VARCHAR, 4, '0') AS account_id,
       'SYM' || lpad(((k // $accounts) % $symbols)::VARCHAR, 3, '0') AS symbol,
       'strategy-' || ((k // ($accounts * $symbols)) % $strategies) AS strategy_id,
       CASE WHEN hash(k, 1) % 2 = 0 THEN 1 ELSE -1 END AS dir,
       (1 + hash(k, 2) % 100)::DOUBLE AS qty,
       $start + k * $gap AS entry_ns,
       $start + k * $gap + (1 + hash(k, 3) % 3600) * 1000000000 AS exit_ns,
       50 + (hash(k, 4) % 10000) / 100.0 AS entry_px,
       entry_px * (1 + ((hash(k, 5) % 2001)::DOUBLE - 1000) / 100000) AS exit_px,
       qty * 0.01 AS fee
FROM range($trips) r(k)"""

_JOURNAL = (
    f"""INSERT INTO trades
    SELECT $run, account_id, symbol, CASE dir WHEN 1 THEN 'LONG' ELSE 'SHORT' END, qty,
           entry_ns, exit_ns, entry_px, exit_px, (exit_px - entry_px) * qty * dir, 2 * fee,
           (exit_px - entry_px) * qty * dir - 2 * fee, exit_ns - entry_ns,
           CASE hash(k, 6) % 3 WHEN 0 THEN 'STOP_LOSS' ELSE 'SIGNAL' END, strategy_id
    FROM ({_TRIPS})""",
    f"""INSERT INTO fills
    SELECT $run, account_id, 'o' || (2 * k + leg), NULL, 't' || (2 * k + leg), symbol,
           CASE WHEN (dir = 1) = (leg = 0) THEN 'BUY' ELSE 'SELL' END, qty,
           CASE leg WHEN 0 THEN entry_px ELSE exit_px END, fee, 'TAKER',
           CASE leg WHEN 0 THEN entry_ns ELSE exit_ns END,
           CASE leg WHEN 0 THEN entry_ns ELSE exit_ns END, strategy_id
    FROM ({_TRIPS}) CROSS JOIN (VALUES (0), (1)) l(leg)""",
    f"""INSERT INTO orders (run_id, account_id, client_order_id, symbol, side, order_type,
                           quantity, strategy_id, ts_event, ts_init)
    SELECT $run, account_id, 'o' || (2 * k + leg), symbol,
           CASE WHEN (dir = 1) = (leg = 0) THEN 'BUY' ELSE 'SELL' END, 'MARKET', qty,
           strategy_id, CASE leg WHEN 0 THEN entry_ns ELSE exit_ns END - 1000000,
           CASE leg WHEN 0 THEN entry_ns ELSE exit_ns END - 1000000
    FROM ({_TRIPS}) CROSS JOIN (VALUES (0), (1)) l(leg)""",
    f"""INSERT INTO positions
    SELECT $run, account_id, symbol, CASE leg WHEN 0 THEN entry_ns ELSE exit_ns END,
           CASE leg WHEN 0 THEN qty * dir ELSE 0 END, CASE leg WHEN 0 THEN entry_px END,
           CASE leg WHEN 0 THEN 0 ELSE (exit_px - entry_px) * qty * dir - 2 * fee END,
           CASE leg WHEN 0 THEN entry_px ELSE exit_px END, 0,
           CASE leg WHEN 0 THEN 'OPENED' ELSE 'CLOSED' END
    FROM ({_TRIPS}) CROSS JOIN (VALUES (0), (1)) l(leg)""",
    """INSERT INTO equity (run_id, account_id, ts_ns, equity, cash, realized_pnl,
                          unrealized_pnl, fees, seq)
    SELECT $run, 'acct-' || lpad(a::VARCHAR, 4, '0'),
           $start + g * ($trips::BIGINT * $gap // $samples),
           1e6 + sum((hash(a, g) % 2001)::DOUBLE - 1000) OVER (PARTITION BY a ORDER BY g),
           1e6, 0, 0, 0, g
    FROM range($accounts) x(a) CROSS JOIN range($samples) y(g)""",
    f"""INSERT INTO latency (run_id, hop, ts_ns, ns, account_id)
    SELECT $run, CASE k % 2 WHEN 0 THEN 'signal->order' ELSE 'order->fill' END,
           $start + k * $gap, 20000 + hash(k, 7) % 2000000, account_id
    FROM ({_TRIPS})""",
)


def write_journal(store: Store, fills: int, *, accounts: int = 100, symbols: int = 20,
                  strategies: int = 4, samples: int = 2_000, summarize: bool = True) -> str:
    """A run journal of `fills` fills (fills // 2 closed round trips, one opened per second
    or slower so the run spans 30 days or more, each with its two fills, orders and
    position snapshots), `samples` equity samples per account over the run and one
    latency sample per round trip, generated in SQL, then ends the run (with its analytics
    summary unless `summarize` is false); returns the run_id."""
    run = store.begin_run("backtest", {"strategy": "bench-store", "fills": fills})
    trips = max(fills // 2, 1)
    gap = max(SEC, _MIN_SPAN_NS // trips)          # a run of at least 30 days
    params = {"run": run, "trips": trips, "accounts": accounts, "symbols": symbols,
              "strategies": strategies, "samples": min(samples, trips), "start": T0,
              "gap": gap}
    for statement in _JOURNAL:
        _sql(store, statement, params)
    store.end_run(run, summarize=summarize)
    store.rows("CHECKPOINT")
    return run


# --- ingest and its peers ----------------------------------------------------------------

def ingest(store: Store, columns: Mapping[str, np.ndarray], batch_rows: int) -> int:
    """Write `columns` to `ticks`, one transaction per `batch_rows`, then CHECKPOINT."""
    n = len(columns["ts_ns"])
    for start in range(0, n, batch_rows):
        store.insert("ticks", {k: v[start:start + batch_rows] for k, v in columns.items()})
    store.rows("CHECKPOINT")
    return n


def naive_insert(store: Store, rows: list[tuple[Any, ...]], one_transaction: bool = True
                 ) -> int:
    """The peer: one `INSERT ... VALUES (?, ...)` per row."""
    if one_transaction:
        with store.transaction():
            for row in rows:
                store.rows(_INSERT_ROW, list(row))
    else:
        for row in rows:
            store.rows(_INSERT_ROW, list(row))
    return len(rows)


def python_rows(columns: Mapping[str, np.ndarray], n: int) -> list[tuple[Any, ...]]:
    return list(zip(*(columns[k][:n].tolist() for k in columns), strict=True))


def pandas_read(path: Path, symbol: str = "SPY") -> Any:
    """The pandas peer's parse: read_csv of the LEAN zip, then the `ticks` columns."""
    import pandas as pd

    raw = pd.read_csv(path, header=None, names=_LEAN_COLUMNS,
                      dtype={"ms": "int64", "price": "int64", "size": "float64",
                             "exchange": str, "sale_condition": str, "suspicious": "int8"})
    day = pd.Timestamp(path.name[:8])
    local = pd.DatetimeIndex(day + pd.to_timedelta(raw["ms"], unit="ms")).as_unit("ns")
    utc = local.tz_localize("America/New_York").tz_convert("UTC")
    return pd.DataFrame({
        "symbol": symbol, "ts_ns": utc.asi8,
        "seq": np.arange(len(raw), dtype=np.int64), "price": raw["price"] / 10_000.0,
        "size": raw["size"], "exchange": raw["exchange"],
        "sale_condition": raw["sale_condition"], "suspicious": raw["suspicious"] == 1})


def pandas_insert(con: Any, frame: Any) -> int:
    """The pandas peer's write: DuckDB scanning the DataFrame into `ticks`, checkpointed."""
    con.register("frame", frame)
    con.execute("INSERT INTO ticks BY NAME SELECT * FROM frame")
    con.execute("CHECKPOINT")
    con.unregister("frame")
    return len(frame)


def pandas_peer(spy: Path, db: Path, expected: list | None = None) -> tuple[float, float]:
    """The pandas peer into a new file `db` with our schema: seconds of (read_csv and the
    columns, DuckDB insert); with `expected` (our import's FINGERPRINT) the peer's table
    must match it. Connecting is not timed, as opening the store is not for ours."""
    import duckdb

    Store.open(db).close()
    con = duckdb.connect(str(db))
    try:
        read_s, frame = _timed(lambda: pandas_read(spy))
        insert_s, _ = _timed(lambda: pandas_insert(con, frame))
        got = con.execute(FINGERPRINT).fetchall()
    finally:
        con.close()
    if expected is not None and got != expected:
        raise AssertionError(f"the pandas peer wrote {got}, our import {expected}")
    return read_s, insert_s


def import_checkpointed(store: Store, parsed: Parsed) -> int:
    """Ours: `Store.import_parsed`, then CHECKPOINT (as the peer's write is timed)."""
    rows = store.import_parsed(parsed).rows
    store.rows("CHECKPOINT")
    return rows


# --- analytics ---------------------------------------------------------------------------

# Without data.analytics: per account / strategy / symbol net P&L, fees, win rate and
# profit factor over round trips, fill fees and notional per strategy (fills joined to
# their orders), and drawdowns of the realised P&L and of the equity samples (windows).
SQL_SET = {
    "round_trips": """
        SELECT account_id, symbol, count(*) AS trades, sum(net_pnl) AS net_pnl,
               sum(fees) AS fees, avg((net_pnl > 0)::INT) AS win_rate,
               sum(net_pnl) FILTER (WHERE net_pnl > 0)
                 / -sum(net_pnl) FILTER (WHERE net_pnl < 0) AS profit_factor
        FROM trades WHERE run_id = $run
        GROUP BY GROUPING SETS ((), (account_id), (symbol), (account_id, symbol))""",
    "strategy_fills": """
        SELECT o.strategy_id, count(*) AS fills, sum(f.fee) AS fees,
               sum(f.quantity * f.price) AS notional,
               sum(CASE f.side WHEN 'SELL' THEN 1 ELSE -1 END * f.quantity * f.price)
                 - sum(f.fee) AS net_cash
        FROM fills f JOIN orders o USING (run_id, account_id, client_order_id)
        WHERE f.run_id = $run GROUP BY o.strategy_id""",
    "pnl_drawdown": """
        WITH c AS (SELECT account_id, exit_ts_ns, sum(net_pnl) OVER (
                       PARTITION BY account_id ORDER BY exit_ts_ns ROWS UNBOUNDED PRECEDING
                   ) AS cum FROM trades WHERE run_id = $run)
        SELECT account_id, max(peak - cum) AS max_drawdown FROM (
            SELECT account_id, cum, max(cum) OVER (PARTITION BY account_id
                   ORDER BY exit_ts_ns ROWS UNBOUNDED PRECEDING) AS peak FROM c)
        GROUP BY account_id""",
    "equity_drawdown": """
        SELECT account_id, max(1 - equity / peak) AS max_drawdown FROM (
            SELECT account_id, equity, max(equity) OVER (PARTITION BY account_id
                   ORDER BY ts_ns ROWS UNBOUNDED PRECEDING) AS peak
            FROM equity WHERE run_id = $run) GROUP BY account_id""",
}


def analytics_parts(which: str = "auto", *, summary: bool = True
                    ) -> tuple[str, dict[str, Callable[[Store, str], object]]]:
    """(source, {part: fn(store, run_id)}): the full `data.analytics` metric set when that
    module exists (or is asked for), read from the run's summary (`summary=False`:
    measured from the journal), else the SQL set above."""
    if which not in ANALYTICS:
        raise UnknownName("analytics set", which, ANALYTICS)
    module = None
    if which != "sql":
        try:
            module = importlib.import_module("data.analytics")
        except ModuleNotFoundError as exc:
            if exc.name != "data.analytics" or which == "data.analytics":
                raise
    if module is None:
        return "sql", {name: (lambda store, run, text=text: store.rows(text, {"run": run}))
                       for name, text in SQL_SET.items()}
    parts: dict[str, Callable[[Store, str], object]] = {
        "run": lambda store, run: module.analyze(store, run, summary=summary)}
    for by in module.GROUPINGS:
        parts[by] = lambda store, run, by=by: module.analyze(store, run, by, summary=summary)
    parts["latency"] = lambda store, run: module.latency(store, run, summary=summary)
    return "data.analytics", parts


def journal_set(which: str = "auto") -> dict[str, Callable[[Store, str], object]]:
    """The full `data.analytics` metric set measured from the journal as one would for
    every grouping at once: `analyze_all(summary=False)` (the groupings measured together)
    and the latency; empty for the SQL set."""
    source, _ = analytics_parts(which)
    if source == "sql":
        return {}
    module = importlib.import_module("data.analytics")
    return {"groupings": lambda store, run: module.analyze_all(store, run, summary=False),
            "latency": lambda store, run: module.latency(store, run, summary=False)}


# --- the whole suite ---------------------------------------------------------------------

def run_store_bench(ticks: int = TICKS, fills: int = FILLS, *, naive_rows: int = NAIVE_ROWS,
                    batch_rows: int = BATCH_ROWS, repeats: int = REPEATS,
                    spy: str | os.PathLike[str] | None = SPY_ZIP, analytics: str = "auto"
                    ) -> dict[str, Any]:
    """Every store figure and its peers in one run (see the module docstring).

    Returns {"ingest_ticks_per_s", "naive_ticks_per_s", "pandas_ticks_per_s",
    "analytics_s", the SPY figures, "analytics_parts_s", "sizes", "seconds", "ratios"
    (our speed over the peer's: above 1, ours is faster), "targets", "environment"}.
    Without the SPY file (`spy=None`, or absent) the SPY and pandas fields are None."""
    source, parts = analytics_parts(analytics)
    each_parts = analytics_parts(analytics, summary=False)[1] if source != "sql" else {}
    journal_parts = journal_set(analytics)
    spy_path = Path(spy) if spy is not None else None
    has_spy = spy_path is not None and spy_path.is_file()
    if has_spy and importlib.util.find_spec("pandas") is None:
        raise PhalanxError("the pandas peer needs pandas: pip install -e '.[bench]'")
    seconds: dict[str, float] = {}
    sizes: dict[str, Any] = {"ticks": ticks}
    with tempfile.TemporaryDirectory(prefix="phalanx-bench-store-") as tmp:
        files = _Files(Path(tmp))
        _ingest(files, ticks, min(batch_rows, ticks), naive_rows, repeats, seconds, sizes)
        if has_spy:
            sizes["spy_ticks"] = _spy(files, spy_path, repeats, seconds)

        path = files.fresh()
        with Store.open(path) as store:
            seconds["journal_setup"], run = _timed(
                lambda: write_journal(store, fills, summarize=False))
            if journal_parts:
                seconds["run_summary"] = _timed(lambda: store.summarize_run(run))[0]
            warm = write_journal(store, 200)
            for fns in (parts, journal_parts, each_parts):                # warm-up
                _time_parts(store, warm, fns)
            parts_s = _time_parts(store, run, parts, repeats)
            journal_s = _time_parts(store, run, journal_parts, repeats)
            each_s = _time_parts(store, run, each_parts, repeats)
            sizes.update({t: store.count(t, run) for t in _JOURNAL_TABLES})
        sizes["journal_file_mb"] = path.stat().st_size / 1e6
        files.drop(path)
    notes = [] if has_spy else [f"SPY file {spy_path} absent: no SPY ingest, no pandas peer"]
    out = _report(seconds, sizes, source, parts_s, repeats, notes)
    if journal_parts:
        out.update(analytics_journal_s=sum(journal_s.values()),
                   analytics_journal_parts_s=journal_s,
                   analytics_journal_each_s=sum(each_s.values()),
                   analytics_journal_each_parts_s=each_s)
        notes.append("analytics_s reads the run's summary, written when the run ended "
                     "(seconds.run_summary); analytics_journal_s is the same set measured "
                     "from the journal (analyze_all and latency, summary=False), and "
                     "analytics_journal_each_s the same again one grouping per call")
    return out


class _Files:
    """Fresh store files in one temporary directory; each is deleted after its sample."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def fresh(self) -> Path:
        self.count += 1
        return self.root / f"bench-{self.count}.duckdb"

    @staticmethod
    def drop(path: Path) -> None:
        for f in (path, path.with_name(path.name + ".wal")):
            f.unlink(missing_ok=True)


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def _best(files: _Files, work: Callable[[Store], object], repeats: int) -> float:
    """The fastest of `repeats` samples of `work(store)`, each on a fresh store file
    (opening it is not timed)."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        path = files.fresh()
        try:
            with Store.open(path) as store:
                best = min(best, _timed(lambda: work(store))[0])
        finally:
            files.drop(path)
    return best


def _ingest(files: _Files, ticks: int, batch_rows: int, naive_rows: int, repeats: int,
            seconds: dict[str, float], sizes: dict[str, Any]) -> None:
    """The synthetic ingest and the naive peers on the first of the same ticks."""
    seconds["synthetic_generate"], columns = _timed(lambda: synthetic_ticks(ticks))
    seconds["ingest"] = _best(files, lambda s: ingest(s, columns, batch_rows), repeats)
    few = python_rows(columns, min(naive_rows, ticks))
    fewer = few[:NAIVE_AUTOCOMMIT_ROWS]
    sizes.update(batch_rows=batch_rows, naive_rows=len(few), naive_autocommit_rows=len(fewer))
    seconds["naive"] = _best(files, lambda s: naive_insert(s, few), 1)
    seconds["naive_autocommit"] = _best(
        files, lambda s: naive_insert(s, fewer, one_transaction=False), 1)


def _time_parts(store: Store, run: str, parts: Mapping[str, Callable[[Store, str], object]],
                repeats: int = 1) -> dict[str, float]:
    """Each part's best of `repeats` calls (the calls only read: each sees the same run)."""
    return {name: min(_timed(lambda fn=fn: fn(store, run))[0]
                      for _ in range(max(repeats, 1)))
            for name, fn in parts.items()}


def _spy(files: _Files, spy: Path, repeats: int, seconds: dict[str, float]) -> int:
    """SPY parse and write timed apart, and the pandas peer (checked equal to ours)."""
    parsed = read_lean_trades(spy)                   # also warms the file cache for both
    seconds["spy_parse"] = min(_timed(lambda: read_lean_trades(spy))[0]
                               for _ in range(max(repeats, 1)))
    seconds["spy_write"] = _best(files, lambda s: import_checkpointed(s, parsed), repeats)
    ours = files.fresh()
    with Store.open(ours) as store:
        store.import_parsed(parsed)
        expected = store.rows(FINGERPRINT)
    files.drop(ours)
    samples = []
    for k in range(max(repeats, 1) + 1):             # the first checks the peer, untimed
        path = files.fresh()
        try:
            samples.append(pandas_peer(spy, path, expected if k == 0 else None))
        finally:
            files.drop(path)
    seconds["pandas_read"], seconds["pandas_insert"] = min(samples[1:], key=sum)
    return len(parsed)


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def _report(seconds: dict[str, float], sizes: dict[str, Any], source: str,
            parts_s: dict[str, float], repeats: int, notes: list[str]) -> dict[str, Any]:
    ingest_rate = _rate(sizes["ticks"], seconds["ingest"])
    naive_rate = _rate(sizes["naive_rows"], seconds["naive"])
    analytics_s = sum(parts_s.values())
    out: dict[str, Any] = {
        "ingest_ticks_per_s": ingest_rate,
        "naive_ticks_per_s": naive_rate,
        "pandas_ticks_per_s": None,
        "analytics_s": analytics_s,
        "spy_ingest_ticks_per_s": None,
        "spy_parse_ticks_per_s": None,
        "spy_write_ticks_per_s": None,
        "naive_autocommit_ticks_per_s": _rate(sizes["naive_autocommit_rows"],
                                              seconds["naive_autocommit"]),
        "analytics_source": source,
        "analytics_parts_s": parts_s,
        "sizes": {"spy_ticks": None, **sizes},
        "seconds": seconds,
        "ratios": {"ingest_vs_naive": ingest_rate / naive_rate},
        "targets": {"ingest_ticks_per_s": TARGET_INGEST_TICKS_PER_S,
                    "analytics_s": TARGET_ANALYTICS_S,
                    "ingest_met": ingest_rate >= TARGET_INGEST_TICKS_PER_S,
                    "analytics_met": analytics_s < TARGET_ANALYTICS_S},
        "repeats": repeats,
        "environment": environment(),
        "notes": notes,
    }
    n = sizes.get("spy_ticks")
    if n:
        ours = _rate(n, seconds["spy_parse"] + seconds["spy_write"])
        pandas = _rate(n, seconds["pandas_read"] + seconds["pandas_insert"])
        out.update(pandas_ticks_per_s=pandas, spy_ingest_ticks_per_s=ours,
                   spy_parse_ticks_per_s=_rate(n, seconds["spy_parse"]),
                   spy_write_ticks_per_s=_rate(n, seconds["spy_write"]))
        out["ratios"].update(
            spy_ingest_vs_pandas=ours / pandas,
            spy_parse_vs_pandas_read=seconds["pandas_read"] / seconds["spy_parse"],
            spy_write_vs_pandas_insert=seconds["pandas_insert"] / seconds["spy_write"],
            ingest_vs_pandas=ingest_rate / pandas)
    return out


def environment() -> dict[str, Any]:
    import duckdb

    pandas = importlib.util.find_spec("pandas")
    return {"python": platform.python_version(), "numpy": np.__version__,
            "duckdb": duckdb.__version__,
            "pandas": importlib.import_module("pandas").__version__ if pandas else None,
            "cpus": os.cpu_count(), "machine": platform.machine(),
            "load_average_1m": os.getloadavg()[0],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
