"""The SQL of `data.analytics`, apart from the Python that runs it through the Store API.

Every statement takes the run as `$run`. Group keys are never NULL in SQL (a missing
account, symbol or strategy is the empty string, which `data.analytics` reports as
None), so keys join with plain equality.

`sources(grouping)` gives the CTEs every metric reads, with a `key` column per row:
- `t`: the run's closed round trips (`trades`) with gross P&L and fees (NULL as 0);
- `f`: the run's fills with their traded notional (|quantity| x price x the instrument's
  multiplier, 1 when the instrument is not in `instruments`);
- `o`: positions still open at the end: per account and symbol, the last `positions`
  row with event 'OPENED', when no round trip in `trades` starts at or after it.

Strategy attribution. Since schema v3 the engine journals it: `fills.strategy_id` (its
order's, or inherited as in 1. below) and `trades.strategy_id` (the opening fill's), and
a run whose fills and trades all carry one is grouped on those columns directly
(`JOURNALED`; an open position takes the strategy of the latest fill with one at or
before its time). Rows written before v3 have NULL there and are attributed in SQL:
1. a fill's strategy is its order's `strategy_id` (orders joined on account and
   client order ID); a fill whose order has none (a protective exit the account sent, or
   an order not journaled) inherits the strategy of the latest earlier fill on the same
   account and symbol that has one, in (ts_event, journal order);
2. a round trip's (or open position's) strategy is that of the latest fill at or before
   its entry time on its account and symbol: the fill that opened it (of several fills
   at that very nanosecond, the last journaled).
A journaled strategy_id always wins over the attribution (a run with both kinds of rows).
"""

from __future__ import annotations

RUN_KEY = "$run"
KEYS = {"run": RUN_KEY, "account": "coalesce(account_id, '')",
        "symbol": "coalesce(symbol, '')"}

_PLAIN = """
t AS (SELECT {key} AS key, entry_ts_ns, exit_ts_ns, coalesce(gross_pnl, 0) AS gross,
             coalesce(fees, 0) AS fees
      FROM trades WHERE run_id = $run),
f AS (SELECT {key} AS key, symbol, quantity, price, fee FROM fills WHERE run_id = $run),
op AS ({open_positions}),
o AS (SELECT {key} AS key, ts_ns FROM op)"""

# Strategy attribution, materialised once per analysis in a temporary table (dropped
# after): every fill (kind 0), round trip (1) and open position (2) of the run in one
# stream per account and symbol, ordered by time with fills first at equal times (fills
# among themselves in journal order, rowid); each row takes the latest strategy seen so
# far in the stream (its own order's, for a fill).
ATTRIBUTE = """
CREATE TEMP TABLE {table} AS
WITH ords AS (
    SELECT account_id, client_order_id, max(nullif(strategy_id, '')) AS strategy_id
    FROM orders WHERE run_id = $run GROUP BY account_id, client_order_id),
op AS ({open_positions}),
stream AS (
    SELECT f.account_id, f.symbol, f.ts_event AS ts, 0 AS kind, f.rowid AS seq,
           CASE WHEN f.strategy_id IS NULL THEN o.strategy_id
                ELSE nullif(f.strategy_id, '') END AS own, f.strategy_id AS journaled,
           f.quantity, f.price, f.fee, NULL::DOUBLE AS gross,
           NULL::DOUBLE AS fees, NULL::BIGINT AS exit_ts
    FROM fills f LEFT JOIN ords o
         ON o.account_id = f.account_id AND o.client_order_id = f.client_order_id
    WHERE f.run_id = $run
    UNION ALL
    SELECT account_id, symbol, entry_ts_ns, 1, NULL, NULL, strategy_id, NULL, NULL, NULL,
           coalesce(gross_pnl, 0), coalesce(fees, 0), exit_ts_ns
    FROM trades WHERE run_id = $run
    UNION ALL
    SELECT account_id, symbol, ts_ns, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL
    FROM op)
SELECT kind, coalesce(journaled, last_value(own IGNORE NULLS) OVER (
           PARTITION BY account_id, symbol ORDER BY ts, kind, seq
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), '') AS key,
       ts, exit_ts, gross, fees, symbol, quantity, price, fee
FROM stream"""

