"""The PostgreSQL connection terminated (pg_terminate_backend) before and in the middle of a call.

A pooled connection that the server closed is replaced once, transparently (the store retries the
statement on a fresh connection), so the call succeeds with exactly one provider call; a database
that stays down is a clean StoreUnavailable before any provider call (tests/storage/test_outage.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from unipay import Gateway, IdempotencyPolicy, Payment
from unipay.models import CreatePaymentRequest
from unipay.provider import CallContext, Flow
from unipay.storage import SQLStore

from ..counting_provider import CHARGE, CountingMock  # noqa: TID252
from .conftest import Tally

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


class CuttingMock(CountingMock):
    """The counting mock, cutting the store's connections while it charges (after the claim).

    It deduplicates keys as Stripe does: after a cut mid-call the retry re-sends the key.
    """

    cut: Cutter | None = None

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        if self.cut is not None:
            assert self.cut() >= 1
        return (yield from super().create_payment(request, ctx))


@pytest.fixture
def setup(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, CuttingMock, Cutter]]:
    application = f"unipay-chaos-{uuid.uuid4().hex[:8]}"
    store = SQLStore(
        postgres_url,
        table_prefix=f"c{uuid.uuid4().hex[:10]}_",
        engine_options={"connect_args": {"application_name": application}},
    )
    mock = CuttingMock(ledger=str(tmp_path / "mock-ledger.db"), dedupe=True)
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
    payment = _charge(gateway, key)  # the dead pooled connection is replaced: the call works
    assert payment.replayed is False
    calls = mock.log.calls(key)
    tally.round(calls)
    assert calls == 1


def test_connection_dropped_during_the_provider_call(setup: Any, tally: Tally) -> None:
    gateway, mock, cut = setup
    _charge(gateway, str(uuid.uuid4()))
    key = str(uuid.uuid4())
    mock.cut = cut
    payment = _charge(gateway, key)  # the outcome is stored on a fresh connection
    mock.cut = None
    store: SQLStore = gateway.store  # type: ignore[assignment]
    records = store.metadata.tables[f"{store.table_prefix}idempotency"]
    with store.engine.connect() as connection:
        row = connection.execute(
            select(records.c.token, records.c.result).where(records.c.key == key)
        ).one()
    assert row.token is None and row.result is not None  # completed, not left held
    calls = mock.log.calls(key)
    lost = mock.ledger.get_payment(payment.provider_payment_id) is None
    tally.round(calls, lost=lost)
    assert calls == 1
    assert not lost
    assert _charge(gateway, key).replayed
    assert mock.log.calls(key) == 1
