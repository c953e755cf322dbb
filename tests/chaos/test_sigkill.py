"""50 rounds: a worker SIGKILLed at a random point of create_payment; then, for every key, at
most one charge at the mock, and a retry with the key returns that charge (exactly one)."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from unipay import Gateway, IdempotencyPolicy, Payment
from unipay.storage import SQLStore
from unipay_mock import Ledger, MockProvider

from .conftest import Tally
from .crasher import CHARGE, POINTS

CRASHER = str(Path(__file__).with_name("crasher.py"))
ROUNDS = 50
Kill = Callable[[str, str], int]


@pytest.fixture
def kill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Kill, SQLStore, str]]:
    """A crasher process over the parametrised store; yields kill(point, key) -> exit status."""
    store: SQLStore = request.getfixturevalue(request.param)
    store.get_payment("mock:none")  # the tables exist before any child dies creating them
    url = store.engine.url.render_as_string(hide_password=False)
    ledger = str(tmp_path / "mock-ledger.db")
    proc = subprocess.Popen(
        [sys.executable, CRASHER, url, store.table_prefix, ledger],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"

    def play(point: str, key: str) -> int:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(f"{point} {key}\n")
        proc.stdin.flush()
        return int(proc.stdout.readline())

    try:
        yield play, store, ledger
    finally:
        proc.stdin.close()
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill", ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)  # fmt: skip
def test_sigkill_at_a_random_point_then_retry(
    kill: tuple[Kill, SQLStore, str], tally: Tally
) -> None:
    play, store, ledger_path = kill
    ledger = Ledger(ledger_path)
    # The dead worker's lock runs out after 0.2 s; the retry waits for it and takes the key over.
    retry = Gateway(
        store=store,
        providers=[MockProvider(ledger=ledger_path)],
        load_installed=False,
        idempotency=IdempotencyPolicy(lock_timeout=0.2, wait=10, poll_interval=0.02),
    )
    rng = random.Random(8)
    seen: list[tuple[str, int, int, int, Payment]] = []
    for _ in range(ROUNDS):
        point, key = rng.choice(POINTS), str(uuid.uuid4())
        status = play(point, key)
        before = ledger.count_payments(created_with_key=key)
        payment = retry.create_payment(**CHARGE, idempotency_key=key)
        after = ledger.count_payments(created_with_key=key)
        lost = ledger.get_payment(payment.provider_payment_id) is None
        tally.round(after, lost=lost)
        seen.append((point, status, before, after, payment))
        assert not lost, point
    for point, status, before, after, payment in seen:
        assert status == -9, point
        assert before == (0 if point in ("before_claim", "after_claim") else 1), point
        assert after == 1, point
        assert payment.replayed is (point == "after_complete"), point
    assert {point for point, *_ in seen} == set(POINTS)
