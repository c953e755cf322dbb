"""M1: the memory of a ``Gateway`` with its default store over a long run of creates.

A child process (so the memory measured is its own, not the parent's or another benchmark's)
builds ``Gateway`` over the stub provider of ``benchmarks.gateway_overhead`` (the provider keeps
nothing, so only unipay's memory counts) with the default store, ``MemoryStore()``, at its
default settings: idempotency records and payments kept 24 hours. Its clock, which the store
takes for tests, is simulated: each create advances it by a tenth of a day's share of the run,
so about a tenth of the creates are within the retention at any moment, and the store must
reach a plateau by the first tenth of the run and stay there. A real clock would make the
plateau depend on how fast a loaded machine creates.

The resident set size (``/proc/self/statm``) is sampled every 1/40 of the run. The row's ratio
is the peak of what the run holds (RSS minus RSS before the first create) over the second half,
against what it held at half-way: about 1.0 when the store is bounded by retention, 2.0 when it
keeps everything (as before issue 19: +393 MiB per 100,000 creates). The payments the store
holds are counted too (the same at half-way and at the end when bounded); the RSS still creeps a
few percent past the plateau, the allocators' fragmentation (tracemalloc sees the Python objects
flat to 0.1 MiB), which the 1.1 allows for.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from benchmarks._report import Row, print_table

TARGET = "<= 1.1"
#: The fraction of the run's creates within the retention at any moment.
LIVE = 0.1
SAMPLES = 40
DAY = 24 * 3600.0
MiB = 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(creates: int) -> dict[str, object]:
    """Run in the child: ``creates`` creates, RSS sampled as it goes (bytes)."""
    from benchmarks.gateway_overhead import StubProvider
    from unipay import Gateway
    from unipay.storage import MemoryStore

    now = [0.0]
    step = DAY / (LIVE * creates)  # retention / step = LIVE * creates live at once
    gateway = Gateway(
        providers=[StubProvider()],
        store=MemoryStore(clock=lambda: now[0]),
        load_installed=False,
    )
    gateway.create_payment(provider="stub", amount=1299, currency="USD")  # warm-up
    gc.collect()
    before = _rss()
    store = gateway.store
    assert isinstance(store, MemoryStore)
    every = creates // SAMPLES
    held: list[int] = []
    kept: list[int] = []
    for index in range(1, creates + 1):
        gateway.create_payment(
            provider="stub", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
        )
        now[0] += step
        if index % every == 0:
            gc.collect()
            held.append(_rss() - before)
            kept.append(len(store._payments))
    return {"before": before, "held": held, "kept": kept}


def run(quick: bool = False) -> list[Row]:
    creates = 100_000 if quick else 1_000_000
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--child", str(creates)],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.splitlines()[-1])
    held: list[int] = result["held"]
    kept: list[int] = result["kept"]
    middle = len(held) // 2 - 1
    half, peak = held[middle], max(held[middle + 1 :])
    detail = (
        f"{creates:,} creates, ~{LIVE * creates:,.0f} within the default 24 h retention "
        f"(simulated clock); held {half / MiB:,.0f} MiB at half-way, peak "
        f"{peak / MiB:,.0f} MiB in the second half, {held[len(held) // 10 - 1] / MiB:,.0f} MiB "
        f"at a tenth; {result['before'] / MiB:,.0f} MiB before the first create; "
        f"payments kept: {kept[middle]:,} at half-way, {kept[-1]:,} at the end"
    )
    return [Row("memory", "Gateway() store: peak 2nd half / half-way", peak / half, TARGET, detail)]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        print_table(run(quick="--quick" in sys.argv))
