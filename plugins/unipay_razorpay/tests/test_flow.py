"""The unified flow on both faces: an order, Razorpay Checkout, confirm, capture, refunds."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    PaymentNotFound,
    UnsupportedOperation,
)
from unipay.models import CaptureMethod, PaymentStatus, RefundStatus
from unipay.testing.faces import Face

from .conftest import KEY_ID, KEY_SECRET
from .fake_razorpay import INSUFFICIENT_FUNDS, CheckoutDeclined, FakeRazorpay

ORDER: dict[str, Any] = {"provider": "razorpay", "amount": 50000, "currency": "INR"}


def _sent(fake: FakeRazorpay, method: str, path_end: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.method == method and r.url.path.endswith(path_end)]


async def test_create_answers_the_checkout_it_needs(face: Face, fake: FakeRazorpay) -> None:
    payment = await face(
        "create_payment",
        **ORDER,
        metadata={"order": "42"},
        description="Two teas",
        customer_email="buyer@example.com",
        idempotency_key="order-42",
    )
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert payment.provider_payment_id.startswith("order_")
    assert payment.metadata == {"order": "42"}
    action = payment.next_action
    assert action is not None and action.type == "client_checkout"
    assert action.data == {
        "key": KEY_ID,
        "order_id": payment.provider_payment_id,
        "amount": 50000,
        "currency": "INR",
        "notes": {"order": "42", "unipay_capture": "automatic"},
        "description": "Two teas",
        "prefill": {"email": "buyer@example.com"},
    }
    assert KEY_SECRET not in payment.model_dump_json()
    (sent,) = _sent(fake, "POST", "/v1/orders")
    body = json.loads(sent.content)
    # unipay's merchant reference is the order's receipt: lookup finds the order by it.
    assert body["receipt"].startswith("unipay-") and len(body["receipt"]) <= 40
    assert body["payment"] == {
        "capture": "automatic",
        "capture_options": {
            "manual_expiry_period": 7200,
            "refund_speed": "normal",
            "automatic_expiry_period": 7200,
        },
    }


async def test_checkout_then_confirm_succeeds(face: Face, fake: FakeRazorpay) -> None:
    created = await face("create_payment", **ORDER)
    answer = fake.pay(created.provider_payment_id)
    paid = await face("confirm_payment", created.id, action_result=answer)
    assert paid.id == created.id
    assert paid.status is PaymentStatus.SUCCEEDED
    assert (paid.amount_received, paid.amount_capturable) == (50000, 0)
    assert "capture" not in fake.acted  # Razorpay captured it itself (automatic order)
    again = await face("retrieve_payment", created.id)
    assert again.status is PaymentStatus.SUCCEEDED and again.next_action is None


async def test_confirm_captures_an_automatic_order_razorpay_has_not(
    face: Face, fake: FakeRazorpay
) -> None:
    fake.auto_capture = False  # Razorpay's own capture has not happened yet
    created = await face("create_payment", **ORDER)
    paid = await face(
        "confirm_payment", created.id, action_result=fake.pay(created.provider_payment_id)
    )
    assert paid.status is PaymentStatus.SUCCEEDED
    assert fake.acted["capture"] == 1
    (capture,) = _sent(fake, "POST", "/capture")
    assert json.loads(capture.content) == {"amount": 50000, "currency": "INR"}


async def test_manual_capture_is_whole(face: Face, fake: FakeRazorpay) -> None:
    created = await face("create_payment", **ORDER, capture_method="manual")
    assert created.capture_method is CaptureMethod.MANUAL
    held = await face(
        "confirm_payment", created.id, action_result=fake.pay(created.provider_payment_id)
    )
    assert held.status is PaymentStatus.REQUIRES_CAPTURE and held.amount_capturable == 50000
    assert "capture" not in fake.acted
    with pytest.raises(UnsupportedOperation, match="partial capture"):
        await face("capture_payment", created.id, amount=20000)
    captured = await face("capture_payment", created.id)
    assert captured.status is PaymentStatus.SUCCEEDED and captured.amount_received == 50000
    with pytest.raises(InvalidPaymentState):
        await face("capture_payment", created.id)
    assert fake.acted["capture"] == 1


async def test_a_bad_signature_is_refused_before_any_request(
    face: Face, fake: FakeRazorpay
) -> None:
    created = await face("create_payment", **ORDER)
    answer = fake.pay(created.provider_payment_id)
    before = len(fake.requests)
    forged = answer | {"razorpay_signature": "0" * 64}
    with pytest.raises(InvalidRequest) as refused:
        await face("confirm_payment", created.id, action_result=forged)
    assert (refused.value.code, refused.value.param) == ("invalid_signature", "action_result")
    other = await face("create_payment", **ORDER)
    before = len(fake.requests)
    with pytest.raises(InvalidRequest, match="another order"):
        await face("confirm_payment", other.id, action_result=answer)
    with pytest.raises(InvalidRequest, match="razorpay_signature"):
        await face("confirm_payment", created.id, action_result={"razorpay_payment_id": "pay_1"})
    with pytest.raises(InvalidRequest, match="action_result"):
        await face("confirm_payment", created.id)
    assert len(fake.requests) == before


async def test_a_declined_checkout_can_pay_again(face: Face, fake: FakeRazorpay) -> None:
    created = await face("create_payment", **ORDER)
    with pytest.raises(CheckoutDeclined) as declined:
        fake.pay(created.provider_payment_id, INSUFFICIENT_FUNDS)
    assert declined.value.error["reason"] == "insufficient_funds"
    now = await face("retrieve_payment", created.id)
    assert now.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert now.decline_code == "insufficient_funds"
    assert now.next_action is not None and now.next_action.type == "client_checkout"
    paid = await face(
        "confirm_payment", created.id, action_result=fake.pay(created.provider_payment_id)
    )
    assert paid.status is PaymentStatus.SUCCEEDED


async def test_refunds_are_partial_multiple_and_pending(face: Face, fake: FakeRazorpay) -> None:
    created = await face("create_payment", **ORDER)
    await face("confirm_payment", created.id, action_result=fake.pay(created.provider_payment_id))
    first = await face(
        "refund_payment", created.id, amount=10000, reason="requested_by_customer",
        metadata={"ticket": "7"}, idempotency_key="refund-1",
    )  # fmt: skip
    assert (first.status, first.amount, first.currency) == (RefundStatus.PENDING, 10000, "INR")
    assert first.payment_id == created.id and first.provider_refund_id.startswith("rfnd_")
    assert first.metadata == {"ticket": "7"} and first.reason is not None
    (sent,) = _sent(fake, "POST", "/refund")
    body = json.loads(sent.content)
    assert body["receipt"].startswith("unipay-")
    # Razorpay's own refund deduplication, a second guard: the same value as the receipt.
    assert sent.headers["X-Refund-Idempotency"] == body["receipt"]
    second = await face("refund_payment", created.id, amount=15000)
    assert second.id != first.id
    with pytest.raises(InvalidRequest) as too_much:
        await face("refund_payment", created.id, amount=25001)
    assert too_much.value.code == "amount_too_large"
    rest = await face("refund_payment", created.id)
    assert rest.amount == 25000
    with pytest.raises(InvalidPaymentState, match="in full"):
        await face("refund_payment", created.id, amount=100)
    assert len(fake.refunds) == 3


async def test_nothing_to_refund_before_the_customer_pays(face: Face, fake: FakeRazorpay) -> None:
    created = await face("create_payment", **ORDER)
    with pytest.raises(InvalidPaymentState, match="requires_action"):
        await face("refund_payment", created.id)
    assert not fake.refunds


async def test_what_razorpay_cannot_take_is_refused_before_a_request(
    face: Face, fake: FakeRazorpay
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await face("create_payment", **ORDER, payment_method="pm_card_visa")
    assert refused.value.param == "payment_method"
    assert "Checkout" in refused.value.message
    for metadata, why in [
        ({f"k{i}": "v" for i in range(15)}, "at most 14"),
        ({"unipay_capture": "manual"}, "reserved"),
        ({"note": "x" * 257}, "256"),
    ]:
        with pytest.raises(InvalidRequest, match=why) as refused:
            await face("create_payment", **ORDER, metadata=metadata)
        assert refused.value.param == "metadata"
    with pytest.raises(InvalidRequest, match="end in 0"):
        await face("create_payment", provider="razorpay", amount=10005, currency="KWD")
    with pytest.raises(InvalidRequest, match="minimum"):
        await face("create_payment", provider="razorpay", amount=99, currency="INR")
    with pytest.raises(UnsupportedOperation, match="does not accept"):
        await face("create_payment", provider="razorpay", amount=5000, currency="ARS")
    with pytest.raises(UnsupportedOperation, match="confirm step"):
        await face("create_payment", **ORDER, confirm=False)
    with pytest.raises(UnsupportedOperation):
        await face("cancel_payment", "razorpay:order_Abc")
    assert fake.requests == []


async def test_unknown_payments_are_not_found(face: Face, fake: FakeRazorpay) -> None:
    with pytest.raises(PaymentNotFound, match="not a Razorpay order id"):
        await face("retrieve_payment", "razorpay:pay_29QQoUBi66xm2f")
    assert fake.requests == []
    with pytest.raises(PaymentNotFound, match="does not exist"):
        await face("refund_payment", "razorpay:order_DoesNotExist00")
    with pytest.raises(PaymentNotFound):
        await face("retrieve_payment", "razorpay:order_DoesNotExist00")
