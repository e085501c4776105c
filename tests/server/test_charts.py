"""The server-drawn SVG charts (archive_manager/server/charts.py)."""

from __future__ import annotations

import re

from archive_manager.server.charts import Row, columns, rows


def test_the_axis_values_fit_left_of_the_plot():
    """A million on the axis (receivables in yuan) is not cut at the chart's left edge."""
    svg = str(columns(["未到期", "逾期1–30天"], {"金额": [570000.0, 0.0]}, "应收账款账龄"))
    left = float(re.search(r'<line class="chart-grid" x1="([\d.]+)"', svg).group(1))
    longest = max(len(m) for m in re.findall(r'class="chart-axis" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]+)<', svg))
    assert longest == len("1,000,000") and left - 6 >= 7 * longest  # about 7 px a digit at 11 px


def test_labels_are_escaped_and_outliers_flagged():
    svg = str(rows([Row("<script>", 30, mark=5, flag=True), Row("bob", 3, mark=4)], "reads"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count('class="chart-flag"') == 1 and svg.count('class="chart-mark"') == 2
