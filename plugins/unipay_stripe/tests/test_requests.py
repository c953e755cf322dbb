"""What goes over the wire: form fields, Idempotency-Key, Stripe-Version; and what comes back."""

from __future__ import annotations

import stripe

from unipay import AsyncGateway, Gateway
from unipay.models import CaptureMethod, PaymentStatus
from unipay_stripe import StripeProvider

from .fake_stripe import FakeStripe, parse_form

KEY = "order-42-attempt-1"


def test_create_sends_stripe_form_fields_and_the_gateways_key(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    payment = gateway.create_payment(
        provider="stripe", amount=1299, currency="usd", payment_method="pm_card_visa",
        customer_email="demo@example.com", capture_method="manual", description="Order 42",
        metadata={"order": "42"}, idempotency_key=KEY,
    )  # fmt: skip
    (request,) = fake_stripe.mutations("/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Stripe-Version"] == stripe.api_version
    assert request.headers["Authorization"] == "Bearer sk_test_51QbZ0aLkdIwHu7ixUNIPAYtestKEY1"
    assert parse_form(request.content) == {
        "amount": "1299",
        "currency": "usd",
        "capture_method": "manual",
        "confirm": "true",
        "payment_method": "pm_card_visa",
        "receipt_email": "demo@example.com",
        "description": "Order 42",
        "metadata": {"order": "42"},
        "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
        "expand": {"0": "latest_charge"},
    }
    assert payment.status is PaymentStatus.REQUIRES_CAPTURE
    assert payment.capture_method is CaptureMethod.MANUAL
    assert (payment.amount, payment.amount_capturable, payment.currency) == (1299, 1299, "USD")
    assert payment.customer_email == "demo@example.com"
    intent = fake_stripe.intents[payment.provider_payment_id]
    assert payment.created_at.timestamp() == intent["created"]


def test_return_url_replaces_the_no_redirect_setting(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    payment = gateway.create_payment(
        provider="stripe", amount=1000, currency="EUR",
        payment_method="pm_card_authenticationRequired", return_url="https://shop.example/back",
    )  # fmt: skip
    form = parse_form(fake_stripe.mutations("/v1/payment_intents")[0].content)
    assert form["return_url"] == "https://shop.example/back"
    assert "automatic_payment_methods" not in form
    assert payment.next_action is not None
    assert payment.next_action.redirect_url is not None
    assert payment.next_action.redirect_url.startswith("https://hooks.stripe.com/")
    assert payment.next_action.return_url == "https://shop.example/back"


def test_capture_cancel_refund_send_their_fields(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    held = gateway.create_payment(
        provider="stripe", amount=5000, currency="USD", payment_method="pm_card_visa",
        capture_method="manual",
    )  # fmt: skip
    pi = held.provider_payment_id
    captured = gateway.capture_payment(held.id, amount=3000, idempotency_key="cap-1")
    (capture,) = fake_stripe.mutations(f"/v1/payment_intents/{pi}/capture")
    assert capture.headers["Idempotency-Key"] == "cap-1"
    assert parse_form(capture.content)["amount_to_capture"] == "3000"
    assert (captured.amount_received, captured.amount_capturable) == (3000, 0)

    refund = gateway.refund_payment(
        held.id, amount=1000, reason="requested_by_customer", metadata={"ticket": "7"},
        idempotency_key="ref-1",
    )  # fmt: skip
    (sent,) = fake_stripe.mutations("/v1/refunds")
    assert sent.headers["Idempotency-Key"] == "ref-1"
    assert parse_form(sent.content) == {
        "payment_intent": pi, "amount": "1000", "reason": "requested_by_customer",
        "metadata": {"ticket": "7"},
    }  # fmt: skip
    assert (refund.amount, refund.payment_id, refund.reason) == (
        1000,
        held.id,
        "requested_by_customer",
    )
    assert refund.id == f"stripe:{refund.provider_refund_id}"
    assert gateway.retrieve_payment(held.id).amount_refunded == 1000

    other = gateway.create_payment(
        provider="stripe", amount=5000, currency="USD", payment_method="pm_card_visa",
        capture_method="manual",
    )  # fmt: skip
    gateway.cancel_payment(other.id, reason="abandoned", idempotency_key="can-1")
    (cancel,) = fake_stripe.mutations(f"/v1/payment_intents/{other.provider_payment_id}/cancel")
    assert cancel.headers["Idempotency-Key"] == "can-1"
    assert parse_form(cancel.content)["cancellation_reason"] == "abandoned"


def test_retrieve_is_a_get_without_a_key(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    payment = gateway.create_payment(
        provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa"
    )
    gateway.retrieve_payment(payment.id)
    request = fake_stripe.requests[-1]
    assert request.method == "GET"
    assert request.url.path == f"/v1/payment_intents/{payment.provider_payment_id}"
    assert "Idempotency-Key" not in request.headers


def test_zero_decimal_and_special_currencies_convert_amounts(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    yen = gateway.create_payment(
        provider="stripe", amount=500, currency="JPY", payment_method="pm_card_visa"
    )
    isk = gateway.create_payment(
        provider="stripe", amount=500, currency="ISK", payment_method="pm_card_visa"
    )
    sent = [parse_form(r.content)["amount"] for r in fake_stripe.mutations("/v1/payment_intents")]
    assert sent == ["500", "50000"]  # ISK stays two-decimal at Stripe
    assert (yen.amount, isk.amount, isk.amount_received) == (500, 500, 500)
    gateway.refund_payment(isk.id, amount=200)
    assert parse_form(fake_stripe.mutations("/v1/refunds")[0].content)["amount"] == "20000"


async def test_async_face_sends_the_same_requests(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    async with AsyncGateway(providers=[stripe_provider], load_installed=False) as gateway:
        held = await gateway.create_payment(
            provider="stripe", amount=1500, currency="USD", payment_method="pm_card_visa",
            capture_method="manual", idempotency_key="a-create",
        )  # fmt: skip
        captured = await gateway.capture_payment(held.id, amount=1000, idempotency_key="a-cap")
        refund = await gateway.refund_payment(held.id, idempotency_key="a-ref")
    keys = [r.headers.get("Idempotency-Key") for r in fake_stripe.requests]
    assert keys == ["a-create", "a-cap", "a-ref"]
    assert parse_form(fake_stripe.requests[1].content)["amount_to_capture"] == "1000"
    assert captured.amount_received == 1000
    assert refund.amount == 1000
