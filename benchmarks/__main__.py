"""``python -m benchmarks [--quick] [--only NAME ...]``: every benchmark, one table of ratios.

Each ratio compares two figures measured in the same run (a peer or a limit), because these
machines are noisy: absolute times are given only as detail.
"""

from __future__ import annotations

import argparse
import importlib
import time

from benchmarks._report import Row, print_table

#: Module names under ``benchmarks``, in the order of issue 8's list.
BENCHMARKS = (
    "stripe_overhead",
    "concurrency",
    "async_store",
    "idempotency",
    "webhooks",
    "gateway_overhead",
    "import_time",
    "otel_overhead",
    "redis_store",
    "dashboard",
    "memory",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this one (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run(quick=args.quick))
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
