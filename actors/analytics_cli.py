"""`phalanx analytics`: a run's performance metrics and latency percentiles, from the store."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Any

import orjson

from actors.table import render
from data.config import DEFAULT_PATH

# data.analytics (duckdb, numba) is imported by the handler: every `phalanx` command
# builds this parser.

EXAMPLES = """examples:
  phalanx analytics paper-20240601-093000-1a2b3c
  phalanx analytics RUN --by strategy
  phalanx analytics RUN --by account --periods-per-year 252 --json
  phalanx analytics RUN --db sweep.duckdb --by symbol

conventions (docs/analytics.md): returns per equity sample, risk-free 0, Sharpe and Sortino
annualised by the observed sampling rate unless --periods-per-year is given; Calmar =
annual return / max drawdown; profit factor = wins / |losses| (inf: no losses); a ratio
whose denominator is 0 is NaN (null in JSON).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("run", metavar="RUN", help="the run ID (see `phalanx data info`)")
    parser.add_argument("--db", default=DEFAULT_PATH,
                        help="the store file (default %(default)s in the working directory)")
    parser.add_argument("--by", help="one row per account, strategy or symbol "
                                     "(default: the whole run)")
    parser.add_argument("--periods-per-year", type=float, metavar="P",
                        help="annualise with P periods a year (default: inferred from "
                             "the equity samples' spacing)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from data.analytics import analyze, latency
    from data.store import Store

    with Store.open(args.db, read_only=True) as store:
        args.run = store.resolve_run(args.run)
        groups = analyze(store, args.run, args.by, periods_per_year=args.periods_per_year)
        hops = latency(store, args.run)
        db = str(store.path)
    if args.json:
        doc = {"run_id": args.run, "db": db, "by": args.by or "run",
               "groups": [_plain(dataclasses.asdict(g)) for g in groups],
               "latency": [_plain(dataclasses.asdict(h)) for h in hops]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(render_report(args.run, args.by or "run", groups, hops))
    return 0


def render_report(run_id: str, by: str, groups: list[Any], hops: list[Any]) -> str:
    """The three tables `phalanx analytics` prints: round trips, equity, latency."""
    key = by if by != "run" else "run"
    trades = render(
        [key, "trades", "win %", "PF", "expectancy", "avg win", "avg loss", "gross",
         "fees", "net P&L", "fills", "notional"],
        [[_label(g.key), g.trades, 100 * g.win_rate, g.profit_factor, g.expectancy,
          g.avg_win, g.avg_loss, g.gross_pnl, g.fees, g.net_pnl, g.fills,
          g.traded_notional] for g in groups],
        title=f"run {run_id}: round trips (net of fees)")
    equity = render(
        [key, "samples", "return %", "annual %", "vol %", "Sharpe", "Sortino", "Calmar",
         "max DD %", "DD duration", "exposure %", "turnover"],
        [[_label(g.key), g.samples, 100 * g.total_return, 100 * g.annual_return,
          100 * g.volatility, g.sharpe, g.sortino, g.calmar, 100 * g.max_drawdown,
          _duration(g.max_drawdown_ns), 100 * g.exposure, g.turnover] for g in groups],
        title="equity curve" + (f" ({groups[0].periods_per_year:,.1f} periods a year)"
                                if len(groups) == 1 else ""))
    lat = render(["hop", "count", "mean ns", "p50 ns", "p90 ns", "p99 ns", "max ns"],
                 [[h.hop, h.count, h.mean, h.p50, h.p90, h.p99, h.max] for h in hops],
                 title="latency")
    return "\n\n".join([trades, equity, lat])


def _label(key: str | None) -> str:
    return "(none)" if key is None else key


def _duration(ns: int | None) -> str:
    """3d 04:05:06, 00:00:01.5, or '-' when undefined."""
    if ns is None:
        return "-"
    days, rest = divmod(ns, 86_400 * 10**9)
    hours, rest = divmod(rest, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 1e9:06.3f}".rstrip("0").rstrip(".")
    clock = f"{hours:02d}:{minutes:02d}:{seconds.zfill(2)}"
    return f"{days}d {clock}" if days else clock


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: NaN becomes null, infinities the strings "inf"/"-inf"."""
    out = {}
    for name, value in doc.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        out[name] = value
    return out
