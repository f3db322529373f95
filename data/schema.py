"""The store's schema as data: numbered migrations of plain SQL, applied in order.

A migration is frozen once released: to change the schema, append a new one, never edit
an old one (files in the field were built by the old text). `Store.open` applies the
missing migrations, each in its own transaction together with its `schema_version` row,
and refuses a file whose version is newer than `SCHEMA_VERSION`.

Conventions, for every table:
- time is BIGINT nanoseconds since the Unix epoch, UTC, in columns named `ts_ns` or
  `*_ns` (messages keep their `ts_event` / `ts_init`); `make_timestamp_ns(ts_ns)` turns
  one into a TIMESTAMP for people;
- enums are stored by name ('BUY', 'STOP_LOSS'), money and quantities as DOUBLE;
- every table written during a run carries `run_id` (see `RUN_TABLES`); market data
  (`ticks`, `quotes`, `bars`) is shared by all runs and keyed by symbol and time;
- `ticks` are trade prints, `quotes` top-of-book updates: different columns, different
  questions, so two tables rather than one table of half-empty rows;
- a bar's `ts_ns` is its OPEN time: the bar covers [ts_ns, ts_ns + interval). The
  engine's `Bar` message is stamped at the close; the store converts on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1_MARKET_DATA = (
    """CREATE TABLE schema_version (
        version      INTEGER PRIMARY KEY,
        description  VARCHAR NOT NULL,
        applied_ns   BIGINT NOT NULL,
        code_version VARCHAR)""",
    """CREATE TABLE instruments (
        symbol       VARCHAR PRIMARY KEY,
        price_tick   DOUBLE,
        qty_step     DOUBLE,
        min_qty      DOUBLE,
        min_notional DOUBLE,
        multiplier   DOUBLE,
        maker_bps    DOUBLE,
        taker_bps    DOUBLE,
        per_order    DOUBLE,
        per_unit     DOUBLE,
        venue        VARCHAR,
        timezone     VARCHAR)""",
    """CREATE TABLE ticks (
        symbol         VARCHAR NOT NULL,
        ts_ns          BIGINT NOT NULL,
        seq            BIGINT,            -- order of prints sharing a timestamp
        price          DOUBLE NOT NULL,
        size           DOUBLE NOT NULL,
        exchange       VARCHAR,
        sale_condition VARCHAR,
        suspicious     BOOLEAN NOT NULL DEFAULT false)""",
    """CREATE TABLE quotes (
        symbol   VARCHAR NOT NULL,
        ts_ns    BIGINT NOT NULL,
        bid      DOUBLE,
        ask      DOUBLE,
        bid_size DOUBLE,
        ask_size DOUBLE)""",
    """CREATE TABLE bars (
        symbol   VARCHAR NOT NULL,
        interval VARCHAR NOT NULL,        -- canonical: '1m', '1d', '250ms'
        ts_ns    BIGINT NOT NULL,         -- open time of the bar
        open     DOUBLE NOT NULL,
        high     DOUBLE NOT NULL,
        low      DOUBLE NOT NULL,
        close    DOUBLE NOT NULL,
        volume   DOUBLE NOT NULL,
        vwap     DOUBLE,
        trades   BIGINT)""",
    """CREATE TABLE imports (
        import_id   VARCHAR PRIMARY KEY,
        path        VARCHAR NOT NULL,
        format      VARCHAR NOT NULL,
        symbol      VARCHAR NOT NULL,
        table_name  VARCHAR NOT NULL,
        interval    VARCHAR,
        rows        BIGINT NOT NULL,
        bad_rows    BIGINT NOT NULL,
        replaced    BIGINT NOT NULL,
        first_ts_ns BIGINT,
        last_ts_ns  BIGINT,
        imported_ns BIGINT NOT NULL)""",
)

_V2_RUN_JOURNAL = (
    """CREATE TABLE runs (
        run_id       VARCHAR PRIMARY KEY,
        kind         VARCHAR NOT NULL,    -- 'paper', 'backtest', 'sweep', 'live', ...
        config       JSON,
        code_version VARCHAR,
        started_ns   BIGINT NOT NULL,
        ended_ns     BIGINT,
        status       VARCHAR NOT NULL)""",
    """CREATE TABLE signals (
        run_id VARCHAR NOT NULL, signal_id VARCHAR, strategy_id VARCHAR, symbol VARCHAR,
        side VARCHAR, confidence DOUBLE, stop_loss DOUBLE, take_profit DOUBLE, tag VARCHAR,
        ts_event BIGINT, ts_init BIGINT)""",
    """CREATE TABLE orders (
        run_id VARCHAR NOT NULL, account_id VARCHAR, client_order_id VARCHAR,
        symbol VARCHAR, side VARCHAR, order_type VARCHAR, time_in_force VARCHAR,
        quantity DOUBLE, price DOUBLE, trigger_price DOUBLE, reduce_only BOOLEAN,
        signal_id VARCHAR, strategy_id VARCHAR, reason VARCHAR,
        ts_event BIGINT, ts_init BIGINT)""",
    """CREATE TABLE order_events (
        run_id VARCHAR NOT NULL, account_id VARCHAR, client_order_id VARCHAR,
        event VARCHAR NOT NULL,           -- the message type: 'OrderAccepted', ...
        venue_order_id VARCHAR,
        reason VARCHAR,                   -- DenyReason or ErrorCode name
        detail VARCHAR, quantity DOUBLE, price DOUBLE, trigger_price DOUBLE,
        ts_event BIGINT, ts_init BIGINT)""",
    """CREATE TABLE fills (
        run_id VARCHAR NOT NULL, account_id VARCHAR, client_order_id VARCHAR,
        venue_order_id VARCHAR, trade_id VARCHAR, symbol VARCHAR, side VARCHAR,
        quantity DOUBLE, price DOUBLE, fee DOUBLE, liquidity VARCHAR,
        ts_event BIGINT, ts_init BIGINT)""",
    """CREATE TABLE trades (                -- closed round trips
        run_id VARCHAR NOT NULL, account_id VARCHAR, symbol VARCHAR,
        side VARCHAR,                     -- 'LONG' or 'SHORT'
        quantity DOUBLE,                  -- largest absolute size of the position
        entry_ts_ns BIGINT, exit_ts_ns BIGINT, avg_entry DOUBLE, avg_exit DOUBLE,
        gross_pnl DOUBLE, fees DOUBLE, net_pnl DOUBLE, holding_ns BIGINT,
        exit_reason VARCHAR)""",
    """CREATE TABLE positions (             -- snapshots, one per change
        run_id VARCHAR NOT NULL, account_id VARCHAR, symbol VARCHAR, ts_ns BIGINT,
        quantity DOUBLE, avg_price DOUBLE, realized_pnl DOUBLE, mark_price DOUBLE,
        unrealized_pnl DOUBLE, event VARCHAR)""",
    """CREATE TABLE equity (
        run_id VARCHAR NOT NULL, account_id VARCHAR, ts_ns BIGINT, equity DOUBLE,
        cash DOUBLE, realized_pnl DOUBLE, unrealized_pnl DOUBLE, fees DOUBLE)""",
    """CREATE TABLE risk_events (
        run_id VARCHAR NOT NULL, account_id VARCHAR, ts_ns BIGINT,
        kind VARCHAR,                     -- 'STATE' or 'DENIED'
        state VARCHAR, cause VARCHAR, reason VARCHAR, detail VARCHAR,
        client_order_id VARCHAR, symbol VARCHAR)""",
    """CREATE TABLE run_events (            -- everything else worth a line in the journal
        run_id VARCHAR NOT NULL, ts_ns BIGINT, kind VARCHAR, source VARCHAR,
        state VARCHAR, detail VARCHAR)""",
    """CREATE TABLE latency (
        run_id VARCHAR NOT NULL, hop VARCHAR NOT NULL, ts_ns BIGINT, ns BIGINT NOT NULL)""",
)

# The strategy of each fill and round trip, journaled by the engine (the Account stamps
# each fill with its order's strategy, a round trip carries its opening fill's). NULL in
# rows written before v3: data.analytics attributes those from `orders` instead.
_V3_STRATEGY = (
    "ALTER TABLE fills ADD COLUMN strategy_id VARCHAR",
    "ALTER TABLE trades ADD COLUMN strategy_id VARCHAR",
)

# A finished run's analytics, written by `Store.end_run` (see data.analytics_summary):
# what `data.analytics` assembles its results from, and the journal state they were
# measured on. Runs without a row here (ended before v4, or still running) are measured
# from the journal.
_V4_SUMMARY = (
    """CREATE TABLE run_summaries (
        run_id VARCHAR PRIMARY KEY,
        fingerprint VARCHAR NOT NULL,          -- the run's rows in the journal it read
        tables_fingerprint VARCHAR NOT NULL,   -- every run's rows in those tables
        span_ns BIGINT NOT NULL, written_ns BIGINT NOT NULL, code_version VARCHAR)""",
    """CREATE TABLE run_summary_groups (
        run_id VARCHAR NOT NULL, grouping VARCHAR NOT NULL, key VARCHAR,
        has_agg BOOLEAN NOT NULL, has_curve BOOLEAN NOT NULL,
        trades BIGINT, wins BIGINT, losses BIGINT, gross_pnl DOUBLE, fees DOUBLE,
        win_sum DOUBLE, loss_sum DOUBLE, fills BIGINT, fill_fees DOUBLE, notional DOUBLE,
        exposed_ns BIGINT,
        c_samples BIGINT, c_start DOUBLE, c_end DOUBLE, c_mean DOUBLE, c_mean_r DOUBLE,
        c_std_r DOUBLE, c_down_r DOUBLE, c_max_dd DOUBLE, c_dd_ns BIGINT, c_ppy DOUBLE)""",
    """CREATE TABLE run_summary_latency (
        run_id VARCHAR NOT NULL, hop VARCHAR NOT NULL, count BIGINT NOT NULL, mean DOUBLE,
        p50 DOUBLE, p90 DOUBLE, p99 DOUBLE, max BIGINT)""",
)

# Equity samples carry their order (`seq`, ascending in the order the run journaled them;
# StoreWriter numbers them), so samples at the same ts_ns are ordered without relying on
# physical row order; latency samples carry the account they were measured for (NULL: a
# hop not specific to one account). Rows from before v5 have NULL in both.
_V5_ORDER_AND_ACCOUNT = (
    "ALTER TABLE equity ADD COLUMN seq BIGINT",
    "ALTER TABLE latency ADD COLUMN account_id VARCHAR",
)

# Parameter sweeps (data.store_sweeps): one row per sweep, one per parameter set. Files
# that ran a sweep before v6 already have both tables (the sweep code created them on
# first use), hence IF NOT EXISTS; the columns are the same. The metric columns are
# data.store_sweeps.METRICS as of v6: a new metric needs a migration of its own.
_V6_SWEEPS = (
    """CREATE TABLE IF NOT EXISTS sweeps (
        sweep_id VARCHAR PRIMARY KEY, started_ns BIGINT NOT NULL, ended_ns BIGINT,
        config VARCHAR NOT NULL,               -- JSON text
        status VARCHAR NOT NULL,               -- running | finished | incomplete | interrupted
        sets INTEGER NOT NULL, path VARCHAR)   -- path: fast | event""",
    """CREATE TABLE IF NOT EXISTS sweep_results (
        sweep_id VARCHAR NOT NULL, set_index INTEGER NOT NULL,
        params VARCHAR NOT NULL,               -- JSON text
        status VARCHAR NOT NULL,               -- ok | failed | lost
        error VARCHAR,
        final_value DOUBLE, total_return DOUBLE, sharpe DOUBLE, max_drawdown DOUBLE,
        closed_trades BIGINT, open_trades BIGINT, fills BIGINT, wins BIGINT, losses BIGINT,
        win_rate DOUBLE, gross_profit DOUBLE, gross_loss DOUBLE, fees DOUBLE, exposure DOUBLE,
        cash DOUBLE, position DOUBLE,
        written_ns BIGINT NOT NULL, PRIMARY KEY (sweep_id, set_index))""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "market data: instruments, ticks, quotes, bars, imports", _V1_MARKET_DATA),
    Migration(2, "run journal: runs, signals, orders, order events, fills, trades, "
                 "positions, equity, risk and run events, latency", _V2_RUN_JOURNAL),
    Migration(3, "strategy_id on fills and trades", _V3_STRATEGY),
    Migration(4, "run summaries: a finished run's analytics", _V4_SUMMARY),
    Migration(5, "seq on equity samples, account_id on latency samples",
              _V5_ORDER_AND_ACCOUNT),
    Migration(6, "parameter sweeps and their results", _V6_SWEEPS),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

MARKET_TABLES = ("instruments", "ticks", "quotes", "bars")
RUN_TABLES = ("signals", "orders", "order_events", "fills", "trades", "positions", "equity",
              "risk_events", "run_events", "latency")
SUMMARY_TABLES = ("run_summaries", "run_summary_groups", "run_summary_latency")
SWEEP_TABLES = ("sweeps", "sweep_results")
TABLES = ("schema_version", "imports", "runs", *MARKET_TABLES, *RUN_TABLES, *SUMMARY_TABLES,
          *SWEEP_TABLES)


def check_migrations(migrations: tuple[Migration, ...]) -> None:
    """Versions must run 1, 2, 3, ... without gaps: the store relies on it."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {migration.description!r} has version "
                             f"{migration.version}, expected {expected}")


check_migrations(MIGRATIONS)
