"""`phalanx bench`: the benchmark suites, each measuring its peer in the same run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from actors.table import render

EXAMPLES = """examples:
  phalanx bench kernels                    # table: numba / numpy / python ns per position
  phalanx bench kernels --json             # one JSON object with a "results" list
  phalanx bench kernels --sizes 1000,100000 --gate-accounts 200
  phalanx bench store                      # ingest ticks/s vs naive and pandas; analytics s
  phalanx bench store --json --ticks 1000000 --fills 1000000
  phalanx bench backtest                   # event path vs backtrader, fast path vs vectorbt
  phalanx bench backtest --json --repeats 5
"""
_REPEATS = {"kernels": 5, "store": 3, "backtest": 3}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("suite", choices=["kernels", "store", "backtest"],
                        help="which suite to run")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed samples per figure; the minimum is reported "
                             "(default: kernels 5, store 3, backtest 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    kernels = parser.add_argument_group("kernels")
    kernels.add_argument("--sizes", default="1000,100000,1000000",
                         help="positions per kernel call, comma-separated (default %(default)s)")
    kernels.add_argument("--gate-accounts", type=int, default=1000,
                         help="fleet size for the risk-gate throughput (default 1000)")
    store = parser.add_argument_group("store")
    store.add_argument("--ticks", type=_count, default=10_000_000,
                       help="synthetic ticks to ingest (default 10,000,000)")
    store.add_argument("--fills", type=_count, default=10_000_000,
                       help="fills in the run journal the analytics read (default 10,000,000)")
    store.add_argument("--naive-rows", type=_count, default=20_000,
                       help="rows the naive row-by-row peer inserts (default 20,000)")
    store.add_argument("--spy", default=None,
                       help="the LEAN SPY trade zip (default ../shared/data/20131008_trade.zip)")
    store.add_argument("--analytics", default="auto",
                       help="auto (data.analytics when present, else SQL aggregates), "
                            "data.analytics or sql")
    backtest = parser.add_argument_group("backtest")
    backtest.add_argument("--data", default=None, metavar="FILE",
                          help="OHLCV bars (default ../shared/data/btc-perp-20211231-"
                               "20220201_1m.csv)")
    parser.set_defaults(handler=handle)


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    from engine.errors import InvalidInput

    try:
        sizes = tuple(int(s.replace("_", "")) for s in text.split(",") if s.strip())
    except ValueError:
        raise InvalidInput("--sizes", text, "must be comma-separated integers") from None
    if not sizes or min(sizes) < 1:
        raise InvalidInput("--sizes", text, "must be integers >= 1")
    return sizes


def handle(args: argparse.Namespace) -> int:
    if args.repeats is None:
        args.repeats = _REPEATS[args.suite]
    return {"store": _store, "kernels": _kernels, "backtest": _backtest}[args.suite](args)


def _print_json(report: dict) -> int:
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2
                                  | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from benchmarks.gate import run_gate_bench
    from benchmarks.kernels import run_kernel_bench

    sizes = _sizes(args.sizes)
    if not args.json:
        print("compiling and timing kernels ...", file=sys.stderr, flush=True)
    report = run_kernel_bench(sizes=sizes, repeats=args.repeats)
    report["gate"] = run_gate_bench(accounts=args.gate_accounts)
    if args.json:
        return _print_json(report)
    cols = ["kernel", "positions", "numba_ns_per_position", "numpy_ns_per_position",
            "python_ns_per_position"]
    rows = [[r[c] for c in cols]
            + [r.get("numba_threads", 1),
               r.get("numba_1thread_ns_per_position", r["numba_ns_per_position"]),
               r["numpy_ns_per_position"] / r["numba_ns_per_position"],
               r["python_ns_per_position"] / r["numba_ns_per_position"]]
            for r in report["results"]]
    print(render(["kernel", "positions", "numba ns", "numpy ns", "python ns", "threads",
                  "1-thread ns", "x numpy", "x python"], rows,
                 "kernels (ns per position, min of repeats; numba ns is the engine's call)"))
    gate = report["gate"]
    print(f"\nrisk gate: {gate['decisions_per_s']:,.0f} decisions/s over "
          f"{gate['accounts']:,} accounts ({gate['ratio_vs_naive']:.1f}x the naive "
          f"fleet sum at {gate['naive_fleet_decisions_per_s']:,.0f}/s)")
    return 0


def _store(args: argparse.Namespace) -> int:
    from benchmarks.store import SPY_ZIP, run_store_bench
    from engine.errors import InvalidInput

    if args.spy is not None and not Path(args.spy).is_file():
        raise InvalidInput("--spy", args.spy, "no such file")
    if not args.json:
        print(f"ingesting {args.ticks:,} ticks and analysing {args.fills:,} fills ...",
              file=sys.stderr, flush=True)
    report = run_store_bench(args.ticks, args.fills, naive_rows=args.naive_rows,
                             repeats=args.repeats, spy=args.spy or SPY_ZIP,
                             analytics=args.analytics)
    if args.json:
        return _print_json(report)
    sizes = report["sizes"]
    rows = [["synthetic ingest (Store.insert)", sizes["ticks"], report["ingest_ticks_per_s"]],
            ["naive row-by-row INSERT", sizes["naive_rows"], report["naive_ticks_per_s"]],
            ["SPY parse + write (ours)", sizes["spy_ticks"], report["spy_ingest_ticks_per_s"]],
            ["SPY parse (read_lean_trades)", sizes["spy_ticks"],
             report["spy_parse_ticks_per_s"]],
            ["SPY write (import_parsed)", sizes["spy_ticks"], report["spy_write_ticks_per_s"]],
            ["SPY pandas read_csv + DuckDB", sizes["spy_ticks"], report["pandas_ticks_per_s"]]]
    print(render(["ingest", "ticks", "ticks/s"],
                 [[name, n if n is not None else "-", rate if rate is not None else "-"]
                  for name, n, rate in rows], "store ingest (best of repeats)"))
    parts = ", ".join(f"{k} {v:.2f}" for k, v in report["analytics_parts_s"].items())
    targets = report["targets"]
    print(f"\nanalytics ({report['analytics_source']}) over {sizes['fills']:,} fills: "
          f"{report['analytics_s']:.2f} s ({parts})")
    print(f"targets: ingest >= {targets['ingest_ticks_per_s']:,} ticks/s "
          f"({'met' if targets['ingest_met'] else 'not met'}), analytics < "
          f"{targets['analytics_s']:g} s ({'met' if targets['analytics_met'] else 'not met'})"
          " (reported, not asserted)")
    for note in report["notes"]:
        print(f"note: {note}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from benchmarks.backtest import ray_sweep_bench, run_backtest_bench
    from benchmarks.fast import DEFAULT_DATA
    from engine.errors import InvalidInput

    path = args.data or DEFAULT_DATA
    if not Path(path).is_file():
        raise InvalidInput("--data", str(path), "no such file")
    if not args.json:
        print("timing the event path, backtrader, the fast path and vectorbt ...",
              file=sys.stderr, flush=True)
    report = run_backtest_bench(path, repeats=args.repeats,
                                sweep=lambda: ray_sweep_bench(path, repeats=args.repeats))
    if args.json:
        return _print_json(report)
    rows = [["event path (phalanx backtest)", "bars/s", report["event_bars_per_s"],
             report["event_cold_bars_per_s"]],
            ["backtrader", "bars/s", report["backtrader_bars_per_s"],
             report["backtrader_cold_bars_per_s"]],
            ["fast path (100 pairs)", "bar-combos/s", report["fast_bar_combos_per_s"],
             report["fast_bar_combos_per_s_cold"]],
            ["vectorbt (100 pairs)", "bar-combos/s", report["vectorbt_bar_combos_per_s"],
             report["vectorbt_bar_combos_per_s_cold"]]]
    print(render(["what", "unit", "warm (best)", "cold"], rows,
                 f"backtests on {report['data']} ({report['bars']:,} bars)"))
    print(f"\n100-pair sweep on a local Ray ({report['sweep_cpus']} CPUs, fast path): "
          f"{report['sweep_wall_s']:.2f} s warm, {report['sweep_cold_s']:.2f} s cold "
          f"(workers import Numba), Ray start {report['ray_start_s']:.1f} s apart; "
          f"{report['sweep_vs_vectorbt']:.1f}x vectorbt's bar-combos/s")
    t = report["targets"]
    print(f"\nevent path {report['event_vs_backtrader']:.1f}x backtrader (target "
          f"{t['event_vs_backtrader']:g}x: {'met' if t['event_met'] else 'not met'}); "
          f"fast path {report['fast_vs_vectorbt']:.1f}x vectorbt (target "
          f"{t['fast_vs_vectorbt']:g}x: {'met' if t['fast_met'] else 'not met'}); "
          "reported, not asserted")
    return 0
