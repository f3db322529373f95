"""`phalanx report RUN`: the run's HTML report, and its PDF with --pdf."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """examples:
  phalanx report paper-20261122-030828-e28db6              # writes report-<run>.html
  phalanx report RUN --db runs.duckdb --out run.html --pdf  # also run.pdf (needs chromium)
  phalanx report latest                                     # the most recent run
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("run", help="run ID, or 'latest' for the most recent run")
    parser.add_argument("--db", default="phalanx.duckdb", metavar="FILE",
                        help="DuckDB file holding the run (default %(default)s)")
    parser.add_argument("--out", metavar="FILE.html",
                        help="where to write the HTML (default report-<run>.html)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print a PDF beside the HTML with headless Chromium")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from data.report import render_report, write_pdf
    from data.store import Store
    from engine.errors import InvalidInput

    if not Path(args.db).exists():
        raise InvalidInput("--db", args.db, "no such file")
    with Store.open(args.db, read_only=True) as store:
        run_id = store.resolve_run(args.run)
        page = render_report(store, run_id)
    out = Path(args.out or f"report-{run_id}.html")
    out.write_text(page, encoding="utf-8")
    print(f"report: {out}")
    if args.pdf:
        pdf = write_pdf(out, out.with_suffix(".pdf"))
        print(f"pdf: {pdf}")
    sys.stdout.flush()
    return 0
