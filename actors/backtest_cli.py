"""`phalanx backtest`: one strategy over one file of bars or ticks, event by event."""

from __future__ import annotations

import argparse
import sys

import orjson

from actors.backtest import BacktestConfig, FillAt, run_backtest
from actors.backtest_data import FORMATS, BarSeries, TickSeries, load_data, load_from_store
from actors.cli_args import parse_params
from actors.table import render
from engine.errors import ConfigError
from engine.exits import ExitConfig
from engine.sizing import SizingConfig, SizingMode
from risk.config import RiskConfig
from strategies import strategy_names

EXAMPLES = """examples:
  phalanx backtest --data ../shared/data/orcl-1995-2014.txt --format yahoo \\
      --strategy sma_cross --param fast=10 --param slow=30
  phalanx backtest --data orcl.txt --format yahoo --param fast=10 --param slow=30 \\
      --lot-size 1 --json                     # whole shares
  phalanx backtest --data btc.csv --format ohlcv --fill close --fee-bps 5 \\
      --sizing percent --percent 50 --trailing-pct 2
  phalanx backtest --data 20131008_trade.zip --format lean-ticks --bar-seconds 60
  phalanx data import orcl.txt --format yahoo --symbol ORCL
  phalanx backtest --from-store bars --symbol ORCL --param fast=10 --param slow=30
  phalanx report latest                       # the backtest's HTML report

fill rules: next_open (bars, default): a signal of bar t trades at bar t+1's open;
close: at bar t's close; tick (lean-ticks, default there): at the first trade after the
bar. Sizing all-in is cash / (price x (1 + fee)), rounded down to --lot-size.
"""

_SIZINGS = [m.value for m in SizingMode]


