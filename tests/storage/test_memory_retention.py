"""What the default store keeps, and for how long: payments and refunds for a retention window
after their last save, and never before the idempotency record that can replay them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from unipay.activity import Activity, ActivityKind, Outcome
from unipay.models import Payment, PaymentStatus, Refund, RefundStatus
from unipay.storage import MemoryStore

DAY = 24 * 3600.0


def payment(number: int, status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Payment:
    return Payment(
        provider="mock",
        provider_payment_id=f"pi_{number}",
        status=status,
        amount=1000,
        currency="USD",
        amount_received=1000 if status is PaymentStatus.SUCCEEDED else 0,
    )


def refund(number: int, of: Payment) -> Refund:
    return Refund(
        provider="mock",
        provider_refund_id=f"re_{number}",
        payment_id=of.id,
        amount=100,
        currency="USD",
        status=RefundStatus.SUCCEEDED,
    )


def store_at(now: list[float], retention: float | None = DAY) -> MemoryStore:
    return MemoryStore(payment_retention=retention, clock=lambda: now[0])


def test_payments_and_refunds_go_a_retention_after_their_last_save() -> None:
    now = [0.0]
    store = store_at(now)
    old, busy = payment(1), payment(2)
    store.save_payment(old)
    store.save_payment(busy)
    store.save_refund(refund(1, old))
    now[0] += DAY / 2
    store.save_refund(refund(2, busy))  # a refund keeps its payment in use
    now[0] += DAY / 2 + 1  # old: a day since its last save; busy: half a day
    store.save_payment(payment(3))  # a save drops what expired on its way
    assert store.get_payment(old.id) is None
    assert store.get_refund("mock:re_1") is None
    assert store.list_refunds(old.id) == []
    assert store.get_payment(busy.id) is not None
    assert [r.id for r in store.list_refunds(busy.id)] == ["mock:re_2"]


def test_a_payment_stays_while_a_record_can_replay_it() -> None:
    now = [0.0]
    store = store_at(now, retention=60)
    token = store.claim("operation", "k", "fp", lease=10, retention=DAY).token
    assert token is not None
    kept = payment(1)
    store.complete("operation", "k", token, kept.model_dump_json(), payment=kept)
    store.save_payment(payment(2))  # no record replays this one
    now[0] += 61
    assert store.purge_expired() == 0  # no record expired
    assert store.get_payment(kept.id) == kept
    assert store.get_payment("mock:pi_2") is None
    now[0] += DAY
    assert store.purge_expired() == 1
    assert store.get_payment(kept.id) is None
    assert store.get_result("operation", "k") is None


def test_a_steady_stream_stays_bounded_by_retention() -> None:
    now = [0.0]
    store = store_at(now, retention=10)
    for number in range(3_000):
        token = store.claim("operation", f"k{number}", "fp", lease=1, retention=10).token
        assert token is not None
        made = payment(number)
        store.complete("operation", f"k{number}", token, "{}", payment=made)
        store.save_refund(refund(number, made))
        now[0] += 0.1  # 10 a second: about 100 live within the retention
    assert len(store._payments) <= 100 + MemoryStore.DROPPED_PER_CLAIM
    assert len(store._refunds) == len(store._payments)
    assert len(store._records) <= 100 + MemoryStore.DROPPED_PER_CLAIM
    assert store.get_payment("mock:pi_2999") is not None
    assert store.get_payment("mock:pi_0") is None


@pytest.mark.parametrize("face", ["sync", "async"])
def test_purge_removes_only_what_expired(face: str) -> None:
    now = [0.0]
    store = store_at(now, retention=100)
    for number in range(2_500):
        store.save_payment(payment(number))
    store.claim("operation", "short", "fp", lease=1, retention=50)
    now[0] += 50
    store.save_payment(payment(1))  # saved again: in use
    store.save_payment(payment(9_999))
    now[0] += 51
    purged = (
        store.purge_expired(batch_size=1_000)
        if face == "sync"
        else asyncio.run(store.apurge_expired(batch_size=1_000))
    )
    assert purged == 1  # the record; payments are not counted
    assert set(store._payments) == {"mock:pi_1", "mock:pi_9999"}
    assert store.get_result("operation", "short") is None


def test_none_keeps_payments_for_the_life_of_the_process() -> None:
    now = [0.0]
    store = store_at(now, retention=None)
    store.save_payment(payment(1))
    now[0] += 365 * DAY
    store.purge_expired()
    assert store.get_payment("mock:pi_1") is not None


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="payment_retention"):
        MemoryStore(payment_retention=0)


def test_purge_activity_removes_only_old_entries_logged_in_any_order() -> None:
    store = MemoryStore()
    day = datetime(2026, 3, 3, tzinfo=UTC)
    at = [day + timedelta(hours=3), day, day + timedelta(hours=2), day + timedelta(minutes=5)]
    entries = [_activity(number, when) for number, when in enumerate(at)]
    store.record_activity(entries[:2])
    store.record_activity(entries[2:])  # logged later, an older one among them
    assert store.purge_activity(older_than=day + timedelta(hours=1), batch_size=1) == 2
    assert {a.id for a in store.list_activity()} == {"act_0", "act_2"}


def _activity(number: int, at: datetime) -> Activity:
    return Activity(
        id=f"act_{number}",
        at=at,
        kind=ActivityKind.OPERATION,
        provider="mock",
        operation="create_payment",
        outcome=Outcome.SUCCEEDED,
    )
