"""The one table format every benchmark prints: ratios, not absolute times (machines are noisy)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


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


def best_of(repeats: int, func: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timings of ``func()`` in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best
