"""The PostgreSQL connection terminated (pg_terminate_backend) before and in the middle of a call:
a clean StoreUnavailable, no charge without a claimed key, and the next call works."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from unipay import Gateway, IdempotencyPolicy, Payment
from unipay.errors import StoreUnavailable
from unipay.models import CreatePaymentRequest
from unipay.provider import CallContext
from unipay.storage import SQLStore
from unipay_mock import MockProvider

from .conftest import Tally
from .crasher import CHARGE

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class Cutter:
    """Terminates every backend of the store under test, from a connection of its own."""

    def __init__(self, url: str, application: str) -> None:
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.application = application

    def __call__(self) -> int:
        with self.engine.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.application},
                ).all()
            )


class CuttingMock(MockProvider):
    """The mock, cutting the store's connections while it charges (after the claim)."""

    cut: Cutter | None = None

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        if self.cut is not None:
            assert self.cut() >= 1
        return super().create_payment(request, ctx)


@pytest.fixture
def setup(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, CuttingMock, Cutter]]:
    application = f"unipay-chaos-{uuid.uuid4().hex[:8]}"
    store = SQLStore(
        postgres_url,
        table_prefix=f"c{uuid.uuid4().hex[:10]}_",
        engine_options={"connect_args": {"application_name": application}},
    )
    mock = CuttingMock(ledger=str(tmp_path / "mock-ledger.db"))
    policy = IdempotencyPolicy(lock_timeout=0.2, wait=10, poll_interval=0.02)
    gateway = Gateway(store=store, providers=[mock], load_installed=False, idempotency=policy)
    cut = Cutter(postgres_url, application)
    yield gateway, mock, cut
    store.metadata.drop_all(store.engine)
    store.close()
    cut.engine.dispose()


def _charge(gateway: Gateway, key: str) -> Payment:
    charge: dict[str, Any] = CHARGE
    return gateway.create_payment(**charge, idempotency_key=key)


def test_connection_dropped_before_the_claim(setup: Any, tally: Tally) -> None:
    gateway, mock, cut = setup
    _charge(gateway, str(uuid.uuid4()))  # the pool now holds a live connection
    assert cut() >= 1
    key = str(uuid.uuid4())
    with pytest.raises(StoreUnavailable, match="unipay store"):
        _charge(gateway, key)
    assert mock.ledger.count_payments(created_with_key=key) == 0  # no claim, no charge
    payment = _charge(gateway, key)  # the pool dropped the dead connection: the next call works
    assert payment.replayed is False
    charges = mock.ledger.count_payments(created_with_key=key)
    tally.round(charges)
    assert charges == 1


def test_connection_dropped_during_the_provider_call(setup: Any, tally: Tally) -> None:
    gateway, mock, cut = setup
    _charge(gateway, str(uuid.uuid4()))
    key = str(uuid.uuid4())
    mock.cut = cut
    with pytest.raises(StoreUnavailable, match="could not be stored"):
        _charge(gateway, key)
    mock.cut = None
    assert mock.ledger.count_payments(created_with_key=key) == 1
    store: SQLStore = gateway.store  # type: ignore[assignment]
    records = store.metadata.tables[f"{store.table_prefix}idempotency"]
    with store.engine.connect() as connection:
        held = connection.execute(select(records.c.token).where(records.c.key == key)).scalar()
    assert held is not None  # the charge was made under a claimed key, still held
    payment = _charge(gateway, key)  # after the lock timeout the retry takes the key over
    charges = mock.ledger.count_payments(created_with_key=key)
    lost = mock.ledger.get_payment(payment.provider_payment_id) is None
    tally.round(charges, lost=lost)
    assert charges == 1
    assert not lost
    assert _charge(gateway, key).replayed
