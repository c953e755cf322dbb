"""The activity log end to end: a real gateway (both faces) over a SQLite file, the mock
provider, and the webhook app; and the metrics summary, against figures computed by hand."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipay.activity import (
    Activity,
    ActivityKind,
    ActivityTotal,
    ActivityTotals,
    LatencyTotal,
    Outcome,
    VolumePoint,
    bucket_upper_ms,
    latency_bucket,
    summarize,
)
from unipay.activity_recorder import ActivityRecorder
from unipay.errors import PaymentDeclined
from unipay.models import Payment
from unipay.storage import MemoryStore, SQLStore
from unipay.testing.faces import Face
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event

SECRET = "whsec_" + "c2VjcmV0LWZvci13ZWJob29rLXRlc3RzLW9ubHktMzI="
EMAIL = "shopper-7f3a@example.com"
ORDER = "order-secret-91c2"
CARD = "pm_card_visa"


async def _deliver(app: WebhookApp, body: bytes, headers: dict[str, str]) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return (await http.post("/mock", content=body, headers=headers)).status_code


async def test_a_payments_life_is_logged_without_personal_data(
    make_face: Callable[..., Face], tmp_path: Path
) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'unipay.db'}")
    mock = MockProvider(webhook_secret=SECRET)
    face = make_face(store=store, providers=[mock], load_installed=False, record_activity=True)
    gateway = face.gateway
    recorder = gateway.activity_recorder
    assert isinstance(recorder, ActivityRecorder)
    create = {
        "provider": "mock",
        "amount": 1000,
        "currency": "EUR",
        "payment_method": CARD,
        "customer_email": EMAIL,
        "metadata": {"order": ORDER},
        "capture_method": "manual",
        "idempotency_key": "create-1",
    }
    payment: Payment = await face("create_payment", **create)
    await face("capture_payment", payment.id, idempotency_key="capture-1")
    refund = await face("refund_payment", payment.id, amount=300, idempotency_key="refund-1")
    replay: Payment = await face("create_payment", **create)
    assert replay.replayed
    with pytest.raises(PaymentDeclined):
        await face(
            "create_payment",
            provider="mock",
            amount=500,
            currency="EUR",
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            customer_email=EMAIL,
            idempotency_key="declined-1",
        )
    app = WebhookApp(gateway)

    @app.on("payment.failed")
    def broken(event: object) -> None:
        raise RuntimeError("the application's handler failed")

    delivery = build_delivery(payment_event("payment.succeeded", payment), secret=SECRET)
    assert await _deliver(app, *delivery) == 200
    assert await _deliver(app, *delivery) == 200  # the duplicate
    assert await _deliver(app, delivery[0], {**delivery[1], "webhook-signature": "v1,AAAA"}) == 400
    failing = build_delivery(payment_event("payment.failed", payment), secret=SECRET)
    assert await _deliver(app, *failing) == 500
    assert recorder.flush()

    entries = list(reversed(store.list_activity(limit=100)))
    operations = [e for e in entries if e.kind is ActivityKind.OPERATION]
    shown = [
        (e.operation, e.outcome, e.key, e.attempts, e.replayed, e.payment_id, e.decline_code)
        for e in operations
    ]
    declined_id = operations[-1].payment_id
    assert declined_id is not None
    assert shown == [
        ("create_payment", Outcome.SUCCEEDED, "create-1", 1, False, payment.id, None),
        ("capture_payment", Outcome.SUCCEEDED, "capture-1", 1, False, payment.id, None),
        ("refund_payment", Outcome.SUCCEEDED, "refund-1", 1, False, payment.id, None),
        ("create_payment", Outcome.SUCCEEDED, "create-1", 0, True, payment.id, None),
        (
            "create_payment",
            Outcome.DECLINED,
            "declined-1",
            1,
            False,
            declined_id,
            "insufficient_funds",
        ),
    ]
    first, _, refunded, replayed, declined = operations
    assert (first.amount, first.currency, first.status) == (1000, "EUR", "requires_capture")
    assert first.latency_ms is not None
    assert (refunded.refund_id, refunded.amount) == (refund.id, 300)
    assert replayed.latency_ms is None
    assert declined.error_type == "PaymentDeclined"
    assert declined.error_message is None  # a plugin's text, perhaps the provider's: not kept
    webhooks = [
        (e.outcome, e.operation, e.payment_id) for e in entries if e.kind is ActivityKind.WEBHOOK
    ]
    assert webhooks == [
        (Outcome.PROCESSED, "payment.succeeded", payment.id),
        (Outcome.DUPLICATE, "payment.succeeded", payment.id),
        (Outcome.REJECTED, None, None),
        (Outcome.HANDLER_FAILED, "payment.failed", payment.id),
    ]
    assert entries[-2].error_type == "WebhookVerificationError"
    assert (
        store.list_activity(payment_id=payment.id, kind=ActivityKind.WEBHOOK, limit=1)[0].outcome
        is Outcome.HANDLER_FAILED
    )

    every = " ".join(entry.model_dump_json() for entry in entries)
    for personal in (EMAIL, ORDER, CARD, "pm_card_chargeDeclined"):
        assert personal not in every

    metrics = summarize(
        store.activity_totals(
            since=datetime.now(UTC) - timedelta(hours=2),
            until=datetime.now(UTC) + timedelta(hours=1),
        )
    )
    assert (metrics.payments_succeeded, metrics.payments_declined) == (1, 1)
    assert metrics.authorization_rate == 0.5
    assert metrics.refund_rate == 1.0
    assert [(v.currency, v.count, v.amount) for v in metrics.volume] == [("EUR", 1, 1000)]

    await face("close" if face.gateway.__class__.__name__ == "Gateway" else "aclose")
    assert not recorder._thread or not recorder._thread.is_alive()


def test_a_gateway_without_record_activity_observes_nothing() -> None:
    from unipay import Gateway

    gateway = Gateway(providers=[MockProvider()], load_installed=False)
    assert gateway.activity_recorder is None
    assert not gateway.plugin_manager.hook.unipay_observe_operation.get_hookimpls()
    assert not gateway.plugin_manager.hook.unipay_observe_delivery.get_hookimpls()


class _Refusing(MemoryStore):
    def record_activity(self, entries: Sequence[Activity]) -> None:
        raise RuntimeError("the log's table is gone")


def test_a_failing_log_never_fails_a_payment(caplog: pytest.LogCaptureFixture) -> None:
    from unipay import Gateway

    gateway = Gateway(
        store=_Refusing(), providers=[MockProvider()], load_installed=False, record_activity=True
    )
    with caplog.at_level(logging.ERROR, logger="unipay"):
        payment = gateway.create_payment(
            provider="mock", amount=100, currency="USD", payment_method=CARD
        )
        assert gateway.activity_recorder is not None
        gateway.activity_recorder.flush()
    assert gateway.stored_payment(payment.id) is not None
    assert gateway.activity_recorder.dropped == 1
    assert "could not write 1 activity log entries" in caplog.text
    gateway.close()


def test_a_full_buffer_drops_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    recorder = ActivityRecorder(store, capacity=3, interval=60.0, batch=1000)
    entries = [_entry(f"act_{index:032x}") for index in range(5)]
    with caplog.at_level(logging.WARNING, logger="unipay"):
        for entry in entries:
            recorder.add(entry)
    assert recorder.dropped == 2
    assert caplog.text.count("buffer is full") == 1
    assert recorder.flush()
    assert sorted(a.id for a in store.list_activity()) == [e.id for e in entries[:3]]
    recorder.close()
    recorder.add(entries[4])
    assert len(store.list_activity()) == 3


def _entry(activity_id: str) -> Activity:
    return Activity(
        id=activity_id,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        kind=ActivityKind.OPERATION,
        provider="mock",
        operation="create_payment",
        outcome=Outcome.SUCCEEDED,
    )


# --- summarize ---------------------------------------------------------------------------------

HOUR = datetime(2026, 4, 1, 10, tzinfo=UTC)


def _total(**fields: Any) -> ActivityTotal:
    values: dict[str, Any] = {
        "kind": ActivityKind.OPERATION,
        "provider": "acme",
        "operation": "create_payment",
        "currency": "USD",
        "outcome": Outcome.SUCCEEDED,
        "decline_code": None,
        "count": 1,
        "amount": 0,
        "attempts": 0,
        "replays": 0,
        "retries": 0,
        **fields,
    }
    return ActivityTotal(**values)


def test_summarize_by_hand() -> None:
    fast, slow = latency_bucket(10.0), latency_bucket(200.0)
    assert fast is not None
    assert slow is not None
    counts = [
        # 9 creates (12 attempts: 3 retries), 1 more the next hour; 2 replays on top.
        _total(count=9, amount=9000, attempts=12, retries=3),
        _total(count=1, amount=500, attempts=1),
        _total(count=2, replays=2),
        _total(count=1, amount=700, attempts=1, currency="EUR"),
        # 3 declines (2 insufficient funds, 1 fraudulent) and a declined replay.
        _total(outcome=Outcome.DECLINED, decline_code="insufficient_funds", count=2, attempts=2),
        _total(outcome=Outcome.DECLINED, decline_code="fraudulent", count=1, attempts=1),
        _total(outcome=Outcome.DECLINED, decline_code="fraudulent", count=1, replays=1),
        # 3 refunds, one of them replayed; a failed one.
        _total(operation="refund_payment", count=2, attempts=2, amount=50),
        _total(operation="refund_payment", count=1, replays=1),
        _total(operation="refund_payment", outcome=Outcome.FAILED, count=1, attempts=1),
        _total(
            kind=ActivityKind.WEBHOOK,
            operation="payment.succeeded",
            currency=None,
            outcome=Outcome.PROCESSED,
            count=4,
        ),
        _total(
            kind=ActivityKind.WEBHOOK,
            operation=None,
            currency=None,
            outcome=Outcome.REJECTED,
            count=1,
        ),
    ]
    # Creates that reached the provider: 13 at 10 ms, 1 at 200 ms; refunds: 2 and 1.
    latencies = [
        LatencyTotal(provider="acme", operation="create_payment", latency_bucket=b, count=n)
        for b, n in ((fast, 13), (slow, 1))
    ] + [
        LatencyTotal(provider="acme", operation="refund_payment", latency_bucket=b, count=n)
        for b, n in ((fast, 2), (slow, 1))
    ]
    volume = [
        VolumePoint(bucket_start=HOUR, provider="acme", currency="EUR", count=1, amount=700),
        VolumePoint(bucket_start=HOUR, provider="acme", currency="USD", count=9, amount=9000),
    ]
    totals = ActivityTotals(counts=counts, volume=volume, latencies=latencies)
    metrics = summarize(totals)
    assert metrics.volume == volume
    assert (metrics.payments_succeeded, metrics.payments_declined) == (11, 3)
    assert metrics.authorization_rate == pytest.approx(11 / 14)
    assert [(d.decline_code, d.count) for d in metrics.declines] == [
        ("insufficient_funds", 2),
        ("fraudulent", 1),
    ]
    assert metrics.refunds_succeeded == 2
    assert metrics.refund_rate == pytest.approx(2 / 11)
    creates, refunds = metrics.operations
    # Creates with a latency: 14 calls, 13 at 10 ms, 1 at 200 ms.
    # p50: rank 7 is in the 10 ms bucket; p95: rank ceil(13.3) = 14 is the 200 ms one.
    assert (creates.operation, creates.count, creates.replays) == ("create_payment", 17, 3)
    assert creates.p50_ms == bucket_upper_ms(fast)
    assert creates.p95_ms == bucket_upper_ms(slow)
    assert creates.retries == 3
    # Refunds: 3 calls with a latency, 2 at 10 ms and 1 at 200 ms: p50 rank 2, p95 rank 3.
    assert (refunds.count, refunds.replays, refunds.retries) == (4, 1, 0)
    assert (refunds.p50_ms, refunds.p95_ms) == (bucket_upper_ms(fast), bucket_upper_ms(slow))
    assert [(w.outcome, w.count) for w in metrics.webhooks] == [
        (Outcome.PROCESSED, 4),
        (Outcome.REJECTED, 1),
    ]


def test_summarize_nothing() -> None:
    metrics = summarize(ActivityTotals(counts=[], volume=[], latencies=[]))
    assert metrics.authorization_rate is None
    assert metrics.refund_rate is None
    assert (metrics.volume, metrics.operations, metrics.webhooks) == ([], [], [])
