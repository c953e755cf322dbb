"""Deliveries that carry several events (Adyen batches NotificationRequestItems): each event is
deduplicated and dispatched on its own, a failing handler fails only its event, and a provider's
own acknowledgement body is what the app answers."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import pytest

from unipay import AsyncGateway, Gateway, WebhookEvent
from unipay.activity import ActivityKind
from unipay.models import (
    CaptureMethod,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    Refund,
    RefundPaymentRequest,
    RefundReason,
    RefundStatus,
    WebhookEventType,
)
from unipay.provider import CallContext, Capabilities, Provider
from unipay.webhooks import WebhookApp


class Batching(Provider):
    """Its deliveries are JSON lists of event ids, each a payment.succeeded event."""

    name = "batching"
    capabilities = Capabilities(webhooks=True, confirmation=False)
    webhook_acknowledgement = "[accepted]"

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        raise NotImplementedError

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        raise NotImplementedError

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        return [
            WebhookEvent(
                id=event_id,
                provider=self.name,
                type=WebhookEventType.PAYMENT_SUCCEEDED,
                provider_type="AUTHORISATION",
            )
            for event_id in json.loads(body)
        ]


@pytest.mark.parametrize("kind", [Gateway, AsyncGateway])
async def test_each_event_of_a_batch_is_handled_once_and_on_its_own(
    kind: type[Gateway | AsyncGateway],
) -> None:
    app = WebhookApp(kind(providers=[Batching()], load_installed=False))
    seen: list[str] = []
    broken = {"evt_b"}

    @app.on("payment.succeeded")
    def handle(event: WebhookEvent) -> None:
        if event.id in broken:
            raise RuntimeError("the shop's database is down")
        seen.append(event.id)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        batch = json.dumps(["evt_a", "evt_b", "evt_c"])
        failed = await client.post("/batching", content=batch)
        assert failed.status_code == 500  # the provider redelivers the whole batch
        assert seen == ["evt_a", "evt_c"]
        broken.clear()
        again = await client.post("/batching", content=batch)
        assert (again.status_code, again.text) == (200, "[accepted]")
        assert again.headers["content-type"].startswith("text/plain")
        assert seen == ["evt_a", "evt_c", "evt_b"]  # only the failed one ran again
        empty = await client.post("/batching", content="[]")
        assert empty.status_code == 400


@pytest.mark.parametrize("kind", [Gateway, AsyncGateway])
async def test_the_activity_log_keeps_each_events_own_outcome(
    kind: type[Gateway | AsyncGateway],
) -> None:
    """One batch, delivered twice: a failed handler fails its event only, and the redelivery
    finds two duplicates and one event processed, as the log says event by event."""
    gateway = kind(providers=[Batching()], load_installed=False, record_activity=True)
    app = WebhookApp(gateway)
    broken = {"evt_b"}

    @app.on("payment.succeeded")
    def handle(event: WebhookEvent) -> None:
        if event.id in broken:
            raise RuntimeError("the shop's database is down")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        batch = json.dumps(["evt_a", "evt_b", "evt_c"])
        assert (await client.post("/batching", content=batch)).status_code == 500
        broken.clear()
        assert (await client.post("/batching", content=batch)).status_code == 200
    recorder = gateway.activity_recorder
    assert recorder is not None and recorder.flush()
    logged = [
        (entry.key, entry.outcome.value, entry.error_type)
        for entry in reversed(gateway.store.list_activity(kind=ActivityKind.WEBHOOK))
    ]
    assert logged == [
        ("evt_a", "processed", None),
        ("evt_b", "handler_failed", "DeliveryFailed"),
        ("evt_c", "processed", None),
        ("evt_a", "duplicate", None),
        ("evt_b", "processed", None),
        ("evt_c", "duplicate", None),
    ]
    if isinstance(gateway, AsyncGateway):
        await gateway.aclose()
    else:
        gateway.close()


class Partial(Batching):
    """Its notifications report a status and an amount only, as Adyen's do."""

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        captured = Payment(
            provider=self.name,
            provider_payment_id="psp_1",
            status=PaymentStatus.SUCCEEDED,
            amount=5000,
            currency="EUR",
            amount_received=int(body),
        )
        return [
            WebhookEvent(
                id=f"capture-{body.decode()}",
                provider=self.name,
                type=WebhookEventType.PAYMENT_SUCCEEDED,
                provider_type="CAPTURE",
                payment=captured,
                partial=True,
            )
        ]


async def test_a_partial_notification_keeps_what_it_does_not_report() -> None:
    gateway = Gateway(providers=[Partial()], load_installed=False)
    authorized = Payment(
        provider="batching",
        provider_payment_id="psp_1",
        status=PaymentStatus.REQUIRES_CAPTURE,
        amount=5000,
        currency="EUR",
        amount_capturable=5000,
        customer_email="buyer@example.com",
        description="order 42",
        metadata={"order": "42"},
        capture_method=CaptureMethod.MANUAL,
    )
    gateway.store.save_payment(authorized)
    app = WebhookApp(gateway)
    seen: list[Payment | None] = []
    app.on("*")(lambda event: seen.append(event.payment))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.post("/batching", content=b"5000")).status_code == 200
    stored = gateway.store.get_payment("batching:psp_1")
    assert stored is not None and stored == seen[0]
    assert (stored.status, stored.amount_received) == (PaymentStatus.SUCCEEDED, 5000)
    assert (stored.customer_email, stored.description, stored.metadata) == (
        "buyer@example.com",
        "order 42",
        {"order": "42"},
    )
    assert stored.capture_method is CaptureMethod.MANUAL


class PartialRefund(Batching):
    """Its refund notifications report a refund's id, payment, status and amount only."""

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        # What the notification reports: identity, status and amount; the reason, metadata and
        # creation time it does not know are not marked as set.
        reported = Refund.model_construct(
            {"provider", "provider_refund_id", "payment_id", "amount", "status"},
            provider=self.name,
            provider_refund_id="rf_1",
            payment_id="batching:psp_1",
            amount=2000,
            currency="EUR",
            status=RefundStatus(body.decode()),
        )
        return [
            WebhookEvent(
                id=f"refund-{body.decode()}",
                provider=self.name,
                type=WebhookEventType.REFUND_SUCCEEDED,
                provider_type="REFUND",
                refund=reported,
                partial=True,
            )
        ]


async def test_a_partial_refund_notification_keeps_the_refunds_reason_and_metadata() -> None:
    gateway = Gateway(providers=[PartialRefund()], load_installed=False)
    made = Refund(
        provider="batching",
        provider_refund_id="rf_1",
        payment_id="batching:psp_1",
        amount=2000,
        currency="EUR",
        status=RefundStatus.PENDING,
        reason=RefundReason.REQUESTED_BY_CUSTOMER,
        metadata={"ticket": "T-7"},
    )
    gateway.store.save_refund(made)
    transport = httpx.ASGITransport(app=WebhookApp(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.post("/batching", content=b"succeeded")).status_code == 200
    stored = gateway.store.get_refund("batching:rf_1")
    assert stored == made.model_copy(update={"status": RefundStatus.SUCCEEDED})
