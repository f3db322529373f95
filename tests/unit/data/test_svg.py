import math
import re

import numpy as np

from data.svg import area_chart, bar_chart, line_chart

T0 = 1_700_000_000_000_000_000


def points(svg: str) -> list[tuple[float, float]]:
    d = re.search(r'<path class="series" d="M([^"]+)"', svg).group(1)
    return [tuple(map(float, p.strip().lstrip("L").split(","))) for p in d.split(" L")
            if "," in p and not p.strip().startswith("Z")]


def test_a_line_chart_draws_one_path_per_series_inside_the_frame():
    x = T0 + np.arange(50) * 60_000_000_000
    svg = line_chart("Equity", [("a", x, np.linspace(100, 110, 50)),
                                ("b", x, np.linspace(105, 95, 50))])
    assert svg.count('<path class="series"') == 2
    pts = points(svg)
    assert len(pts) == 50
    assert all(0 <= px <= 900 and 0 <= py <= 260 for px, py in pts)
    assert pts[0][1] > pts[-1][1]           # rising values go up the page


def test_nan_points_are_skipped_not_drawn():
    x = np.arange(5.0)
    svg = line_chart("x", [("s", x, np.array([1.0, math.nan, 3.0, 4.0, math.nan]))],
                     time_axis=False)
    assert len(points(svg)) == 3 and "nan" not in svg.lower()


def test_an_empty_chart_says_no_data():
    assert "(no data)" in line_chart("Empty", [("s", np.array([]), np.array([]))])
    assert "(no data)" in bar_chart("Empty", [], [])


def test_bars_have_one_rect_per_value_with_heights_in_proportion():
    svg = bar_chart("Counts", ["a", "b", "c"], [1, 2, 4])
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 3
    assert abs(heights[1] / heights[0] - 2) < 0.01
    assert abs(heights[2] / heights[0] - 4) < 0.01


def test_area_chart_closes_its_path_at_zero():
    svg = area_chart("Drawdown", np.arange(4.0), np.array([0.0, -1.0, -2.0, -0.5]),
                     time_axis=False)
    assert re.search(r'd="M[^"]+ Z"', svg)


def test_titles_and_labels_are_escaped():
    svg = line_chart("<b>&</b>", [("<s>", np.arange(2.0), np.arange(2.0))], time_axis=False)
    assert "<b>" not in svg and "&lt;b&gt;" in svg
