"""Webhooks: X-Razorpay-Signature over the raw bytes, events unified, deliveries deduplicated."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from unipay import Gateway
from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError
from unipay.models import Payment, PaymentStatus, RefundStatus, WebhookEvent, WebhookEventType
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay_razorpay import RazorpayProvider

from .conftest import KEY_ID, KEY_SECRET, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET
from .fake_razorpay import fixture


def signed(
    body: bytes, secret: str = WEBHOOK_SECRET, event_id: str = "JbXGnxzxSCpmI9"
) -> dict[str, str]:
    """Headers as Razorpay sends them: hex HMAC-SHA256 of the raw body under the secret."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": signature,
        "X-Razorpay-Event-Id": event_id,
    }


@pytest.fixture
def provider() -> RazorpayProvider:
    return RazorpayProvider(
        key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secrets=[WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]
    )


def test_refund_processed_is_unified(provider: RazorpayProvider) -> None:
    body = json.dumps(fixture("event_refund_processed")).encode()
    event = provider.verify_webhook(body, signed(body))
    assert (event.id, event.type, event.provider_type) == (
        "JbXGnxzxSCpmI9",
        WebhookEventType.REFUND_SUCCEEDED,
        "refund.processed",
    )
    assert event.refund is not None and event.payment is not None
    assert event.refund.id == "razorpay:rfnd_FS8TWyPrCsa0OB"
    assert event.refund.payment_id == "razorpay:order_FPoIeimWki9j8A"
    assert (event.refund.status, event.refund.amount) == (RefundStatus.SUCCEEDED, 50000)
    assert event.payment.id == "razorpay:order_FPoIeimWki9j8A"
    assert event.payment.status is PaymentStatus.SUCCEEDED
    assert event.payment.amount_refunded == 190000
    assert event.data["payload"]["refund"]["entity"]["id"] == "rfnd_FS8TWyPrCsa0OB"


def test_the_raw_bytes_are_verified_not_a_json_round_trip(provider: RazorpayProvider) -> None:
    """A body whose spacing, key order and escapes a JSON round trip would change: its bytes are
    what Razorpay signed, so they verify; the re-serialized text does not."""
    event = fixture("event_payment_captured")
    raw = json.dumps(event, indent=4, ensure_ascii=True).replace('"payload": {', '"payload" :{')
    raw = raw.replace('"entity": "event"', '"entity": "ev\\u0065nt"')
    body = raw.encode()
    reserialized = json.dumps(json.loads(body)).encode()
    assert reserialized != body and json.loads(reserialized) == json.loads(body)
    headers = signed(body)
    assert provider.verify_webhook(body, headers).type is WebhookEventType.PAYMENT_SUCCEEDED
    with pytest.raises(WebhookVerificationError, match="does not match"):
        provider.verify_webhook(reserialized, headers)


def test_what_is_not_properly_signed_is_refused(provider: RazorpayProvider) -> None:
    body = json.dumps(fixture("event_payment_captured")).encode()
    assert provider.verify_webhook(body, signed(body, OLD_WEBHOOK_SECRET)).id  # while rolling
    for headers in (
        signed(body, "another-secret"),
        {k: v for k, v in signed(body).items() if k != "X-Razorpay-Signature"},
        signed(body) | {"X-Razorpay-Signature": "not hex"},
    ):
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(body, headers)
    tampered = body.replace(b'"captured"', b'"authorized"', 1)
    assert tampered != body
    with pytest.raises(WebhookVerificationError, match="does not match"):
        provider.verify_webhook(tampered, signed(body))
    with pytest.raises(WebhookVerificationError, match="Event-Id"):
        provider.verify_webhook(
            body, {k: v for k, v in signed(body).items() if k != "X-Razorpay-Event-Id"}
        )
    not_an_event = b'{"hello": "world"}'
    with pytest.raises(WebhookVerificationError, match="not a Razorpay event"):
        provider.verify_webhook(not_an_event, signed(not_an_event))


def test_without_a_secret_the_setting_is_named() -> None:
    provider = RazorpayProvider(key_id=KEY_ID, key_secret=KEY_SECRET)
    with pytest.raises(ProviderNotConfigured) as caught:
        provider.verify_webhook(b"{}", {})
    assert caught.value.setting == "RAZORPAY_WEBHOOK_SECRET"


