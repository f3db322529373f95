"""Performance analytics of a run, from the history store: typed results, computed in SQL.

    with Store.open("phalanx.duckdb", read_only=True) as store:
        [run] = analyze(store, run_id)                    # the whole run
        per_symbol = analyze(store, run_id, by="symbol")  # also "account", "strategy"
        hops = latency(store, run_id)                     # p50/p90/p99/max per hop
        curves = equity_curves(store, run_id, by="account")

Aggregates over round trips and fills, the equity curves and the latency quantiles are
DuckDB SQL (`data.analytics_sql`), run through the Store API. The statistics that walk a
curve in order (drawdown depth and duration, return moments) are one Numba pass over
all curves at once (`curve_stats_nb`). The round trips are fetched once per analysis,
only the columns the grouping needs: the time in the market, a union of intervals, is
one Numba pass over them in order of start, and the realised-P&L curves of strategies
and symbols one pass placing each on the run's grid (`data.analytics_kernels`).

A finished run is read from its summary (`data.analytics_summary`), written by
`Store.end_run` from this module's `summarize`: the same figures, from a few hundred rows,
while the run's journal is unchanged; otherwise it is measured from the journal
(`measure`), as it is with `summary=False`.

Conventions (docs/analytics.md says the same, with examples):

Round trips (table `trades`; one row per position opened and closed again):
- a trade's net P&L is gross P&L minus its fees (`gross_pnl - fees`, NULL as 0);
  `net_pnl`, `gross_pnl` and `fees` are sums over closed round trips only;
- a win has net P&L > 0, a loss < 0; a break-even trade counts in `trades` only;
- `win_rate` = wins / trades (NaN without trades);
- `profit_factor` = sum of wins / |sum of losses|: inf with wins and no losses, NaN
  without trades or when every trade broke even, 0.0 with losses and no wins;
- `expectancy` = mean net P&L per trade; `avg_win` = mean net P&L of the wins,
  `avg_loss` = mean net P&L of the losses (a negative number); NaN when there are none.

Fills (table `fills`): `traded_notional` = sum of |quantity| x price x multiplier (from
`instruments`, 1 when absent) over every fill of the group, open positions included;
`fill_fees` the fees of those fills; `turnover` = traded_notional / `avg_equity`.

Exposure: the share of the run's span (first to last timestamp the run journaled in
equity, fills, trades or positions) with at least one position of the group open.
Closed positions are open over [entry, exit); a position still open at the end (per
account and symbol, the last 'OPENED' row in `positions` when no round trip starts at
or after it) is open until the span ends.

Strategies: a fill is its order's strategy (`orders.strategy_id`), or, when the order
has none (a protective exit), the strategy of the latest earlier fill on its account and
symbol; a round trip or open position is the strategy of the fill that opened it.

Equity curves:
- run: at each time any account sampled, the sum of every account's latest sample at or
  before it (an account counts with its first sample until it has one);
- account: that account's samples (one per time; a duplicate time keeps the last by
  `seq`, the order journaled, then by journal order for rows without one);
- strategy and symbol (the journal has no per-strategy or per-symbol equity): on the
  run's time grid, the run's starting equity plus the group's cumulative net P&L of round
  trips closed by then. Realised P&L only, so a group's returns are its contribution to
  the run's return, and open positions do not move its curve.

Returns and ratios, from a curve of n samples (e_0 .. e_{n-1} at t_0 .. t_{n-1}):
- returns are per sample, r_i = e_i / e_{i-1} - 1 (n - 1 of them);
- `periods_per_year` P is given, or inferred as the observed sampling rate
  (n - 1) / ((t_{n-1} - t_0) in years of 365.25 days), so gaps (nights, weekends) are
  counted as they happened: daily closes on trading days give about 252;
- `volatility` = stdev(r) (ddof 1) x sqrt(P); `sharpe` = mean(r) / stdev(r) x sqrt(P)
  with a risk-free rate of 0; `sortino` = mean(r) / DD x sqrt(P) with the downside
  deviation DD = sqrt(mean(min(r_i, 0)^2)) over ALL n - 1 returns (target 0). When the
  denominator is 0 (a flat curve, returns all equal, no down period) the ratio is NaN;
- `total_return` = e_{n-1} / e_0 - 1; `annual_return` = (e_{n-1} / e_0) ^ (P / (n - 1)) - 1
  (compounded over the curve's span in years, (n - 1) / P);
- `max_drawdown` = max over i of 1 - e_i / max(e_0..e_i), a fraction (0.25 is 25%);
  `max_drawdown_ns` = the longest time from a peak to the first later sample back at or
  above it, or to the last sample if it never recovers (a flat curve: 0);
- `calmar` = annual_return / max_drawdown, NaN when max_drawdown is 0;
- fewer than two samples: no returns, so the ratios are NaN; a sample that is not a
  positive number makes every return, ratio and drawdown figure of that curve NaN
  (duration None). No curve at all (no equity journaled): the same, with samples 0.

Latency (table `latency`): per hop, count, mean, linearly interpolated quantiles p50, p90,
p99 (numpy.percentile's default method) and max, in nanoseconds; of the whole run, or of
one account's samples.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from data import analytics_sql as sql
from data import analytics_summary as summaries
from data.analytics_kernels import CurveStatus, covered_ns, curve_stats_nb, grid_steps_nb
from data.analytics_summary import CurveFigures, Measured
from data.store import Store
from data.store_migrate import code_version
from engine.errors import InvalidInput, UnknownName

__all__ = ["GROUPINGS", "CurveStatus", "EquityCurve", "GroupMetrics", "LatencyStats",
           "analyze", "curve_stats_nb", "equity_curves", "latency", "measure",
           "periods_per_year", "run_metrics", "summarize"]

GROUPINGS = ("account", "strategy", "symbol")
YEAR_NS = 365.25 * 86_400 * 1_000_000_000
_SHOWN_RUNS = 20


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """The metrics of one group of a run (see the module docstring for every convention).

    `by` is 'run', 'account', 'strategy' or 'symbol'; `key` the run ID, account, strategy
    or symbol (None: trades no strategy could be attributed to)."""

    by: str
    key: str | None
    # round trips
    trades: int
    wins: int
    losses: int
    win_rate: float
    gross_pnl: float
    fees: float
    net_pnl: float
    profit_factor: float
    expectancy: float
    avg_win: float
    avg_loss: float
    # fills and time in the market
    fills: int
    fill_fees: float
    traded_notional: float
    turnover: float
    exposure: float
    # the equity curve
    samples: int
    start_equity: float
    end_equity: float
    avg_equity: float
    total_return: float
    annual_return: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_ns: int | None
    periods_per_year: float


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """One hop's latency samples, in nanoseconds."""

    hop: str
    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: int


