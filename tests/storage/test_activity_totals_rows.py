"""A SQL store's ``activity_totals`` against the memory store's over the same entries.

The SQL store keeps an absent text as ``''`` in its totals' keys and turns its rows into
models itself; the conformance kit's entries all have an operation, a currency and a kind of
operation, so this covers the rest: a webhook refused before it was read (no operation), an
operation with no currency, a decline without a code, a replay, and the types each field comes
back as.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from unipay.activity import Activity, ActivityKind, ActivityTotals, Outcome
from unipay.storage import MemoryStore, SQLStore

DAY = datetime(2026, 3, 9, tzinfo=UTC)


def _entries() -> list[Activity]:
    def entry(minutes: int, **fields: object) -> Activity:
        values: dict[str, object] = {
            "kind": ActivityKind.OPERATION,
            "provider": "mock",
            "operation": "create_payment",
            "outcome": Outcome.SUCCEEDED,
            **fields,
        }
        return Activity(
            id=f"act_{uuid.uuid4().hex}",
            at=DAY + timedelta(hours=9, minutes=minutes),
            **values,  # type: ignore[arg-type]
        )

    return [
        entry(0, currency="USD", amount=1299, attempts=2, latency_ms=12.0),
        entry(5, currency="USD", amount=1299, replayed=True),
        entry(70, currency=None, amount=500, attempts=1, latency_ms=3.0),
        entry(80, outcome=Outcome.DECLINED, currency="EUR", attempts=1, latency_ms=40.0),
        entry(90, outcome=Outcome.DECLINED, decline_code="fraudulent", attempts=1, latency_ms=1.0),
        entry(100, operation=None, attempts=1, latency_ms=2.0, outcome=Outcome.FAILED),
        entry(130, kind=ActivityKind.WEBHOOK, operation=None, outcome=Outcome.REJECTED),
        entry(140, kind=ActivityKind.WEBHOOK, operation="payment.succeeded"),
    ]


def _comparable(totals: ActivityTotals) -> tuple[object, ...]:
    """The totals, in an order both stores agree on (they sort absent texts differently)."""

    def key(values: tuple[object, ...]) -> tuple[str, ...]:
        return tuple("" if value is None else str(value) for value in values)

    return (
        sorted((tuple(t.model_dump().values()) for t in totals.counts), key=key),
        sorted((tuple(p.model_dump().values()) for p in totals.volume), key=key),
        sorted((tuple(t.model_dump().values()) for t in totals.latencies), key=key),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> SQLStore:
    store: SQLStore = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.mark.parametrize("bucket_seconds", [3600, 86_400])
def test_sql_totals_are_the_memory_stores(sql_store: SQLStore, bucket_seconds: int) -> None:
    memory = MemoryStore()
    entries = _entries()
    memory.record_activity(entries)
    sql_store.record_activity(entries)
    window = {"since": DAY, "until": DAY + timedelta(days=1), "bucket_seconds": bucket_seconds}
    expected, got = memory.activity_totals(**window), sql_store.activity_totals(**window)
    assert len(got.counts) == 7 and len(got.volume) == 2 and got.latencies
    assert _comparable(got) == _comparable(expected)
    for total in got.counts:
        assert type(total.kind) is ActivityKind and type(total.outcome) is Outcome
        assert type(total.count) is int and type(total.amount) is int
    assert {t.operation for t in got.counts} == {None, "create_payment", "payment.succeeded"}
    assert {p.currency for p in got.volume} == {None, "USD"}
    for point in got.volume:
        assert point.bucket_start.tzinfo is UTC and type(point.amount) is int
    assert all(type(t.count) is int for t in got.latencies)
