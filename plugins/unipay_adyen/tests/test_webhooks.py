"""Adyen's standard notifications: HMAC verification, Basic auth, batches, and unified events."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    ProviderNotConfigured,
    WebhookVerificationError,
)
from unipay.models import CaptureMethod, Payment, PaymentStatus, RefundStatus, WebhookEventType
from unipay_adyen import AdyenProvider, hmac_signature, signing_string

from .conftest import (
    HMAC_KEY,
    MERCHANT_ACCOUNT,
    OLD_HMAC_KEY,
    WEBHOOK_PASSWORD,
    adyen_delivery,
    adyen_signature,
    make_provider,
)
from .fake_adyen import FakeAdyen, validate

# Adyen's documented example (docs.adyen.com/development-resources/webhooks/verify-hmac-
# signatures): this key, this item, and the signature Adyen says it carries.
DOC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
DOC_ITEM: dict[str, Any] = {
    "additionalData": {"hmacSignature": "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="},
    "amount": {"value": 1130, "currency": "EUR"},
    "pspReference": "7914073381342284",
    "eventCode": "AUTHORISATION",
    "eventDate": "2019-05-06T17:15:34.121+02:00",
    "merchantAccountCode": "TestMerchant",
    "merchantReference": "TestPayment-1407325143704",
    "paymentMethod": "visa",
    "reason": "",
    "success": "true",
}
DOC_SIGNATURE = "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
TOKEN = "shopper-4242:tok_success"


def doc_delivery() -> bytes:
    return json.dumps(
        {"live": "false", "notificationItems": [{"NotificationRequestItem": DOC_ITEM}]}
    ).encode()


def test_the_signature_of_adyens_documented_example() -> None:
    assert signing_string(DOC_ITEM) == (
        "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
    )
    assert hmac_signature(DOC_ITEM, bytes.fromhex(DOC_KEY)) == DOC_SIGNATURE
    assert adyen_signature(DOC_ITEM, DOC_KEY) == DOC_SIGNATURE  # the tests' own signer agrees


def test_adyens_documented_notification_is_verified_and_unified() -> None:
    provider = AdyenProvider(api_key="AQE-k", merchant_account="TestMerchant", hmac_keys=[DOC_KEY])
    validate("NotificationRequest", json.loads(doc_delivery()))
    (event,) = provider.verify_webhook(doc_delivery(), {"content-type": "application/json"})
    assert event.id == "7914073381342284:AUTHORISATION:true"
    assert (
        event.type is WebhookEventType.PAYMENT_SUCCEEDED and event.provider_type == "AUTHORISATION"
    )
    assert event.payment is not None
    assert (event.payment.id, event.payment.amount, event.payment.currency) == (
        "adyen:7914073381342284",
        1130,
        "EUR",
    )
    assert event.payment.status is PaymentStatus.SUCCEEDED
    assert event.created_at.isoformat() == "2019-05-06T17:15:34.121000+02:00"
    tampered = doc_delivery().replace(b'"value": 1130', b'"value": 1131')
    with pytest.raises(WebhookVerificationError, match="HMAC signature does not match"):
        provider.verify_webhook(tampered, {})


@pytest.fixture
def provider(fake_adyen: FakeAdyen) -> AdyenProvider:
    return make_provider()


def a_notification(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "amount": {"value": 1000, "currency": "EUR"},
        "eventCode": "AUTHORISATION",
        "eventDate": "2026-01-01T01:00:00+01:00",
        "merchantAccountCode": MERCHANT_ACCOUNT,
        "merchantReference": "unipay-0123",
        "pspReference": "QFQTPCQ8HXSKGK82",
        "success": "true",
    }
    return item | fields


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": OLD_HMAC_KEY}, None),  # the previous key is still accepted while rolling
        ({"key": "00" * 32}, "HMAC signature does not match"),
        ({"auth": None}, "Basic authentication"),
        ({"auth": ("adyen-webhooks", "wrong")}, "Basic authentication"),
        ({"auth": ("someone", "s3cret-webhook-password")}, "Basic authentication"),
        ({"live": "true"}, "test environment"),
    ],
)
def test_deliveries_are_verified(
    provider: AdyenProvider, change: dict[str, Any], reason: str | None
) -> None:
    body, headers = adyen_delivery([a_notification()], **change)
    if reason is None:
        assert len(provider.verify_webhook(body, headers)) == 1
        return
    with pytest.raises(WebhookVerificationError, match=reason) as refused:
        provider.verify_webhook(body, headers)
    assert WEBHOOK_PASSWORD not in str(refused.value) and HMAC_KEY not in str(refused.value)


def test_one_bad_item_refuses_the_whole_delivery(provider: AdyenProvider) -> None:
    body, headers = adyen_delivery([a_notification(), a_notification(pspReference="X2")])
    delivery = json.loads(body)
    delivery["notificationItems"][1]["NotificationRequestItem"]["amount"]["value"] = 1
    with pytest.raises(WebhookVerificationError, match="HMAC"):
        provider.verify_webhook(json.dumps(delivery).encode(), headers)
    del delivery["notificationItems"][1]["NotificationRequestItem"]["additionalData"]
    with pytest.raises(WebhookVerificationError, match=r"no additionalData\.hmacSignature"):
        provider.verify_webhook(json.dumps(delivery).encode(), headers)


@pytest.mark.parametrize("body", [b"", b"not json", b"{}", b'{"notificationItems": []}', b"[1]"])
def test_what_is_not_a_delivery_is_refused(provider: AdyenProvider, body: bytes) -> None:
    _, headers = adyen_delivery([a_notification()])
    with pytest.raises(WebhookVerificationError):
        provider.verify_webhook(body, headers)


def test_without_basic_auth_configured_the_signature_alone_is_checked(
    fake_adyen: FakeAdyen,
) -> None:
    provider = make_provider(webhook_username=None, webhook_password=None)
    body, headers = adyen_delivery([a_notification()], auth=None)
    assert len(provider.verify_webhook(body, headers)) == 1


def test_without_an_hmac_key_webhooks_are_not_configured(fake_adyen: FakeAdyen) -> None:
    provider = make_provider(hmac_keys=[])
    with pytest.raises(ProviderNotConfigured, match="ADYEN_HMAC_KEY"):
        provider.verify_webhook(*adyen_delivery([a_notification()]))


def test_another_merchant_accounts_notification_is_delivered_as_other(
    provider: AdyenProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="unipay.adyen")
    (event,) = provider.verify_webhook(
        *adyen_delivery([a_notification(merchantAccountCode="Other")])
    )
    assert event.type is WebhookEventType.OTHER and event.payment is None
    assert "another merchant account" in caplog.text


@pytest.mark.parametrize(
    ("fields", "kind", "payment_status", "refund_status"),
    [
        ({}, "payment.succeeded", PaymentStatus.SUCCEEDED, None),
        (
            {"additionalData": {"metadata.unipay_capture": "manual", "metadata.order": "7"}},
            "payment.requires_capture",
            PaymentStatus.REQUIRES_CAPTURE,
            None,
        ),
        (
            {"success": "false", "reason": "Not enough balance"},
            "payment.failed",
            PaymentStatus.REQUIRES_PAYMENT_METHOD,
            None,
        ),
        (
            {"eventCode": "CAPTURE", "originalReference": "PAY1"},
            "payment.succeeded",
            PaymentStatus.SUCCEEDED,
            None,
        ),
        (
            {"eventCode": "CANCELLATION", "originalReference": "PAY1"},
            "payment.canceled",
            PaymentStatus.CANCELED,
            None,
        ),
        (
            {"eventCode": "TECHNICAL_CANCEL", "originalReference": "PAY1"},
            "payment.canceled",
            PaymentStatus.CANCELED,
            None,
        ),
        (
            {"eventCode": "CANCEL_OR_REFUND", "originalReference": "PAY1"},
            "payment.canceled",
            PaymentStatus.CANCELED,
            None,
        ),
        (
            {
                "eventCode": "CANCEL_OR_REFUND",
                "originalReference": "PAY1",
                "additionalData": {"modification.action": "refund"},
            },
            "refund.succeeded",
            None,
            RefundStatus.SUCCEEDED,
        ),
        (
            {"eventCode": "REFUND", "originalReference": "PAY1"},
            "refund.succeeded",
            None,
            RefundStatus.SUCCEEDED,
        ),
        (
            {"eventCode": "REFUND", "originalReference": "PAY1", "success": "false"},
            "refund.failed",
            None,
            RefundStatus.FAILED,
        ),
        (
            {"eventCode": "REFUND_FAILED", "originalReference": "PAY1"},
            "refund.failed",
            None,
            RefundStatus.FAILED,
        ),
        # Failed modifications of a payment this process never saw: still held for capture.
        (
            {"eventCode": "CAPTURE_FAILED", "originalReference": "PAY1"},
            "payment.requires_capture",
            PaymentStatus.REQUIRES_CAPTURE,
            None,
        ),
        (
            {"eventCode": "CAPTURE", "originalReference": "PAY1", "success": "false"},
            "payment.requires_capture",
            PaymentStatus.REQUIRES_CAPTURE,
            None,
        ),
        ({"eventCode": "CHARGEBACK", "originalReference": "PAY1"}, "other", None, None),
    ],
)
def test_event_codes(
    provider: AdyenProvider,
    fields: dict[str, Any],
    kind: str,
    payment_status: PaymentStatus | None,
    refund_status: RefundStatus | None,
) -> None:
    item = a_notification(**fields)
    (event,) = provider.verify_webhook(*adyen_delivery([item]))
    assert (event.type.value, event.provider_type) == (kind, item["eventCode"])
    assert event.id == f"QFQTPCQ8HXSKGK82:{item['eventCode']}:{item['success']}"
    if payment_status is None:
        assert event.payment is None
    else:
        assert event.payment is not None and event.payment.status is payment_status
        target = item.get("originalReference") or item["pspReference"]
        assert event.payment.id == f"adyen:{target}"
        # This process never saw the payment: the event reports only the notification's part.
        assert event.partial and "status" in event.payment.model_fields_set
        assert not {"description", "created_at"} & event.payment.model_fields_set
    if refund_status is None:
        assert event.refund is None
    else:
        assert event.refund is not None and event.refund.status is refund_status
        assert (event.refund.id, event.refund.payment_id) == (
            "adyen:QFQTPCQ8HXSKGK82",
            "adyen:PAY1",
        )


def test_an_authorisation_read_by_a_process_that_never_saw_the_payment(
    provider: AdyenProvider,
) -> None:
    """The metadata Adyen echoes says manual capture and gives the caller's metadata back."""
    item = a_notification(
        additionalData={
            "metadata.unipay_capture": "manual",
            "metadata.order": "7",
            "shopperEmail": "buyer@example.com",
        }
    )
    (event,) = provider.verify_webhook(*adyen_delivery([item]))
    payment = event.payment
    assert payment is not None and payment.capture_method is CaptureMethod.MANUAL
    assert payment.metadata == {"order": "7"} and payment.customer_email == "buyer@example.com"
    assert (payment.amount, payment.amount_capturable, payment.amount_received) == (1000, 1000, 0)
    reported = {"amount", "metadata", "customer_email", "capture_method", "amount_capturable"}
    assert event.partial and reported <= payment.model_fields_set
    assert not {"description", "amount_received", "pending"} & payment.model_fields_set
    # Without an echo of metadata, the store's stands.
    (bare,) = provider.verify_webhook(*adyen_delivery([a_notification(pspReference="PAY2")]))
    assert bare.partial and bare.payment is not None
    assert not {"metadata", "customer_email"} & bare.payment.model_fields_set


