"""The SQL of `data.analytics`, apart from the Python that runs it through the Store API.

Every statement takes the run as `$run`. Group keys are never NULL in SQL (a missing
account, symbol or strategy is the empty string, which `data.analytics` reports as
None), so keys join with plain equality.

The statements that measure the groupings (aggregates and round trips) are built in
`data.analytics_queries` from the pieces here: the open positions (OPEN_POSITIONS), the
journaled strategy of those positions (JOURNALED_OPEN) and the attribution (ATTRIBUTE).

Strategy attribution. Since schema v3 the engine journals it: `fills.strategy_id` (its
order's, or inherited as in 1. below) and `trades.strategy_id` (the opening fill's), and
a run whose fills and trades all carry one is grouped on those columns directly (an open
position takes the strategy of the latest fill with one at or before its time,
JOURNALED_OPEN). Rows written before v3 have NULL there and are attributed in SQL:
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

# Whether every fill and round trip of the run carries its journaled strategy (schema v3
# and an engine that writes it): then grouping by strategy reads the columns directly.
UNJOURNALED = """
SELECT (SELECT count(*) FROM fills WHERE run_id = $run AND strategy_id IS NULL)
     + (SELECT count(*) FROM trades WHERE run_id = $run AND strategy_id IS NULL)"""

# An open position's strategy when the run's rows carry their journaled one: no join to
# `orders`, no window over the fills. It is the strategy of the latest fill with one at
# or before its time on its account and symbol (of several at that nanosecond, the last
# journaled), as in ATTRIBUTE.
JOURNALED_OPEN = """oj AS (
    SELECT coalesce(arg_max(fl.strategy_id, struct_pack(ts := fl.ts_event, seq := fl.seq)),
                    '') AS key, op.ts_ns
    FROM op LEFT JOIN (SELECT account_id, symbol, ts_event, rowid AS seq, strategy_id
                       FROM fills WHERE run_id = $run AND strategy_id <> '') fl
         ON fl.account_id IS NOT DISTINCT FROM op.account_id
            AND fl.symbol IS NOT DISTINCT FROM op.symbol AND fl.ts_event <= op.ts_ns
    GROUP BY op.account_id, op.symbol, op.ts_ns)"""

# Positions net per account and symbol, so at most one is open at the end: the one the
# last 'OPENED' row opened, unless a round trip starts at or after it (it closed again).
OPEN_POSITIONS = """
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
    return ATTRIBUTE.format(table=table, open_positions=OPEN_POSITIONS)


# The run's time span: every timestamp it journaled in equity, fills, trades, positions.
SPAN = """
SELECT min(lo), max(hi) FROM (
    SELECT min(ts_ns) AS lo, max(ts_ns) AS hi FROM equity WHERE run_id = $run
    UNION ALL SELECT min(ts_event), max(ts_event) FROM fills WHERE run_id = $run
    UNION ALL SELECT min(entry_ts_ns), max(exit_ts_ns) FROM trades WHERE run_id = $run
    UNION ALL SELECT min(ts_ns), max(ts_ns) FROM positions WHERE run_id = $run)"""

# Each account's equity samples, one per time: a duplicate (account, ts_ns) keeps the
# last by `seq` (schema v5; the order journaled), then by journal order (rowid) where seq
# is missing (rows from before v5 sort first) or equal.
_EQUITY = """
eq AS (SELECT coalesce(account_id, '') AS account_id, ts_ns,
              arg_max(equity, struct_pack(q := coalesce(seq, -1), r := rowid)) AS equity
       FROM equity WHERE run_id = $run AND ts_ns IS NOT NULL AND equity IS NOT NULL
       GROUP BY ALL)"""

# Every account's curve, sorted by account and time. The run's curve is summed from these
# (data.analytics_measure, with data.analytics_kernels.summed_asof_nb): at each time any
# account sampled (the run's grid), the sum over accounts of each one's latest sample at
# or before it (its first sample before it has one); its first value, the sum of the
# first samples, is the run's starting equity.
ACCOUNT_CURVES = f"""
WITH {_EQUITY}
SELECT account_id AS key, ts_ns, equity FROM eq ORDER BY key, ts_ns"""

# A strategy's or symbol's curve is the run's starting equity plus the group's cumulative
# net P&L of round trips closed by each time of the run's grid. SQL gives the pieces: the
# accounts' curves (for the grid), the group keys in order and the round trips
# (data.analytics_queries: group_keys, trip_rows); data.analytics_kernels.grid_sums_nb
# puts each at the first grid time at or after its exit, summed per key, and
# data.analytics_measure adds them up along the grid.

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
