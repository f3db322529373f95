"""`phalanx bench`: the benchmark suites, each measuring its peer in the same run."""

from __future__ import annotations

import argparse
import sys

import orjson

from actors.table import render

EXAMPLES = """examples:
  phalanx bench kernels                    # table: numba / numpy / python ns per position
  phalanx bench kernels --json             # one JSON object with a "results" list
  phalanx bench kernels --sizes 1000,100000 --gate-accounts 200
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("suite", choices=["kernels"], help="which suite to run")
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="positions per kernel call, comma-separated (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed samples per figure; the minimum is reported (default 5)")
    parser.add_argument("--gate-accounts", type=int, default=1000,
                        help="fleet size for the risk-gate throughput (default 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)


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
    from benchmarks.gate import run_gate_bench
    from benchmarks.kernels import run_kernel_bench

    sizes = _sizes(args.sizes)
    if not args.json:
        print("compiling and timing kernels ...", file=sys.stderr, flush=True)
    report = run_kernel_bench(sizes=sizes, repeats=args.repeats)
    report["gate"] = run_gate_bench(accounts=args.gate_accounts)
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2
                                      | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
        return 0
    cols = ["kernel", "positions", "numba_ns_per_position", "numpy_ns_per_position",
            "python_ns_per_position"]
    rows = [[r[c] for c in cols] + [r["numpy_ns_per_position"] / r["numba_ns_per_position"],
                                    r["python_ns_per_position"] / r["numba_ns_per_position"]]
            for r in report["results"]]
    print(render(["kernel", "positions", "numba ns", "numpy ns", "python ns", "x numpy",
                  "x python"], rows, "kernels (ns per position, min of repeats)"))
    gate = report["gate"]
    print(f"\nrisk gate: {gate['decisions_per_s']:,.0f} decisions/s over "
          f"{gate['accounts']:,} accounts ({gate['ratio_vs_naive']:.1f}x the naive "
          f"fleet sum at {gate['naive_fleet_decisions_per_s']:,.0f}/s)")
    return 0
