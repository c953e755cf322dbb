"""Without idempotency keys a call in doubt is looked up by its receipt, never sent blindly again.

The fake's own refund deduplication (``X-Refund-Idempotency``) is off here: what keeps a lost
answer from turning into a second order, capture or refund is unipay's lookup alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from unipay import AsyncGateway, Gateway, RetryPolicy
from unipay.errors import IdempotencyKeyReused, OutcomeUnknown, ProviderUnavailable
from unipay.gateway import _reference
from unipay.models import Payment, PaymentStatus, Refund, RefundPaymentRequest
from unipay.provider import CallContext
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay_razorpay import RazorpayProvider

from .fake_razorpay import FakeRazorpay

ORDER: dict[str, Any] = {"provider": "razorpay", "amount": 50000, "currency": "INR"}


@pytest.fixture(params=["Gateway", "AsyncGateway"])
async def quick(
    request: pytest.FixtureRequest, razorpay: RazorpayProvider, fake: FakeRazorpay
) -> AsyncIterator[Face]:
    """A face that retries at once, over a fake that does not deduplicate refunds."""
    fake.dedupe_refunds = False
    kind = Gateway if request.param == "Gateway" else AsyncGateway
    gateway: Any = kind(
        providers=[razorpay],
        store=MemoryStore(),
        load_installed=False,
        retry=RetryPolicy(attempts=3, base_delay=0),
    )
    yield Face(gateway)
    if isinstance(gateway, AsyncGateway):
        await gateway.aclose()


def _gets(fake: FakeRazorpay, path_part: str) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and path_part in r.url.path)


async def _paid(face: Face, fake: FakeRazorpay, **create: Any) -> Payment:
    created: Payment = await face("create_payment", **ORDER, **create)
    answer = fake.pay(created.provider_payment_id)
    paid: Payment = await face("confirm_payment", created.id, action_result=answer)
    return paid


async def test_a_lost_order_is_found_by_its_receipt(quick: Face, fake: FakeRazorpay) -> None:
    fake.fail_next("create_order", httpx.ReadTimeout, after=True)
    payment = await quick("create_payment", **ORDER, idempotency_key="order-1")
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert fake.orders_with_receipt(_reference("order-1")) == [payment.provider_payment_id]
    again = await quick("create_payment", **ORDER, idempotency_key="order-1")
    assert (again.id, again.replayed) == (payment.id, True)
    assert fake.acted == {f"order:{_reference('order-1')}": 1}


async def test_an_order_never_made_is_created_after_the_lookup(
    quick: Face, fake: FakeRazorpay
) -> None:
    fake.fail_next("create_order", 500)
    payment = await quick("create_payment", **ORDER, idempotency_key="order-2")
    assert fake.orders_with_receipt(_reference("order-2")) == [payment.provider_payment_id]
    assert _gets(fake, "/v1/orders") == 1  # looked up once, found nothing, then created


async def test_a_rate_limited_call_is_retried_without_a_lookup(
    quick: Face, fake: FakeRazorpay
) -> None:
    """Razorpay refuses a rate-limited call before doing anything: sending it again is safe."""
    fake.fail_next("create_order", 429)
    await quick("create_payment", **ORDER, idempotency_key="order-3")
    assert _gets(fake, "/v1/orders") == 0
    assert len(fake.orders_with_receipt(_reference("order-3"))) == 1


async def test_the_receipt_must_match_exactly(
    razorpay: RazorpayProvider, fake: FakeRazorpay
) -> None:
    """Razorpay's receipt filter matches receipts that contain the value: one that merely
    contains the reference is another call's order."""
    reference = _reference("order-4")
    with httpx.Client(auth=(razorpay.key_id, razorpay._secret)) as client:
        client.post(
            "https://api.razorpay.com/v1/orders",
            json={"amount": 100, "currency": "INR", "receipt": reference + "x"},
        )
    ctx = CallContext("order-4", 1, reference)
    from unipay._flow import run

    assert run(razorpay.lookup("create_payment", None, ctx)) is None