@dataclass(frozen=True, slots=True, eq=False)
class EquityCurve:
    """One group's equity curve: `ts_ns` ascending, `equity` at those times."""

    by: str
    key: str | None
    ts_ns: np.ndarray
    equity: np.ndarray

    def returns(self) -> np.ndarray:
        """Per-sample simple returns, e_i / e_{i-1} - 1 (one fewer than the samples)."""
        return self.equity[1:] / self.equity[:-1] - 1.0


# --- the API ----------------------------------------------------------------------------

def analyze(store: Store, run_id: str, by: str | None = None, *,
            periods_per_year: float | None = None, summary: bool = True
            ) -> list[GroupMetrics]:
    """The run's metrics, one `GroupMetrics` per group sorted by key (by=None: one, for
    the whole run). `periods_per_year` overrides the sampling rate inferred per curve.
    A finished run is read from its summary (data.analytics_summary) while that is
    current, else (or with `summary=False`) measured from the journal: the same figures.
    Unknown run or `by`: UnknownName (listing the known ones); a `periods_per_year` that
    is not a positive number: InvalidInput."""
    grouping = _grouping(by)
    if periods_per_year is not None and not 0 < periods_per_year < math.inf:
        raise InvalidInput("periods_per_year", periods_per_year, "must be a positive number")
    _check_run(store, run_id)
    measured = summaries.load(store, run_id, grouping) if summary else None
    if measured is None:
        measured = measure(store, run_id, grouping)
    keys = {run_id} if grouping == "run" else set(measured.aggs) | set(measured.curves)
    return [_metrics(grouping, key, measured.aggs.get(key),
                     _with_ppy(measured.curves.get(key), periods_per_year), measured.span_ns)
            for key in sorted(keys, key=lambda k: (k is None, k or ""))]


