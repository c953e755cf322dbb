"""``import unipay`` against ``import pydantic``, each in a fresh interpreter, by ``-X importtime``.

unipay is built on pydantic, so pydantic's own import is the floor and the fair peer; the ratio
is what unipay adds on top. Pairs are interleaved (unipay, pydantic, unipay, ...) so that a
machine that slows down mid-run slows both sides alike, and the median of the per-pair ratios is
reported with its range. The run also says whether SQLAlchemy was imported (it must not be:
``SQLStore`` is loaded on first use).

The target is issue 15's, "under 100 ms", read as a ratio so that a loaded machine, which slows
both imports alike, does not move the verdict: :data:`TARGET`.

A third interpreter imports the floor: a module that does only what any pydantic SDK with
plugins does at import (pydantic's ``BaseModel`` with one deferred model, pluggy, logging, uuid,
json, hashlib, datetime). Its ratio to ``import pydantic`` says how much of the target is left
for unipay's own code on this machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import Row, print_table

#: As installed: pip writes bytecode, so a PYTHONDONTWRITEBYTECODE=1 shell would time compiling.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


#: What any pydantic-based SDK with plugins imports, and nothing of unipay.
FLOOR = """\
import datetime, hashlib, json, logging, uuid
import pluggy
from pydantic import BaseModel, ConfigDict
class Model(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    amount: int
"""
FLOOR_MODULE = "unipay_import_floor"

#: ``import pydantic`` on this machine, quiet (load under 0.5; pydantic 2.14, Python 3.11): 27 ms
#: (median 27.5 of 15 runs, 2026-11-27). Issue 15's 100 ms is that many times ``import pydantic``:
#: 100 / 27 = 3.70. (Until then the benchmark held 2.50, from a pydantic import timed at about
#: 40 ms on a loaded machine: 2.5 times 27 ms is 67 ms, just above the floor of 64 ms that any
#: pydantic SDK with plugins pays, which would leave unipay's own modules 3 ms.)
PYDANTIC_QUIET_MS = 27.0
TARGET = f"<= {100 / PYDANTIC_QUIET_MS:.2f}"


def import_us(module: str, path: str | None = None) -> tuple[int, str]:
    """The top-level cumulative import time of ``module`` in microseconds, and the report."""
    env = _ENV if path is None else {**_ENV, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    for line in reversed(done.stderr.splitlines()):
        # "import time:   self |  cumulative | name", a top-level import has no indentation.
        _, _, rest = line.partition("import time:")
        fields = rest.split("|")
        if len(fields) == 3 and fields[2] == f" {module}":
            return int(fields[1]), done.stderr
    raise RuntimeError(f"no top-level import of {module} in -X importtime's output")


def run(quick: bool = False) -> list[Row]:
    pairs = 5 if quick else 15
    ratios: list[float] = []
    unipay_ms: list[float] = []
    pydantic_ms: list[float] = []
    floor_ratios: list[float] = []
    floor_ms: list[float] = []
    heavy: set[str] = set()
    floor_dir = tempfile.mkdtemp(prefix="unipay-import-floor-")
    Path(floor_dir, f"{FLOOR_MODULE}.py").write_text(FLOOR)
    import_us("unipay")  # warm-up: bytecode written, files in the page cache
    import_us(FLOOR_MODULE, floor_dir)
    for _ in range(pairs):
        unipay_us, report = import_us("unipay")
        pydantic_us, _ = import_us("pydantic")
        floor_us, _ = import_us(FLOOR_MODULE, floor_dir)
        heavy |= {name for name in ("sqlalchemy", "httpx", "pytest") if _imported(report, name)}
        ratios.append(unipay_us / pydantic_us)
        floor_ratios.append(floor_us / pydantic_us)
        unipay_ms.append(unipay_us / 1000)
        pydantic_ms.append(pydantic_us / 1000)
        floor_ms.append(floor_us / 1000)
    ratio = statistics.median(ratios)
    return [
        Row(
            "import time",
            "import unipay / import pydantic",
            ratio,
            target=TARGET,
            detail=(
                f"median of {pairs} fresh-interpreter pairs, ratios {min(ratios):.2f}-"
                f"{max(ratios):.2f}; unipay {statistics.median(unipay_ms):.0f} ms "
                f"({min(unipay_ms):.0f}-{max(unipay_ms):.0f}; the target: under 100 ms at "
                f"{PYDANTIC_QUIET_MS:.0f} ms of pydantic), pydantic "
                f"{statistics.median(pydantic_ms):.0f} ms; imported: "
                f"{', '.join(sorted(heavy)) or 'no sqlalchemy, httpx or pytest'}"
            ),
        ),
        Row(
            "import time",
            "floor (pydantic model + pluggy) / import pydantic",
            statistics.median(floor_ratios),
            detail=(
                f"ratios {min(floor_ratios):.2f}-{max(floor_ratios):.2f}; floor "
                f"{statistics.median(floor_ms):.0f} ms ({min(floor_ms):.0f}-{max(floor_ms):.0f})"
            ),
        ),
    ]


def _imported(report: str, name: str) -> bool:
    return any(line.rsplit("|", 1)[-1].strip() == name for line in report.splitlines())


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
