"""The metrics page's own formatting and escaping, against the dashboard's general ones."""

from __future__ import annotations

import pytest
from markupsafe import escape

from unipay.money import CURRENCY_EXPONENTS
from unipay.server.dashboard.charts import Series, _escape_all, bar_chart, column_chart
from unipay.server.dashboard.metrics import _amounts
from unipay.server.dashboard.render import _money

AMOUNTS = [0, 1, 9, 10, 99, 100, 101, 999, 1000, 1299, 123_456, 99_999_999, 10**15 + 7, -1, -5]


@pytest.mark.parametrize("currency", [*sorted(CURRENCY_EXPONENTS), "usd", "Jpy", "?", "XYZ"])
def test_a_volume_figure_is_written_as_money_is(currency: str) -> None:
    """Every currency (each exponent: 0, 2, 3, 4), in any case, and one the table does not
    know; a chart's sums are floats."""
    amount = _amounts(currency)
    for value in AMOUNTS:
        assert amount(float(value)) == _money(value, currency), (currency, value)


def test_a_chart_escapes_its_names_labels_and_figures() -> None:
    """Each text of a chart's SVG is escaped as ``escape`` would, even one holding the
    separator the charts escape their texts with in one call."""
    odd = ["<b>", "a&b", 'say "hi"', "it's", "nul\0here"]
    assert _escape_all(odd) == [str(escape(text)) for text in odd]
    assert _escape_all([]) == []
    series = [Series("x<y", [1.0, 2.0]), Series("p&q", [3.0, 0.0])]

    def fmt(value: float) -> str:
        return f"{value:g} " + {1.0: "<", 2.0: "&", 3.0: "'", 0.0: '"'}.get(value, ">")

    for chart in (
        column_chart("t", "d", ["<h1>", "a\0b"], series, fmt=fmt),
        bar_chart("t", "d", ["<h1>", "a\0b"], series, fmt=fmt),
    ):
        svg = str(chart.svg)
        assert "<h1>" not in svg and "x<y" not in svg and "a\0b<" in svg
        assert "x&lt;y, &lt;h1&gt;: 1 &lt;" in svg or "&lt;h1&gt;, x&lt;y: 1 &lt;" in svg
        assert "a&#34;b" not in svg and "p&amp;q" in svg and "3 &#39;" in svg
        assert chart.rows[0] == ["<h1>", "1 <", "3 '"]
        assert chart.body.startswith(
            '        <tr><th scope="row">&lt;h1&gt;</th><td class="num">1 &lt;</td>'
            '<td class="num">3 &#39;</td></tr>\n'
        )
