"""Market data and the history store.

- `data.synthetic`: seeded synthetic quotes and bars (numpy, no files).
- `data.importers`: files (Yahoo daily CSV, generic OHLCV CSV, LEAN trade-tick zips) to
  numpy struct-of-arrays, with malformed rows reported by line; no database.
- `data.config`: `StoreConfig` and the parsers of intervals, time zones and timestamps.
- `data.schema`: the store's tables as numbered SQL migrations (plain data).
- `data.store`: `Store`, the DuckDB file (imports, run journal, bars from ticks, export);
  `data.store_writer`: `StoreWriter`, batched journal writes; `data.store_events`: how
  engine messages map to rows; `data.store_migrate`: schema versions at open;
  `data.store_columns`: numpy columns on their way into DuckDB.

Rule: only the `data/store*.py` modules import `duckdb`. Everything else hands them numpy
arrays or engine messages, so the rest of the project (and its tests) never needs DuckDB.
"""