@pytest.mark.parametrize(
    ("name", "unified", "status"),
    [
        ("event_payment_captured", WebhookEventType.PAYMENT_SUCCEEDED, PaymentStatus.SUCCEEDED),
        ("event_order_paid", WebhookEventType.PAYMENT_SUCCEEDED, PaymentStatus.SUCCEEDED),
        (
            "event_payment_failed",
            WebhookEventType.PAYMENT_FAILED,
            PaymentStatus.REQUIRES_PAYMENT_METHOD,
        ),
    ],
)
def test_payment_events_are_unified(
    provider: RazorpayProvider, name: str, unified: WebhookEventType, status: PaymentStatus
) -> None:
    event_json = fixture(name)
    body = json.dumps(event_json).encode()
    event = provider.verify_webhook(body, signed(body))
    entity = event_json["payload"]["payment"]["entity"]
    assert event.type is unified
    assert event.payment is not None and event.payment.status is status
    assert event.payment.provider_payment_id == entity["order_id"]
    if status is PaymentStatus.REQUIRES_PAYMENT_METHOD:
        assert event.payment.decline_code == entity["error_reason"]


def test_other_events_and_payments_without_an_order(provider: RazorpayProvider) -> None:
    event_json = fixture("event_payment_captured") | {"event": "payment.dispute.created"}
    body = json.dumps(event_json).encode()
    assert provider.verify_webhook(body, signed(body)).type is WebhookEventType.OTHER
    orphan = fixture("event_payment_captured")
    orphan["payload"]["payment"]["entity"]["order_id"] = None
    body = json.dumps(orphan).encode()
    event = provider.verify_webhook(body, signed(body))
    assert event.type is WebhookEventType.PAYMENT_SUCCEEDED and event.payment is None
    broken = fixture("event_payment_captured")
    broken["payload"]["payment"]["entity"]["status"] = "teleported"
    body = json.dumps(broken).encode()
    with pytest.raises(WebhookVerificationError, match="unknown payment status"):
        provider.verify_webhook(body, signed(body))


def test_test_deliveries_verify(provider: RazorpayProvider) -> None:
    payment = Payment(
        provider="razorpay",
        provider_payment_id="order_Test0000000001",
        status=PaymentStatus.SUCCEEDED,
        amount=1299,
        currency="INR",
        amount_received=1299,
        metadata={"order": "42"},
    )
    for unified in (
        WebhookEventType.PAYMENT_SUCCEEDED,
        WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
        WebhookEventType.PAYMENT_FAILED,
    ):
        body, headers = provider.sign_test_delivery(unified, payment)
        event = provider.verify_webhook(body, headers)
        assert event.type is unified and event.payment is not None
        assert event.payment.id == payment.id and event.payment.metadata == {"order": "42"}
    with pytest.raises(InvalidRequest):
        provider.sign_test_delivery(WebhookEventType.PAYMENT_CANCELED, payment)


async def test_deliveries_are_deduplicated_by_the_event_id(provider: RazorpayProvider) -> None:
    seen: list[WebhookEvent] = []
    gateway = Gateway(providers=[provider], store=MemoryStore(), load_installed=False)
    app = WebhookApp(gateway)
    app.on("*")(seen.append)
    body = json.dumps(fixture("event_refund_processed")).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as client:
        statuses: list[Any] = []
        for event_id in ("evt_A", "evt_A", "evt_B"):
            answer = await client.post(
                "/razorpay", content=body, headers=signed(body, event_id=event_id)
            )
            statuses.append(answer.status_code)
        tampered = await client.post(
            "/razorpay", content=body + b" ", headers=signed(body, event_id="evt_C")
        )
    assert statuses == [200, 200, 200] and tampered.status_code == 400
    assert [e.id for e in seen] == ["evt_A", "evt_B"]
    refund = gateway.store.get_refund("razorpay:rfnd_FS8TWyPrCsa0OB")
    assert refund is not None and refund.status is RefundStatus.SUCCEEDED
