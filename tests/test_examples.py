"""The runnable examples run, as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    created, retried, captured, refunded, declined, asynchronous = lines
    assert created[2:] == ["requires_capture", "12.99", "USD"]
    assert retried[1] == created[1] and retried[2] == "replayed"
    assert captured[1:] == ["succeeded", "10.00", "USD"]
    assert refunded[1:] == ["succeeded", "5.00", "USD"]
    assert declined[1] == "insufficient_funds"
    assert asynchronous[1:] == ["succeeded", "500", "JPY"]
