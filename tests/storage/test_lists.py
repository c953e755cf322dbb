"""``Store.list_payments`` and ``Store.list_refunds`` on every store: order, filters, keyset
pages, and a SQLite table created by 0.2 (no list columns) upgraded in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from unipay.models import Payment, PaymentStatus, Refund, RefundStatus
from unipay.storage import SQLStore, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def payment(n: int, *, provider: str = "mock", status: str = "succeeded", at: int = 0) -> Payment:
    return Payment(
        provider=provider,
        provider_payment_id=f"pi_{n:04d}",
        status=PaymentStatus(status),
        amount=1000,
        currency="USD",
        amount_received=1000 if status == "succeeded" else 0,
        created_at=T0 + timedelta(seconds=at if at else n),
    )


def refund(n: int, payment_id: str, *, at: int) -> Refund:
    provider, _, _ = payment_id.partition(":")
    return Refund(
        provider=provider,
        provider_refund_id=f"re_{n:04d}",
        payment_id=payment_id,
        amount=100,
        currency="USD",
        status=RefundStatus.SUCCEEDED,
        created_at=T0 + timedelta(seconds=at),
    )


def ids(payments: list[Payment]) -> list[str]:
    return [p.id for p in payments]


def test_pages_are_newest_first_and_never_skip_or_repeat(any_store: Store) -> None:
    for n in range(1, 26):
        any_store.save_payment(payment(n))
    # Equal timestamps: the id breaks the tie, so a page boundary inside them loses nothing.
    for n in range(26, 31):
        any_store.save_payment(payment(n, at=100))
    seen: list[str] = []
    cursor = None
    while page := any_store.list_payments(limit=7, starting_after=cursor):
        seen += ids(page)
        cursor = page[-1].id
    expected = [f"mock:pi_{n:04d}" for n in [30, 29, 28, 27, 26, *range(25, 0, -1)]]
    assert seen == expected


def test_filters_by_provider_and_status(any_store: Store) -> None:
    for n in range(1, 13):
        any_store.save_payment(
            payment(
                n,
                provider="mock" if n % 2 else "acme",
                status="succeeded" if n % 3 else "canceled",
            )
        )
    assert ids(any_store.list_payments(provider="acme", limit=100)) == [
        f"acme:pi_{n:04d}" for n in (12, 10, 8, 6, 4, 2)
    ]
    assert ids(any_store.list_payments(status="canceled", limit=100)) == [
        "acme:pi_0012", "mock:pi_0009", "acme:pi_0006", "mock:pi_0003"
    ]  # fmt: skip
    both = any_store.list_payments(provider="mock", status="canceled", limit=1)
    assert ids(both) == ["mock:pi_0009"]
    after = any_store.list_payments(provider="mock", status="canceled", starting_after=both[0].id)
    assert ids(after) == ["mock:pi_0003"]


def test_a_status_change_is_seen_by_the_filter(any_store: Store) -> None:
    any_store.save_payment(payment(1, status="requires_capture"))
    any_store.save_payment(payment(1, status="succeeded"))
    assert any_store.list_payments(status="requires_capture") == []
    assert ids(any_store.list_payments(status="succeeded")) == ["mock:pi_0001"]


def test_an_unknown_cursor_is_an_empty_page(any_store: Store) -> None:
    any_store.save_payment(payment(1))
    assert any_store.list_payments(starting_after="mock:pi_nope") == []


def test_refunds_of_a_payment_oldest_first(any_store: Store) -> None:
    paid = payment(1)
    any_store.save_payment(paid)
    any_store.save_payment(payment(2))
    any_store.save_refund(refund(2, paid.id, at=50))
    any_store.save_refund(refund(1, paid.id, at=40))
    any_store.save_refund(refund(3, "mock:pi_0002", at=60))
    listed = any_store.list_refunds(paid.id)
    assert [r.id for r in listed] == ["mock:re_0001", "mock:re_0002"]
    assert any_store.list_refunds("mock:pi_none") == []


def test_a_02_payments_table_gets_the_list_columns_and_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE unipay_payments (id VARCHAR(255) PRIMARY KEY, "
                                "data TEXT NOT NULL)"))  # fmt: skip
        for n in (1, 2, 3):
            old = payment(n, provider="acme" if n == 2 else "mock")
            connection.execute(
                text("INSERT INTO unipay_payments VALUES (:id, :data)"),
                {"id": old.id, "data": old.model_dump_json()},
            )
    engine.dispose()
    store = SQLStore(url)
    try:
        assert ids(store.list_payments(provider="mock")) == ["mock:pi_0003", "mock:pi_0001"]
        indexes = {row[1] for row in store.engine.connect().exec_driver_sql(
            "PRAGMA index_list(unipay_payments)")}  # fmt: skip
        assert "unipay_payments_provider_status_created" in indexes
    finally:
        store.close()


def test_a_payment_saved_by_a_02_process_is_listed_after_the_next_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = SQLStore(url)
    first.save_payment(payment(1))
    old = payment(2)  # written as unipay 0.2 writes: no list columns
    with first.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO unipay_payments (id, data) VALUES (:id, :data)"),
            {"id": old.id, "data": old.model_dump_json()},
        )
    first.close()
    second = SQLStore(url)
    try:
        assert ids(second.list_payments()) == ["mock:pi_0002", "mock:pi_0001"]
        with second.engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM unipay_payments WHERE created_at IS NULL"
            ).all()
        assert "USING" in str(plan[-1][-1])  # an index probe, not a table scan
    finally:
        second.close()