_ATTRIBUTED = """
t AS (SELECT key, ts AS entry_ts_ns, exit_ts AS exit_ts_ns, gross, fees
      FROM {table} WHERE kind = 1),
f AS (SELECT key, symbol, quantity, price, fee FROM {table} WHERE kind = 0),
o AS (SELECT key, ts AS ts_ns FROM {table} WHERE kind = 2)"""

# Whether every fill and round trip of the run carries its journaled strategy (schema v3
# and an engine that writes it): then grouping by strategy reads the columns directly.
UNJOURNALED = """
SELECT (SELECT count(*) FROM fills WHERE run_id = $run AND strategy_id IS NULL)
     + (SELECT count(*) FROM trades WHERE run_id = $run AND strategy_id IS NULL)"""

# Grouped on the journaled columns: no join to `orders`, no window over the fills. An open
# position is the strategy of the latest fill with one at or before its time on its
# account and symbol (of several at that nanosecond, the last journaled), as in ATTRIBUTE.
_JOURNALED = """
t AS (SELECT coalesce(strategy_id, '') AS key, entry_ts_ns, exit_ts_ns,
             coalesce(gross_pnl, 0) AS gross, coalesce(fees, 0) AS fees
      FROM trades WHERE run_id = $run),
f AS (SELECT coalesce(strategy_id, '') AS key, symbol, quantity, price, fee
      FROM fills WHERE run_id = $run),
op AS ({open_positions}),
fl AS (SELECT account_id, symbol, ts_event, rowid AS seq, strategy_id FROM fills
       WHERE run_id = $run AND strategy_id <> ''),
o AS (SELECT coalesce(arg_max(fl.strategy_id, struct_pack(ts := fl.ts_event, seq := fl.seq)),
                      '') AS key, op.ts_ns
      FROM op LEFT JOIN fl ON fl.account_id IS NOT DISTINCT FROM op.account_id
                              AND fl.symbol IS NOT DISTINCT FROM op.symbol
                              AND fl.ts_event <= op.ts_ns
      GROUP BY op.account_id, op.symbol, op.ts_ns)"""

# Positions net per account and symbol, so at most one is open at the end: the one the
# last 'OPENED' row opened, unless a round trip starts at or after it (it closed again).
_OPEN_POSITIONS = """
    SELECT p.account_id, p.symbol, p.ts_ns
    FROM (SELECT account_id, symbol, max(ts_ns) AS ts_ns FROM positions
          WHERE run_id = $run AND event = 'OPENED' GROUP BY account_id, symbol) p
    LEFT JOIN (SELECT account_id, symbol, max(entry_ts_ns) AS entry FROM trades
               WHERE run_id = $run GROUP BY account_id, symbol) x
           ON x.account_id IS NOT DISTINCT FROM p.account_id
              AND x.symbol IS NOT DISTINCT FROM p.symbol
    WHERE p.ts_ns > coalesce(x.entry, -9223372036854775808)"""


def attribute(table: str) -> str:
    """CREATE the temporary table of strategy-attributed rows (see ATTRIBUTE)."""
    return ATTRIBUTE.format(table=table, open_positions=_OPEN_POSITIONS)


def sources(grouping: str, table: str | None = None, *, journaled: bool = False) -> str:
    """The CTEs `t`, `f`, `o` (see the module docstring) keyed for `grouping`; for
    "strategy", the journaled columns (`journaled`: the run has no NULL strategy_id, see
    UNJOURNALED), else read from the attributed `table` made by `attribute(table)`."""
    if grouping == "strategy" and journaled:
        return _JOURNALED.format(open_positions=_OPEN_POSITIONS)
    if grouping == "strategy":
        if table is None:
            raise ValueError("grouping by strategy reads the attributed table")
        return _ATTRIBUTED.format(table=table)
    return _PLAIN.format(key=KEYS[grouping], open_positions=_OPEN_POSITIONS)


# The run's time span: every timestamp it journaled in equity, fills, trades, positions.
SPAN = """
SELECT min(lo), max(hi) FROM (
    SELECT min(ts_ns) AS lo, max(ts_ns) AS hi FROM equity WHERE run_id = $run
    UNION ALL SELECT min(ts_event), max(ts_event) FROM fills WHERE run_id = $run
    UNION ALL SELECT min(entry_ts_ns), max(exit_ts_ns) FROM trades WHERE run_id = $run
    UNION ALL SELECT min(ts_ns), max(ts_ns) FROM positions WHERE run_id = $run)"""

