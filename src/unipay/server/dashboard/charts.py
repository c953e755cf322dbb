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
    #: ``rows`` as the table's ``<tr>`` lines, escaped: written from the texts the SVG escapes
    #: anyway, in a sixth of the time the template's loop over every cell took.
    body: Markup


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "") -> str:
    return _escaped_text(x, y, escape(text), anchor=anchor, cls=cls)


def _escaped_text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "") -> str:
    """``_text`` of a text already escaped (by ``_escape_all``)."""
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{css}>{text}</text>'


#: Joins the texts ``_escape_all`` escapes together; ``escape`` leaves it as it is.
_SEPARATOR = "\0"


def _escape_all(texts: Sequence[str]) -> list[str]:
    """What ``escape`` makes of each text, from one call for them all: a metrics page escapes
    about a thousand short figures and names, and the calls cost more than the escaping."""
    escaped = str(escape(_SEPARATOR.join(texts))).split(_SEPARATOR)
    if len(escaped) != len(texts):  # a text held the separator (or there are none)
        return [str(escape(text)) for text in texts]
    return escaped


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
    titles, ``_escape_all``), and the rest is numbers and this module's own names."""
    return Markup("".join(parts))  # noqa: S704 - built from escaped text only


@dataclass(frozen=True)
class _Table:
    """A chart's numbers, each figure formatted once, and its texts escaped once: the table,
    the tooltips and the bars' labels share them (formatting amounts, then escaping, was most
    of a metrics page's chart time)."""

    series: Sequence[Series]
    columns: list[str]
    rows: list[list[str]]
    #: Escaped: the labels, the series' names, and the figures (``[label][series]``).
    labels: list[str]
    names: list[str]
    figures: list[list[str]]

    @classmethod
    def of(
        cls, labels: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str]
    ) -> _Table:
        width = len(series)
        figures = [fmt(s.values[i]) for i in range(len(labels)) for s in series]
        rows = [[label, *figures[i * width : (i + 1) * width]] for i, label in enumerate(labels)]
        names = [s.name for s in series]
        escaped = _escape_all([*labels, *names, *figures])
        count = len(labels)
        shown = escaped[count + width :]
        return cls(
            series,
            ["", *names],
            rows,
            escaped[:count],
            escaped[count : count + width],
            [shown[i * width : (i + 1) * width] for i in range(count)],
        )

    def chart(self, title: str, svg: Markup) -> Chart:
        body = "".join(
            f'        <tr><th scope="row">{label}</th>'
            + "".join(f'<td class="num">{figure}</td>' for figure in figures)
            + "</tr>\n"
            for label, figures in zip(self.labels, self.figures, strict=True)
        )
        return Chart(
            title,
            svg,
            self.columns,
            self.rows,
            _legend(self.series),
            Markup(body),  # noqa: S704 - built from escaped text only
        )


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
    table = _Table.of(labels, series, fmt)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals, default=0)
    if top <= 0:
        return table.chart(title, _empty(title, desc))
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
    # What every bar of a column, or of a series, shares is formatted and escaped once: a
    # metrics page draws a few hundred bars, and formatting was most of their cost.
    width, figures, ticks = f"{bar:.1f}", table.figures, table.labels
    drawn = [(f"s{k % COLOURS}", table.names[k], s.values) for k, s in enumerate(series)]
    for i, tip in enumerate(ticks):
        at = f"{left + i * slot + (slot - bar) / 2:.1f}"
        stacked = 0.0
        for k, (cls, name, values) in enumerate(drawn):
            value = values[i]
            if value <= 0:
                continue
            h = max(1.0, value / top * plot_h)
            stacked += h
            parts.append(
                f'<rect class="{cls}" x="{at}" y="{base - stacked:.1f}" width="{width}" '
                f'height="{h:.1f}"><title>{name}, {tip}: {figures[i][k]}</title></rect>'
            )
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        x = left + i * slot + slot / 2
        parts.append(_escaped_text(x, base + 18, ticks[i], anchor="middle", cls="tick"))
    head, tail = _open(title, desc, height)
    return table.chart(title, _markup([head, *parts, tail]))


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
    table = _Table.of(labels, series, fmt)
    top = (
        maximum
        if maximum is not None
        else max((max(s.values, default=0) for s in series), default=0)
    )
    if not labels or top <= 0:
        return table.chart(title, _empty(title, desc))
    left, right, bar, gap = 200.0, 90.0, 14.0, 10.0
    group = len(series) * (bar + 2) + gap
    height = 8 + len(labels) * group
    plot_w = WIDTH - left - right
    parts = [f'<line class="axis" x1="{left}" y1="4" x2="{left}" y2="{height - 4:.1f}"/>']
    names, figures = table.names, table.figures
    for i, label in enumerate(table.labels):
        y0 = 8 + i * group
        parts.append(
            _escaped_text(left - 8, y0 + len(series) * (bar + 2) / 2 + 4, label, anchor="end")
        )
        for k, s in enumerate(series):
            value, figure = s.values[i], figures[i][k]
            y = y0 + k * (bar + 2)
            w = 0.0 if value <= 0 else max(1.0, min(value, top) / top * plot_w)
            parts.append(
                f'<rect class="s{k % COLOURS}" x="{left}" y="{y:.1f}" width="{w:.1f}" '
                f'height="{bar}"><title>{label}, {names[k]}: {figure}</title></rect>'
            )
            parts.append(_escaped_text(left + w + 4, y + bar - 3, figure, cls="value"))
    head, tail = _open(title, desc, height)
    return table.chart(title, _markup([head, *parts, tail]))
