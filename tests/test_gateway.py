"""The gateway on the mock provider: every status transition and every error, on both faces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from unipay import CaptureMethod, Payment, PaymentStatus, Refund, RefundStatus
from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    ProviderNotFound,
)
from unipay.testing.faces import Face
from unipay_mock import MockProvider

USD = {"provider": "mock", "currency": "USD"}


def mock_of(face: Face) -> MockProvider:
    provider = face.gateway.providers.get("mock")
    assert isinstance(provider, MockProvider)
    return provider


async def test_create_with_visa_succeeds_at_once(face: Face) -> None:
    payment = await face("create_payment", amount=1299, payment_method="pm_card_visa", **USD)
    assert isinstance(payment, Payment)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert (payment.amount_received, payment.amount_capturable, payment.amount_refunded) == (
        1299,
        0,
        0,
    )
    assert payment.id == f"mock:{payment.provider_payment_id}"
    assert payment.replayed is False


async def test_create_without_payment_method_uses_the_default_test_card(face: Face) -> None:
    payment = await face("create_payment", amount=1299, customer_email="demo@example.com", **USD)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.payment_method == "pm_card_visa"
    assert payment.customer_email == "demo@example.com"


async def test_unconfirmed_then_confirmed(face: Face) -> None:
    created = await face(
        "create_payment", amount=500, confirm=False, payment_method="pm_card_visa", **USD
    )
    assert created.status is PaymentStatus.REQUIRES_CONFIRMATION
    assert created.amount_received == 0
    confirmed = await face("confirm_payment", created.id)
    assert confirmed.status is PaymentStatus.SUCCEEDED
    assert confirmed.amount_received == 500


async def test_manual_capture_full(face: Face) -> None:
    authorized = await face("create_payment", amount=2000, capture_method="manual", **USD)
    assert authorized.status is PaymentStatus.REQUIRES_CAPTURE
    assert authorized.capture_method is CaptureMethod.MANUAL
    assert (authorized.amount_capturable, authorized.amount_received) == (2000, 0)
    captured = await face("capture_payment", authorized.id)
    assert captured.status is PaymentStatus.SUCCEEDED
    assert (captured.amount_capturable, captured.amount_received) == (0, 2000)


async def test_partial_capture_releases_the_rest(face: Face) -> None:
    authorized = await face("create_payment", amount=1299, capture_method="manual", **USD)
    captured = await face("capture_payment", authorized.id, amount=1000)
    assert captured.status is PaymentStatus.SUCCEEDED
    assert (captured.amount_received, captured.amount_capturable) == (1000, 0)


async def test_capture_above_capturable_changes_nothing(face: Face) -> None:
    authorized = await face("create_payment", amount=1000, capture_method="manual", **USD)
    with pytest.raises(InvalidRequest) as caught:
        await face("capture_payment", authorized.id, amount=1001)
    assert caught.value.param == "amount" and caught.value.code == "amount_too_large"
    still = await face("retrieve_payment", authorized.id)
    assert still.status is PaymentStatus.REQUIRES_CAPTURE and still.amount_capturable == 1000


async def test_capture_is_only_allowed_from_requires_capture(face: Face) -> None:
    paid = await face("create_payment", amount=1000, **USD)
    with pytest.raises(
        InvalidPaymentState, match="cannot capture a payment whose status is succeeded"
    ):
        await face("capture_payment", paid.id)


async def test_cancel_an_authorization(face: Face) -> None:
    authorized = await face("create_payment", amount=1000, capture_method="manual", **USD)
    canceled = await face("cancel_payment", authorized.id, reason="requested_by_customer")
    assert canceled.status is PaymentStatus.CANCELED
    assert canceled.amount_capturable == 0
    with pytest.raises(InvalidPaymentState):
        await face("capture_payment", authorized.id)


async def test_cancel_an_unconfirmed_payment(face: Face) -> None:
    created = await face("create_payment", amount=1000, confirm=False, **USD)
    canceled = await face("cancel_payment", created.id)
    assert canceled.status is PaymentStatus.CANCELED


async def test_a_succeeded_payment_cannot_be_canceled(face: Face) -> None:
    paid = await face("create_payment", amount=1000, **USD)
    with pytest.raises(InvalidPaymentState, match="cannot cancel"):
        await face("cancel_payment", paid.id)


async def test_refunds_full_partial_and_several(face: Face) -> None:
    paid = await face("create_payment", amount=1000, **USD)
    first = await face("refund_payment", paid.id, amount=300)
    assert isinstance(first, Refund)
    assert (first.amount, first.status, first.payment_id) == (300, RefundStatus.SUCCEEDED, paid.id)
    second = await face("refund_payment", paid.id, amount=200)
    assert second.id != first.id
    rest = await face("refund_payment", paid.id)
    assert rest.amount == 500
    after = await face("retrieve_payment", paid.id)
    assert after.amount_refunded == 1000 and after.amount_refundable == 0
    with pytest.raises(InvalidPaymentState, match="already fully refunded"):
        await face("refund_payment", paid.id, amount=1)


async def test_refund_above_refundable_changes_nothing(face: Face) -> None:
    paid = await face("create_payment", amount=1000, **USD)
    await face("refund_payment", paid.id, amount=600)
    with pytest.raises(InvalidRequest) as caught:
        await face("refund_payment", paid.id, amount=401)
    assert caught.value.code == "amount_too_large"
    assert (await face("retrieve_payment", paid.id)).amount_refunded == 600
    assert mock_of(face).ledger.count_refunds(paid.provider_payment_id) == 1


async def test_refund_of_an_uncaptured_payment_is_refused(face: Face) -> None:
    authorized = await face("create_payment", amount=1000, capture_method="manual", **USD)
    with pytest.raises(InvalidPaymentState, match="cannot refund"):
        await face("refund_payment", authorized.id)


async def test_the_store_keeps_the_latest_state(face: Face) -> None:
    authorized = await face("create_payment", amount=1000, capture_method="manual", **USD)
    assert (await face("stored_payment", authorized.id)).status is PaymentStatus.REQUIRES_CAPTURE
    await face("capture_payment", authorized.id, amount=800)
    await face("refund_payment", authorized.id, amount=100)
    stored = await face("stored_payment", authorized.id)
    assert (stored.status, stored.amount_received, stored.amount_refunded) == (
        PaymentStatus.SUCCEEDED,
        800,
        100,
    )
    assert await face("stored_payment", "mock:pi_unknown") is None


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
async def test_a_decline_raises_with_the_payment(face: Face, token: str, decline_code: str) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        await face("create_payment", amount=1000, payment_method=token, **USD)
    declined = caught.value
    assert declined.decline_code == decline_code
    assert declined.provider == "mock" and not declined.retriable
    assert declined.payment is not None
    assert declined.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert declined.payment.amount_received == 0
    # A new payment method rescues the same payment.
    rescued = await face("confirm_payment", declined.payment.id, payment_method="pm_card_visa")
    assert rescued.status is PaymentStatus.SUCCEEDED and rescued.id == declined.payment.id


async def test_authentication_required_then_completed(face: Face) -> None:
    payment = await face(
        "create_payment",
        amount=1000,
        payment_method="pm_card_authenticationRequired",
        return_url="https://shop.example/back",
        **USD,
    )
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert payment.next_action is not None
    assert (
        payment.next_action.redirect_url
        and payment.provider_payment_id in payment.next_action.redirect_url
    )
    assert payment.next_action.return_url == "https://shop.example/back"
    mock_of(face).authenticate(payment.provider_payment_id)
    done = await face("retrieve_payment", payment.id)
    assert done.status is PaymentStatus.SUCCEEDED and done.next_action is None


async def test_authentication_failed_needs_a_new_method(face: Face) -> None:
    payment = await face(
        "create_payment",
        amount=1000,
        capture_method="manual",
        payment_method="pm_card_authenticationRequired",
        **USD,
    )
    failed = mock_of(face).authenticate(payment.provider_payment_id, succeed=False)
    assert failed.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert failed.decline_code == "authentication_required"
    confirmed = await face("confirm_payment", payment.id, payment_method="pm_card_mastercard")
    assert confirmed.status is PaymentStatus.REQUIRES_CAPTURE


async def test_unknown_test_token_is_a_clear_error(face: Face) -> None:
    with pytest.raises(InvalidRequest, match="no such payment method 'pm_card_nope'") as caught:
        await face("create_payment", amount=1000, payment_method="pm_card_nope", **USD)
    assert caught.value.param == "payment_method"


async def test_unknown_payment_is_not_found(face: Face) -> None:
    with pytest.raises(PaymentNotFound):
        await face("retrieve_payment", "mock:pi_does_not_exist")


async def test_unknown_provider_lists_the_installed_ones(face: Face) -> None:
    with pytest.raises(ProviderNotFound) as caught:
        await face("create_payment", provider="acme", amount=1000, currency="USD")
    assert "'mock'" in str(caught.value) and "acme" in str(caught.value)
    assert "mock" in caught.value.installed
    with pytest.raises(ProviderNotFound):
        await face("capture_payment", "acme:pi_1")


@pytest.mark.parametrize(
    "bad",
    [
        {"currency": "usd "},
        {"currency": "XXQ"},
        {"amount": 0},
        {"amount": -5},
        {"amount": 12.99},
        {"payment_method": "4242424242424242"},
    ],
)
async def test_bad_input_never_reaches_the_provider(face: Face, bad: dict[str, Any]) -> None:
    before = mock_of(face).ledger.count_payments()
    arguments: dict[str, Any] = {"provider": "mock", "amount": 1000, "currency": "USD", **bad}
    with pytest.raises(InvalidRequest):
        await face("create_payment", **arguments)
    assert mock_of(face).ledger.count_payments() == before


async def test_amount_over_the_providers_maximum(make_face: Callable[..., Face]) -> None:
    from unipay import Capabilities

    small = MockProvider(name="small")
    small.capabilities = Capabilities(maximum_amount=10_000, minimum_amounts={"USD": 50})
    face = make_face(providers=[small])
    before = small.ledger.count_payments()
    with pytest.raises(InvalidRequest, match=r"above 'small'.s maximum of 100.00 USD") as caught:
        await face("create_payment", provider="small", amount=10_001, currency="USD")
    assert caught.value.code == "amount_too_large"
    with pytest.raises(InvalidRequest, match="below") as caught:
        await face("create_payment", provider="small", amount=49, currency="USD")
    assert caught.value.code == "amount_too_small"
    assert small.ledger.count_payments() == before


async def test_malformed_payment_id(face: Face) -> None:
    with pytest.raises(InvalidRequest, match="payment_id must be a unipay id"):
        await face("capture_payment", "pi_123")
