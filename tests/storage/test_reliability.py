"""The reliability review's defects, each on memory, a SQLite file and PostgreSQL, both faces.

- Whose time decides a claim: the store's, and the claimer's lease (not a reader's clock or its
  lock timeout).
- Concurrent refunds on one payment: no lost update, and the per-payment checks see the truth.
- A cancelled async call leaves its key usable, even if its release is cancelled too.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from unipay import AsyncGateway, Capabilities, Gateway, IdempotencyPolicy, RetryPolicy
from unipay.errors import IdempotencyInProgress, InvalidRequest, UnsupportedOperation
from unipay.storage import MemoryStore, Store
from unipay_mock import MockProvider

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 1000,
    "currency": "USD",
    "payment_method": "pm_card_visa",
}
HOUR = 3600.0


@pytest.fixture
def key() -> str:
    return str(uuid.uuid4())


# --- 1. the store's time and the claimer's lease ----------------------------------------------


async def test_a_fast_clock_and_a_short_lock_timeout_cannot_take_over_a_live_claim(
    make_face: Any, any_store: Store, mock: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host 90 s (and 25 h) ahead with lock_timeout=0.5 meets a claim leased for 300 s."""
    holder = make_face(idempotency=IdempotencyPolicy(lock_timeout=300))
    mock.crash_after_work = True
    with monkeypatch.context() as dying:
        dying.setattr(any_store, "release", lambda *args: None)  # a dead process releases nothing
        with pytest.raises(mock.Crash):
            await holder("create_payment", **CHARGE, idempotency_key=key)
    mock.crash_after_work = False
    for skew in (90.0, 25 * HOUR, -HOUR):
        other = make_face(
            idempotency=IdempotencyPolicy(lock_timeout=0.5),
            clock=lambda skew=skew: time.time() + skew,
        )
        await asyncio.sleep(0.6)  # longer than the reader's own lock timeout
        with pytest.raises(IdempotencyInProgress):
            await other("create_payment", **CHARGE, idempotency_key=key)
    assert len(mock.calls) == 1


async def test_a_fast_clock_does_not_expire_a_completed_key(
    make_face: Any, mock: Any, key: str
) -> None:
    first = await make_face()("create_payment", **CHARGE, idempotency_key=key)
    ahead = make_face(clock=lambda: time.time() + 25 * HOUR)
    again = await ahead("create_payment", **CHARGE, idempotency_key=key)
    assert again.replayed and again.id == first.id
    assert len(mock.calls) == 1


def test_the_memory_store_counts_time_on_its_own_monotonic_clock() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    assert store.claim("operation", "k", "fp", lease=10, retention=100).token
    now[0] += 9.9
    assert store.claim("operation", "k", "fp", lease=0.001, retention=100).token is None
    now[0] += 0.2
    assert store.claim("operation", "k", "fp", lease=10, retention=100).token


# --- 2. concurrent refunds on one payment -----------------------------------------------------


REFUNDERS = 8


def test_concurrent_refunds_are_all_counted_in_the_stored_payment(any_store: Store) -> None:
    """8 threads each refund 150 of 1,000: the stored refunded amount is what the provider
    refunded (900), never one thread's stale copy plus its own refund."""
    mock = MockProvider(latency=0.01)
    gateway = Gateway(
        store=any_store,
        providers=[mock],
        load_installed=False,
        idempotency=IdempotencyPolicy(lock_timeout=30),
    )
    payment = gateway.create_payment(**CHARGE)
    barrier = threading.Barrier(REFUNDERS)

    def refund(_: int) -> int:
        barrier.wait()
        try:
            return gateway.refund_payment(payment.id, amount=150).amount
        except InvalidRequest:  # more than is left to refund
            return 0

    with ThreadPoolExecutor(REFUNDERS) as pool:
        refunded = sum(pool.map(refund, range(REFUNDERS)))
    assert refunded == 900
    stored = gateway.stored_payment(payment.id)
    assert stored is not None
    assert stored.amount_refunded == 900
    assert gateway.retrieve_payment(payment.id).amount_refunded == 900


