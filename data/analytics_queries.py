"""The SQL that measures one or several groupings of a run: the aggregates of every
grouping asked for in one statement (`aggregates`) and the round trips with a key code
per grouping (`trip_rows`). `data.analytics_measure` builds them through `plan`.

The rows every grouping reads are CTEs over the run's journal:
- `t`: the run's closed round trips (`trades`), gross P&L and fees NULL as 0;
- `f`: the run's fills (the traded notional is |quantity| x price x the instrument's
  multiplier, 1 when the instrument is not in `instruments`);
- `op`: positions still open at the end (as analytics_sql.OPEN_POSITIONS), with their
  account and symbol; `oj`: those positions' journaled strategy (JOURNALED_OPEN);
- `ta`, `fa`, `oa`: round trips, fills and open positions from the temporary table of
  strategy-attributed rows (analytics_sql.attribute), for runs with rows from before v3.

Aggregates go through cells: the round trips and the fills are aggregated once per
(account, symbol, journaled strategy), whatever the groupings (`tc`, `fc`), and each
grouping sums its keys' cells. Measuring the four groupings together thus scans the
journal once, and a grouping measured alone sums the very same cells in the same way, so
its figures are the same either way. A strategy attributed from `orders` (`ta`, `fa`,
`oa`) is aggregated directly from its rows instead.

The key of a row is never NULL in SQL: a missing account, symbol or strategy is the
empty string (reported as None by `data.analytics`).
"""

from __future__ import annotations

from dataclasses import dataclass

from data.analytics_sql import JOURNALED_OPEN

__all__ = ["Plan", "Reads", "aggregates", "group_keys", "plan", "trip_rows"]


@dataclass(frozen=True, slots=True)
class Reads:
    """Where one grouping reads its rows: the CTEs of round trips, fills and open
    positions, and its key as an SQL expression over a row of each (`{t}`: the CTE)."""

    grouping: str
    trips: str
    fills: str
    opened: str
    key: str               # over `trips` and `fills` rows (and cells)
    open_key: str          # over `opened` rows


@dataclass(frozen=True, slots=True)
class Plan:
    """The groupings to measure together, and the attributed table when one is read."""

    reads: tuple[Reads, ...]
    table: str | None = None


_MIN = "-9223372036854775808"          # a NULL time: before every time
_ROWS = {
    "t": """t AS (SELECT account_id, symbol, strategy_id, entry_ts_ns, exit_ts_ns,
             coalesce(gross_pnl, 0) AS gross, coalesce(fees, 0) AS fees
      FROM trades WHERE run_id = $run)""",
    "f": """f AS (SELECT account_id, symbol, strategy_id, quantity, price, fee
      FROM fills WHERE run_id = $run)""",
    # the cells: round trips (apart by the sign of their net P&L: wins 1, losses -1)
    # and fills per account, symbol and journaled strategy
    "tc": """tc AS MATERIALIZED (
    SELECT account_id, symbol, strategy_id, side, count(*) AS trades,
           sum(gross) AS gross_pnl, sum(fees) AS fees, sum(gross - fees) AS net,
           max(entry_ts_ns) AS last_entry
    FROM (SELECT *, CASE WHEN gross - fees > 0 THEN 1 WHEN gross - fees < 0 THEN -1
                         ELSE 0 END AS side FROM t)
    GROUP BY account_id, symbol, strategy_id, side)""",
    "fc": """fc AS MATERIALIZED (
    SELECT f.account_id, f.symbol, f.strategy_id, count(*) AS fills, sum(fee) AS fill_fees,
           sum(abs(quantity) * price * coalesce(i.multiplier, 1)) AS notional
    FROM f LEFT JOIN instruments i USING (symbol)
    GROUP BY f.account_id, f.symbol, f.strategy_id)""",
    # positions net per account and symbol, so at most one is open at the end: the one
    # the last 'OPENED' row opened, unless a round trip starts at or after it
    "op": f"""op AS MATERIALIZED (
    SELECT p.account_id, p.symbol, p.ts_ns
    FROM (SELECT account_id, symbol, max(ts_ns) AS ts_ns FROM positions
          WHERE run_id = $run AND event = 'OPENED' GROUP BY account_id, symbol) p
    LEFT JOIN (SELECT account_id, symbol, max(last_entry) AS entry FROM tc
               GROUP BY account_id, symbol) x
           ON x.account_id IS NOT DISTINCT FROM p.account_id
              AND x.symbol IS NOT DISTINCT FROM p.symbol
    WHERE p.ts_ns > coalesce(x.entry, {_MIN}))""",
    "oj": JOURNALED_OPEN,
    "ta": """ta AS (SELECT key, ts AS entry_ts_ns, exit_ts AS exit_ts_ns, gross, fees
       FROM {table} WHERE kind = 1)""",
    "fa": "fa AS (SELECT key, symbol, quantity, price, fee FROM {table} WHERE kind = 0)",
    "oa": "oa AS (SELECT key, ts AS ts_ns FROM {table} WHERE kind = 2)",
}
_NEEDS = {"tc": ("t",), "fc": ("f",), "op": ("tc",), "oj": ("op",)}

