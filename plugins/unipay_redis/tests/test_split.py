"""SplitStore (unipay.storage.split), the core half of this plugin: it passes the conformance
suite with any two stores, and its one non-atomic step fails the safe way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from unipay.errors import StoreUnavailable
from unipay.models import Payment, PaymentStatus
from unipay.storage import ClaimState, MemoryStore, SplitStore, SQLStore, Store
from unipay.testing import StoreConformance


class TestSplitMemoryKeysSQLRecords(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SplitStore(keys=MemoryStore(), records=SQLStore(f"sqlite:///{tmp_path / 'r.db'}"))
        yield store
        store.close()


class BrokenRecords(MemoryStore):
    """A record store that is down."""

    def save_payment(self, payment: Payment) -> None:
        raise StoreUnavailable("records are down")


def _payment() -> Payment:
    return Payment(
        provider="mock",
        provider_payment_id="pi_1",
        status=PaymentStatus.SUCCEEDED,
        amount=100,
        currency="USD",
        amount_received=100,
    )


def test_a_record_store_failure_still_completes_the_key_and_is_raised() -> None:
    """The provider answered: a retry must replay, not call it again, even with records down."""
    keys = MemoryStore()
    store = SplitStore(keys=keys, records=BrokenRecords())
    token = store.claim("operation", "k", "fp", lease=60, retention=600).token
    assert token is not None
    with pytest.raises(StoreUnavailable, match="records are down"):
        store.complete("operation", "k", token, '{"r":1}', payment=_payment())
    claim = store.claim("operation", "k", "fp", lease=60, retention=600)
    assert (claim.state, claim.result) == (ClaimState.COMPLETED, '{"r":1}')


async def test_the_async_face_does_the_same_and_routes_each_method() -> None:
    keys, records, payment = MemoryStore(), MemoryStore(), _payment()
    store = SplitStore(keys=keys, records=records)
    claim = await store.aclaim("operation", "k", "fp", lease=60, retention=600)
    assert claim.token is not None
    await store.acomplete("operation", "k", claim.token, "{}", payment=payment)
    assert keys.get_result("operation", "k") == "{}"
    assert records.get_result("operation", "k") is None
    assert records.get_payment(payment.id) == payment
    assert keys.get_payment(payment.id) is None
    assert await store.aget_payment(payment.id) == payment
    broken = SplitStore(keys=MemoryStore(), records=BrokenRecords())
    claim = await broken.aclaim("operation", "k", "fp", lease=60, retention=600)
    assert claim.token is not None
    with pytest.raises(StoreUnavailable):
        await broken.acomplete("operation", "k", claim.token, "{}", payment=_payment())
    assert await broken.aget_result("operation", "k") == "{}"
    await asyncio.gather(store.aclose(), broken.aclose())


def test_repr_purge_and_close_reach_both_parts(tmp_path: Path) -> None:
    records = SQLStore(f"sqlite:///{tmp_path / 'r.db'}")
    store = SplitStore(keys=MemoryStore(), records=records)
    assert repr(store).startswith("SplitStore(keys=<unipay.storage.memory.MemoryStore")
    assert "records=SQLStore('sqlite:///" in repr(store)
    assert store.purge_expired() == 0
    store.close()
