"""`phalanx data`: import market data into the history store, build bars, export, inspect."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from data.config import DEFAULT_PATH
from data.importers import (
    FORMATS,
    ON_ERROR,
    Parsed,
    ohlcv_from_columns,
    parse_mapping,
    read_lean_trades,
    read_ohlcv,
    read_yahoo,
)
from data.schema import TABLES
from engine.errors import ConfigError, UnknownName

# data.store (and so duckdb, ~0.2 s to import) is imported by the handlers, not here:
# every `phalanx` command builds this parser.

EXAMPLES = """examples:
  phalanx data import ../shared/data/20131008_trade.zip --format lean-ticks --symbol SPY
  phalanx data import orcl.csv --format yahoo --symbol ORCL --adjust --json
  phalanx data import btc.csv --format ohlcv --symbol BTC --map close=Last --on-error skip
  phalanx data import bars.parquet --format ohlcv --symbol ES --interval 1m
  phalanx data bars --symbol SPY --interval 5m --save
  phalanx data export --table trades --out trades.parquet
  phalanx data export --query "SELECT * FROM bars WHERE symbol = 'SPY'" --out spy.parquet
  phalanx data info
"""
# the options each format accepts beyond the common ones (None = left at its default)
_OPTIONS = {"yahoo": {"adjust"},
            "ohlcv": {"adjust", "map", "interval", "tz", "label", "time_format"},
            "lean-ticks": set()}
_DEFAULTS = {"adjust": False, "map": None, "interval": None, "tz": None, "label": None,
             "time_format": None}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = _child(sub, "import", "import a file of bars or ticks into the store (one "
                                "transaction: all rows or none)")
    imp.add_argument("path", help="the file (.csv, .txt, .zip of one CSV; .parquet for ohlcv)")
    imp.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    imp.add_argument("--symbol", help="symbol to store the rows under (lean-ticks: default "
                                      "from the file name)")
    imp.add_argument("--on-error", default="fail", help="fail (default): a malformed row "
                     "aborts the import, nothing is written; skip: drop malformed rows")
    imp.add_argument("--adjust", action="store_true",
                     help="scale open/high/low/close by Adj Close / Close")
    imp.add_argument("--map", help="ohlcv: FIELD=COLUMN pairs, comma-separated, "
                                   "e.g. close=Last,volume=Qty")
    imp.add_argument("--interval", help="ohlcv: bar length, e.g. 1m, 1d (default: inferred)")
    imp.add_argument("--tz", help="ohlcv: zone of times without an offset (default UTC)")
    imp.add_argument("--label", help="ohlcv: open (default) or close: which end of the bar "
                                     "the file's times stamp")
    imp.add_argument("--time-format", help="ohlcv: strptime format, e.g. %%d/%%m/%%Y %%H:%%M")
    imp.add_argument("--keep", action="store_true", help="keep rows already stored for the "
                     "same symbol and time range (default: replace them)")
    imp.set_defaults(handler=handle_import)

    bars = _child(sub, "bars", "build time bars from stored trade ticks (in SQL)")
    bars.add_argument("--symbol", required=True)
    bars.add_argument("--interval", required=True, help="e.g. 1s, 5m, 1h")
    bars.add_argument("--save", action="store_true", help="store them in the bars table")
    bars.set_defaults(handler=handle_bars)

    exp = _child(sub, "export", "write a table or a query's result to a Parquet file")
    what = exp.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", help=f"one of {', '.join(TABLES)}")
    what.add_argument("--query", help="a SELECT statement")
    exp.add_argument("--out", required=True, help="the Parquet file to write")
    exp.set_defaults(handler=handle_export)

    info = _child(sub, "info", "schema version, tables and their row counts, symbols")
    info.set_defaults(handler=handle_info)


def _child(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    child = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    child.add_argument("--db", default=DEFAULT_PATH,
                       help="the store file (default %(default)s in the working directory)")
    child.add_argument("--json", action="store_true", help="print one JSON object")
    return child


def _utc(ns: int | None) -> str | None:
    return None if ns is None else f"{np.datetime64(int(ns), 'ns').astype('datetime64[ms]')}Z"


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> int:
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(text)
    return 0


def parse_file(args: argparse.Namespace) -> Parsed:
    """The importer call `phalanx data import` makes for these arguments."""
    if args.format not in FORMATS:
        raise UnknownName("format", args.format, FORMATS)
    if args.on_error not in ON_ERROR:
        raise ConfigError("--on-error", f"must be one of {', '.join(ON_ERROR)}, "
                                        f"not {args.on_error!r}")
    given = {k for k, default in _DEFAULTS.items() if getattr(args, k) != default}
    for name in sorted(given - _OPTIONS[args.format]):
        raise ConfigError(f"--{name.replace('_', '-')}",
                          f"does not apply to --format {args.format}")
    if args.symbol is None and args.format != "lean-ticks":
        raise ConfigError("--symbol", f"is required for --format {args.format}")
    if args.format == "lean-ticks":
        return read_lean_trades(args.path, args.symbol, on_error=args.on_error)
    if args.format == "yahoo":
        return read_yahoo(args.path, args.symbol, adjust=args.adjust, on_error=args.on_error)
    options = {"mapping": parse_mapping(args.map) if args.map else None,
               "interval": args.interval, "tz": args.tz or "UTC",
               "label": args.label or "open", "time_format": args.time_format,
               "adjust": args.adjust, "on_error": args.on_error}
    if Path(args.path).suffix.lower() == ".parquet":
        from data.store import read_parquet
        return ohlcv_from_columns(read_parquet(args.path), args.symbol, args.path, **options)
    return read_ohlcv(args.path, args.symbol, **options)


def handle_import(args: argparse.Namespace) -> int:
    from data.store import Store

    started = time.perf_counter()
    parsed = parse_file(args)                     # a bad file fails before the store opens
    with Store.open(args.db) as store:
        report = store.import_parsed(parsed, replace=not args.keep)
    seconds = time.perf_counter() - started
    doc = {"rows": report.rows, "table": report.table, "symbol": report.symbol,
           "first_ts": report.first_ts, "last_ts": report.last_ts,
           "bad_rows": report.bad_rows, "interval": report.interval,
           "replaced": report.replaced, "first_utc": _utc(report.first_ts),
           "last_utc": _utc(report.last_ts), "db": str(store.path),
           "seconds": round(seconds, 3),
           "bad_row_samples": [{"line": b.line, "reason": b.reason}
                               for b in parsed.bad_rows[:20]]}
    if not args.json:
        for bad in parsed.bad_rows[:10]:
            print(f"skipped {bad}", file=sys.stderr)
    bars = f" of {report.interval} bars" if report.interval else ""
    return _emit(args, doc, (
        f"imported {report.rows:,} rows{bars} for {report.symbol} into {report.table} "
        f"({doc['first_utc']} .. {doc['last_utc']}) in {seconds:.2f} s; "
        f"{report.bad_rows:,} bad rows skipped, {report.replaced:,} old rows replaced; "
        f"store {store.path}"))


def handle_bars(args: argparse.Namespace) -> int:
    from data.store import Store

    with Store.open(args.db, read_only=not args.save) as store:
        bars = store.bars_from_ticks(args.symbol, args.interval, save=args.save)
    n = len(bars["ts_ns"])
    first, last = (int(bars["ts_ns"][0]), int(bars["ts_ns"][-1])) if n else (None, None)
    doc = {"symbol": args.symbol, "interval": args.interval, "bars": n, "first_ts": first,
           "last_ts": last, "saved": args.save,
           "volume": float(bars["volume"].sum()) if n else 0.0,
           "trades": int(bars["trades"].sum()) if n else 0}
    return _emit(args, doc, f"{n:,} {args.interval} bars of {args.symbol} from "
                            f"{doc['trades']:,} ticks ({_utc(first)} .. {_utc(last)})"
                            + (", saved to bars" if args.save else ""))


def handle_export(args: argparse.Namespace) -> int:
    from data.store import Store

    with Store.open(args.db, read_only=True) as store:
        rows = store.export_parquet(args.out, table=args.table, query=args.query)
    doc = {"rows": rows, "out": str(Path(args.out).resolve()),
           "source": args.table or args.query}
    return _emit(args, doc, f"wrote {rows:,} rows to {doc['out']}")


def handle_info(args: argparse.Namespace) -> int:
    from data.store import Store

    with Store.open(args.db, read_only=True) as store:
        counts = {t: store.count(t) for t in TABLES}
        symbols = store.rows(
            "SELECT 'ticks', symbol, NULL, count(*), min(ts_ns), max(ts_ns) FROM ticks "
            "GROUP BY symbol UNION ALL SELECT 'bars', symbol, interval, count(*), min(ts_ns), "
            "max(ts_ns) FROM bars GROUP BY symbol, interval ORDER BY 1, 2, 3")
        version = store.schema_version
    data = [{"table": t, "symbol": s, "interval": i, "rows": n, "first_utc": _utc(a),
             "last_utc": _utc(b)} for t, s, i, n, a, b in symbols]
    doc = {"db": str(Path(args.db).resolve()), "schema_version": version, "tables": counts,
           "market_data": data}
    lines = [f"{doc['db']}: schema version {version}"]
    lines += [f"  {t:<15} {n:>12,}" for t, n in counts.items()]
    lines += [f"  {d['table']:<6} {d['symbol']:<10} {d['interval'] or '':<6} {d['rows']:>10,}"
              f"  {d['first_utc']} .. {d['last_utc']}" for d in data]
    return _emit(args, doc, "\n".join(lines))
