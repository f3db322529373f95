"""`phalanx sweep`: one strategy over every set of a parameter grid, in batches on Ray."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from actors import backtest_cli
from actors.backtest import BacktestConfig
from actors.backtest_data import BarSeries
from actors.sweep import InProcess, Sweep, choose_path
from actors.sweep_grid import expand, parse_grid, scalar
from actors.sweep_report import RANKABLE, ProgressBar, best, check_metric, write_heatmap
from actors.sweep_run import SweepSpec
from actors.sweep_walk import render_steps, walk_forward, windows
from actors.table import render
from data.store import Store
from engine.errors import ConfigError

EXAMPLES = """examples:
  phalanx sweep --data ../shared/data/orcl-1995-2014.txt --format yahoo \\
      --strategy sma_cross --grid fast=2:20:2 --grid slow=30:120:10
  phalanx sweep --data btc.csv --format ohlcv --grid fast=5,10,20 --grid slow=50:200:50 \\
      --fee-bps 5 --metric sharpe --top 5 --json
  phalanx sweep ... --resume sweep-20260101-120000-ab12cd   # same arguments: runs the rest
  phalanx sweep ... --ray-address ray://head:10001          # on a cluster

grid: NAME=START:STOP:STEP (stop included when on the grid) or NAME=A,B,C; the sets are
the product of the axes. Sets that the strategy refuses (fast >= slow) are recorded as
failed. Each Ray task runs a batch of sets; every finished batch lands in --db at once.
"""

SUMMARY_KEYS = ("final_value", "total_return", "sharpe", "max_drawdown", "closed_trades",
                "win_rate")


def configure(parser: argparse.ArgumentParser) -> None:
    backtest_cli.configure(parser, what="sweep")   # --data, --format, --strategy, --param ...
    parser.epilog = EXAMPLES
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES",
                        help="a parameter axis, START:STOP:STEP or A,B,C (repeatable)")
    parser.add_argument("--metric", default="final_value", choices=RANKABLE,
                        help="what ranks the sets (default %(default)s)")
    parser.add_argument("--top", type=int, default=10, help="best sets shown (default 10)")
    parser.add_argument("--resume", metavar="SWEEP_ID",
                        help="finish a recorded sweep: sets already in --db are not rerun")
    parser.add_argument("--path", choices=("auto", "fast", "event"), default="auto",
                        help="fast (Numba) or event-driven; auto picks fast when it applies")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="an existing Ray cluster (default: start a local Ray)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                        help="CPUs of the local Ray (default: all, %(default)s)")
    parser.add_argument("--batch", type=int, help="sets per task (default: from the grid "
                                                  "size and the cluster's CPUs)")
    parser.add_argument("--dashboard", action="store_true", help="start the Ray dashboard")
    parser.add_argument("--no-ray", action="store_true", help="run in this process")
    parser.add_argument("--heatmap", metavar="FILE.svg",
                        help="heatmap path (default: <sweep_id>-<metric>.svg beside --db)")
    parser.add_argument("--walk-forward", type=int, metavar="N",
                        help="cut the bars into N windows; fit the grid on each window and "
                             "run its best set on the next")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    check_metric(args.metric)
    axes = parse_grid(args.grid)
    data = backtest_cli.load_from_args(args)
    cfg = backtest_cli.config_from_args(args, ticks=not isinstance(data, BarSeries))
    fixed = {k: scalar(v) for k, v in cfg.params.items()}
    _check_keys(cfg.strategy, [*fixed, *axes])
    sets = expand(axes, fixed)
    path, fast, why = choose_path(cfg, data, sets, args.path)
    spec = SweepSpec(cfg.strategy, dataclasses.replace(cfg, db=None), path, fast)
    config = {"strategy": cfg.strategy,
              "data": str(Path(args.data).resolve()) if args.data else data.source,
              "format": args.format, "symbol": data.symbol, "rows": len(data),
              "span_ns": [int(data.ts_ns[0]), int(data.ts_ns[-1])] if len(data) else None,
              "grid": axes, "fixed": fixed,
              "settings": _settings(cfg)}
    if args.walk_forward is not None:
        return _walk(args, spec, data, sets, config, list(axes), why)
    with Store.open(args.db) as store:        # a locked file or a bad --resume fails first
        sweep = Sweep(store, spec, data, sets, config)
        if args.resume:
            sweep.check_resume(args.resume)
        executor, ray_s = _executor(args)
        bar = None
        try:
            sweep_id, done = sweep.start(args.resume)
            bar = ProgressBar(len(sets), done=len(done))       # draws on a terminal only
            try:
                outcome = sweep.run(executor, started=(sweep_id, done), progress=bar,
                                    batch=args.batch)
            except KeyboardInterrupt:
                bar.close()
                print(f"phalanx sweep: {sweep_id} interrupted; the finished batches are in "
                      f"{args.db}; finish it with the same arguments and --resume {sweep_id}",
                      file=sys.stderr)
                raise
        finally:
            if bar is not None:
                bar.close()
            if hasattr(executor, "close"):
                executor.close()
    heatmap = _heatmap(args, outcome, axes, cfg.strategy, data.symbol)
    top = best(outcome.results, args.metric, args.top)
    doc = {"sweep_id": outcome.sweep_id, "strategy": cfg.strategy, "symbol": data.symbol,
           "path": outcome.path, "path_reason": why, "status": outcome.status,
           "sets": outcome.sets, "ran": outcome.ran, "skipped": outcome.skipped,
           "failed": sum(r["status"] == "failed" for r in outcome.results),
           "lost": sum(r["status"] == "lost" for r in outcome.results),
           "batches": outcome.batches, "batch_size": outcome.batch_size,
           "elapsed_s": outcome.elapsed_s, "ray_start_s": ray_s, "metric": args.metric,
           "grid": axes, "db": str(Path(args.db).resolve()), "heatmap": heatmap,
           "best": [_row(r) for r in top], "results": [_row(r) for r in outcome.results]}
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(_text(doc, list(axes), args.db))
    return 0


def _check_keys(strategy: str, keys: list[str]) -> None:
    """An unknown strategy or parameter name is the command's error, not every set's."""
    from strategies.registry import lookup
    known = [f.name for f in dataclasses.fields(lookup(strategy)[1]) if f.init]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ConfigError("--grid/--param", f"{', '.join(unknown)}: not parameters of "
                                            f"{strategy}; known: {', '.join(known)}")


def _walk(args: argparse.Namespace, spec: SweepSpec, data: Any, sets: list, config: dict,
          names: list[str], why: str) -> int:
    if args.resume:
        raise ConfigError("--resume", "does not apply to --walk-forward (each fit window is "
                                      "a sweep of its own; resume those one by one)")
    windows(data, args.walk_forward)                  # bad N fails before Ray starts
    with Store.open(args.db) as store:
        executor, ray_s = _executor(args)
        bar = ProgressBar(len(sets) * (args.walk_forward - 1))
        try:
            steps = walk_forward(store, spec, data, sets, config, executor, args.walk_forward,
                                 args.metric, progress=bar, batch=args.batch)
        finally:
            bar.close()
            if hasattr(executor, "close"):
                executor.close()
    if args.json:
        doc = {"strategy": spec.strategy, "symbol": data.symbol, "path": spec.path,
               "path_reason": why, "metric": args.metric, "windows": args.walk_forward,
               "ray_start_s": ray_s, "db": str(Path(args.db).resolve()),
               "walk_forward": steps}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(f"walk-forward: {spec.strategy} on {data.symbol}, {len(sets):,} sets x "
              f"{args.walk_forward - 1} fit windows, path {spec.path} ({why})\n")
        print(render_steps(steps, names, args.metric))
        print(f"\nfits recorded in {args.db} as sweeps "
              f"{', '.join(s['fit_sweep_id'] for s in steps)}")
    return 0


def _fields(cfg: Any) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}


def _settings(cfg: Any) -> dict[str, Any]:
    """The account and fill settings as plain data (what a resume must match)."""
    s = {k: v for k, v in _fields(cfg).items() if k not in ("strategy", "params", "db")}
    s["sizing"] = {"mode": cfg.sizing.mode.value, "quantity": cfg.sizing.quantity,
                   "notional": cfg.sizing.notional, "percent": cfg.sizing.percent}
    s["fill"], s["exits"] = cfg.fill.value, _fields(cfg.exits)
    s["risk"] = "default" if cfg.risk == BacktestConfig().risk else repr(cfg.risk)
    return s


def _executor(args: argparse.Namespace) -> tuple[Any, float | None]:
    if args.no_ray:
        return InProcess(), None
    from actors.sweep_ray import RayExecutor
    ex = RayExecutor(args.ray_address, num_cpus=args.cpus, dashboard=args.dashboard)
    if ex.dashboard_url:
        print(f"Ray dashboard: http://{ex.dashboard_url}", file=sys.stderr)
    return ex, ex.start_s


def _heatmap(args: argparse.Namespace, outcome: Any, axes: dict, strategy: str,
             symbol: str) -> str | None:
    if len(axes) != 2:
        return None
    path = Path(args.heatmap) if args.heatmap else \
        Path(args.db).resolve().parent / f"{outcome.sweep_id}-{args.metric}.svg"
    title = f"{strategy} on {symbol}: {args.metric} ({outcome.sweep_id})"
    written = write_heatmap(path, outcome.results, axes, args.metric, title)
    return str(written.resolve()) if written else None


def _row(r: dict[str, Any]) -> dict[str, Any]:
    """A result as printed: its parameters first, then status, error and the metrics."""
    return {**r["params"], **{k: v for k, v in r.items() if k != "params"}}


def _text(doc: dict[str, Any], names: list[str], db: str) -> str:
    ray_s = doc["ray_start_s"]
    where = "in process" if ray_s is None else f"on Ray (started in {ray_s:.1f} s)"
    lines = [f"sweep {doc['sweep_id']}: {doc['strategy']} on {doc['symbol']}, "
             f"{doc['sets']:,} sets ({doc['ran']:,} run, {doc['skipped']:,} already done), "
             f"{doc['batches']} batches of <= {doc['batch_size']}, {where}, "
             f"{doc['elapsed_s']:.2f} s",
             f"path: {doc['path']} ({doc['path_reason']})",
             f"status: {doc['status']}; {doc['failed']} failed, {doc['lost']} lost; results in "
             f"{db} (tables sweeps, sweep_results)", ""]
    keys = [*SUMMARY_KEYS, *([doc["metric"]] if doc["metric"] not in SUMMARY_KEYS else [])]
    rows = [[*(r.get(n) for n in names), *(r.get(k) for k in keys)] for r in doc["best"]]
    lines.append(render([*names, *keys], rows,
                        f"best {len(rows)} by {doc['metric']}"))
    bad = [r for r in doc["results"] if r["status"] != "ok"]
    if bad:
        lines += ["", f"{len(bad)} sets not ok, the first: "
                      f"{ {n: bad[0].get(n) for n in names} }: {bad[0]['error']}"]
    if doc["heatmap"]:
        lines += ["", f"heatmap: {doc['heatmap']}"]
    if doc["status"] != "finished":
        lines += ["", f"not finished: run it again with --resume {doc['sweep_id']}"]
    return "\n".join(lines)
