"""What goes over the wire: form fields, Idempotency-Key, Stripe-Version; and what comes back."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest
import stripe

from unipay import AsyncGateway, Gateway
from unipay.errors import InvalidRequest, PaymentNotFound
from unipay.models import CaptureMethod, PaymentStatus, payment_id
from unipay.testing import Face
from unipay_stripe import StripeProvider

from .fake_stripe import API_HOST, RETURN_URL_REQUIRED, FakeStripe, parse_form

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


def test_an_intent_id_is_escaped_in_the_path(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    """The path is built by the provider (raw_request), so an id cannot reach another resource."""
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    with pytest.raises(PaymentNotFound):
        gateway.retrieve_payment(payment_id("stripe", "pi_1/../../refunds x"))
    request = fake_stripe.requests[-1]
    assert request.url.raw_path.split(b"?")[0] == b"/v1/payment_intents/pi_1%2F..%2F..%2Frefunds+x"


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


@pytest.mark.parametrize("face", ["sync", "async"])
async def test_two_step_without_return_url_creates_an_intent_that_confirms_without_one(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider, face: str
) -> None:
    gateway: Gateway | AsyncGateway
    if face == "sync":
        gateway = Gateway(providers=[stripe_provider], load_installed=False)
        created = gateway.create_payment(
            provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa",
            confirm=False,
        )  # fmt: skip
        confirmed = gateway.confirm_payment(created.id)
    else:
        gateway = AsyncGateway(providers=[stripe_provider], load_installed=False)
        created = await gateway.create_payment(
            provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa",
            confirm=False,
        )  # fmt: skip
        confirmed = await gateway.confirm_payment(created.id)
    form = parse_form(fake_stripe.mutations("/v1/payment_intents")[0].content)
    assert form["confirm"] == "false"
    assert form["automatic_payment_methods"] == {"enabled": "true", "allow_redirects": "never"}
    assert "return_url" not in form  # Stripe takes it on create only with confirm=true
    assert created.status is PaymentStatus.REQUIRES_CONFIRMATION
    assert confirmed.status is PaymentStatus.SUCCEEDED
    confirm = fake_stripe.mutations(f"/v1/payment_intents/{created.provider_payment_id}/confirm")
    assert "return_url" not in parse_form(confirm[0].content)


def test_two_step_with_return_url_keeps_redirects_and_confirm_forwards_it(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False)
    back = "https://shop.example/back"
    created = gateway.create_payment(
        provider="stripe", amount=1000, currency="EUR", return_url=back, confirm=False,
    )  # fmt: skip
    form = parse_form(fake_stripe.mutations("/v1/payment_intents")[0].content)
    assert form["automatic_payment_methods"] == {"enabled": "true", "allow_redirects": "always"}
    assert "return_url" not in form
    with pytest.raises(InvalidRequest, match="A `return_url` must be specified"):
        gateway.confirm_payment(created.id, payment_method="pm_card_visa")
    confirmed = gateway.confirm_payment(
        created.id, payment_method="pm_card_authenticationRequired", return_url=back
    )
    path = f"/v1/payment_intents/{created.provider_payment_id}/confirm"
    sent = parse_form(fake_stripe.mutations(path)[-1].content)
    assert sent["return_url"] == back
    assert confirmed.status is PaymentStatus.REQUIRES_ACTION
    assert confirmed.next_action is not None and confirmed.next_action.return_url == back


def test_the_fake_refuses_what_stripe_refuses(fake_stripe: FakeStripe) -> None:
    """Stripe's redirect rules, at the HTTP layer, in Stripe's error shape."""
    auth = {"Authorization": "Bearer sk_test_x"}
    with httpx.Client(base_url=f"https://{API_HOST}", headers=auth) as http:
        # No automatic_payment_methods: Stripe enables them with redirects allowed.
        card = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa"}
        made = http.post("/v1/payment_intents", data=card)
        assert made.json()["automatic_payment_methods"] == {
            "enabled": True,
            "allow_redirects": "always",
        }
        refused = http.post(f"/v1/payment_intents/{made.json()['id']}/confirm")
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == RETURN_URL_REQUIRED
        back = {"return_url": "https://shop.example/back"}
        assert http.post(f"/v1/payment_intents/{made.json()['id']}/confirm", data=back).is_success
        early = http.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd", **back})
        assert early.status_code == 400
        assert early.json()["error"]["param"] == "return_url"


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize(
    "token",
    [
        "tok_visa",
        "card_1Qb0aLkdIwHu7ix",
        "src_1Qb0",
        "acme_tok_42",
        {"type": "scheme", "encryptedCardNumber": "adyenjs_0_1_25$x"},  # Adyen's, not Stripe's
    ],
)
async def test_a_token_that_is_not_a_payment_method_id_is_refused_before_any_request(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider, face: str, token: Any
) -> None:
    """The core no longer checks token formats; Stripe's provider says what Stripe expects."""
    gateway = (Gateway if face == "sync" else AsyncGateway)(
        providers=[stripe_provider], load_installed=False
    )
    face_of = Face(gateway)
    with pytest.raises(InvalidRequest) as created:
        await face_of(
            "create_payment", provider="stripe", amount=1000, currency="USD", payment_method=token
        )
    assert not fake_stripe.requests
    pending = await face_of(
        "create_payment", provider="stripe", amount=1000, currency="USD", confirm=False
    )
    with pytest.raises(InvalidRequest) as confirmed:
        await face_of("confirm_payment", pending.id, payment_method=token)
    assert [r.method for r in fake_stripe.requests] == ["POST"], "only the create was sent"
    for caught in (created, confirmed):
        assert caught.value.param == "payment_method"
        assert "Stripe expects a PaymentMethod id (pm_...)" in caught.value.message
        assert str(token) not in caught.value.message
    if isinstance(gateway, AsyncGateway):
        await gateway.aclose()


def test_each_operation_is_one_flow_for_both_faces() -> None:
    """No sync/async twins: the gateway drives one generator per operation on either face."""
    operations = ["create_payment", "confirm_payment", "capture_payment", "cancel_payment",
                  "refund_payment", "retrieve_payment"]  # fmt: skip
    for name in operations:
        assert inspect.isgeneratorfunction(getattr(StripeProvider, name)), name
        assert not hasattr(StripeProvider, "a" + name), name
