"""The done-when proofs: many callers, one key, exactly one execution at the provider.

Threads share one gateway on the memory store; separate processes share a SQLite file or a
PostgreSQL schema, and one mock ledger file (the mock's own books, as Stripe's would be).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from unipay import Gateway, IdempotencyPolicy
from unipay.errors import IdempotencyInProgress
from unipay.storage import MemoryStore, SQLStore
from unipay_mock import Ledger, MockProvider

WORKER = str(Path(__file__).with_name("worker.py"))
CHARGE = {"provider": "mock", "amount": 4200, "currency": "USD", "payment_method": "pm_card_visa"}
THREADS, PROCESSES, ROUNDS = 32, 8, 12


def test_32_threads_one_key_one_execution_memory() -> None:
    mock = MockProvider(latency=0.002)
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
        assert mock.ledger.count_payments(created_with_key=key) == 1
        assert len(set(answers) - {"in_progress"}) == 1


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Starts PROCESSES race workers against a store; yields a function that plays one round."""
    store: SQLStore = request.getfixturevalue(request.param)
    store.get_payment("mock:none")  # tables exist before the workers race to use them
    url = store.engine.url.render_as_string(hide_password=False)
    ledger = str(tmp_path / "mock-ledger.db")
    command = [sys.executable, WORKER, "race", url, store.table_prefix, ledger]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"

    def play(key: str) -> list[dict[str, Any]]:
        start_at = time.time() + 0.05
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{key} {start_at}\n")
            proc.stdin.flush()
        return [json.loads(proc.stdout.readline()) for proc in procs if proc.stdout]

    yield play, Ledger(ledger)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "workers",
    ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_8_processes_one_key_one_execution(workers: Any) -> None:
    play, ledger = workers
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        answers = play(key)
        assert ledger.count_payments(created_with_key=key) == 1
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
    ledger_path = str(tmp_path / "mock-ledger.db")
    key = str(uuid.uuid4())
    child = subprocess.run(
        [sys.executable, WORKER, "crash", url, store.table_prefix, ledger_path, key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    charged_id = child.stdout.strip()
    mock = MockProvider(ledger=ledger_path)
    assert mock.ledger.count_payments(created_with_key=key) == 1

    def gateway(policy: IdempotencyPolicy) -> Gateway:
        return Gateway(store=store, providers=[mock], load_installed=False, idempotency=policy)

    with pytest.raises(IdempotencyInProgress):
        gateway(IdempotencyPolicy(lock_timeout=300)).create_payment(**CHARGE, idempotency_key=key)
    # The dead child's lock runs out after 0.2 s; waiting for it, the retry takes it over.
    retry = gateway(IdempotencyPolicy(lock_timeout=0.2, wait=10, poll_interval=0.02))
    payment = retry.create_payment(**CHARGE, idempotency_key=key)
    assert payment.id == charged_id
    assert mock.ledger.count_payments(created_with_key=key) == 1
    assert retry.create_payment(**CHARGE, idempotency_key=key).replayed
