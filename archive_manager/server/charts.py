"""Charts drawn on the server as inline SVG: no script, no request to
anywhere, and nothing the Content-Security-Policy refuses (colours are
classes styled by app.css and presentation attributes, never a ``style``
attribute). Every bar carries a ``<title>`` (its tooltip and its text for a
screen reader); the pages show the figures as a table too.

Two shapes: :func:`columns` (vertical bars over categories, stacked by
series: events per day by action, receivables by age bucket) and
:func:`rows` (a horizontal bar per label, optionally against a reference
mark and flagged: reads per user against their usual volume)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

SERIES_CLASSES = 8  # chart-s0 .. chart-s7 in app.css; more series reuse them


@dataclass(frozen=True)
class Row:
    """One horizontal bar: ``value`` against an optional ``mark`` (the usual
    volume), ``flag`` drawing it as an outlier."""
    label: str
    value: float
    mark: float | None = None
    flag: bool = False
    note: str = ""  # added to the bar's tooltip


def _num(v: float) -> str:
    return f"{v:,.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"


def _scale(top: float) -> float:
    """A round upper bound at or above ``top`` (1, 2, 2.5, 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= top:
            return step * power
    return 10 * power


def columns(categories: Sequence[str], series: dict[str, Sequence[float]], title: str, *,
            width: int = 720, height: int = 240, unit: str = "") -> Markup:
    """Vertical bars, one per category, each stacked from ``series`` (name ->
    a value per category), with a legend when there is more than one series."""
    bottom, top_pad, legend = 44, 12, (18 if len(series) > 1 else 0)
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = _scale(max(totals, default=0))
    left = max(56, 12 + 7 * len(_num(top)))  # room for the longest axis value (1,000,000 needs more than 56)
    plot_w, plot_h = width - left - 8, height - bottom - top_pad - legend
    slot = plot_w / max(len(categories), 1)
    bar_w = max(min(slot * 0.7, 48), 1)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for k in range(5):  # grid lines and their values
        v = top * k / 4
        y = top_pad + legend + plot_h - plot_h * k / 4
        out.append(f'<line class="chart-grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(v)}</text>')
    every = max(1, round(len(categories) / 12))  # at most about twelve category labels
    for i, cat in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        y = top_pad + legend + plot_h
        for s, (name, values) in enumerate(series.items()):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            y -= h
            tip = f"{cat} · {name}: {_num(v)}{unit}" if len(series) > 1 else f"{cat}: {_num(v)}{unit}"
            out.append(f'<rect class="chart-s{s % SERIES_CLASSES}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}"><title>{escape(tip)}</title></rect>')
        if i % every == 0:
            out.append(f'<text class="chart-axis" x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle">{escape(cat)}</text>')
    if len(series) > 1:
        x = left
        for s, name in enumerate(series):
            out.append(f'<rect class="chart-s{s % SERIES_CLASSES}" x="{x}" y="2" width="10" height="10"/>'
                       f'<text class="chart-legend" x="{x + 14}" y="11">{escape(name)}</text>')
            x += 24 + 8 * len(name) + (6 * sum(1 for c in name if ord(c) > 0x2E80))
    out.append("</svg>")
    return Markup("".join(out))


def rows(items: Sequence[Row], title: str, *, width: int = 720, unit: str = "", mark_label: str = "") -> Markup:
    """A horizontal bar per item, longest scale first as given; an item's
    ``mark`` is drawn as a tick across its bar, a flagged item in the
    outlier colour."""
    label_w, bar_h, gap, pad = 150, 18, 8, 8
    height = pad * 2 + len(items) * (bar_h + gap) + (16 if mark_label else 0)
    plot_w = width - label_w - 90
    top = _scale(max([i.value for i in items] + [i.mark or 0 for i in items], default=0))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for n, item in enumerate(items):
        y = pad + n * (bar_h + gap)
        w = plot_w * item.value / top
        tip = f"{item.label}: {_num(item.value)}{unit}" + (f" ({item.note})" if item.note else "")
        cls = "chart-flag" if item.flag else "chart-s0"
        out.append(f'<text class="chart-label" x="{label_w - 8}" y="{y + 13}" text-anchor="end">'
                   f'{escape(item.label)}</text>'
                   f'<rect class="{cls}" x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}">'
                   f'<title>{escape(tip)}</title></rect>'
                   f'<text class="chart-value" x="{label_w + max(w, 1) + 6:.1f}" y="{y + 13}">'
                   f'{_num(item.value)}{escape(unit)}</text>')
        if item.mark is not None:
            mx = label_w + plot_w * item.mark / top
            out.append(f'<line class="chart-mark" x1="{mx:.1f}" x2="{mx:.1f}" y1="{y - 3}" y2="{y + bar_h + 3}"/>')
    if mark_label:
        y = height - 6
        out.append(f'<line class="chart-mark" x1="{label_w}" x2="{label_w}" y1="{y - 10}" y2="{y + 2}"/>'
                   f'<text class="chart-legend" x="{label_w + 6}" y="{y}">{escape(mark_label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["Row", "columns", "rows"]
