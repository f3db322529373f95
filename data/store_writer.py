"""`StoreWriter`: the one object that writes a run's journal, in batches.

    writer = store.writer(run_id)                 # StoreConfig: flush_rows, flush_interval_s
    for event in account.events: writer.record(event)     # buffered, about 1 us each
    writer.append("latency", {"hop": "signal->fill", "ns": samples})   # numpy columns
    writer.maybe_flush()                          # the host calls this from its loop
    writer.close()                                # flushes the rest: nothing is lost

Flushing is explicit, not a background thread: the host calls `maybe_flush()` from its
loop (every tick batch, or an asyncio timer), so the DuckDB connection is only ever used
from one thread and a backtest on a simulated clock flushes deterministically (pass
`clock=`). A flush happens when `flush_rows` rows are buffered (checked on every record)
and when `maybe_flush` finds the last flush `flush_interval_s` old. Each flush is ONE
transaction over all tables, so a crash loses at most the rows buffered since the last
flush: fewer than `flush_rows` rows, and no more than `flush_interval_s` (plus the host's
spacing of `maybe_flush` calls) of history. Earlier flushes are durable: DuckDB writes its
log on every commit and replays it when the file is next opened.

With `snapshot_path` set, `maybe_flush` also refreshes a read-only copy of the store every
`snapshot_interval_s`, for readers in other processes.

One writer per store, used from one thread; it is not thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.config import StoreConfig, parse_interval
from data.schema import RUN_TABLES
from data.store_events import COLUMNS, rows_of
from engine.errors import InvalidInput

if TYPE_CHECKING:
    from data.store import Store

_SECOND_NS = 1_000_000_000


class StoreWriter:
    """Buffers rows per table and writes them to the store in batched transactions."""

    def __init__(self, store: Store, run_id: str, config: StoreConfig | None = None, *,
                 bar_interval: str | None = None,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        if store.read_only:
            raise InvalidInput("store", str(store.path), "is open read-only")
        self._store = store
        self.run_id = run_id
        self.config = config or StoreConfig(path=str(store.path))
        self._bar_interval = parse_interval(bar_interval) if bar_interval else None
        self._clock = clock
        self._rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        self._arrays: dict[str, list[Mapping[str, Any]]] = {}
        self._pending = 0
        self._last_flush = self._last_snapshot = clock()
        self.flushes = 0
        self.flushed_rows = 0
        self.closed = False
        self._next_equity_seq: int | None = None

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written (what a crash now would lose)."""
        return self._pending

    def record(self, event: object) -> None:
        """Buffer the journal rows of one engine message (see data.store_events)."""
        if self.closed:
            raise InvalidInput("writer", self.run_id, "is closed")
        for table, row in rows_of(event, self.run_id, self._bar_interval):
            self._rows[table].append(row)
            self._pending += 1
        if self._pending >= self.config.flush_rows:
            self.flush()

    def record_many(self, events: Iterable[object]) -> None:
        for event in events:
            self.record(event)

    def append(self, table: str, columns: Mapping[str, Any]) -> None:
        """Buffer numpy columns for `table` (equity curve, latency samples, positions...);
        `run_id` is filled in for run tables. Scalars stand for a whole column."""
        if self.closed:
            raise InvalidInput("writer", self.run_id, "is closed")
        lengths = {len(v) for v in columns.values() if hasattr(v, "__len__")
                   and not isinstance(v, str)}
        if len(lengths) != 1:
            raise InvalidInput(f"{table} columns", sorted(lengths),
                               "need one common length (and at least one array)")
        n = lengths.pop()
        if table == "equity" and "seq" not in columns and self._store.has_column("equity",
                                                                                  "seq"):
            columns = {**columns, "seq": self._equity_seq(n)}
        if table in RUN_TABLES:
            columns = {"run_id": self.run_id, **columns}
        self._arrays.setdefault(table, []).append(columns)
        self._pending += n
        if self._pending >= self.config.flush_rows:
            self.flush()

    def _equity_seq(self, n: int) -> np.ndarray:
        """The next `n` equity sequence numbers of the run: after every sample it already
        has (a writer reopened on a run goes on from there), then in append order."""
        if self._next_equity_seq is None:
            last = self._store.rows("SELECT max(seq) FROM equity WHERE run_id = ?",
                                    [self.run_id])[0][0]
            self._next_equity_seq = 0 if last is None else int(last) + 1
        seq = np.arange(self._next_equity_seq, self._next_equity_seq + n, dtype=np.int64)
        self._next_equity_seq += n
        return seq

    def maybe_flush(self, now_ns: int | None = None) -> int:
        """Flush if the last flush is `flush_interval_s` old; returns rows written."""
        now = self._clock() if now_ns is None else now_ns
        written = 0
        if self._pending and now - self._last_flush >= self.config.flush_interval_s * _SECOND_NS:
            written = self.flush(now)
        snap = self.config.snapshot_path
        if snap and now - self._last_snapshot >= self.config.snapshot_interval_s * _SECOND_NS:
            written += self.flush(now)
            self._store.snapshot(Path(snap))
            self._last_snapshot = now
        return written

    def flush(self, now_ns: int | None = None) -> int:
        """Write everything buffered in one transaction; returns rows written. On failure
        nothing is written, the buffer is kept and the error (StoreError) is raised."""
        self._last_flush = self._clock() if now_ns is None else now_ns
        if not self._pending:
            return 0
        batches: list[tuple[str, Mapping[str, Any]]] = [
            (t, dict(zip(COLUMNS[t], zip(*rows, strict=True), strict=True)))
            for t, rows in self._rows.items() if rows]
        batches += [(t, cols) for t, chunks in self._arrays.items() for cols in chunks]
        self._store.insert_batches(batches)
        for rows in self._rows.values():
            rows.clear()
        self._arrays.clear()
        written, self._pending = self._pending, 0
        self.flushes += 1
        self.flushed_rows += written
        return written

    def close(self) -> None:
        """Flush the rest (a clean shutdown loses nothing); idempotent."""
        if not self.closed:
            self.flush()
            self.closed = True

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
