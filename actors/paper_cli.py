"""`phalanx paper`: the paper-trading session on the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from actors.cli_args import parse_params
from actors.paper import DEFAULT_RISK, PaperConfig, run_paper, summarize
from actors.table import render
from risk.config import RiskConfig
from strategies import strategy_names

EXAMPLES = """examples:
  phalanx paper                                  # 3 accounts, 2 symbols, 390 one-minute bars
  phalanx paper --accounts 5 --minutes 120 --seed 11
  phalanx paper --strategy breakout --param window=30 --json
  phalanx paper --fault-rate 0.05                # inject broker timeouts and errors
  phalanx paper --risk risk.toml                 # risk limits from a file (see README)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    d = PaperConfig()
    parser.add_argument("--accounts", type=int, default=d.accounts,
                        help=f"number of accounts (default {d.accounts})")
    parser.add_argument("--symbols", default=",".join(d.symbols),
                        help="comma-separated synthetic symbols (default %(default)s)")
    parser.add_argument("--minutes", type=int, default=d.minutes,
                        help=f"session length in minutes of market time (default {d.minutes})")
    parser.add_argument("--bar-seconds", type=int, default=d.bar_seconds,
                        help=f"bar length the strategy sees (default {d.bar_seconds})")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help=f"seed of prices and faults (default {d.seed})")
    parser.add_argument("--cash", type=float, default=d.cash,
                        help=f"starting cash per account (default {d.cash:,.0f})")
    parser.add_argument("--strategy", default=d.strategy,
                        help=f"one of {', '.join(strategy_names())} (default {d.strategy})")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy parameter, repeatable (default fast=5 slow=20 "
                             "for sma_cross)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="probability per broker call of an injected fault (default 0)")
    parser.add_argument("--risk", metavar="FILE",
                        help="risk limits, TOML or JSON (default: built-in paper limits)")
    parser.add_argument("--db", default=d.db, metavar="FILE",
                        help="DuckDB file that keeps the run's journal (default %(default)s)")
    parser.add_argument("--no-db", action="store_true", help="keep no journal")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)


def _params(pairs: list[str], strategy: str) -> dict[str, str]:
    if not pairs:
        return dict(PaperConfig().params) if strategy == "sma_cross" else {}
    return parse_params(pairs)


def handle(args: argparse.Namespace) -> int:
    cfg = PaperConfig(accounts=args.accounts,
                      symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
                      minutes=args.minutes, bar_seconds=args.bar_seconds, seed=args.seed,
                      cash=args.cash, strategy=args.strategy,
                      params=_params(args.param, args.strategy), fault_rate=args.fault_rate,
                      risk=RiskConfig.load(args.risk) if args.risk else DEFAULT_RISK,
                      db=None if args.no_db else args.db)

    def progress(share: float) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  market time {share:6.1%}", end="", file=sys.stderr, flush=True)

    summary = summarize(asyncio.run(run_paper(cfg, progress)))
    if sys.stderr.isatty() and not args.json:
        print("\r", end="", file=sys.stderr)
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"paper session: {cfg.strategy} {cfg.params} on {', '.join(cfg.symbols)}, "
          f"{cfg.minutes} min, seed {cfg.seed}: {summary['quotes']:,} quotes, "
          f"{summary['bars']} bars, {summary['signals']} signals")
    if summary["run_id"]:
        print(f"journal: run {summary['run_id']} in {cfg.db} "
              f"(phalanx data info --db {cfg.db})")
    print()
    cols = ["account", "sizing", "equity", "cash", "realized", "unrealized", "fees",
            "return_pct", "orders", "filled", "denied", "trades", "win_rate_pct", "risk_state"]
    print(render(cols, [[r[c] for c in cols] for r in summary["accounts"]], "accounts"))
    print()
    pcols = ["account", "symbol", "quantity", "avg_price", "mark", "unrealized"]
    print(render(pcols, [[p[c] for c in pcols] for p in summary["positions"]],
                 "open positions"))
    if summary["risk_denials"]:
        print("\ndenials: " + ", ".join(f"{k} {v}" for k, v in summary["risk_denials"].items()))
    for line in summary["risk_events"]:
        print(f"risk: {line}")
    for failure in summary["strategy_failures"]:
        print(f"\nstrategy stopped: {failure}")
    return 0
