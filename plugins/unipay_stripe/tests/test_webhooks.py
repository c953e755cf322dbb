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