# One row per key: round-trip statistics, fills and notional, and `open_from`, the earliest
# time a position of the key still open at the end opened (NULL: none is; a NULL time is
# the int64 minimum): such positions are all open until the span ends, so their union is
# that one interval. Time with a position open is measured apart (TRADE_ROWS).
AGGREGATES = """
WITH {sources},
ts AS (
    SELECT key, count(*) AS trades, sum(gross) AS gross_pnl, sum(fees) AS fees,
           count(*) FILTER (WHERE gross - fees > 0) AS wins,
           count(*) FILTER (WHERE gross - fees < 0) AS losses,
           coalesce(sum(gross - fees) FILTER (WHERE gross - fees > 0), 0) AS win_sum,
           coalesce(sum(gross - fees) FILTER (WHERE gross - fees < 0), 0) AS loss_sum
    FROM t GROUP BY key),
fa AS (
    SELECT key, count(*) AS fills, coalesce(sum(fee), 0) AS fill_fees,
           coalesce(sum(abs(quantity) * price * coalesce(i.multiplier, 1)), 0) AS notional
    FROM f LEFT JOIN instruments i USING (symbol) GROUP BY key),
oa AS (SELECT key, min(coalesce(ts_ns, -9223372036854775808)) AS open_from
       FROM o GROUP BY key),
keys AS (SELECT key FROM ts UNION SELECT key FROM fa UNION SELECT key FROM oa)
SELECT key, coalesce(trades, 0) AS trades, coalesce(wins, 0) AS wins,
       coalesce(losses, 0) AS losses, coalesce(gross_pnl, 0) AS gross_pnl,
       coalesce(fees, 0) AS fees, coalesce(win_sum, 0) AS win_sum,
       coalesce(loss_sum, 0) AS loss_sum, coalesce(fills, 0) AS fills,
       coalesce(fill_fees, 0) AS fill_fees, coalesce(notional, 0) AS notional, open_from
FROM keys LEFT JOIN ts USING (key) LEFT JOIN fa USING (key) LEFT JOIN oa USING (key)
ORDER BY key"""

# Every round trip of the run, once per analysis, for what walks them in order in Numba
# (data.analytics_kernels): `code` is the trip's key's index in $keys (the keys AGGREGATES
# found), `net` its net P&L. Its [entry, exit) clipped to the run's span is an interval
# with a position open (exposure; a NULL end is the span's), and its net P&L steps the
# group's curve at the first grid time at or after its exit (GRID; none when NULL).
# Fetching millions of rows is most of the cost, so only the columns a grouping needs are
# read (`trade_rows`): no code for the run (one key), no net P&L without a P&L curve.
TRADE_ROWS = """
WITH {sources},
kk AS (SELECT unnest($keys) AS key, (generate_subscripts($keys, 1) - 1)::INTEGER AS code)
SELECT code, entry_ts_ns, exit_ts_ns{net} FROM t JOIN kk USING (key)"""
RUN_TRADE_ROWS = """
WITH {sources}
SELECT entry_ts_ns, exit_ts_ns{net} FROM t"""


# Each account's equity samples, one per time: a duplicate (account, ts_ns) keeps the
# last by `seq` (schema v5; the order journaled), then by journal order (rowid) where seq
# is missing (rows from before v5 sort first) or equal. `first_equity` is each account's
# first sample.
_EQUITY = """
eq AS (SELECT coalesce(account_id, '') AS account_id, ts_ns,
              arg_max(equity, struct_pack(q := coalesce(seq, -1), r := rowid)) AS equity
       FROM equity WHERE run_id = $run AND ts_ns IS NOT NULL AND equity IS NOT NULL
       GROUP BY ALL),
grid AS (SELECT DISTINCT ts_ns FROM eq),
acc AS (SELECT account_id, arg_min(equity, ts_ns) AS first_equity FROM eq GROUP BY ALL)"""

# The run's curve: at each time any account sampled, the sum over accounts of each one's
# latest sample at or before it (its first sample before it has one).
RUN_CURVE = f"""
WITH {_EQUITY},
ga AS (SELECT grid.ts_ns, acc.account_id, acc.first_equity FROM grid CROSS JOIN acc)
SELECT $run AS key, ga.ts_ns, sum(coalesce(eq.equity, ga.first_equity)) AS equity
FROM ga ASOF LEFT JOIN eq ON eq.account_id = ga.account_id AND eq.ts_ns <= ga.ts_ns
GROUP BY ga.ts_ns ORDER BY ga.ts_ns"""