_KEYS = {"run": "$run", "account": "coalesce({t}.account_id, '')",
         "symbol": "coalesce({t}.symbol, '')"}


def plan(groupings: tuple[str, ...], *, journaled: bool = True,
         table: str | None = None) -> Plan:
    """The reads of `groupings` ('run', 'account', 'strategy', 'symbol'): by strategy,
    the journaled columns when `journaled` (the run has no NULL strategy_id), else the
    attributed `table` (analytics_sql.attribute), which must then be given."""
    reads = []
    for g in groupings:
        if g != "strategy":
            reads.append(Reads(g, "t", "f", "op", _KEYS[g], _KEYS[g]))
        elif journaled:
            reads.append(Reads(g, "t", "f", "oj", "coalesce({t}.strategy_id, '')",
                               "{t}.key"))
        elif table is None:
            raise ValueError("grouping by strategy reads the attributed table")
        else:
            reads.append(Reads(g, "ta", "fa", "oa", "{t}.key", "{t}.key"))
    return Plan(tuple(reads), table)


def _ctes(p: Plan, names: list[str]) -> str:
    """The CTEs `names` and those they read, in order of dependence."""
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_NEEDS.get(name, ()))
    return ",\n".join(_ROWS[n].format(table=p.table) for n in _ROWS if n in wanted)


# Per grouping, one row per key: round-trip statistics, fills and notional, and
# `open_from`, the earliest time a position of the key still open at the end opened
# (NULL: none is; a NULL time is the int64 minimum): such positions are all open until
# the span ends, so their union is that one interval. Time with a position open is
# measured apart, from the round trips (`trip_rows`).
_FROM_CELLS = """
{g} AS (
    SELECT '{g}' AS grouping, key, coalesce(sum(trades), 0)::BIGINT AS trades,
           coalesce(sum(wins), 0)::BIGINT AS wins,
           coalesce(sum(losses), 0)::BIGINT AS losses,
           coalesce(sum(gross_pnl), 0) AS gross_pnl, coalesce(sum(fees), 0) AS fees,
           coalesce(sum(win_sum), 0) AS win_sum, coalesce(sum(loss_sum), 0) AS loss_sum,
           coalesce(sum(fills), 0)::BIGINT AS fills,
           coalesce(sum(fill_fees), 0) AS fill_fees,
           coalesce(sum(notional), 0) AS notional, min(open_from) AS open_from
    FROM (SELECT {tkey} AS key, trades, CASE side WHEN 1 THEN trades END AS wins,
                 CASE side WHEN -1 THEN trades END AS losses, gross_pnl, fees,
                 CASE side WHEN 1 THEN net END AS win_sum,
                 CASE side WHEN -1 THEN net END AS loss_sum, NULL::BIGINT AS fills,
                 NULL::DOUBLE AS fill_fees, NULL::DOUBLE AS notional,
                 NULL::BIGINT AS open_from FROM tc
          UNION ALL
          SELECT {fkey}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, fills, fill_fees,
                 notional, NULL FROM fc
          UNION ALL
          SELECT {okey}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 coalesce(ts_ns, {min}) FROM {opened})
    GROUP BY key)"""

