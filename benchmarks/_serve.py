"""One way to run an ASGI app for a benchmark: ``uvicorn --factory`` in a process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: How long a server may take to start listening on a loaded machine.
STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pin(pid: int, cpu: int) -> None:
    """Keep ``pid`` (and the threads it starts later) on one core, when there are two."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


@contextmanager
def uvicorn(
    factory: str, *, env: dict[str, str] | None = None, cpu: int | None = None
) -> Iterator[int]:
    """``uvicorn --factory <factory>`` (``module:function``) on a free loopback port, pinned
    to ``cpu`` when given and the machine has two cores; yields the port once it listens."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory,
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
    process = subprocess.Popen(command, env=None if env is None else {**os.environ, **env})
    if cpu is not None:
        pin(process.pid, cpu)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"uvicorn for {factory} did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(STARTUP_TIMEOUT)
