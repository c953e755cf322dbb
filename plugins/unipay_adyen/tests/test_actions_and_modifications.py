"""3-D Secure and redirects completed with confirm_payment, and modifications answered pending."""

from __future__ import annotations

import pytest

from unipay import AsyncGateway, Gateway
from unipay.errors import InvalidPaymentState, InvalidRequest, PaymentDeclined, PaymentNotFound
from unipay.models import PaymentStatus, WebhookEventType
from unipay.testing.faces import Face
from unipay_adyen import AdyenProvider

from .conftest import adyen_delivery, make_provider
from .fake_adyen import FakeAdyen

SHOPPER = "shopper-4242"
IDEAL = {"type": "ideal", "issuer": "1121"}


@pytest.fixture(params=["Gateway", "AsyncGateway"])
async def face(request: pytest.FixtureRequest, adyen_provider: AdyenProvider):  # type: ignore[no-untyped-def]
    if request.param == "Gateway":
        yield Face(Gateway(providers=[adyen_provider], load_installed=False))
        return
    gateway = AsyncGateway(providers=[adyen_provider], load_installed=False)
    yield Face(gateway)
    await gateway.aclose()


async def test_three_d_secure_is_completed_with_confirm_payment(
    face: Face, fake_adyen: FakeAdyen
) -> None:
    waiting = await face(
        "create_payment", provider="adyen", amount=1500, currency="EUR",
        payment_method=f"{SHOPPER}:tok_3ds", return_url="https://shop.example/3ds-done",
    )  # fmt: skip
    assert waiting.status is PaymentStatus.REQUIRES_ACTION and waiting.amount_received == 0
    action = waiting.next_action
    assert action is not None and action.type == "redirect_to_url"
    assert action.redirect_url and action.redirect_url.startswith("https://checkoutshopper-test")
    assert action.return_url == "https://shop.example/3ds-done"
    result = fake_adyen.redirect_result(action.redirect_url)
    paid = await face("confirm_payment", waiting.id, payment_method={"redirectResult": result})
    path, body, _ = fake_adyen.requests[-1]
    assert (path, body) == ("/v71/payments/details", {"details": {"redirectResult": result}})
    assert paid.id == waiting.id and paid.status is PaymentStatus.SUCCEEDED
    assert paid.amount_received == 1500 and paid.next_action is None


async def test_a_failed_authentication_is_a_decline(face: Face, fake_adyen: FakeAdyen) -> None:
    waiting = await face(
        "create_payment", provider="adyen", amount=1500, currency="EUR",
        payment_method=f"{SHOPPER}:tok_3ds",
    )  # fmt: skip
    assert waiting.next_action is not None and waiting.next_action.redirect_url
    result = fake_adyen.redirect_result(waiting.next_action.redirect_url, succeed=False)
    with pytest.raises(PaymentDeclined) as declined:
        await face(
            "confirm_payment", waiting.id,
            payment_method={"details": {"redirectResult": result}},  # a Component's state.data
        )  # fmt: skip
    assert declined.value.decline_code == "authentication_required"
    assert declined.value.payment is not None
    assert declined.value.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD


async def test_a_redirect_method_gets_its_psp_reference_when_completed(
    face: Face, fake_adyen: FakeAdyen
) -> None:
    """Adyen gives no pspReference before the shopper is back: the payment waits under unipay's
    merchant reference, and confirm_payment returns it under Adyen's pspReference."""
    waiting = await face(
        "create_payment", provider="adyen", amount=2500, currency="EUR", payment_method=IDEAL
    )
    assert waiting.provider_payment_id.startswith("unipay-")
    assert waiting.next_action is not None and waiting.next_action.redirect_url
    with pytest.raises(InvalidPaymentState, match="no pspReference yet"):
        await face("cancel_payment", waiting.id)
    result = fake_adyen.redirect_result(waiting.next_action.redirect_url)
    paid = await face("confirm_payment", waiting.id, payment_method={"redirectResult": result})
    assert paid.provider_payment_id.startswith("PSP") and paid.status is PaymentStatus.SUCCEEDED
    refund = await face("refund_payment", paid.id, amount=500)
    assert refund.payment_id == paid.id


