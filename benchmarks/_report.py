"""The one method and table every benchmark uses: paired ratios, not absolute times.

These machines are noisy, and a figure measured at another moment is not comparable. So each
comparison measures its two sides in the same run, interleaved (A B, then B A, so that drift
hits both alike), at least :data:`MIN_PAIRS` pairs, and reports the median of the pairs' ratios
with their range (:func:`paired`, :func:`paired_row`). Absolute figures are detail, never the
verdict.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Fewer pairs than this is not a measurement (issue 19): one sample swung 1.02-1.39 between runs.
MIN_PAIRS = 5


@dataclass(frozen=True)
class Row:
    benchmark: str
    #: What is measured against what, e.g. "unipay sync / stripe sync".
    comparison: str
    ratio: float
    #: e.g. "<= 1.10"; empty when there is no target.
    target: str = ""
    #: Absolute figures for context (ops/s, ms), never the verdict.
    detail: str = ""

    @property
    def verdict(self) -> str:
        if not self.target:
            return ""
        op, _, limit = self.target.partition(" ")
        value = float(limit.rstrip("x"))
        ok = self.ratio <= value if op == "<=" else self.ratio >= value
        return "ok" if ok else "MISSED"


@dataclass(frozen=True)
class Pairs:
    """Interleaved measurements of two sides: each pair's ratio ``a / b`` and both figures."""

    ratios: list[float]
    a: list[float]
    b: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def spread(self) -> str:
        return f"range {min(self.ratios):.2f}-{max(self.ratios):.2f} over {len(self.ratios)} pairs"

    def inverted(self) -> Pairs:
        """The same pairs as ``b / a``: a time ratio read as a throughput ratio."""
        return Pairs([1 / r for r in self.ratios], self.b, self.a)


def paired(a: Callable[[], float], b: Callable[[], float], pairs: int = MIN_PAIRS) -> Pairs:
    """``pairs`` interleaved measurements of ``a`` and ``b`` (each returns its figure: seconds,
    ops/s, bytes), the order alternating A B, B A, so that drift hits both sides alike."""
    if pairs < MIN_PAIRS:
        raise ValueError(f"{pairs} pairs is too few: at least {MIN_PAIRS}")
    ratios, seen_a, seen_b = [], [], []
    for i in range(pairs):
        if i % 2 == 0:
            x = a()
            y = b()
        else:
            y = b()
            x = a()
        ratios.append(x / y)
        seen_a.append(x)
        seen_b.append(y)
    return Pairs(ratios, seen_a, seen_b)


def paired_row(
    benchmark: str,
    comparison: str,
    measured: Pairs,
    target: str = "",
    *,
    unit: str = "",
    scale: float = 1.0,
    note: str = "",
) -> Row:
    """A row of the median ratio, its range, and each side's median figure (times ``scale``,
    in ``unit``) as detail."""
    a, b = statistics.median(measured.a) * scale, statistics.median(measured.b) * scale
    detail = f"{measured.spread}; median {a:,.1f} vs {b:,.1f} {unit}".rstrip()
    return Row(benchmark, comparison, measured.median, target, f"{detail}{note}")


def timed(func: Callable[[], object]) -> Callable[[], float]:
    """``func`` as a side of :func:`paired`: the seconds one call takes."""

    def side() -> float:
        start = time.perf_counter()
        func()
        return time.perf_counter() - start

    return side


def print_table(rows: Iterable[Row]) -> None:
    rows = list(rows)
    headers = ("benchmark", "comparison", "ratio", "target", "", "detail")
    cells = [
        (r.benchmark, r.comparison, f"{r.ratio:.3f}", r.target, r.verdict, r.detail) for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