def configure(parser: argparse.ArgumentParser, *, what: str = "run") -> None:
    """The backtest's options; `phalanx sweep` shares them (`what="sweep"`: its results
    always go to --db, so it has no --no-db)."""
    parser.epilog = EXAMPLES
    d = BacktestConfig()
    parser.add_argument("--data", metavar="FILE",
                        help="bars (CSV or Parquet) or LEAN trade ticks (.zip)")
    parser.add_argument("--format", choices=FORMATS,
                        help="how to read --data (as `phalanx data import`)")
    parser.add_argument("--from-store", choices=("bars", "ticks"),
                        help="instead of --data: the --symbol's bars or ticks in --db")
    parser.add_argument("--symbol", help="the symbol (default: from the file name)")
    parser.add_argument("--interval", help="bar length if it cannot be inferred, e.g. 1m")
    parser.add_argument("--strategy", default=d.strategy,
                        help=f"one of {', '.join(strategy_names())} (default {d.strategy})")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy parameter, repeatable")
    parser.add_argument("--cash", type=float, default=d.cash,
                        help=f"starting cash (default {d.cash:,.0f})")
    parser.add_argument("--fill", choices=[f.value for f in FillAt],
                        help="when signals trade (default next_open for bars, tick for ticks)")
    parser.add_argument("--sizing", default="all-in", choices=_SIZINGS,
                        help="how much each entry buys (default all-in)")
    parser.add_argument("--quantity", type=float, default=0.0,
                        help="units per entry for --sizing fixed")
    parser.add_argument("--notional", type=float, default=0.0,
                        help="money per entry for --sizing notional")
    parser.add_argument("--percent", type=float, default=10.0,
                        help="percent of equity per entry for --sizing percent (default 10)")
    parser.add_argument("--lot-size", type=float, default=d.lot_size, metavar="STEP",
                        help="quantity step; 1 = whole units (default fractional, 1e-8)")
    parser.add_argument("--fee-bps", type=float, default=0.0,
                        help="fee in basis points of each fill's notional (default 0)")
    parser.add_argument("--slippage-bps", type=float, default=0.0,
                        help="market orders fill this much worse (default 0)")
    parser.add_argument("--stop-loss-pct", type=float, help="protective stop, percent")
    parser.add_argument("--take-profit-pct", type=float, help="take profit, percent")
    parser.add_argument("--trailing-pct", type=float, help="trailing stop, percent")
    parser.add_argument("--max-holding-s", type=float, help="close positions after this")
    parser.add_argument("--allow-short", action="store_true",
                        help="let SHORT signals open short positions (default: go flat)")
    parser.add_argument("--bar-seconds", type=int, default=d.bar_seconds,
                        help="tick data: bar length the strategy sees (default 60)")
    parser.add_argument("--risk", metavar="FILE", help="risk limits, TOML or JSON "
                                                       "(default: no limits)")
    parser.add_argument("--db", default="phalanx.duckdb", metavar="FILE",
                        help=f"DuckDB file that keeps the {what} (default %(default)s)")
    if what == "run":
        parser.add_argument("--no-db", action="store_true", help="record nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)


def config_from_args(args: argparse.Namespace, ticks: bool) -> BacktestConfig:
    mode = SizingMode(args.sizing)
    if mode is SizingMode.FIXED_QUANTITY and args.quantity <= 0:
        raise ConfigError("--quantity", "must be > 0 with --sizing fixed")
    if mode is SizingMode.FIXED_NOTIONAL and args.notional <= 0:
        raise ConfigError("--notional", "must be > 0 with --sizing notional")
    fill = args.fill or (FillAt.TICK if ticks else FillAt.NEXT_OPEN)
    if (FillAt(fill) is FillAt.TICK) != ticks:
        raise ConfigError("--fill", f"{FillAt(fill).value} does not apply to "
                                    f"{'ticks' if ticks else 'bars'}")
    return BacktestConfig(
        strategy=args.strategy, params=parse_params(args.param), cash=args.cash, fill=fill,
        sizing=SizingConfig(mode, quantity=args.quantity, notional=args.notional,
                            percent=args.percent),
        lot_size=args.lot_size, fee_bps=args.fee_bps, slippage_bps=args.slippage_bps,
        exits=ExitConfig(stop_loss_pct=args.stop_loss_pct,
                         take_profit_pct=args.take_profit_pct,
                         trailing_pct=args.trailing_pct, max_holding_s=args.max_holding_s),
        allow_short=args.allow_short, bar_seconds=args.bar_seconds,
        risk=RiskConfig.load(args.risk) if args.risk else BacktestConfig().risk,
        db=None if getattr(args, "no_db", False) else args.db)


def load_from_args(args: argparse.Namespace) -> BarSeries | TickSeries:
    if args.from_store:
        if args.data or args.format:
            raise ConfigError("--from-store", "reads --db; leave out --data and --format")
        if not args.symbol:
            raise ConfigError("--symbol", "is required with --from-store")
        return load_from_store(args.db, args.symbol, interval=args.interval,
                               ticks=args.from_store == "ticks")
    if not args.data or not args.format:
        raise ConfigError("--data", "give --data FILE --format FORMAT (or --from-store)")
    return load_data(args.data, args.format, args.symbol, interval=args.interval)


def handle(args: argparse.Namespace) -> int:
    from strategies.registry import create_strategy

    data = load_from_args(args)
    cfg = config_from_args(args, ticks=not isinstance(data, BarSeries))
    create_strategy(cfg.strategy, cfg.strategy, dict(cfg.params))   # bad params fail now
    tty = sys.stderr.isatty() and not args.json

    def progress(share: float) -> None:
        if tty:
            print(f"\r  backtest {share:6.1%}", end="", file=sys.stderr, flush=True)

    result = run_backtest(data, cfg, progress)
    if tty:
        print("\r", end="", file=sys.stderr)
    summary = result.summary()
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    bars = f"{summary['bars']:,} bars" + (f" from {summary['ticks']:,} ticks"
                                          if summary["ticks"] else "")
    print(f"backtest: {cfg.strategy} {dict(cfg.params)} on {data.symbol}, {bars}, "
          f"fill {cfg.fill.value}, {result.elapsed_s:.2f} s")
    if summary["run_id"]:
        print(f"run {summary['run_id']} in {cfg.db} (phalanx analytics {summary['run_id']} "
              f"--db {cfg.db}; phalanx report {summary['run_id']} --db {cfg.db})")
    print()
    keys = ["final_value", "cash", "position", "fills", "closed_trades", "open_trades",
            "win_rate", "fees", "signals", "denials"]
    print(render(["figure", "value"], [[k, summary[k]] for k in keys], "result"))
    if summary["strategy_failure"]:
        print(f"\nstrategy stopped: {summary['strategy_failure']}")
    return 0