@pytest.mark.parametrize(
    "method", [None, "redirectResult-as-a-string", {}, {"details": {}}, {"redirectResult": 3}]
)
async def test_confirm_needs_the_actions_details(
    face: Face, fake_adyen: FakeAdyen, method: object
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await face("confirm_payment", "adyen:PSP0000000000001", payment_method=method)
    assert refused.value.param == "payment_method" and fake_adyen.requests == []


async def test_a_payment_completed_in_a_process_that_never_saw_it(fake_adyen: FakeAdyen) -> None:
    """Read as held for capture (the safe reading) until its AUTHORISATION notification, which
    carries the capture setting, says it was taken at once."""
    first = make_provider()
    waiting = Gateway(providers=[first], load_installed=False).create_payment(
        provider="adyen", amount=900, currency="EUR", payment_method=f"{SHOPPER}:tok_3ds"
    )
    other = make_provider()
    gateway = Gateway(providers=[other], load_installed=False)
    assert waiting.next_action is not None and waiting.next_action.redirect_url
    result = fake_adyen.redirect_result(waiting.next_action.redirect_url)
    paid = gateway.confirm_payment(waiting.id, payment_method={"redirectResult": result})
    assert paid.status is PaymentStatus.REQUIRES_CAPTURE and paid.amount == 900
    (event,) = other.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    assert event.type is WebhookEventType.PAYMENT_SUCCEEDED
    assert event.payment is not None and event.payment.amount_received == 900


async def test_modifications_are_pending_until_adyen_settles_them(
    face: Face, fake_adyen: FakeAdyen
) -> None:
    held = await face(
        "create_payment", provider="adyen", amount=6000, currency="EUR",
        payment_method=f"{SHOPPER}:tok_success", capture_method="manual",
    )  # fmt: skip
    canceled = await face("cancel_payment", held.id)
    assert canceled.status is PaymentStatus.REQUIRES_CAPTURE
    assert [(p.operation, p.amount) for p in canceled.pending] == [("cancel", 6000)]
    reference = canceled.pending[0].provider_reference
    assert reference is not None
    fake_adyen.settle(reference)
    provider = face.gateway.providers.get("adyen")
    assert isinstance(provider, AdyenProvider)
    events = provider.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    assert events[-1].type is WebhookEventType.PAYMENT_CANCELED
    assert events[-1].payment is not None and events[-1].payment.pending == ()
    with pytest.raises(InvalidPaymentState):
        await face("refund_payment", held.id)


async def test_refunds_are_checked_against_what_is_known(face: Face, fake_adyen: FakeAdyen) -> None:
    paid = await face(
        "create_payment", provider="adyen", amount=1000, currency="EUR",
        payment_method=f"{SHOPPER}:tok_success",
    )  # fmt: skip
    first = await face("refund_payment", paid.id, amount=600)
    sent = len(fake_adyen.requests)
    with pytest.raises(InvalidRequest, match="more than is left") as refused:
        await face("refund_payment", paid.id, amount=500)  # 600 is already on its way
    assert refused.value.param == "amount" and len(fake_adyen.requests) == sent
    rest = await face("refund_payment", paid.id)
    assert (first.amount, rest.amount) == (600, 400)
    with pytest.raises(InvalidRequest, match="Nothing"):
        await face("refund_payment", paid.id)


async def test_a_process_that_never_saw_the_payment_cannot_capture_or_refund_it(
    fake_adyen: FakeAdyen,
) -> None:
    made = Gateway(providers=[make_provider()], load_installed=False).create_payment(
        provider="adyen", amount=800, currency="EUR", payment_method=f"{SHOPPER}:tok_success",
        capture_method="manual",
    )  # fmt: skip
    elsewhere = Gateway(providers=[make_provider()], load_installed=False)
    sent = len(fake_adyen.requests)
    for call in (elsewhere.capture_payment, elsewhere.refund_payment, elsewhere.cancel_payment):
        with pytest.raises(PaymentNotFound, match="has not seen"):
            call(made.id)
    assert len(fake_adyen.requests) == sent


async def test_a_replayed_modification_is_listed_once(fake_adyen: FakeAdyen) -> None:
    provider = make_provider()
    held = Gateway(providers=[provider], load_installed=False).create_payment(
        provider="adyen", amount=800, currency="EUR", payment_method=f"{SHOPPER}:tok_success",
        capture_method="manual",
    )  # fmt: skip
    answers = [
        Gateway(providers=[provider], load_installed=False).capture_payment(
            held.id, idempotency_key="one-capture"
        )
        for _ in range(2)  # two stores: the key reaches Adyen twice
    ]
    assert answers[0].pending == answers[1].pending and len(answers[1].pending) == 1
    assert fake_adyen.processor.replays["capture"] == 1
