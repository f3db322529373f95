"""The HTML report of one run, and its PDF.

`render_report(store, run_id)` returns one self-contained HTML page: the run's header,
the headline metrics and the per-account, per-strategy and per-symbol tables (from
`data.analytics`), the equity curve and drawdown, the exit reasons, the latency
histogram per hop and the trade list. Charts are inline SVG (`data.svg`), so the file
needs no network, no script and no other file. `write_pdf` prints the page with
headless Chromium (Debian's `chromium`), the same renderer the tests read it with.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from data import analytics
from data.store import Store
from data.svg import area_chart, bar_chart, line_chart
from engine.errors import InvalidInput, UnknownName

TRADE_ROWS = 500          # the trade list shows the last TRADE_ROWS round trips
HEADLINE_FIELDS = ("net_pnl", "total_return", "sharpe", "sortino", "max_drawdown",
                   "win_rate", "profit_factor", "trades", "fees")
PERCENT_FIELDS = frozenset({"total_return", "annual_return", "max_drawdown", "win_rate",
                            "exposure", "volatility"})
TABLE_FIELDS = ("trades", "win_rate", "net_pnl", "fees", "profit_factor", "expectancy",
                "avg_win", "avg_loss", "sharpe", "sortino", "calmar", "max_drawdown",
                "exposure", "turnover")

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px;
       color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card .v { font-size: 18px; font-weight: 600; } .card .k { font-size: 11px; color: #666; }
svg.chart { width: 100%; max-width: 900px; height: auto; display: block; }
svg .title { font-size: 13px; font-weight: 600; } svg .tick, svg .legend { font-size: 10px; }
svg .axis { stroke: #444; } svg .grid { stroke: #e6e6e6; }
pre { background: #f7f7f7; padding: 8px; font-size: 11px; white-space: pre-wrap; }
@media print { h2 { page-break-after: avoid; } svg.chart { page-break-inside: avoid; } }
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _num(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"
    return _e(v)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], cls: str = "") -> str:
    def cell(v: object, tag: str) -> str:
        text = isinstance(v, str) and not v.endswith(" %")
        return f'<{tag} class="{"text" if text else ""}">{_num(v)}</{tag}>'
    head = "".join(f'<th class="{"text" if i == 0 else ""}">{_e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell(v, "td") for v in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _when(ns: object) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(int(ns) / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_header(store: Store, run_id: str) -> tuple[str, dict]:
    rows = store.rows("SELECT kind, config, code_version, started_ns, ended_ns, status "
                      "FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        known = [r[0] for r in store.rows("SELECT run_id FROM runs ORDER BY started_ns")]
        raise UnknownName("run", run_id, known)
    kind, config, code, started, ended, status = rows[0]
    meta = {"kind": kind, "status": status, "code": code, "started": _when(started),
            "ended": _when(ended)}
    text = (f"<h1>Run {_e(run_id)}</h1><p class='meta'>{_e(kind)} run, {_e(status)}; "
            f"started {_e(meta['started'])}, ended {_e(meta['ended'])}; code "
            f"{_e(code or '-')}</p><details><summary>configuration</summary>"
            f"<pre>{_e(config)}</pre></details>")
    return text, meta


def _value(field: str, v: object) -> object:
    """Fractions shown as percent strings; everything else as it is."""
    if field in PERCENT_FIELDS and isinstance(v, (float, np.floating)) and np.isfinite(v):
        return f"{v * 100:.2f} %"
    return v


def _metric_rows(by: str, groups: Sequence[analytics.GroupMetrics]
                 ) -> tuple[list[str], list[list[object]]]:
    rows = [[g.key if g.key is not None else "(none)"]
            + [_value(f, getattr(g, f)) for f in TABLE_FIELDS] for g in groups]
    return [by, *(f.replace("_", " ") for f in TABLE_FIELDS)], rows


def _cards(run: object) -> str:
    cards = "".join(f'<div class="card"><div class="v">{_num(_value(f, getattr(run, f)))}</div>'
                    f'<div class="k">{_e(f.replace("_", " "))}</div></div>'
                    for f in HEADLINE_FIELDS)
    return f'<div class="cards">{cards}</div>'


def _equity_section(store: Store, run_id: str) -> str:
    accounts = analytics.equity_curves(store, run_id, by="account")
    [total] = analytics.equity_curves(store, run_id) or [None]
    if total is None or len(total.ts_ns) == 0:
        return "<h2>Equity</h2><p>No equity samples were recorded for this run.</p>"
    series = [(c.key or "(none)", c.ts_ns, c.equity) for c in accounts]
    drawdown = (total.equity / np.maximum.accumulate(total.equity) - 1.0) * 100.0
    return ("<h2>Equity</h2>"
            + line_chart("Equity per account", series, y_label="equity")
            + line_chart("Total equity", [("total", total.ts_ns, total.equity)],
                         y_label="equity")
            + area_chart("Drawdown of total equity (%)", total.ts_ns, drawdown,
                         y_label="%"))


def _exit_section(store: Store, run_id: str) -> str:
    rows = store.rows("SELECT coalesce(exit_reason, 'NONE'), count(*), sum(net_pnl), "
                      "avg(net_pnl) FROM trades WHERE run_id = ? GROUP BY 1 ORDER BY 2 DESC",
                      [run_id])
    if not rows:
        return "<h2>Exit reasons</h2><p>No closed trades.</p>"
    chart = bar_chart("Round trips by exit reason", [r[0] for r in rows], [r[1] for r in rows],
                      y_label="trades")
    return ("<h2>Exit reasons</h2>" + chart
            + _table(["exit reason", "trades", "net P&L", "average net P&L"], rows))


def _latency_section(store: Store, run_id: str) -> str:
    lat = store.query("SELECT hop, ns FROM latency WHERE run_id = ?", [run_id])
    if len(lat["ns"]) == 0:
        return "<h2>Latency</h2><p>No latency samples were recorded for this run.</p>"
    parts = ["<h2>Latency</h2>"]
    stats = analytics.latency(store, run_id)
    parts.append(_table(["hop", "count", "p50 us", "p90 us", "p99 us", "max us"],
                        [[s.hop, s.count, s.p50 / 1e3, s.p90 / 1e3, s.p99 / 1e3,
                          s.max / 1e3] for s in stats]))
    for hop in sorted(set(lat["hop"].tolist())):
        us = np.asarray(lat["ns"][lat["hop"] == hop], dtype=float) / 1e3
        edges = np.unique(np.geomspace(max(us.min(), 1e-3), max(us.max(), 1e-3) * 1.0001, 21))
        counts, edges = np.histogram(us, bins=edges) if len(edges) > 1 else (
            np.array([len(us)]), np.array([us.min(), us.max()]))
        labels = [f"{edges[i]:.3g}" for i in range(len(counts))]
        parts.append(bar_chart(f"{hop}: latency histogram (us, log bins)", labels, counts,
                               y_label="samples"))
    return "".join(parts)


def _trade_section(store: Store, run_id: str) -> str:
    total = store.count("trades", run_id)
    rows = store.rows(
        "SELECT account_id, symbol, side, quantity, entry_ts_ns, exit_ts_ns, avg_entry, "
        "avg_exit, net_pnl, fees, coalesce(exit_reason, '') FROM trades WHERE run_id = ? "
        "ORDER BY exit_ts_ns DESC LIMIT ?", [run_id, TRADE_ROWS])
    shown = [[a, s, side, q, _when(t0), _when(t1), e, x, pnl, f, r]
             for a, s, side, q, t0, t1, e, x, pnl, f, r in rows]
    note = (f"<p class='meta'>The last {len(rows):,} of {total:,} round trips.</p>"
            if total > len(rows) else "")
    return ("<h2>Trades</h2>" + note
            + _table(["account", "symbol", "side", "quantity", "entry", "exit", "avg entry",
                      "avg exit", "net P&L", "fees", "exit reason"], shown, "trades"))


def render_report(store: Store, run_id: str) -> str:
    header, meta = _run_header(store, run_id)
    measured = analytics.analyze_all(store, run_id)    # the journal read once, if at all
    [run] = measured["run"]
    sections = [header, "<h2>Summary</h2>", _cards(run)]
    for by, title in (("account", "Per account"), ("strategy", "Per strategy"),
                      ("symbol", "Per symbol")):
        groups = measured[by]
        if groups:
            sections.append(f"<h2>{title}</h2>" + _table(*_metric_rows(by, groups), by))
    sections += [_equity_section(store, run_id), _exit_section(store, run_id),
                 _latency_section(store, run_id), _trade_section(store, run_id)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Phalanx "
            f"run {_e(run_id)}</title><style>{CSS}</style></head><body>"
            + "".join(sections)
            + f"<p class='meta'>Generated {_e(_when(time.time_ns()))}.</p>"
            + "</body></html>")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_args(chromium: str, profile: str) -> list[str]:
    """Headless flags that work as root on a closed network (no background traffic)."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}"]


def write_pdf(html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str],
              chromium: str | None = None, timeout_s: float = 120.0) -> Path:
    """Print the report to PDF with headless Chromium."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise InvalidInput("chromium", None, "not found: install Debian's chromium package "
                           "(apt-get install chromium) to print PDFs")
    src, out = Path(html_path).resolve(), Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="phalanx-chromium-") as profile:
        cmd = [*chromium_args(chromium, profile), "--no-pdf-header-footer",
               f"--print-to-pdf={out}", src.as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise InvalidInput("pdf", str(out), f"chromium failed: {done.stderr.strip()[-300:]}")
    return out
