"""The history store: one DuckDB file per project (`phalanx.duckdb` by default).

    with Store.open("phalanx.duckdb") as store:          # creates or migrates the file
        report = store.import_parsed(read_lean_trades("20131008_trade.zip"))
        bars = store.bars_from_ticks("SPY", "1m")        # numpy columns
        run = store.begin_run("backtest", {"fast": 10})
        with store.writer(run) as writer:                  # batched journal writes
            writer.record(fill)

Writes are column batches: numpy arrays are handed to DuckDB as a registered relation and
copied with one `INSERT ... SELECT` (about 4 M rows/s here); rows are never inserted one
at a time. Every batch is one transaction: an import, a `write_events` call or a writer
flush lands whole or not at all.

Concurrency (DuckDB's model: one read-write process per file, or many read-only ones):
- in the writing process, `store.reader()` gives another connection (safe from another
  thread) that sees every committed batch, while the writer goes on;
- other processes cannot open the live file (`StoreLocked`); they read a snapshot,
  which `store.snapshot(path)` (or a writer with `snapshot_path`) keeps up to date, as a
  consistent copy replaced atomically. A finished run's file opens read-only anywhere.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson

from data.config import DEFAULT_PATH, StoreConfig, parse_interval
from data.importers import Parsed
from data.schema import MIGRATIONS, RUN_TABLES, SUMMARY_TABLES, TABLES, Migration, check_migrations
from data.store_columns import ident, is_scalar, jsonable, literal, one_line, to_array
from data.store_events import COLUMNS, rows_of
from data.store_migrate import SchemaVersionError, StoreError, code_version, migrate
from engine.errors import InvalidInput, UnknownName
from engine.instruments import Instrument

if TYPE_CHECKING:
    from data.store_writer import StoreWriter

__all__ = ["ImportReport", "SchemaVersionError", "Store", "StoreError", "StoreLocked",
           "read_csv_columns", "read_parquet"]

Columns = Mapping[str, Any]      # column name -> numpy array, list, or one scalar for all
Params = list[Any] | dict[str, Any] | None


class StoreLocked(StoreError):
    """Another process has the file open for writing. Read a snapshot instead, or wait
    for the run to finish."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    table: str
    symbol: str
    first_ts: int | None
    last_ts: int | None
    bad_rows: int
    replaced: int
    interval: str | None
    import_id: str