def measure(store: Store, run_id: str, grouping: str,
            span: tuple[int | None, int | None] | None = None) -> Measured:
    """One grouping ('run', 'account', 'strategy', 'symbol') of a run measured from its
    journal: the aggregates and curve figures (sampling rate inferred) per key. `span`:
    the run's first and last timestamp when known (else read)."""
    start, end = span or store.rows(sql.SPAN, {"run": run_id})[0]
    with _sources(store, run_id, grouping) as sources:
        text = sql.aggregates(sources)
        cols = store.query(text, _params(text, run=run_id, start=start, end=end))
        keys = [str(k) for k in cols["key"].tolist()]          # as in SQL ('' not None)
        trips = _trade_rows(store, run_id, sources, keys, coded=grouping != "run",
                            net=grouping in _PNL_CURVES)
        cols["exposed_ns"] = _exposure(trips, cols.pop("open_from"), len(keys), start, end)
        aggs = _by_key(cols)
        curves = _curves(store, run_id, grouping, sources, (keys, trips))
    span = (end - start) if start is not None else 0
    return Measured(span, aggs, _curve_stats(curves))


def summarize(store: Store, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's summary (data.analytics_summary) as (table, columns) batches: every
    grouping and the latency, measured from the journal. `Store.summarize_run` writes it."""
    prints = (summaries.fingerprint(store, run_id),      # first: rows appended meanwhile
              summaries.tables_fingerprint(store))         # make the summary stale
    span = store.rows(sql.SPAN, {"run": run_id})[0]
    measured = {g: measure(store, run_id, g, span) for g in ("run", *GROUPINGS)}
    return summaries.columns(run_id, measured, _latency_rows(store, run_id), prints,
                             measured["run"].span_ns, time.time_ns(), code_version())


def run_metrics(store: Store, run_id: str, *, periods_per_year: float | None = None
                ) -> GroupMetrics:
    """`analyze(store, run_id)`'s one result: the whole run."""
    return analyze(store, run_id, periods_per_year=periods_per_year)[0]


def equity_curves(store: Store, run_id: str, by: str | None = None) -> list[EquityCurve]:
    """The equity curves `analyze` measures (see the module docstring), sorted by key."""
    grouping = _grouping(by)
    _check_run(store, run_id)
    with _sources(store, run_id, grouping) as sources:
        return _curves(store, run_id, grouping, sources)


def latency(store: Store, run_id: str, *, account: str | None = None,
            summary: bool = True) -> list[LatencyStats]:
    """Per hop of the run's `latency` table: count, mean, p50, p90, p99, max (ns); with
    `account`, of that account's samples only (schema v5 journals it). The whole run's
    come from its summary while that is current (unless `summary=False`)."""
    _check_run(store, run_id)
    rows = summaries.load_latency(store, run_id) if summary and account is None else None
    if rows is None:
        rows = _latency_rows(store, run_id, account)
    return [LatencyStats(hop, int(n), float(mean), float(p50), float(p90), float(p99),
                         int(top)) for hop, n, mean, p50, p90, p99, top in rows]


def _latency_rows(store: Store, run_id: str, account: str | None = None
                  ) -> list[tuple[Any, ...]]:
    text, params = sql.LATENCY, {"run": run_id}
    if account is not None:
        text, params = sql.ACCOUNT_LATENCY, {"run": run_id, "account": account}
    return [(hop, int(n), float(mean), float(q[0]), float(q[1]), float(q[2]), int(top))
            for hop, n, mean, q, top in store.rows(text, params)]


def periods_per_year(ts_ns: np.ndarray) -> float:
    """The observed sampling rate of a curve: (n - 1) samples over its span, per year of
    365.25 days; NaN for fewer than two samples or a zero span."""
    if len(ts_ns) < 2 or ts_ns[-1] <= ts_ns[0]:
        return math.nan
    return (len(ts_ns) - 1) / ((int(ts_ns[-1]) - int(ts_ns[0])) / YEAR_NS)


# --- internals --------------------------------------------------------------------------

def _grouping(by: str | None) -> str:
    if by is None:
        return "run"
    if by not in GROUPINGS:
        raise UnknownName("grouping", str(by), GROUPINGS)
    return by


def _check_run(store: Store, run_id: str) -> None:
    if store.rows(sql.RUN_EXISTS, {"run": run_id})[0][0]:
        return
    known = [r[0] for r in store.rows(sql.RUNS, {"limit": _SHOWN_RUNS})]
    total = store.rows(sql.RUN_COUNT)[0][0]
    kind = "run" if total <= _SHOWN_RUNS else f"run (the {_SHOWN_RUNS} latest of {total} shown)"
    raise UnknownName(kind, run_id, known)


def _params(text: str, **values: Any) -> dict[str, Any]:
    """The named parameters `text` uses (DuckDB refuses unused ones)."""
    return {name: v for name, v in values.items() if f"${name}" in text}


def _key(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@contextmanager
def _sources(store: Store, run_id: str, grouping: str) -> Iterator[str]:
    """The SQL of the CTEs every metric reads. Grouping by strategy reads the journaled
    strategy_id of fills and trades when every row of the run has one; otherwise it
    first materialises the attribution in a temporary table (one pass over the fills),
    dropped after."""
    if grouping != "strategy":
        yield sql.sources(grouping)
        return
    if not store.rows(sql.UNJOURNALED, {"run": run_id})[0][0]:
        yield sql.sources(grouping, journaled=True)      # schema v3: journaled strategies
        return
    table = f"phalanx_attributed_{uuid.uuid4().hex[:12]}"
    store.rows(sql.attribute(table), {"run": run_id})
    try:
        yield sql.sources(grouping, table)
    finally:
        store.rows(f"DROP TABLE IF EXISTS {table}")


@dataclass(frozen=True, slots=True)
class _Trips:
    """The run's round trips (analytics_sql.TRADE_ROWS), fetched once per analysis: key
    code, entry and exit time (NULL: the int64 minimum and maximum) and net P&L."""

    code: np.ndarray
    entry: np.ndarray
    exit: np.ndarray
    net: np.ndarray


_PNL_CURVES = ("strategy", "symbol")      # curves of realised P&L on the run's grid
_NEVER = np.iinfo(np.int64).max            # a NULL exit: after every time
_EVER = np.iinfo(np.int64).min             # a NULL entry: before every time


def _trade_rows(store: Store, run_id: str, sources: str, keys: list[str], *,
                coded: bool = True, net: bool = True) -> _Trips:
    """The round trips of `keys` (see _Trips); not `coded`: one key, every code 0; without
    `net`, net P&L is not read (empty)."""
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return _Trips(empty, empty, empty, np.zeros(0, dtype=np.float64))
    text = sql.trade_rows(sources, coded=coded, net=net)
    cols = store.query(text, _params(text, run=run_id, keys=keys))
    entry = _filled(cols["entry_ts_ns"], np.int64, _EVER)
    code = (np.ascontiguousarray(np.ma.getdata(cols["code"]), dtype=np.int64) if coded
            else np.zeros(len(entry), dtype=np.int64))
    return _Trips(code, entry, _filled(cols["exit_ts_ns"], np.int64, _NEVER),
                  _filled(cols["net"], np.float64, np.nan) if net
                  else np.zeros(0, dtype=np.float64))


def _filled(column: np.ndarray, dtype: type, missing: Any) -> np.ndarray:
    """`column` as a contiguous array of `dtype`, NULLs (masked) as `missing`."""
    if isinstance(column, np.ma.MaskedArray):
        column = np.ma.filled(column.astype(dtype), missing)
    return np.ascontiguousarray(column, dtype=dtype)


def _exposure(trips: _Trips, open_from: np.ndarray, n_keys: int, start: int | None,
              end: int | None) -> np.ndarray:
    """Per key, the time in [start, end] with a position of it open (ns): the round trips
    over [entry, exit) and, from `open_from` (analytics_sql.AGGREGATES; masked: none),
    the positions still open at the end, clipped to the span."""
    if not n_keys or start is None or end is None:
        return np.zeros(n_keys, dtype=np.int64)
    has_open = ~np.ma.getmaskarray(open_from)
    open_s = np.maximum(np.ma.getdata(open_from)[has_open].astype(np.int64), start)
    code = np.concatenate([trips.code, np.flatnonzero(has_open).astype(np.int64)])
    s = np.concatenate([np.maximum(trips.entry, start), open_s])
    e = np.concatenate([np.minimum(trips.exit, end), np.full(len(open_s), end, np.int64)])
    return covered_ns(code, s, e, n_keys)


def _curves(store: Store, run_id: str, grouping: str, sources: str,
            fetched: tuple[list[str], _Trips] | None = None) -> list[EquityCurve]:
    """The grouping's curves; `fetched`: the keys and round trips when already read."""
    if grouping in _PNL_CURVES:
        return _group_curves(store, run_id, grouping, sources, fetched)
    text = sql.RUN_CURVE if grouping == "run" else sql.ACCOUNT_CURVES
    cols = store.query(text, _params(text, run=run_id))
    return [EquityCurve(grouping, key, ts, equity)
            for key, ts, equity in _segments(cols["key"], cols["ts_ns"], cols["equity"])]


def _group_curves(store: Store, run_id: str, grouping: str, sources: str,
                  fetched: tuple[list[str], _Trips] | None) -> list[EquityCurve]:
    """Base + cumulative net P&L on the run's grid (see analytics_sql.GRID), for each key
    with round trips."""
    grid_cols = store.query(sql.GRID, {"run": run_id})
    grid = np.ascontiguousarray(np.ma.getdata(grid_cols["ts_ns"]), dtype=np.int64)
    if not len(grid):
        return []
    base = float(grid_cols["base"][0])
    if fetched is None:
        text = sql.group_keys(sources)
        keys = [str(k) for k in store.query(text, _params(text, run=run_id))["key"].tolist()]
        fetched = keys, _trade_rows(store, run_id, sources, keys)
    keys, trips = fetched
    steps = grid_steps_nb(trips.code, trips.exit, trips.net, grid, len(keys))
    traded = np.bincount(trips.code, minlength=len(keys)) > 0
    return [EquityCurve(grouping, _key(key), grid, base + np.cumsum(step))
            for key, step, has in zip(keys, steps, traded, strict=True) if has]


def _segments(keys: np.ndarray, ts: np.ndarray, values: np.ndarray
              ) -> Iterator[tuple[str | None, np.ndarray, np.ndarray]]:
    """(key, ts_ns, values) per run of equal keys in key-sorted columns; NULL times -1,
    NULL values NaN."""
    keys = np.asarray(keys, dtype=object)
    ts = np.ma.filled(np.ma.asarray(ts).astype(np.int64), -1)
    values = np.ma.filled(np.ma.asarray(values).astype(np.float64), np.nan)
    cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b > a:
            yield _key(keys[a]), ts[a:b], values[a:b]


def _by_key(cols: dict[str, np.ndarray]) -> dict[str | None, dict[str, Any]]:
    names = list(cols)
    return {_key(row[0]): dict(zip(names, row, strict=True))
            for row in zip(*(cols[n].tolist() for n in names), strict=True)}


def _curve_stats(curves: list[EquityCurve]) -> dict[str | None, CurveFigures]:
    """Figures of each curve, keyed by its key, the sampling rate inferred."""
    if not curves:
        return {}
    sizes = np.array([len(c.ts_ns) for c in curves], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ts = np.concatenate([c.ts_ns for c in curves]).astype(np.int64)
    equity = np.concatenate([c.equity for c in curves]).astype(np.float64)
    mean_r, std_r, down_r, max_dd, dd_ns, _ = curve_stats_nb(offsets, ts, equity)
    out = {}
    for k, c in enumerate(curves):
        n = len(c.equity)
        out[c.key] = CurveFigures(
            n, float(c.equity[0]) if n else math.nan, float(c.equity[-1]) if n else math.nan,
            float(c.equity.mean()) if n else math.nan, float(mean_r[k]), float(std_r[k]),
            float(down_r[k]), float(max_dd[k]), int(dd_ns[k]) if dd_ns[k] >= 0 else None,
            periods_per_year(c.ts_ns))
    return out


def _with_ppy(figures: CurveFigures | None, ppy: float | None) -> CurveFigures | None:
    """The figures with a given sampling rate in place of the inferred one."""
    if figures is None or ppy is None:
        return figures
    return dataclasses.replace(figures, ppy=float(ppy))


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 or either is NaN (a ratio to zero risk)."""
    return num / den if den > 0 and not math.isnan(num) else math.nan


def _annualised(growth: float, years: float) -> float:
    """growth ** (1 / years) - 1; inf when that overflows (a big gain over a short span)."""
    if not years > 0 or math.isnan(growth):
        return math.nan
    try:
        return growth ** (1.0 / years) - 1.0
    except OverflowError:
        return math.inf


def _metrics(by: str, key: str | None, agg: dict[str, Any] | None,
             curve: CurveFigures | None, span_ns: int) -> GroupMetrics:
    agg = agg or {"trades": 0, "wins": 0, "losses": 0, "gross_pnl": 0.0, "fees": 0.0,
                  "win_sum": 0.0, "loss_sum": 0.0, "fills": 0, "fill_fees": 0.0,
                  "notional": 0.0, "exposed_ns": 0}
    curve = curve or CurveFigures(0, *[math.nan] * 7, None, math.nan)
    n, wins, losses = int(agg["trades"]), int(agg["wins"]), int(agg["losses"])
    gross, fees = float(agg["gross_pnl"]), float(agg["fees"])
    win_sum, loss_sum = float(agg["win_sum"]), float(agg["loss_sum"])
    if losses:
        profit_factor = win_sum / -loss_sum
    else:
        profit_factor = math.inf if wins else math.nan
    ppy = curve.ppy
    root = math.sqrt(ppy) if ppy > 0 else math.nan
    positive = not math.isnan(curve.max_dd)      # a curve of positive samples only
    growth = curve.end / curve.start if positive else math.nan
    annual = _annualised(growth, (curve.samples - 1) / ppy if ppy > 0 else math.nan)
    return GroupMetrics(
        by=by, key=key, trades=n, wins=wins, losses=losses,
        win_rate=wins / n if n else math.nan, gross_pnl=gross, fees=fees,
        net_pnl=gross - fees, profit_factor=profit_factor,
        expectancy=(gross - fees) / n if n else math.nan,
        avg_win=win_sum / wins if wins else math.nan,
        avg_loss=loss_sum / losses if losses else math.nan,
        fills=int(agg["fills"]), fill_fees=float(agg["fill_fees"]),
        traded_notional=float(agg["notional"]),
        turnover=_ratio(float(agg["notional"]), curve.mean),
        exposure=int(agg["exposed_ns"]) / span_ns if span_ns > 0 else math.nan,
        samples=curve.samples, start_equity=curve.start, end_equity=curve.end,
        avg_equity=curve.mean, total_return=growth - 1.0, annual_return=annual,
        volatility=curve.std_r * root, sharpe=_ratio(curve.mean_r, curve.std_r) * root,
        sortino=_ratio(curve.mean_r, curve.down_r) * root,
        calmar=_ratio(annual, curve.max_dd), max_drawdown=curve.max_dd,
        max_drawdown_ns=curve.dd_ns, periods_per_year=ppy)
