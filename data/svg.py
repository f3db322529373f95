"""Small, dependency-free SVG charts for the HTML report: lines, filled areas, bars.

Each function returns one `<svg>` element as text, sized by `viewBox` so it scales with
the page, with its axes labelled and a `<title>` per series for hover text. Inputs are
numpy arrays; NaN points are skipped. The charts embed in the HTML file itself, so a
report is one self-contained file that opens anywhere and prints to PDF unchanged.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

WIDTH, HEIGHT = 900, 260
PAD_L, PAD_R, PAD_T, PAD_B = 70, 20, 28, 36
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.3g}"


def _time_label(ns: float) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")


class _Frame:
    """Maps data coordinates onto the plot area."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if x1 <= x0:
            x1 = x0 + 1
        if y1 <= y0:
            y0, y1 = y0 - 1, y1 + 1
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1

    def x(self, v: np.ndarray | float) -> np.ndarray | float:
        return PAD_L + (v - self.x0) / (self.x1 - self.x0) * (WIDTH - PAD_L - PAD_R)

    def y(self, v: np.ndarray | float) -> np.ndarray | float:
        return HEIGHT - PAD_B - (v - self.y0) / (self.y1 - self.y0) * (HEIGHT - PAD_T - PAD_B)


def _axes(frame: _Frame, title: str, time_axis: bool, y_label: str) -> list[str]:
    out = [f'<text class="title" x="{PAD_L}" y="18">{html.escape(title)}</text>',
           f'<line class="axis" x1="{PAD_L}" y1="{HEIGHT - PAD_B}" x2="{WIDTH - PAD_R}" '
           f'y2="{HEIGHT - PAD_B}"/>',
           f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" '
           f'y2="{HEIGHT - PAD_B}"/>']
    for v in _ticks(frame.y0, frame.y1):
        y = frame.y(v)
        out.append(f'<line class="grid" x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" '
                   f'y2="{y:.1f}"/><text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{_fmt(v)}</text>')
    xs = np.linspace(frame.x0, frame.x1, 5)
    for i, v in enumerate(xs):
        label = _time_label(v) if time_axis else _fmt(v)
        anchor = "start" if i == 0 else "end" if i == len(xs) - 1 else "middle"
        out.append(f'<text class="tick" x="{frame.x(v):.1f}" y="{HEIGHT - PAD_B + 16}" '
                   f'text-anchor="{anchor}">{label}</text>')
    if y_label:
        out.append(f'<text class="tick" x="14" y="{PAD_T + 6}">{html.escape(y_label)}</text>')
    return out


def _svg(kind: str, parts: list[str]) -> str:
    return (f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img">' + "".join(parts) + "</svg>")


def _path(frame: _Frame, x: np.ndarray, y: np.ndarray) -> str:
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return ""
    px, py = frame.x(x[keep]), frame.y(y[keep])
    return "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))


def line_chart(title: str, series: Sequence[tuple[str, np.ndarray, np.ndarray]], *,
               time_axis: bool = True, y_label: str = "") -> str:
    """One line per (name, x, y); x in ns since the epoch when `time_axis`."""
    xs = [np.asarray(x, dtype=float) for _, x, _ in series]
    ys = [np.asarray(y, dtype=float) for _, _, y in series]
    finite_x = np.concatenate([x[np.isfinite(x)] for x in xs]) if xs else np.array([])
    finite_y = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.array([])
    if finite_x.size == 0 or finite_y.size == 0:
        return _svg("line", _axes(_Frame(0, 1, 0, 1), title + " (no data)", False, y_label))
    frame = _Frame(finite_x.min(), finite_x.max(), finite_y.min(), finite_y.max())
    parts = _axes(frame, title, time_axis, y_label)
    for i, ((name, _, _), x, y) in enumerate(zip(series, xs, ys, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<path class="series" d="{_path(frame, x, y)}" fill="none" '
                     f'stroke="{color}" stroke-width="1.5"><title>{html.escape(name)}'
                     f'</title></path>')
        parts.append(f'<text class="legend" x="{WIDTH - PAD_R - 5}" y="{PAD_T + 14 * i + 10}"'
                     f' text-anchor="end" fill="{color}">{html.escape(name)}</text>')
    return _svg("line", parts)


def area_chart(title: str, x: np.ndarray, y: np.ndarray, *, time_axis: bool = True,
               y_label: str = "", color: str = "#d62728") -> str:
    """A filled area between y and zero (drawdowns are negative)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return _svg("area", _axes(_Frame(0, 1, 0, 1), title + " (no data)", False, y_label))
    x, y = x[keep], y[keep]
    frame = _Frame(x.min(), x.max(), min(y.min(), 0.0), max(y.max(), 0.0))
    parts = _axes(frame, title, time_axis, y_label)
    zero = frame.y(0.0)
    d = (_path(frame, x, y)
         + f" L{frame.x(x[-1]):.1f},{zero:.1f} L{frame.x(x[0]):.1f},{zero:.1f} Z")
    parts.append(f'<path class="series" d="{d}" fill="{color}" fill-opacity="0.35" '
                 f'stroke="{color}"><title>{html.escape(title)}</title></path>')
    return _svg("area", parts)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *,
              y_label: str = "") -> str:
    """Vertical bars, one per label (histograms pass bin labels)."""
    vals = np.asarray(values, dtype=float)
    if vals.size == 0:
        return _svg("bar", _axes(_Frame(0, 1, 0, 1), title + " (no data)", False, y_label))
    frame = _Frame(0, len(vals), min(0.0, np.nanmin(vals)), max(0.0, np.nanmax(vals)))
    parts = _axes(frame, title, False, y_label)[:3]
    parts += [p for p in _axes(frame, title, False, y_label)[3:] if "grid" in p]
    width = (WIDTH - PAD_L - PAD_R) / len(vals)
    zero = frame.y(0.0)
    step = max(1, len(vals) // 12)
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        if not math.isfinite(v):
            continue
        top = frame.y(v)
        y, h = min(top, zero), abs(zero - top)
        x = PAD_L + i * width
        w = max(width - 2, 1)
        parts.append(f'<rect class="bar" x="{x + 1:.1f}" y="{y:.1f}" width="{w:.1f}" '
                     f'height="{h:.1f}" fill="{PALETTE[0]}"><title>'
                     f'{html.escape(str(label))}: {_fmt(v)}</title></rect>')
        if i % step == 0:
            parts.append(f'<text class="tick" x="{x + width / 2:.1f}" y="{HEIGHT - PAD_B + 16}" '
                         f'text-anchor="middle">{html.escape(str(label))}</text>')
    return _svg("bar", parts)