_DIRECT = """
{g}_t AS (
    SELECT {tkey} AS key, count(*) AS trades, sum(gross) AS gross_pnl, sum(fees) AS fees,
           count(*) FILTER (WHERE gross - fees > 0) AS wins,
           count(*) FILTER (WHERE gross - fees < 0) AS losses,
           coalesce(sum(gross - fees) FILTER (WHERE gross - fees > 0), 0) AS win_sum,
           coalesce(sum(gross - fees) FILTER (WHERE gross - fees < 0), 0) AS loss_sum
    FROM {trips} GROUP BY 1),
{g}_f AS (
    SELECT {fkey} AS key, count(*) AS fills, coalesce(sum(fee), 0) AS fill_fees,
           coalesce(sum(abs(quantity) * price * coalesce(i.multiplier, 1)), 0) AS notional
    FROM {fills} LEFT JOIN instruments i USING (symbol) GROUP BY 1),
{g}_o AS (SELECT {okey} AS key, min(coalesce(ts_ns, {min})) AS open_from
          FROM {opened} GROUP BY 1),
{g}_k AS (SELECT key FROM {g}_t UNION SELECT key FROM {g}_f UNION SELECT key FROM {g}_o),
{g} AS (
    SELECT '{g}' AS grouping, key, coalesce(trades, 0) AS trades,
           coalesce(wins, 0) AS wins, coalesce(losses, 0) AS losses,
           coalesce(gross_pnl, 0) AS gross_pnl, coalesce(fees, 0) AS fees,
           coalesce(win_sum, 0) AS win_sum, coalesce(loss_sum, 0) AS loss_sum,
           coalesce(fills, 0) AS fills, coalesce(fill_fees, 0) AS fill_fees,
           coalesce(notional, 0) AS notional, open_from
    FROM {g}_k LEFT JOIN {g}_t USING (key) LEFT JOIN {g}_f USING (key)
         LEFT JOIN {g}_o USING (key))"""


def aggregates(p: Plan) -> str:
    """One row per grouping and key (columns `grouping`, `key`, then the aggregates),
    ordered by grouping and key."""
    names, blocks = [], []
    for r in p.reads:
        cells = r.trips == "t"
        names += ["tc", "fc", r.opened] if cells else [r.trips, r.fills, r.opened]
        blocks.append((_FROM_CELLS if cells else _DIRECT).format(
            g=r.grouping, trips=r.trips, fills=r.fills, opened=r.opened, min=_MIN,
            tkey=r.key.format(t="tc" if cells else r.trips),
            fkey=r.key.format(t="fc" if cells else r.fills),
            okey=r.open_key.format(t=r.opened)))
    union = " UNION ALL ".join(f"SELECT * FROM {r.grouping}" for r in p.reads)
    return f"WITH {_ctes(p, names)},{','.join(blocks)}\n{union}\nORDER BY grouping, key"


def trip_rows(p: Plan, trips: str, coded: tuple[str, ...], *, net: bool,
              code_type: str = "INTEGER") -> str:
    """Every round trip in the CTE `trips`, once, for what walks them in order in Numba
    (data.analytics_kernels): per grouping in `coded`, `code_<grouping>`, the index of
    the trip's key in the parameter `$keys_<grouping>` (the keys `aggregates` found), of
    SQL type `code_type` (the narrowest that holds them: a byte per trip, not four);
    its entry and exit times; with `net`, its net P&L. Only these columns are fetched:
    moving millions of rows into numpy is most of the cost."""
    reads = {r.grouping: r for r in p.reads}
    lists = "".join(
        f",\nkk_{g} AS (SELECT unnest($keys_{g}) AS key, "
        f"(generate_subscripts($keys_{g}, 1) - 1)::{code_type} AS code)" for g in coded)
    joins = "".join(f"\n    JOIN kk_{g} ON kk_{g}.key = {reads[g].key.format(t=trips)}"
                    for g in coded)
    cols = "".join(f"kk_{g}.code AS code_{g}, " for g in coded)
    value = f", {trips}.gross - {trips}.fees AS net" if net else ""
    return (f"WITH {_ctes(p, [trips])}{lists}\nSELECT {cols}{trips}.entry_ts_ns, "
            f"{trips}.exit_ts_ns{value}\nFROM {trips}{joins}")


def group_keys(p: Plan) -> str:
    """The distinct keys of the first grouping's round trips, in order."""
    r = p.reads[0]
    return (f"WITH {_ctes(p, [r.trips])}\nSELECT DISTINCT {r.key.format(t=r.trips)} AS key "
            f"FROM {r.trips} ORDER BY key")