async def test_concurrent_async_refunds_are_all_counted(any_store: Store) -> None:
    mock = MockProvider(latency=0.01)
    gateway = AsyncGateway(store=any_store, providers=[mock], load_installed=False)
    payment = await gateway.create_payment(**CHARGE)
    refunds = await asyncio.gather(
        *(gateway.refund_payment(payment.id, amount=100) for _ in range(REFUNDERS))
    )
    assert sum(refund.amount for refund in refunds) == 800
    stored = await gateway.stored_payment(payment.id)
    assert stored is not None
    assert stored.amount_refunded == 800


class OneRefundMock(MockProvider):
    """A provider that allows one (partial) refund per payment."""

    capabilities = Capabilities(partial_refunds=True, multiple_refunds=False)


def test_two_concurrent_refunds_cannot_both_pass_the_one_refund_check(any_store: Store) -> None:
    mock = OneRefundMock(latency=0.05)
    gateway = Gateway(store=any_store, providers=[mock], load_installed=False)
    payment = gateway.create_payment(**CHARGE)
    barrier = threading.Barrier(2)

    def refund(_: int) -> str:
        barrier.wait()
        try:
            gateway.refund_payment(payment.id, amount=100)
        except UnsupportedOperation:
            return "refused"
        return "refunded"

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(refund, range(2))) == ["refunded", "refused"]
    assert gateway.retrieve_payment(payment.id).amount_refunded == 100


# --- 3. cancellation ------------------------------------------------------------------------


async def test_a_cancelled_call_leaves_its_key_usable(any_store: Store, key: str) -> None:
    mock = MockProvider(latency=1.0)
    gateway = AsyncGateway(
        store=any_store,
        providers=[mock],
        load_installed=False,
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gateway.create_payment(**CHARGE, idempotency_key=key), 0.1)
    mock.latency = 0.0
    payment = await gateway.create_payment(**CHARGE, idempotency_key=key)
    assert payment.status.value == "succeeded"


class SlowRelease(MemoryStore):
    """A store whose release takes a while, so a second cancellation can land inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.releasing = asyncio.Event()

    async def arelease(self, scope: str, key: str, token: str) -> None:
        self.releasing.set()
        await asyncio.sleep(0.2)
        self.release(scope, key, token)


async def test_the_release_survives_a_second_cancellation(key: str) -> None:
    store = SlowRelease()
    mock = MockProvider(latency=1.0)
    gateway = AsyncGateway(store=store, providers=[mock], load_installed=False)
    task = asyncio.ensure_future(gateway.create_payment(**CHARGE, idempotency_key=key))
    await asyncio.sleep(0.05)
    task.cancel()
    await store.releasing.wait()
    task.cancel()  # again, in the middle of the release
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.claim("operation", key, "other", lease=1, retention=1).token is not None


def test_an_interrupt_in_the_sync_face_releases_the_key(key: str) -> None:
    class Interrupted(MockProvider):
        def _work(self, operation: str, *args: Any) -> Any:
            raise KeyboardInterrupt

    store = MemoryStore()
    gateway = Gateway(store=store, providers=[Interrupted()], load_installed=False)
    with pytest.raises(KeyboardInterrupt):
        gateway.create_payment(**CHARGE, idempotency_key=key)
    assert store.claim("operation", key, "other", lease=1, retention=1).token is not None


class SlowClaim(MemoryStore):
    """A store whose claim is made at once but answered late, so a cancellation lands after the
    key was taken (as with a SQL store, whose claim runs on in its worker thread)."""

    async def aclaim(self, *args: Any, **kwargs: Any) -> Any:
        claim = self.claim(*args, **kwargs)
        await asyncio.sleep(0.2)
        return claim


async def test_a_call_cancelled_during_its_claim_leaves_the_key_usable(key: str) -> None:
    store = SlowClaim()
    mock = MockProvider()
    gateway = AsyncGateway(store=store, providers=[mock], load_installed=False)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gateway.create_payment(**CHARGE, idempotency_key=key), 0.05)
    payment = await gateway.create_payment(**CHARGE, idempotency_key=key)
    assert not payment.replayed
