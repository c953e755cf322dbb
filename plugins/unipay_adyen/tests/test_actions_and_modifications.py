"""3-D Secure and redirects completed with confirm_payment(action_result=...), modifications
answered pending, and operations on payments this process never saw, known from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from unipay import AsyncGateway, Gateway
from unipay.errors import InvalidPaymentState, InvalidRequest, PaymentDeclined, PaymentNotFound
from unipay.models import PaymentStatus, RefundStatus, WebhookEventType
from unipay.storage import MemoryStore, SQLStore
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
    assert action.data == fake_adyen.last_answer["action"], "Adyen's action, whole"
    result = fake_adyen.redirect_result(action.redirect_url)
    paid = await face("confirm_payment", waiting.id, action_result={"redirectResult": result})
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
            action_result={"details": {"redirectResult": result}},  # a Component's state.data
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
    paid = await face("confirm_payment", waiting.id, action_result={"redirectResult": result})
    assert paid.provider_payment_id.startswith("PSP") and paid.status is PaymentStatus.SUCCEEDED
    refund = await face("refund_payment", paid.id, amount=500)
    assert refund.payment_id == paid.id


async def test_native_three_d_secure_hands_the_component_its_action(
    face: Face, fake_adyen: FakeAdyen
) -> None:
    """ChallengeShopper: the Component runs the challenge from the action in ``data`` and its
    ``onAdditionalDetails`` hands back ``state.data``, passed as it is."""
    waiting = await face(
        "create_payment", provider="adyen", amount=1500, currency="EUR",
        payment_method=f"{SHOPPER}:tok_3ds2",
    )  # fmt: skip
    action = waiting.next_action
    assert action is not None and (action.type, action.redirect_url) == ("three_d_secure", None)
    assert action.data["type"] == "threeDS2" and action.data == fake_adyen.last_answer["action"]
    state_data = {
        "details": {"threeDSResult": fake_adyen.redirect_result(waiting.provider_payment_id)}
    }
    paid = await face("confirm_payment", waiting.id, action_result=state_data)
    assert fake_adyen.requests[-1][1] == state_data
    assert paid.status is PaymentStatus.SUCCEEDED and paid.next_action is None


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({}, "action_result"),
        ({"action_result": {}}, "action_result"),
        ({"action_result": {"details": {}}}, "action_result"),
        ({"action_result": {"redirectResult": 3}}, "action_result"),
        ({"action_result": {"details": {"redirectResult": "x"}, "extra": "y"}}, "action_result"),
        ({"payment_method": {"redirectResult": "x"}}, "payment_method"),  # action_result's place
    ],
)
async def test_confirm_needs_the_actions_details(
    face: Face, fake_adyen: FakeAdyen, options: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await face("confirm_payment", "adyen:PSP0000000000001", **options)
    assert refused.value.param == param and fake_adyen.requests == []


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
    paid = gateway.confirm_payment(waiting.id, action_result={"redirectResult": result})
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


async def test_memory_ahead_of_the_store_counts_refunds_as_the_store_does(
    fake_adyen: FakeAdyen,
) -> None:
    """A CAPTURE read by this provider but not stored (verify_webhook called directly) puts its
    memory ahead of the store: the memory is used, and it counts a pending refund at once and
    gives a failed one back, as the store does."""
    provider = make_provider()
    gateway = Gateway(providers=[provider], load_installed=False)
    held = gateway.create_payment(
        provider="adyen", amount=1000, currency="EUR", payment_method=f"{SHOPPER}:tok_success",
        capture_method="manual",
    )  # fmt: skip
    captured = gateway.capture_payment(held.id)
    fake_adyen.take_notifications()
    fake_adyen.settle(str(captured.pending[0].provider_reference))
    provider.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    assert gateway.stored_payment(held.id).status is PaymentStatus.REQUIRES_CAPTURE
    first = gateway.refund_payment(held.id, amount=600)
    with pytest.raises(InvalidRequest, match="more than is left"):
        gateway.refund_payment(held.id, amount=500)
    fake_adyen.settle(first.provider_refund_id, succeed=False)
    provider.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    assert gateway.refund_payment(held.id).amount == 1000


async def test_without_the_store_or_memory_knowing_it_nothing_is_sent(
    fake_adyen: FakeAdyen,
) -> None:
    """Another store and another provider instance: nothing says the payment's currency."""
    made = Gateway(providers=[make_provider()], load_installed=False).create_payment(
        provider="adyen", amount=800, currency="EUR", payment_method=f"{SHOPPER}:tok_success",
        capture_method="manual",
    )  # fmt: skip
    elsewhere = Gateway(providers=[make_provider()], load_installed=False)
    sent = len(fake_adyen.requests)
    for call in (elsewhere.capture_payment, elsewhere.refund_payment, elsewhere.cancel_payment):
        with pytest.raises(PaymentNotFound, match="Neither the gateway's store nor this process"):
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