ACCOUNT_CURVES = f"""
WITH {_EQUITY}
SELECT account_id AS key, ts_ns, equity FROM eq ORDER BY key, ts_ns"""

# A strategy's or symbol's curve is the run's starting equity plus the group's cumulative
# net P&L of round trips closed by each time of the run's grid. SQL gives the pieces: the
# grid with the starting equity (sum of the accounts' first samples), the group keys in
# order (GROUP_KEYS, for `equity_curves` alone) and the round trips (TRADE_ROWS);
# data.analytics_kernels.grid_steps_nb puts each at the first grid time at or after its
# exit and data.analytics adds them up along the grid.
GRID = f"""
WITH {_EQUITY}
SELECT ts_ns, (SELECT sum(first_equity) FROM acc) AS base FROM grid ORDER BY ts_ns"""

GROUP_KEYS = """
WITH {sources}
SELECT DISTINCT key FROM t ORDER BY key"""


def group_keys(sources_sql: str) -> str:
    return GROUP_KEYS.format(sources=sources_sql)


def trade_rows(sources_sql: str, *, coded: bool = True, net: bool = True) -> str:
    """TRADE_ROWS: with `code` unless not `coded` (one key: every row's code is 0), with
    `net` when asked."""
    text = TRADE_ROWS if coded else RUN_TRADE_ROWS
    return text.format(sources=sources_sql, net=", gross - fees AS net" if net else "")


def aggregates(sources_sql: str) -> str:
    return AGGREGATES.format(sources=sources_sql)


# Per hop: quantiles interpolated linearly between order statistics, (n - 1) q from the
# smallest (numpy.percentile's default, 'linear').
# With $account (schema v5), only that account's samples.
LATENCY = """
SELECT hop, count(*) AS count, avg(ns) AS mean,
       quantile_cont(ns, [0.5, 0.9, 0.99]) AS q, max(ns) AS max
FROM latency WHERE run_id = $run GROUP BY hop ORDER BY hop"""
ACCOUNT_LATENCY = """
SELECT hop, count(*) AS count, avg(ns) AS mean,
       quantile_cont(ns, [0.5, 0.9, 0.99]) AS q, max(ns) AS max
FROM latency WHERE run_id = $run AND account_id = $account GROUP BY hop ORDER BY hop"""

RUNS = "SELECT run_id FROM runs ORDER BY started_ns DESC, run_id LIMIT $limit"
RUN_EXISTS = "SELECT count(*) FROM runs WHERE run_id = $run"
RUN_COUNT = "SELECT count(*) FROM runs"

# The state of the run's journal its summary was measured on (data.analytics_summary):
# the run's rows in every table the analytics read, and the instruments' multipliers.
FINGERPRINT = """
SELECT (SELECT count(*) FROM fills WHERE run_id = $run),
       (SELECT count(*) FROM trades WHERE run_id = $run),
       (SELECT count(*) FROM orders WHERE run_id = $run),
       (SELECT count(*) FROM positions WHERE run_id = $run),
       (SELECT count(*) FROM equity WHERE run_id = $run),
       (SELECT count(*) FROM latency WHERE run_id = $run),
       (SELECT bit_xor(hash(symbol, multiplier)) FROM instruments)"""

# The same over every run: table counts come from DuckDB's metadata (about 2 ms). While
# they are unchanged, no journal table has had rows appended (the journal is append-only).
TABLES_FINGERPRINT = """
SELECT (SELECT count(*) FROM fills), (SELECT count(*) FROM trades),
       (SELECT count(*) FROM orders), (SELECT count(*) FROM positions),
       (SELECT count(*) FROM equity), (SELECT count(*) FROM latency),
       (SELECT bit_xor(hash(symbol, multiplier)) FROM instruments)"""

SUMMARY_FINGERPRINT = """
SELECT fingerprint, tables_fingerprint FROM run_summaries WHERE run_id = $run"""
SUMMARY_SPAN = "SELECT span_ns FROM run_summaries WHERE run_id = $run"
SUMMARY_GROUPS = """
SELECT * FROM run_summary_groups WHERE run_id = $run AND grouping = $grouping"""
SUMMARY_LATENCY = """
SELECT hop, count, mean, p50, p90, p99, max FROM run_summary_latency
WHERE run_id = $run ORDER BY hop"""
