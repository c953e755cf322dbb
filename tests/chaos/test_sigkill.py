"""50 rounds: a worker SIGKILLed at a random point of create_payment; then a retry with the key
returns the one charge. Provider calls are counted per key before the provider deduplicates them,
so a retry that ran a live or finished key again shows as an extra call."""

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

from ..counting_provider import CHARGE, CallLog, CountingMock  # noqa: TID252
from .conftest import Tally

CRASHER = str(Path(__file__).with_name("crasher.py"))
ROUNDS = 50
Kill = Callable[[str, str], int]
#: point -> provider calls by the killed child, and in all once the retry is done. Only a crash
#: after the provider call makes the retry call again (the provider answers with the first charge).
POINTS: dict[str, tuple[int, int]] = {
    "before_claim": (0, 1),
    "after_claim": (0, 1),
    "after_provider": (1, 2),
    "after_complete": (1, 1),
}


@pytest.fixture
def kill(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Kill, SQLStore, str, CallLog]]:
    """A crasher process over the parametrised store; yields kill(point, key) -> exit status."""
    store: SQLStore = request.getfixturevalue(request.param)
    store.get_payment("mock:none")  # the tables exist before any child dies creating them
    url = store.engine.url.render_as_string(hide_password=False)
    ledger = str(tmp_path / "mock-ledger.db")
    log = CallLog(str(tmp_path / "provider-calls.log"))
    assert log.path is not None
    proc = subprocess.Popen(
        [sys.executable, CRASHER, url, store.table_prefix, ledger, log.path],
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
        yield play, store, ledger, log
    finally:
        proc.stdin.close()
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill", ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)  # fmt: skip
def test_sigkill_at_a_random_point_then_retry(
    kill: tuple[Kill, SQLStore, str, CallLog], tally: Tally
) -> None:
    play, store, ledger_path, log = kill
    mock = CountingMock(ledger=ledger_path, log=log, dedupe=True)
    # Once the dead worker's claim runs out, the waiting retry takes the key over.
    retry = Gateway(
        store=store,
        providers=[mock],
        load_installed=False,
        idempotency=IdempotencyPolicy(lock_timeout=0.2, wait=10, poll_interval=0.02),
    )
    rng = random.Random(8)
    seen: list[tuple[str, int, int, int, Payment]] = []
    for _ in range(ROUNDS):
        point, key = rng.choice(list(POINTS)), str(uuid.uuid4())
        status = play(point, key)
        before = log.calls(key)
        payment = retry.create_payment(**CHARGE, idempotency_key=key)
        after = log.calls(key)
        lost = mock.ledger.get_payment(payment.provider_payment_id) is None
        tally.round(after, resent=point == "after_provider", lost=lost)
        seen.append((point, status, before, after, payment))
        assert not lost, point
    for point, status, before, after, payment in seen:
        assert status == -9, point
        assert (before, after) == POINTS[point], point
        assert payment.replayed is (point == "after_complete"), point
    assert {point for point, *_ in seen} == set(POINTS)