def test_a_capture_read_by_a_process_that_never_saw_the_payment_reports_its_fields_only(
    provider: AdyenProvider,
) -> None:
    """A CAPTURE carries the captured amount, no metadata: a partial event that sets what was
    received, never the payment's amount or metadata (the store keeps its own); those are the
    notification's guess only for a store that lacks the payment."""
    item = a_notification(eventCode="CAPTURE", originalReference="PAY1", pspReference="CAP1")
    (event,) = provider.verify_webhook(*adyen_delivery([item]))
    assert event.partial and event.payment is not None
    assert event.payment.model_fields_set == {
        "provider", "provider_payment_id", "currency", "status",
        "amount_received", "amount_capturable", "pending",
    }  # fmt: skip
    assert (event.payment.amount, event.payment.amount_received) == (1000, 1000)
    assert event.payment.metadata == {}


def test_notifications_build_on_what_the_provider_remembers(
    provider: AdyenProvider, fake_adyen: FakeAdyen
) -> None:
    from unipay import Gateway

    gateway = Gateway(providers=[provider], load_installed=False)
    held = gateway.create_payment(
        provider="adyen", amount=4000, currency="EUR", payment_method=TOKEN,
        capture_method="manual", metadata={"order": "9"}, description="Nine",
    )  # fmt: skip
    captured = gateway.capture_payment(held.id, amount=3000)
    # A second capture while the first is pending: Adyen takes it, then fails it by notification.
    twice = gateway.capture_payment(held.id, amount=1000)
    assert [p.amount for p in twice.pending] == [3000, 1000]
    first = captured.pending[0].provider_reference
    assert first is not None
    fake_adyen.settle(first)
    items = fake_adyen.take_notifications()
    assert [(i["eventCode"], i["success"]) for i in items] == [
        ("AUTHORISATION", "true"),
        ("CAPTURE", "false"),
        ("CAPTURE", "true"),
    ]
    _, failed, settled = provider.verify_webhook(*adyen_delivery(items))
    assert failed.type is WebhookEventType.PAYMENT_REQUIRES_CAPTURE and failed.payment is not None
    assert [p.amount for p in failed.payment.pending] == [3000]  # the failed one is gone
    assert settled.type is WebhookEventType.PAYMENT_SUCCEEDED and settled.payment is not None
    assert settled.payment.model_dump(exclude={"created_at"}) == held.model_copy(
        update={"status": PaymentStatus.SUCCEEDED, "amount_capturable": 0, "amount_received": 3000}
    ).model_dump(exclude={"created_at"})
    # What this process knows of it now: a capture of a succeeded payment is refused at once.
    with pytest.raises(InvalidPaymentState):
        gateway.capture_payment(held.id)


