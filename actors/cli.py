"""The `phalanx` command line. Each subcommand lives in its own module and registers here.

    phalanx --help
    phalanx paper --help
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from engine.errors import PhalanxError

# (name, one-line help, module path of a `configure(parser) -> handler` function)
_COMMANDS: list[tuple[str, str, str]] = [
    ("paper", "run a paper-trading session in one process on the simulated broker",
     "actors.paper_cli"),
    ("backtest", "backtest one strategy over a file of bars or ticks, event by event",
     "actors.backtest_cli"),
    ("sweep", "backtest every parameter set of a grid, in batches on Ray", "actors.sweep_cli"),
    ("bench", "run a benchmark suite (kernels, store) with its peers in the same run",
     "actors.bench_cli"),
    ("data", "import market data into the DuckDB store, build bars, export", "actors.data_cli"),
    ("analytics", "a run's P&L, ratios, drawdown and latency", "actors.analytics_cli"),
    ("report", "write a run's HTML report (and PDF) from the DuckDB store",
     "actors.report_cli"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phalanx",
        description="Phalanx: one signal, many broker accounts, in formation.",
        epilog="example:\n  phalanx paper --accounts 3 --bars 390 --seed 7",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, module in _COMMANDS:
        configure: Callable[[argparse.ArgumentParser], None] = (
            importlib.import_module(module).configure)
        child = sub.add_parser(name, help=help_text, description=help_text,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        configure(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PhalanxError as exc:
        print(f"phalanx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"phalanx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