class Store:
    """One open store file. Use `Store.open`; close it (or use `with`) to release the file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool,
                 version: int) -> None:
        self._con = con
        self.path = path
        self.read_only = read_only
        self.schema_version = version
        self._unordered = False            # preserve_insertion_order is off (see _append)
        self._types = {t: dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_name = ? AND table_catalog = current_database() ORDER BY ordinal_position",
            [t]).fetchall()) for t in TABLES}

    # --- opening, migrations, readers -----------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str] | StoreConfig | None = None, *,
             read_only: bool = False, migrations: tuple[Migration, ...] = MIGRATIONS) -> Store:
        """Open (creating or migrating) the store; `read_only` opens an existing file."""
        raw = path.path if isinstance(path, StoreConfig) else (path or DEFAULT_PATH)
        where = Path(raw).expanduser().resolve()
        check_migrations(migrations)
        if read_only and not where.exists():
            raise StoreError(f"{where}: no store file here")
        try:
            con = duckdb.connect(str(where), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(f"{where} is open for writing by another process; read a "
                                  "snapshot (Store.snapshot) or wait for it to finish") from None
            raise StoreError(f"{where}: cannot open: {one_line(exc)}") from None
        except duckdb.ConnectionException:
            raise StoreError(f"{where} is already open in this process in the other mode; "
                             "read through that store's reader()") from None
        except duckdb.Error as exc:
            raise StoreError(f"{where}: cannot open: {one_line(exc)}") from None
        try:
            con.execute("SET enable_progress_bar = false")   # it prints on stdout (--json)
            version = migrate(con, where, migrations, read_only)
        except BaseException:
            con.close()
            raise
        return cls(con, where, read_only, version)

    def reader(self) -> Store:
        """A second connection to the same file, for reading from another thread while this
        one writes; it sees each batch once committed. Close it when done."""
        return Store(self._con.cursor(), self.path, True, self.schema_version)

    def snapshot(self, dest: str | os.PathLike[str]) -> Path:
        """A consistent copy of the whole store at `dest`, for readers in other processes
        (`Store.open(dest, read_only=True)`); written aside, then renamed over `dest`."""
        dest = Path(dest).expanduser().resolve()
        tmp = dest.with_name(dest.name + ".partial")
        for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
            stale.unlink(missing_ok=True)
        name = self._con.execute("SELECT current_database()").fetchone()[0]
        self._con.execute(f"ATTACH {literal(str(tmp))} AS phalanx_snapshot")
        try:
            self._con.execute(f"COPY FROM DATABASE {ident(name)} TO phalanx_snapshot")
            self._con.execute("CHECKPOINT phalanx_snapshot")
        finally:
            self._con.execute("DETACH phalanx_snapshot")
        os.replace(tmp, dest)
        return dest

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
            self._con.execute("COMMIT")
        except BaseException as exc:
            with suppress(duckdb.Error):           # a failed COMMIT has rolled back already
                self._con.execute("ROLLBACK")
            if self._unordered:
                self._ordered()
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"write failed (rolled back): {one_line(exc)}") from None
            raise

    def insert(self, table: str, columns: Columns, *, replace: bool = False) -> int:
        """Append column arrays to `table` in one transaction; returns the row count.
        `replace`: a row whose primary key is already stored replaces that row."""
        return self.insert_batches([(table, columns)], replace=replace).get(table, 0)

    def insert_batches(self, batches: Iterable[tuple[str, Columns]], *,
                       replace: bool = False) -> dict[str, int]:
        """Append (table, columns) batches in ONE transaction; rows written per table."""
        written: dict[str, int] = {}
        with self.transaction():
            for table, columns in batches:
                written[table] = written.get(table, 0) + self._append(table, columns,
                                                                      replace)
        return written

    def write_events(self, run_id: str, events: Iterable[object],
                     bar_interval: str | None = None) -> dict[str, int]:
        """Engine messages as journal rows, in one transaction; rows written per table."""
        interval = parse_interval(bar_interval) if bar_interval else None
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for event in events:
            for table, row in rows_of(event, run_id, interval):
                grouped.setdefault(table, []).append(row)
        return self.insert_batches(
            (t, dict(zip(COLUMNS[t], zip(*rows, strict=True), strict=True)))
            for t, rows in grouped.items())

    def begin_run(self, kind: str, config: object = None, *, run_id: str | None = None,
                  code: str | None = None, started_ns: int | None = None) -> str:
        """Record the start of a run (its config as JSON); returns the run_id."""
        run_id = run_id or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        doc = orjson.dumps(config, default=jsonable, option=orjson.OPT_SERIALIZE_NUMPY
                           | orjson.OPT_NON_STR_KEYS).decode()
        self._write("INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL, 'running')",
                    [run_id, kind, doc, code or code_version(), started_ns or time.time_ns()])
        return run_id

    def end_run(self, run_id: str, status: str = "finished", ended_ns: int | None = None,
                *, summarize: bool = True) -> None:
        """Record the end of a run, then (`summarize`) write its analytics summary
        (`summarize_run`). The end is committed first: a summary that cannot be written
        is a warning, and the run's analytics are then measured from its journal."""
        found = self._write("UPDATE runs SET ended_ns = ?, status = ? WHERE run_id = ?",
                            [ended_ns or time.time_ns(), status, run_id])
        if not found:
            raise UnknownName("run", run_id, [r[0] for r in self.rows("SELECT run_id FROM runs")])
        if summarize:
            try:
                self.summarize_run(run_id)
            except StoreError as exc:
                warnings.warn(f"run {run_id} ended without an analytics summary: {exc}",
                              stacklevel=2)

    def summarize_run(self, run_id: str) -> bool:
        """Measure the run's analytics from its journal and store them, replacing any
        earlier summary, in one transaction (data.analytics_summary); `data.analytics`
        reads them while the journal is unchanged. False on a file without the summary
        tables (opened at an older schema version)."""
        if not all(self._types.get(t) for t in SUMMARY_TABLES):
            return False
        from data.analytics import summarize  # numba; only when a run ends
        batches = summarize(self, run_id)
        with self.transaction():
            for table in SUMMARY_TABLES:
                self._run(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            for table, columns in batches:
                self._append(table, columns)
        return True

    def write_instruments(self, instruments: Iterable[Instrument], venue: str | None = None,
                          timezone: str | None = None) -> int:
        """Insert or replace instrument definitions."""
        rows = [(i.symbol, i.price_tick, i.qty_step, i.min_qty, i.min_notional, i.multiplier,
                 i.fees.maker_bps, i.fees.taker_bps, i.fees.per_order, i.fees.per_unit, venue,
                 timezone) for i in instruments]
        with self.transaction():
            self._con.executemany("INSERT OR REPLACE INTO instruments VALUES "
                                  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def import_parsed(self, parsed: Parsed, replace: bool = True) -> ImportReport:
        """Write an importer's result in one transaction. With `replace`, rows of the same
        symbol (and interval) inside the file's time range go first: re-imports are
        idempotent."""
        table, first, last = parsed.table, parsed.first_ts, parsed.last_ts
        keys = {"symbol": parsed.symbol}
        if table == "bars":
            keys["interval"] = parsed.interval
        import_id = uuid.uuid4().hex[:12]
        with self.transaction():
            replaced = 0
            if replace:
                where = " AND ".join(f"{ident(k)} = ?" for k in keys)
                replaced = self._con.execute(
                    f"DELETE FROM {table} WHERE {where} AND ts_ns BETWEEN ? AND ?",
                    [*keys.values(), first, last]).fetchone()[0]
            rows = self._append(table, {**keys, **parsed.columns})
            self._con.execute("INSERT INTO instruments (symbol) VALUES (?) "
                              "ON CONFLICT DO NOTHING", [parsed.symbol])
            self._con.execute("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              [import_id, parsed.source, parsed.format, parsed.symbol, table,
                               parsed.interval, rows, len(parsed.bad_rows), replaced, first,
                               last, time.time_ns()])
        return ImportReport(rows, table, parsed.symbol, first, last, len(parsed.bad_rows),
                            replaced, parsed.interval, import_id)

    def writer(self, run_id: str, config: StoreConfig | None = None, **options: Any
               ) -> StoreWriter:
        """A `StoreWriter` batching this run's journal (see data.store_writer)."""
        from data.store_writer import StoreWriter
        return StoreWriter(self, run_id, config, **options)

    # --- reading ------------------------------------------------------------------------

    def query(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        """A query's result as numpy columns (NULLs masked). It runs as a relation, whose
        result converts to numpy faster than `execute`'s on millions of rows."""
        try:
            return self._con.sql(sql, params=params).fetchnumpy()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {one_line(exc)}") from None

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def has_column(self, table: str, column: str) -> bool:
        """Whether `table` has `column` in this file (older schema versions lack some)."""
        return column in self._types[self._table(table)]

    def resolve_run(self, run: str) -> str:
        """`run` itself, or for "latest" the ID of the most recently started run."""
        if run != "latest":
            return run
        rows = self.rows("SELECT run_id FROM runs ORDER BY started_ns DESC LIMIT 1")
        if not rows:
            raise InvalidInput("run", run, f"{self.path} holds no runs")
        return rows[0][0]

    def count(self, table: str, run_id: str | None = None) -> int:
        self._table(table)
        where = " WHERE run_id = ?" if run_id is not None else ""
        return self.rows(f"SELECT count(*) FROM {table}{where}",
                         [run_id] if run_id is not None else None)[0][0]

    def bars_from_ticks(self, symbol: str, interval: str, *, start_ns: int | None = None,
                        end_ns: int | None = None, include_suspicious: bool = False,
                        save: bool = False) -> dict[str, np.ndarray]:
        """Time bars of any interval from the stored trade ticks, computed in SQL: each
        bar covers [ts_ns, ts_ns + interval) in UTC; open/close are the first/last print by
        (ts_ns, seq); vwap = sum(price*size)/sum(size); empty intervals have no bar.
        With `save`, they replace the same range of `bars` (symbol, interval)."""
        ns, name = parse_interval(interval)
        bars = self.query(_BARS_SQL, {"ns": ns, "symbol": symbol, "start": start_ns,
                                      "end": end_ns, "suspicious": include_suspicious})
        if save and len(bars["ts_ns"]):
            with self.transaction():
                self._con.execute("DELETE FROM bars WHERE symbol = ? AND interval = ? AND "
                                  "ts_ns BETWEEN ? AND ?", [symbol, name, int(bars["ts_ns"][0]),
                                                            int(bars["ts_ns"][-1])])
                self._append("bars", {"symbol": symbol, "interval": name, **bars})
        return bars

    def export_parquet(self, out: str | os.PathLike[str], *, table: str | None = None,
                       query: str | None = None) -> int:
        """Write a table or a query's result to a Parquet file; returns the row count."""
        if (table is None) == (query is None):
            raise InvalidInput("table/query", (table, query), "give exactly one")
        source = self._table(table) if table is not None else f"({query})"
        try:
            result = self._con.execute(
                f"COPY (SELECT * FROM {source}) TO {literal(str(out))} (FORMAT PARQUET)")
            return int(result.fetchone()[0])
        except duckdb.Error as exc:
            raise StoreError(f"export to {out} failed: {one_line(exc)}") from None

    # --- internals ----------------------------------------------------------------------

    def _table(self, table: str) -> str:
        if table not in TABLES:
            raise UnknownName("table", table, TABLES)
        return table

    def _run(self, sql: str, params: Params) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params)
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {one_line(exc)}") from None

    def _ordered(self) -> None:
        """Insertion order back on (the journal's rowid order relies on it). In an aborted
        transaction DuckDB refuses even a SET: `transaction` retries after its ROLLBACK."""
        with suppress(duckdb.Error):
            self._con.execute("SET preserve_insertion_order = true")
            self._unordered = False

    def _write(self, sql: str, params: list[Any]) -> int:
        with self.transaction():
            return self._run(sql, params).fetchone()[0]

    def _append(self, table: str, columns: Columns, replace: bool = False) -> int:
        """INSERT (OR REPLACE) the columns into `table` (inside the caller's transaction)."""
        types = self._types[self._table(table)]
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise InvalidInput(f"{table} columns", unknown, f"not in {list(types)}")
        if table in RUN_TABLES and "run_id" not in columns:
            raise InvalidInput(f"{table} columns", list(columns), "run_id is required")
        sizes = {len(v) for v in columns.values() if not is_scalar(v)}
        if len(sizes) > 1:
            raise InvalidInput(f"{table} columns", sorted(sizes), "differ in length")
        n = sizes.pop() if sizes else 1
        if n == 0:
            return 0
        arrays = {c: to_array(v, types[c], n) for c, v in columns.items()}
        view = f"phalanx_append_{table}"
        names = ", ".join(ident(c) for c in arrays)
        self._con.register(view, arrays)
        # Market rows are keyed by (symbol, ts_ns, seq), never by physical order (bars
        # from ticks break ties on seq), so a large batch may be written by all threads
        # out of order (~2x faster); the journal relies on insertion order (rowid), so
        # the setting is put back at once.
        unordered = table in _UNORDERED and n >= _UNORDERED_MIN_ROWS
        if unordered:
            self._con.execute("SET preserve_insertion_order = false")
            self._unordered = True
        try:
            verb = "INSERT OR REPLACE" if replace else "INSERT"
            self._con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM {view}")
        except duckdb.Error as exc:       # the caller's transaction rolls back, view and all
            raise StoreError(f"writing {n} rows to {table} failed (rolled back): "
                             f"{one_line(exc)}") \
                from None
        finally:
            if unordered:
                self._ordered()
        self._con.unregister(view)
        return n


_UNORDERED = frozenset({"ticks", "quotes", "bars"})
_UNORDERED_MIN_ROWS = 100_000


def read_csv_columns(body: str, specs: list[tuple[int, str, str]], ncols: int, nrows: int
                     ) -> dict[str, np.ndarray] | None:
    """Columns `specs` = [(index, name, kind 'i'|'f'|'s')] of `nrows` lines of a headerless,
    unquoted CSV `body` (no final newline) of `ncols` fields a line, parsed in one pass by
    DuckDB's CSV reader; strings come back as object arrays, as `to_array` wants them.
    None if any line is not clean (a wrong field count, a bad number, an empty field, an
    integer written with a point, exponent or underscore, which DuckDB would round or
    accept and Python's int() refuses): the caller then parses line by line to name them."""
    lenient = any(k == "i" for _, _, k in specs) and any(c in body for c in ".eE_")
    types = {idx: {"f": "DOUBLE", "i": "VARCHAR" if lenient else "BIGINT"}.get(k, "VARCHAR")
             for idx, _, k in specs}
    fields = ", ".join(f"'c{i}': '{types.get(i, 'VARCHAR')}'" for i in range(ncols))
    select = [f"TRY_CAST(c{idx} AS BIGINT) AS {ident(name)}" if lenient and kind == "i"
              else f"c{idx} AS {ident(name)}" for idx, name, kind in specs]
    checks = [f"regexp_full_match(c{idx}, '\\s*[+-]?[0-9]+\\s*')"
              for idx, _, kind in specs if lenient and kind == "i"]
    if checks:
        select.append(f"({' AND '.join(checks)}) AS phalanx_ok")
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="phalanx-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body.encode())
            out.write(b"\n")
        with _csv_reader() as con:
            cols = con.execute(
                f"SELECT {', '.join(select)} FROM read_csv({literal(tmp)}, header = false, "
                "auto_detect = false, delim = ',', quote = '', escape = '', new_line = '\\n', "
                f"strict_mode = true, columns = {{{fields}}})").fetchnumpy()
    except duckdb.Error:
        return None
    finally:
        with suppress(OSError):
            os.unlink(tmp)
    ok = cols.pop("phalanx_ok", None)
    if any(len(v) != nrows or np.ma.is_masked(v) for v in cols.values()) \
            or (ok is not None and (np.ma.is_masked(ok) or not ok.all())):
        return None
    return {k: np.ma.getdata(v) for k, v in cols.items()}


_csv_db: duckdb.DuckDBPyConnection | None = None     # in memory, for reading CSV only


def _csv_reader() -> duckdb.DuckDBPyConnection:
    """A cursor (one per call: thread-safe) of a lazily opened in-memory database."""
    global _csv_db
    if _csv_db is None:
        _csv_db = duckdb.connect()
    return _csv_db.cursor()


def read_parquet(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A Parquet file's columns as numpy arrays (NULLs masked), read by an in-memory DuckDB:
    no store file is needed or touched."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such file")
    with duckdb.connect() as con:
        try:
            return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchnumpy()
        except duckdb.Error as exc:
            raise StoreError(f"{path}: cannot read as Parquet: {one_line(exc)}") from None


_BARS_SQL = """
WITH t AS (
    SELECT ts_ns - (((ts_ns % $ns) + $ns) % $ns) AS bucket, ts_ns, seq, price, size
    FROM ticks
    WHERE symbol = $symbol AND ($start IS NULL OR ts_ns >= $start)
      AND ($end IS NULL OR ts_ns < $end) AND ($suspicious OR NOT suspicious))
SELECT bucket AS ts_ns, first(price ORDER BY ts_ns, seq) AS open, max(price) AS high,
       min(price) AS low, last(price ORDER BY ts_ns, seq) AS close, sum(size) AS volume,
       sum(price * size) / sum(size) AS vwap, count(*) AS trades
FROM t GROUP BY bucket ORDER BY bucket"""
