"""What a sweep shows at the end: the best sets by a metric, a heatmap of two-axis grids,
and the progress bar while it runs (plain text on stderr, no dependency)."""

from __future__ import annotations

import html
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from data.store_sweeps import METRICS
from engine.errors import UnknownName

LOWER_IS_BETTER = frozenset({"max_drawdown", "fees", "losses"})
RANKABLE = tuple(m for m in METRICS if m not in ("cash", "position"))


def check_metric(metric: str) -> str:
    if metric not in RANKABLE:
        raise UnknownName("metric", metric, list(RANKABLE))
    return metric


def best(results: Sequence[Mapping[str, Any]], metric: str, n: int) -> list[Mapping[str, Any]]:
    """The `n` best 'ok' sets by `metric` (higher first, or lower for drawdown, fees,
    losses); sets without a value (a Sharpe ratio of a flat curve) last; ties by index."""
    check_metric(metric)
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(r: Mapping[str, Any]) -> tuple[int, float, int]:
        v = r.get(metric)
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        return (1 if missing else 0, 0.0 if missing else sign * v, r["set_index"])

    return sorted((r for r in results if r["status"] == "ok"), key=key)[:max(n, 0)]


# --- heatmap ---------------------------------------------------------------------------------
_STOPS = ((0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
          (0.75, (94, 201, 98)), (1.0, (253, 231, 37)))          # viridis, 5 stops
CELL, PAD_L, PAD_T, PAD_B, PAD_R = 44, 80, 48, 64, 120


def _color(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    for (a, ca), (b, cb) in zip(_STOPS, _STOPS[1:], strict=False):
        if t <= b:
            f = (t - a) / (b - a)
            r, g, bl = (round(x + (y - x) * f) for x, y in zip(ca, cb, strict=True))
            return f"#{r:02x}{g:02x}{bl:02x}"
    return "#fde725"


def _label(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def heatmap_svg(results: Sequence[Mapping[str, Any]], axes: Mapping[str, Sequence[Any]],
                metric: str, title: str) -> str:
    """An SVG heatmap of `metric` over a two-axis grid: the first axis down, the second
    across; failed or missing sets are grey cells marked with a cross."""
    (y_name, ys), (x_name, xs) = list(axes.items())
    at = {(r["params"].get(y_name), r["params"].get(x_name)): r for r in results}
    values = [r.get(metric) for r in results if r["status"] == "ok"]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = hi - lo or 1.0
    flip = metric in LOWER_IS_BETTER          # bright = better, always
    width = max(PAD_L + CELL * len(xs) + PAD_R, PAD_L + 7 * len(title) + 20)
    height = PAD_T + CELL * len(ys) + PAD_B
    small = len(xs) <= 24 and len(ys) <= 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{PAD_L}" y="20" font-size="14">{html.escape(title)}</text>']
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            cx, cy = PAD_L + i * CELL, PAD_T + j * CELL
            r = at.get((y, x))
            v = r.get(metric) if r is not None and r["status"] == "ok" else None
            tip = f"{y_name}={y} {x_name}={x}: "
            if v is None or not math.isfinite(v):
                why = "no value" if r is not None and r["status"] == "ok" else \
                    (r["error"] if r is not None else "not run")
                out.append(f'<rect x="{cx}" y="{cy}" width="{CELL}" height="{CELL}" '
                           f'fill="#dddddd" stroke="#fff"><title>{html.escape(tip + str(why))}'
                           f'</title></rect><path d="M{cx + 8},{cy + 8} L{cx + CELL - 8},'
                           f'{cy + CELL - 8} M{cx + CELL - 8},{cy + 8} L{cx + 8},'
                           f'{cy + CELL - 8}" stroke="#999"/>')
                continue
            t = (v - lo) / span
            out.append(f'<rect x="{cx}" y="{cy}" width="{CELL}" height="{CELL}" '
                       f'fill="{_color(1 - t if flip else t)}" stroke="#fff"><title>'
                       f'{html.escape(tip + _label(v))}</title></rect>')
            if small:
                ink = "#000" if (1 - t if flip else t) > 0.6 else "#fff"
                out.append(f'<text x="{cx + CELL / 2}" y="{cy + CELL / 2 + 4}" '
                           f'text-anchor="middle" font-size="9" fill="{ink}">'
                           f'{html.escape(_label(v))}</text>')
    step_x, step_y = max(1, len(xs) // 20), max(1, len(ys) // 20)
    for i, x in enumerate(xs[::step_x]):
        out.append(f'<text x="{PAD_L + i * step_x * CELL + CELL / 2}" '
                   f'y="{PAD_T + CELL * len(ys) + 16}" text-anchor="middle">{_label(x)}</text>')
    for j, y in enumerate(ys[::step_y]):
        out.append(f'<text x="{PAD_L - 8}" y="{PAD_T + j * step_y * CELL + CELL / 2 + 4}" '
                   f'text-anchor="end">{_label(y)}</text>')
    out.append(f'<text x="{PAD_L + CELL * len(xs) / 2}" y="{height - 14}" '
               f'text-anchor="middle" font-size="12">{html.escape(x_name)}</text>')
    out.append(f'<text x="16" y="{PAD_T + CELL * len(ys) / 2}" font-size="12" '
               f'transform="rotate(-90 16 {PAD_T + CELL * len(ys) / 2})" '
               f'text-anchor="middle">{html.escape(y_name)}</text>')
    out += _legend(PAD_L + CELL * len(xs) + 20, PAD_T, lo, hi, flip, metric)
    out.append("</svg>")
    return "".join(out)


def _legend(x: float, y: float, lo: float, hi: float, flip: bool, metric: str) -> list[str]:
    parts = [f'<text x="{x}" y="{y - 8}">{html.escape(metric)}</text>']
    for k in range(10):
        t = 1 - k / 9
        parts.append(f'<rect x="{x}" y="{y + k * 14}" width="18" height="14" '
                     f'fill="{_color(1 - t if flip else t)}"/>')
    parts.append(f'<text x="{x + 24}" y="{y + 10}">{_label(hi)}</text>')
    parts.append(f'<text x="{x + 24}" y="{y + 9 * 14 + 10}">{_label(lo)}</text>')
    return parts


def write_heatmap(path: str | Path, results: Sequence[Mapping[str, Any]],
                  axes: Mapping[str, Sequence[Any]], metric: str, title: str) -> Path | None:
    """The heatmap file for a two-axis grid; None (nothing written) for other grids."""
    if len(axes) != 2:
        return None
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(heatmap_svg(results, axes, check_metric(metric), title))
    return out


# --- progress --------------------------------------------------------------------------------
class ProgressBar:
    """`[#####.....]  40/100 sets  2 failed  12.3 sets/s  eta 5s` redrawn on one line of
    a terminal; silent when the stream is not a terminal (logs stay clean)."""

    def __init__(self, total: int, *, done: int = 0, stream: TextIO | None = None,
                 force: bool = False) -> None:
        self.total, self.done, self.bad, self.new = total, done, 0, 0
        self.stream = stream or sys.stderr
        self.on = force or self.stream.isatty()
        self.t0 = time.perf_counter()
        self.draw()

    def __call__(self, ok: int, bad: int) -> None:
        self.done += ok + bad
        self.new += ok + bad
        self.bad += bad
        self.draw()

    def draw(self) -> None:
        if not self.on:
            return
        share = self.done / self.total if self.total else 1.0
        filled = int(share * 30)
        rate = self.new / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else math.nan
        text = (f"\r  [{'#' * filled}{'.' * (30 - filled)}] {self.done:,}/{self.total:,} sets"
                f"  {self.bad} failed  {rate:,.1f} sets/s"
                + (f"  eta {eta:,.0f}s" if math.isfinite(eta) else ""))
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\n")
            self.stream.flush()
            self.on = False
