"""Webhook deliveries signed the way Stripe signs them; only those pass, and they are unified."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from unipay.errors import ProviderNotConfigured, WebhookVerificationError
from unipay.models import PaymentStatus, RefundStatus, WebhookEventType
from unipay_stripe import StripeProvider

from .conftest import API_KEY, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, signed_event, stripe_signature
from .fake_stripe import fixture

T = WebhookEventType

EVENT = fixture("event_payment_intent_succeeded")
BODY = json.dumps(EVENT).encode()


@pytest.fixture
def provider() -> StripeProvider:
    return StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])


def _v1(body: bytes, secret: str, t: int) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_valid_delivery_becomes_a_unified_event(provider: StripeProvider) -> None:
    event = provider.verify_webhook(
        BODY, {"stripe-signature": stripe_signature(BODY, WEBHOOK_SECRET)}
    )
    assert (event.id, event.provider) == ("evt_3QbZ8vLkdIwHu7ix0Q1r2S3t", "stripe")
    assert event.type is WebhookEventType.PAYMENT_SUCCEEDED
    assert event.provider_type == "payment_intent.succeeded"
    assert event.data == EVENT
    assert event.created_at.timestamp() == EVENT["created"]
    payment = event.payment
    assert payment is not None
    assert payment.id == "stripe:pi_3QbZ8vLkdIwHu7ix0mH8Jq2W"
    assert (payment.status, payment.amount_received) == (PaymentStatus.SUCCEEDED, 2000)
    assert (payment.customer_email, payment.metadata) == ("demo@example.com", {"order": "42"})


def test_the_rolled_secret_still_verifies(provider: StripeProvider) -> None:
    event = provider.verify_webhook(
        BODY, {"Stripe-Signature": stripe_signature(BODY, OLD_WEBHOOK_SECRET)}
    )
    assert event.id == EVENT["id"]


def test_two_v1_signatures_of_which_one_is_valid(provider: StripeProvider) -> None:
    t = int(time.time())
    header = f"t={t},v1={_v1(BODY, 'whsec_someoneelse', t)},v1={_v1(BODY, WEBHOOK_SECRET, t)}"
    assert provider.verify_webhook(BODY, {"Stripe-Signature": header}).id == EVENT["id"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "No signatures found matching"),
        ("tampered body", "No signatures found matching"),
        ("301 s old", "Timestamp outside the tolerance zone"),
        ("only v0", "No signatures found with expected scheme"),
        ("header missing", "header is missing"),
        ("header malformed", "Unable to extract timestamp"),
    ],
)
def test_bad_deliveries_are_refused(provider: StripeProvider, case: str, reason: str) -> None:
    t = int(time.time())
    body, headers = BODY, {"Stripe-Signature": f"t={t},v1={_v1(BODY, WEBHOOK_SECRET, t)}"}
    if case == "wrong secret":
        headers["Stripe-Signature"] = stripe_signature(BODY, "whsec_notoursatall")
    elif case == "tampered body":
        body = BODY.replace(b'"amount": 2000', b'"amount": 200000')
        assert body != BODY
    elif case == "301 s old":
        headers["Stripe-Signature"] = stripe_signature(BODY, WEBHOOK_SECRET, t - 301)
    elif case == "only v0":
        headers["Stripe-Signature"] = f"t={t},v0={_v1(BODY, WEBHOOK_SECRET, t)}"
    elif case == "header missing":
        headers = {"Content-Type": "application/json"}
    elif case == "header malformed":
        headers["Stripe-Signature"] = "garbage-without-fields"
    with pytest.raises(WebhookVerificationError) as caught:
        provider.verify_webhook(body, headers)
    assert reason in str(caught.value)
    assert WEBHOOK_SECRET not in str(caught.value)
    assert caught.value.provider == "stripe"


def test_299_s_old_is_still_accepted(provider: StripeProvider) -> None:
    header = stripe_signature(BODY, WEBHOOK_SECRET, int(time.time()) - 299)
    assert provider.verify_webhook(BODY, {"Stripe-Signature": header}).id == EVENT["id"]


def test_signed_garbage_is_refused_after_the_signature(provider: StripeProvider) -> None:
    for body in (b"not json", b'{"id": "evt_1"}', b"\xff\xfe"):
        header = stripe_signature(body, WEBHOOK_SECRET)
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(body, {"Stripe-Signature": header})


def test_without_a_webhook_secret_the_setting_is_named() -> None:
    provider = StripeProvider(api_key=API_KEY)
    with pytest.raises(ProviderNotConfigured) as caught:
        provider.verify_webhook(BODY, {"Stripe-Signature": stripe_signature(BODY, WEBHOOK_SECRET)})
    assert caught.value.setting == "STRIPE_WEBHOOK_SECRET"


def test_charge_refunded_carries_payment_and_refund(provider: StripeProvider) -> None:
    body, headers = signed_event(fixture("event_charge_refunded"))
    event = provider.verify_webhook(body, headers)
    assert event.type is WebhookEventType.REFUND_SUCCEEDED
    assert event.payment is not None and event.refund is not None
    assert (event.payment.id, event.payment.amount_refunded) == (
        "stripe:pi_3QbZ8vLkdIwHu7ix0mH8Jq2W",
        500,
    )
    assert (event.refund.amount, event.refund.status) == (500, RefundStatus.SUCCEEDED)
    assert event.refund.payment_id == event.payment.id


def test_refund_failed_is_unified(provider: StripeProvider) -> None:
    body, headers = signed_event(fixture("event_refund_failed"))
    event = provider.verify_webhook(body, headers)
    assert event.type is WebhookEventType.REFUND_FAILED
    assert event.payment is None
    assert event.refund is not None and event.refund.status is RefundStatus.FAILED


@pytest.mark.parametrize(
    ("stripe_type", "status", "unified"),
    [
        ("payment_intent.payment_failed", "requires_payment_method", T.PAYMENT_FAILED),
        ("payment_intent.canceled", "canceled", T.PAYMENT_CANCELED),
        ("payment_intent.requires_action", "requires_action", T.PAYMENT_REQUIRES_ACTION),
        ("payment_intent.amount_capturable_updated", "requires_capture",
         T.PAYMENT_REQUIRES_CAPTURE),
        ("payment_intent.processing", "processing", T.PAYMENT_PROCESSING),
        ("payment_intent.created", "requires_payment_method", T.OTHER),
    ],
)  # fmt: skip
def test_payment_intent_event_types(
    provider: StripeProvider, stripe_type: str, status: str, unified: WebhookEventType
) -> None:
    event = fixture("event_payment_intent_succeeded")
    event["type"] = stripe_type
    event["data"]["object"]["status"] = status
    body, headers = signed_event(event)
    unified_event = provider.verify_webhook(body, headers)
    assert unified_event.type is unified
    assert unified_event.provider_type == stripe_type
    assert unified_event.payment is not None
    assert unified_event.payment.status is PaymentStatus(status)


def test_unknown_objects_keep_only_the_raw_payload(provider: StripeProvider) -> None:
    event = {"id": "evt_9", "object": "event", "type": "customer.created", "created": 1735689600,
             "data": {"object": {"id": "cus_1", "object": "customer"}}}  # fmt: skip
    body, headers = signed_event(event)
    unified = provider.verify_webhook(body, headers)
    assert unified.type is WebhookEventType.OTHER
    assert (unified.payment, unified.refund, unified.data) == (None, None, event)


@pytest.mark.parametrize(
    ("legacy", "status"),
    [
        ("requires_source", PaymentStatus.REQUIRES_PAYMENT_METHOD),
        ("requires_source_action", PaymentStatus.REQUIRES_ACTION),
    ],
)
def test_statuses_of_api_versions_before_2019_02_11_are_read(
    provider: StripeProvider, legacy: str, status: PaymentStatus
) -> None:
    event = fixture("event_payment_intent_succeeded")
    event["type"] = "payment_intent.requires_action"
    event["data"]["object"]["status"] = legacy
    unified = provider.verify_webhook(*signed_event(event))
    assert unified.payment is not None and unified.payment.status is status


def _intent_event(**changes: object) -> dict[str, object]:
    event = fixture("event_payment_intent_succeeded")
    event["data"]["object"].update(changes)
    event["data"]["object"] = {k: v for k, v in event["data"]["object"].items() if v != "DROP"}
    return event


def _refund_event(**changes: object) -> dict[str, object]:
    event = fixture("event_refund_failed")
    event["type"] = "refund.updated"
    event["data"]["object"].update(changes)
    return event


def _charge_event(**changes: object) -> dict[str, object]:
    event = fixture("event_charge_refunded")
    event["data"]["object"].update(changes)
    return event


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_intent_event(status="requires_teleport"), "status 'requires_teleport' is none of"),
        (_intent_event(currency="DROP"), "the payment_intent has no 'currency'"),
        (_intent_event(currency=840), "'currency' is not a currency code: 840"),
        (_intent_event(amount="20.00"), "'amount' is not an integer: '20.00'"),
        (_intent_event(metadata=["order", "42"]), "'metadata' is not an object"),
        (_intent_event(next_action="redirect"), "'next_action' is not an object"),
        (_intent_event(created=10**20), "'created' is not a Unix time"),
        (_refund_event(status="reversed"), "the refund's status 'reversed' is none of"),
        (_refund_event(currency=None), "the refund has no 'currency'"),
        (_charge_event(refunds={"data": "re_1"}), "'refunds.data' is not a list of refunds"),
    ],
)
def test_a_signed_event_unipay_maps_but_cannot_read_is_refused_with_the_reason(
    provider: StripeProvider, event: dict[str, object], reason: str
) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        provider.verify_webhook(*signed_event(event))
    message = str(caught.value)
    assert reason in message
    assert f"Stripe event {event['id']!r} ({event['type']!r}) is signed" in message
    assert "API version" in message  # the fix to look at
    assert WEBHOOK_SECRET not in message


def test_an_unmapped_event_whose_object_cannot_be_read_is_still_delivered(
    provider: StripeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    event = _intent_event(status="requires_teleport")
    event["type"] = "payment_intent.created"
    unified = provider.verify_webhook(*signed_event(event))
    assert (unified.type, unified.payment, unified.refund) == (T.OTHER, None, None)
    assert unified.data == event
    assert "requires_teleport" in caplog.text and "without a unified payment" in caplog.text


@pytest.mark.parametrize(
    "event",
    [
        {"id": 42, "type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_1", "type": ["payment_intent.succeeded"], "data": {"object": {}}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}},
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": [], "created": 1},
        {"id": "evt_1", "type": "x", "data": {"object": {}}, "created": "yesterday"},
        {"id": "evt_1", "type": "x", "data": {"object": {}}, "created": 10**30},
        ["evt_1"],
        "evt_1",
    ],
)
def test_signed_json_that_is_not_a_stripe_event_is_refused(
    provider: StripeProvider, event: object
) -> None:
    body = json.dumps(event).encode()
    with pytest.raises(WebhookVerificationError, match="not a Stripe event"):
        provider.verify_webhook(body, {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET)})


def test_deeply_nested_signed_json_is_refused(provider: StripeProvider) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(WebhookVerificationError, match="not a Stripe event"):
        provider.verify_webhook(body, {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET)})