@pytest.mark.parametrize("kind", [Gateway, AsyncGateway])
async def test_another_provider_instance_works_from_the_shared_store(
    fake_adyen: FakeAdyen, kind: type[Gateway] | type[AsyncGateway]
) -> None:
    """Another host, or a restart: a provider with empty memory over the store that saw the
    payments captures, cancels, refunds and completes them from the store's view of each."""
    store = MemoryStore()
    creator = Face(kind(store=store, providers=[make_provider()], load_installed=False))
    method = f"{SHOPPER}:tok_success"

    async def create(**options: object) -> str:
        payment = await creator(
            "create_payment", provider="adyen", currency="EUR", payment_method=method, **options
        )
        return str(payment.id)

    to_capture = await create(amount=800, capture_method="manual")
    to_cancel = await create(amount=700, capture_method="manual")
    to_refund = await create(amount=600)
    method = f"{SHOPPER}:tok_3ds"
    to_confirm = await create(amount=500, metadata={"order": "B-7"})
    other = Face(kind(store=store, providers=[make_provider()], load_installed=False))

    captured = await other("capture_payment", to_capture)
    assert [(p.operation, p.amount) for p in captured.pending] == [("capture", 800)]
    assert fake_adyen.requests[-1][1]["amount"] == {"value": 800, "currency": "EUR"}
    canceled = await other("cancel_payment", to_cancel)
    assert [(p.operation, p.amount) for p in canceled.pending] == [("cancel", 700)]
    refund = await other("refund_payment", to_refund)  # all that is left: the store says 600
    assert (refund.amount, refund.status) == (600, RefundStatus.PENDING)
    waiting = await creator("stored_payment", to_confirm)
    assert waiting.next_action is not None and waiting.next_action.redirect_url
    result = fake_adyen.redirect_result(waiting.next_action.redirect_url)
    paid = await other("confirm_payment", to_confirm, action_result={"redirectResult": result})
    # Taken at once, as created (not the held-for-capture guess of a payment nobody knows).
    assert (paid.status, paid.amount_received) == (PaymentStatus.SUCCEEDED, 500)
    assert paid.metadata == {"order": "B-7"}
    for face in (creator, other):
        if isinstance(face.gateway, AsyncGateway):
            await face.gateway.aclose()


async def test_a_fresh_gateway_over_the_same_sqlite_file_refunds(
    fake_adyen: FakeAdyen, tmp_path: Path
) -> None:
    """A restart: a new gateway and provider over the SQLite file the first one wrote."""
    url = f"sqlite:///{tmp_path / 'unipay.db'}"
    first = Gateway(store=SQLStore(url), providers=[make_provider()], load_installed=False)
    paid = first.create_payment(
        provider="adyen", amount=1200, currency="EUR", payment_method=f"{SHOPPER}:tok_success"
    )
    first.refund_payment(paid.id, amount=500)
    first.close()
    restarted = Gateway(store=SQLStore(url), providers=[make_provider()], load_installed=False)
    with pytest.raises(InvalidRequest, match="more than is left"):
        restarted.refund_payment(paid.id, amount=800)  # 500 of 1200 is on its way
    rest = restarted.refund_payment(paid.id)
    assert rest.amount == 700 and fake_adyen.requests[-1][1]["amount"]["value"] == 700
    restarted.close()
