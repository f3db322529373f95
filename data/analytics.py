"""Performance analytics of a run, from the history store: typed results, computed in SQL.

    with Store.open("phalanx.duckdb", read_only=True) as store:
        [run] = analyze(store, run_id)                    # the whole run
        per_symbol = analyze(store, run_id, by="symbol")  # also "account", "strategy"
        hops = latency(store, run_id)                     # p50/p90/p99/max per hop
        curves = equity_curves(store, run_id, by="account")

Aggregates over round trips and fills, the accounts' equity curves and the latency
quantiles are DuckDB SQL (`data.analytics_sql`), run through the Store API. The run's
curve is summed from its accounts' in one Numba pass, and the statistics that walk a
curve in order (drawdown depth and duration, return moments) are one Numba pass over
all curves at once (`curve_stats_nb`). The round trips are fetched once per analysis,
only the columns the grouping needs (key codes a byte each where they fit): the time in
the market, a union of intervals, is one Numba pass over them in order of start, and the
realised-P&L curves of strategies and symbols one pass placing each on the run's grid
(`data.analytics_kernels`).

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
from dataclasses import dataclass
from typing import Any

from data import analytics_measure as measuring
from data import analytics_sql as sql
from data import analytics_summary as summaries
from data.analytics_kernels import CurveStatus, curve_stats_nb
from data.analytics_measure import YEAR_NS, EquityCurve, measure, measure_all, periods_per_year
from data.analytics_summary import CurveFigures, Measured
from data.store import Store
from data.store_migrate import code_version
from engine.errors import InvalidInput, UnknownName

__all__ = ["GROUPINGS", "YEAR_NS", "CurveStatus", "EquityCurve", "GroupMetrics",
           "LatencyStats", "analyze", "analyze_all", "curve_stats_nb", "equity_curves",
           "latency", "measure", "measure_all", "periods_per_year", "run_metrics",
           "summarize"]

GROUPINGS = ("account", "strategy", "symbol")
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
    return _analyzed(store, run_id, (grouping,), periods_per_year, summary)[grouping]


def analyze_all(store: Store, run_id: str, *, periods_per_year: float | None = None,
                summary: bool = True) -> dict[str, list[GroupMetrics]]:
    """`analyze` for the whole run and every grouping at once: {"run": [...],
    "account": [...], "strategy": [...], "symbol": [...]}, the same results. Measured
    from the journal (no current summary, or `summary=False`), the groupings are
    measured together (`measure_all`), reading the journal once for all of them."""
    return _analyzed(store, run_id, ("run", *GROUPINGS), periods_per_year, summary)


def _analyzed(store: Store, run_id: str, groupings: tuple[str, ...], ppy: float | None,
              summary: bool) -> dict[str, list[GroupMetrics]]:
    """Each grouping's metrics: from the summary where current, the rest measured
    together from the journal."""
    if ppy is not None and not 0 < ppy < math.inf:
        raise InvalidInput("periods_per_year", ppy, "must be a positive number")
    _check_run(store, run_id)
    loaded = {g: summaries.load(store, run_id, g) if summary else None for g in groupings}
    missing = tuple(g for g, m in loaded.items() if m is None)
    measured = {**loaded, **(measure_all(store, run_id, missing) if missing else {})}
    return {g: _assembled(run_id, g, measured[g], ppy) for g in groupings}


def _assembled(run_id: str, grouping: str, measured: Measured, ppy: float | None
               ) -> list[GroupMetrics]:
    keys = {run_id} if grouping == "run" else set(measured.aggs) | set(measured.curves)
    return [_metrics(grouping, key, measured.aggs.get(key),
                     _with_ppy(measured.curves.get(key), ppy), measured.span_ns)
            for key in sorted(keys, key=lambda k: (k is None, k or ""))]


def summarize(store: Store, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's summary (data.analytics_summary) as (table, columns) batches: every
    grouping and the latency, measured from the journal. `Store.summarize_run` writes it."""
    prints = (summaries.fingerprint(store, run_id),      # first: rows appended meanwhile
              summaries.tables_fingerprint(store))         # make the summary stale
    span = store.rows(sql.SPAN, {"run": run_id})[0]
    measured = measure_all(store, run_id, ("run", *GROUPINGS), span)
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
    return measuring.curves(store, run_id, grouping)


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