async def test_an_unknown_order_is_settled_by_reconcile(quick: Face, fake: FakeRazorpay) -> None:
    fake.fail_next("create_order", httpx.ReadTimeout, after=True)
    fake.fail_next("find_orders", 500)
    with pytest.raises(OutcomeUnknown) as unknown:
        await quick("create_payment", **ORDER, idempotency_key="order-5")
    assert not unknown.value.retriable
    with pytest.raises(OutcomeUnknown):  # the key replays the doubt; nothing is sent again
        await quick("create_payment", **ORDER, idempotency_key="order-5")
    settled = await quick("reconcile", "order-5")
    assert isinstance(settled, Payment) and settled.status is PaymentStatus.REQUIRES_ACTION
    assert len(fake.orders_with_receipt(_reference("order-5"))) == 1


async def test_a_lost_refund_is_found_by_its_receipt(quick: Face, fake: FakeRazorpay) -> None:
    paid = await _paid(quick, fake)
    fake.fail_next("refund", httpx.ReadTimeout, after=True)
    refund = await quick("refund_payment", paid.id, amount=1000, idempotency_key="refund-1")
    assert isinstance(refund, Refund)
    assert fake.refunds_with_receipt(_reference("refund-1")) == [refund.provider_refund_id]
    again = await quick("refund_payment", paid.id, amount=1000, idempotency_key="refund-1")
    assert (again.id, again.replayed) == (refund.id, True)
    assert len(fake.refunds) == 1


async def test_a_refund_in_doubt_is_never_sent_again(quick: Face, fake: FakeRazorpay) -> None:
    """A refund that may or may not have reached Razorpay and is not listed: its absence proves
    nothing (the lost request may still be processed), so the key stays unknown."""
    paid = await _paid(quick, fake)
    fake.fail_next("refund", 500)
    with pytest.raises(OutcomeUnknown):
        await quick("refund_payment", paid.id, amount=1000, idempotency_key="refund-2")
    with pytest.raises(ProviderUnavailable, match="lists no refund"):
        await quick("reconcile", "refund-2")
    assert len(fake.refunds) == 0
    assert sum(1 for r in fake.requests if r.url.path.endswith("/refund")) == 1


async def test_reconcile_finds_a_refund_that_landed(quick: Face, fake: FakeRazorpay) -> None:
    paid = await _paid(quick, fake)
    fake.fail_next("refund", httpx.ReadTimeout, after=True)
    fake.fail_next("find_refunds", 500)
    with pytest.raises(OutcomeUnknown):
        await quick("refund_payment", paid.id, amount=1000, idempotency_key="refund-3")
    settled = await quick("reconcile", "refund-3")
    assert isinstance(settled, Refund) and settled.amount == 1000
    assert len(fake.refunds) == 1


async def test_a_lost_capture_is_found_captured(quick: Face, fake: FakeRazorpay) -> None:
    held = await _paid(quick, fake, capture_method="manual")
    fake.fail_next("capture", httpx.ReadTimeout, after=True)
    captured = await quick("capture_payment", held.id, idempotency_key="capture-1")
    assert captured.status is PaymentStatus.SUCCEEDED
    assert fake.acted["capture"] == 1


async def test_a_capture_that_never_acted_is_sent_again(quick: Face, fake: FakeRazorpay) -> None:
    held = await _paid(quick, fake, capture_method="manual")
    fake.fail_next("capture", 502)
    captured = await quick("capture_payment", held.id, idempotency_key="capture-2")
    assert captured.status is PaymentStatus.SUCCEEDED
    assert fake.acted["capture"] == 1


async def test_razorpay_deduplicates_refunds_by_their_header_too(
    face: Face, fake: FakeRazorpay, razorpay: RazorpayProvider
) -> None:
    """Two stores that both lost the key (two deployments) send one refund twice: Razorpay's
    X-Refund-Idempotency answers the second with the first; another amount is refused."""
    paid = await _paid(face, fake)
    from unipay._flow import run

    _, order_id = paid.id.split(":")
    ctx = CallContext("refund-4", 1, _reference("refund-4"))
    request = RefundPaymentRequest(amount=1000)
    first = run(razorpay.refund_payment(order_id, request, ctx))
    second = run(razorpay.refund_payment(order_id, request, ctx))
    assert first.provider_refund_id == second.provider_refund_id
    assert len(fake.refunds) == 1
    with pytest.raises(IdempotencyKeyReused):
        run(razorpay.refund_payment(order_id, RefundPaymentRequest(amount=2000), ctx))
