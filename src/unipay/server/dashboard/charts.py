"""Charts drawn on the server as inline SVG: no script, no chart library, nothing to fetch.

A chart is markup in the page, so it renders offline, under a Content-Security-Policy with no
script at all, and prints. Each one carries a ``<title>`` and ``<desc>`` (read by screen
readers through ``aria-labelledby``), a ``<title>`` per bar (a tooltip with the exact figure),
and the same numbers as a table, which the page shows beside it. Colours come from classes
(``s0`` to ``s7``) that the stylesheet defines, so the SVG needs no inline style.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
#: Series colours the stylesheet defines (``.s0`` ... ``.s7``); more series reuse them.
COLOURS = 8
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Chart:
    """An SVG and its numbers: ``columns`` heads the table, each row is a label and its
    series' figures, formatted."""

    title: str
    svg: Markup
    columns: list[str]
    rows: list[list[str]]
    legend: list[tuple[str, str]]


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{css}>{escape(text)}</text>'


def _open(title: str, desc: str, height: float) -> tuple[str, str]:
    number = next(_ids)
    title_id, desc_id = f"chart-{number}-title", f"chart-{number}-desc"
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def _legend(series: Sequence[Series]) -> list[tuple[str, str]]:
    return [(s.name, f"s{i % COLOURS}") for i, s in enumerate(series)]


def _markup(parts: list[str]) -> Markup:
    """The SVG as markup: every text in ``parts`` went through ``escape`` (``_text``, the
    titles), and the rest is numbers and this module's own names."""
    return Markup("".join(parts))  # noqa: S704 - built from escaped text only


def _table(
    labels: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str]
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The table's head and rows, and each figure (``[label][series]``) formatted once: the
    table, the tooltips and the bars' labels share them (formatting amounts was most of a
    metrics page's chart time)."""
    figures = [[fmt(s.values[i]) for s in series] for i in range(len(labels))]
    rows = [[label, *figures[i]] for i, label in enumerate(labels)]
    return ["", *(s.name for s in series)], rows, figures


def _empty(title: str, desc: str) -> Markup:
    head, tail = _open(title, desc, 60)
    return _markup([head, _text(WIDTH / 2, 34, "No data in this window", anchor="middle"), tail])


def column_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> Chart:
    """Stacked columns, one per label (a time bucket), one colour per series."""
    columns, rows, figures = _table(labels, series, fmt)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals, default=0)
    if top <= 0:
        return Chart(title, _empty(title, desc), columns, rows, _legend(series))
    height, left, right, above, below = 240.0, 40.0, 8.0, 18.0, 28.0
    plot_w, plot_h = WIDTH - left - right, height - above - below
    base = above + plot_h
    slot = plot_w / len(labels)
    bar = max(1.0, slot * 0.7)
    parts = [
        f'<line class="axis" x1="{left}" y1="{base}" x2="{WIDTH - right}" y2="{base}"/>',
        f'<line class="grid" x1="{left}" y1="{above}" x2="{WIDTH - right}" y2="{above}"/>',
        # The top figure sits above its gridline, inside the plot: an amount is wider than
        # the margin.
        _text(left + 2, above - 3, fmt(top)),
        _text(left - 6, base + 4, "0", anchor="end"),
    ]
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        stacked = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = max(1.0, value / top * plot_h)
            stacked += h
            parts.append(
                f'<rect class="s{k % COLOURS}" x="{x:.1f}" y="{base - stacked:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>'
                f"{escape(f'{s.name}, {label}: {figures[i][k]}')}</title></rect>"
            )
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        x = left + i * slot + slot / 2
        parts.append(_text(x, base + 18, labels[i], anchor="middle", cls="tick"))
    head, tail = _open(title, desc, height)
    return Chart(title, _markup([head, *parts, tail]), columns, rows, _legend(series))


def bar_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    maximum: float | None = None,
) -> Chart:
    """Horizontal bars, one group per label, one bar per series in it: for rankings and
    per-operation figures, whose labels are too long for a column's foot."""
    columns, rows, figures = _table(labels, series, fmt)
    top = (
        maximum
        if maximum is not None
        else max((max(s.values, default=0) for s in series), default=0)
    )
    if not labels or top <= 0:
        return Chart(title, _empty(title, desc), columns, rows, _legend(series))
    left, right, bar, gap = 200.0, 90.0, 14.0, 10.0
    group = len(series) * (bar + 2) + gap
    height = 8 + len(labels) * group
    plot_w = WIDTH - left - right
    parts = [f'<line class="axis" x1="{left}" y1="4" x2="{left}" y2="{height - 4:.1f}"/>']
    for i, label in enumerate(labels):
        y0 = 8 + i * group
        parts.append(_text(left - 8, y0 + len(series) * (bar + 2) / 2 + 4, label, anchor="end"))
        for k, s in enumerate(series):
            value, figure = s.values[i], figures[i][k]
            y = y0 + k * (bar + 2)
            w = 0.0 if value <= 0 else max(1.0, min(value, top) / top * plot_w)
            parts.append(
                f'<rect class="s{k % COLOURS}" x="{left}" y="{y:.1f}" width="{w:.1f}" '
                f'height="{bar}"><title>{escape(f"{label}, {s.name}: {figure}")}</title></rect>'
            )
            parts.append(_text(left + w + 4, y + bar - 3, figure, cls="value"))
    head, tail = _open(title, desc, height)
    return Chart(title, _markup([head, *parts, tail]), columns, rows, _legend(series))
