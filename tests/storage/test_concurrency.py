"""The done-when proofs: many callers, one key, exactly one execution at the provider.

Threads share one gateway on the memory store; separate processes share a SQLite file or a
PostgreSQL schema. The provider charges every call anew and counts it (``CountingMock``), so a key
unipay lets through twice is two provider calls here, not hidden by a provider's own idempotency.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from unipay import Gateway, IdempotencyPolicy
from unipay.errors import IdempotencyInProgress
from unipay.storage import MemoryStore, SQLStore

from ..counting_provider import CHARGE, CallLog, CountingMock  # noqa: TID252

WORKER = str(Path(__file__).with_name("worker.py"))
THREADS, PROCESSES, ROUNDS = 32, 8, 12
#: The crash test's child holds its claim this long: a caller right after its death still finds
#: the key held, and a retry waiting a few seconds takes it over.
CRASH_LOCK_TIMEOUT = 2.0


def test_32_threads_one_key_one_execution_memory() -> None:
    mock = CountingMock(latency=0.002)
    gateway = Gateway(store=MemoryStore(), providers=[mock], load_installed=False)
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        barrier = threading.Barrier(THREADS)

        def call(_: int, key: str = key, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            try:
                return gateway.create_payment(**CHARGE, idempotency_key=key).id
            except IdempotencyInProgress:
                return "in_progress"

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(call, range(THREADS)))
        assert mock.log.calls(key) == 1, answers
        assert len(set(answers) - {"in_progress"}) == 1


class Fleet:
    """Long-lived race workers over one SQL store, one per entry of ``hosts`` (each entry the
    worker's extra options); ``play`` races them all on one key and returns their answers."""

    def __init__(self, store: SQLStore, directory: Path, hosts: Sequence[Sequence[str]]) -> None:
        store.get_payment("mock:none")  # tables exist before the workers race to use them
        url = store.engine.url.render_as_string(hide_password=False)
        self.log = CallLog(str(directory / "provider-calls.log"))
        assert self.log.path is not None
        ledger = str(directory / "mock-ledger.db")
        command = [sys.executable, WORKER, "race", url, store.table_prefix, ledger, self.log.path]
        self.procs = [
            subprocess.Popen(
                [*command, *options], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for options in hosts
        ]
        for proc in self.procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"

    def play(self, key: str, delays: Sequence[float] | None = None) -> list[dict[str, Any]]:
        """Every worker calls with ``key`` at one moment, or ``delays[i]`` seconds after it."""
        start_at = time.time() + 0.05
        for i, proc in enumerate(self.procs):
            assert proc.stdin is not None
            proc.stdin.write(f"{key} {start_at + (delays[i] if delays else 0.0)}\n")
            proc.stdin.flush()
        return [json.loads(proc.stdout.readline()) for proc in self.procs if proc.stdout]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(30)


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """PROCESSES identical race workers against the parametrised store."""
    fleet = Fleet(request.getfixturevalue(request.param), tmp_path, [[]] * PROCESSES)
    yield fleet
    fleet.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "workers",
    ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_8_processes_one_key_one_execution(workers: Fleet) -> None:
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        answers = workers.play(key)
        assert workers.log.calls(key) == 1, answers
        ids = {a["id"] for a in answers if "id" in a}
        assert len(ids) == 1, answers
        assert {a["error"] for a in answers if "error" in a} <= {"IdempotencyInProgress"}
        assert sum(1 for a in answers if a.get("replayed") is False) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)]
)
def test_sigkill_between_charge_and_store_then_retry_returns_the_same_payment(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: SQLStore = request.getfixturevalue(kind)
    url = store.engine.url.render_as_string(hide_password=False)
    ledger_path, calls_path = str(tmp_path / "mock-ledger.db"), str(tmp_path / "calls.log")
    key = str(uuid.uuid4())
    command = [sys.executable, WORKER, "crash", url, store.table_prefix, ledger_path, calls_path]
    child = subprocess.run(
        [*command, key, "--lock-timeout", str(CRASH_LOCK_TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    charged_id = child.stdout.strip()
    # The recovery re-sends the key, so this provider deduplicates it as Stripe does.
    mock = CountingMock(ledger=ledger_path, log=calls_path, dedupe=True)
    assert mock.log.calls(key) == 1

    def gateway(policy: IdempotencyPolicy) -> Gateway:
        return Gateway(store=store, providers=[mock], load_installed=False, idempotency=policy)

    with pytest.raises(IdempotencyInProgress):
        gateway(IdempotencyPolicy(lock_timeout=300)).create_payment(**CHARGE, idempotency_key=key)
    assert mock.log.calls(key) == 1  # the dead child's claim kept this caller off the provider
    # Once the dead child's claim runs out, the waiting retry takes the key over.
    retry = gateway(IdempotencyPolicy(lock_timeout=0.2, wait=10, poll_interval=0.02))
    payment = retry.create_payment(**CHARGE, idempotency_key=key)
    assert payment.id == charged_id
    assert mock.log.calls(key) == 2  # re-sent once, answered with the first charge
    assert mock.ledger.count_payments(created_with_key=key) == 1
    assert retry.create_payment(**CHARGE, idempotency_key=key).replayed
    assert mock.log.calls(key) == 2