@pytest.mark.parametrize(
    "event_type",
    [
        WebhookEventType.PAYMENT_SUCCEEDED,
        WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
        WebhookEventType.PAYMENT_FAILED,
        WebhookEventType.PAYMENT_CANCELED,
    ],
)
@pytest.mark.parametrize("capture", [CaptureMethod.AUTOMATIC, CaptureMethod.MANUAL])
def test_test_deliveries_are_adyens_own_and_round_trip(
    provider: AdyenProvider, event_type: WebhookEventType, capture: CaptureMethod
) -> None:
    payment = Payment(
        provider="adyen",
        provider_payment_id="PSP0000000000042",
        status=PaymentStatus.SUCCEEDED,
        amount=1299,
        currency="EUR",
        amount_received=1299,
        capture_method=capture,
        metadata={"unipay_test_delivery": "true"},
        decline_code="insufficient_funds",
    )
    body, headers = provider.sign_test_delivery(event_type, payment)
    delivery = json.loads(body)
    validate("NotificationRequest", delivery)
    item = delivery["notificationItems"][0]["NotificationRequestItem"]
    assert item["additionalData"]["hmacSignature"] == adyen_signature(item, HMAC_KEY)
    (event,) = provider.verify_webhook(body, headers)
    assert event.type is event_type
    assert event.payment is not None and event.payment.id == payment.id
    if event_type is WebhookEventType.PAYMENT_FAILED:
        assert (item["reason"], event.payment.decline_code) == (
            "Not enough balance",
            "insufficient_funds",
        )


@pytest.mark.parametrize(
    "event_type", [WebhookEventType.PAYMENT_PROCESSING, WebhookEventType.PAYMENT_REQUIRES_ACTION]
)
def test_test_deliveries_adyen_never_sends_are_refused(
    provider: AdyenProvider, event_type: WebhookEventType
) -> None:
    payment = Payment(
        provider="adyen", provider_payment_id="P", status=PaymentStatus.PROCESSING, amount=1,
        currency="EUR",
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="Adyen sends no notification"):
        provider.sign_test_delivery(event_type, payment)
