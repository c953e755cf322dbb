"""The webhook-driven lifecycle, on both faces, with `WebhookApp` under a real uvicorn server.

Create with manual capture; capture (answered pending); Adyen's CAPTURE notification, posted over
HTTP to the server, makes the stored payment succeeded. Refund part (pending); REFUND makes the
refund succeeded. A second refund fails at Adyen: REFUND_FAILED gives its amount back, and what
it would have refunded can be refunded again.
The notifications are the fake Checkout API's, signed as Adyen signs them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from unipay import AsyncGateway, Gateway
from unipay.models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    RefundReason,
    RefundStatus,
    WebhookEvent,
)
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay.webhooks import WebhookApp
from unipay_adyen import AdyenProvider

from .conftest import adyen_delivery, make_provider
from .fake_adyen import FakeAdyen

STARTUP_TIMEOUT = 10.0
TOKEN = "shopper-4242:8415718415172204"


@pytest.fixture(params=["Gateway", "AsyncGateway"])
def face(request: pytest.FixtureRequest, adyen_provider: AdyenProvider) -> Face:
    kind = Gateway if request.param == "Gateway" else AsyncGateway
    return Face(kind(store=MemoryStore(), providers=[adyen_provider], load_installed=False))


@pytest.fixture
def server(face: Face) -> Iterator[tuple[str, list[WebhookEvent]]]:
    """WebhookApp over the face's gateway, served by uvicorn on a free local port: its URL, and
    the events its handlers saw."""
    app = WebhookApp(face.gateway)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()


async def deliver(url: str, items: list[dict[str, Any]]) -> httpx.Response:
    """Post Adyen's notifications as one signed delivery to the running server."""
    body, headers = adyen_delivery(items)
    async with httpx.AsyncClient() as client:
        return await client.post(f"{url}/adyen", content=body, headers=headers)


async def test_lifecycle_settled_by_webhooks(
    face: Face, server: tuple[str, list[WebhookEvent]], fake_adyen: FakeAdyen
) -> None:
    url, seen = server
    created = await face(
        "create_payment",
        provider="adyen",
        amount=5000,
        currency="EUR",
        payment_method=TOKEN,
        capture_method="manual",
        metadata={"order": "A-1001"},
        customer_email="buyer@example.com",
    )
    assert created.status is PaymentStatus.REQUIRES_CAPTURE
    authorised = await deliver(url, fake_adyen.take_notifications())
    assert (authorised.status_code, authorised.text) == (200, "[accepted]")

    captured = await face("capture_payment", created.id)
    assert captured.status is PaymentStatus.REQUIRES_CAPTURE
    (pending,) = captured.pending
    assert (pending.operation, pending.amount) == ("capture", 5000)
    stored = await face("stored_payment", created.id)
    assert stored.pending == captured.pending and stored.amount_received == 0

    fake_adyen.settle(pending.provider_reference)
    answer = await deliver(url, fake_adyen.take_notifications())
    assert (answer.status_code, answer.text) == (200, "[accepted]")
    assert answer.headers["content-type"].startswith("text/plain")
    stored = await face("stored_payment", created.id)
    assert stored.status is PaymentStatus.SUCCEEDED
    assert (stored.amount_received, stored.amount_capturable, stored.pending) == (5000, 0, ())
    # What the notification lacks is kept: the payment as created, settled.
    assert stored.metadata == {"order": "A-1001"}
    assert stored.customer_email == "buyer@example.com"
    assert stored.amount == 5000 and stored.capture_method.value == "manual"

    refund = await face("refund_payment", created.id, amount=2000, metadata={"rma": "7"})
    assert refund.status is RefundStatus.PENDING
    fake_adyen.settle(refund.provider_refund_id)
    assert (await deliver(url, fake_adyen.take_notifications())).status_code == 200
    settled = await face("stored_payment", created.id)
    assert settled.amount_refunded == 2000 and settled.status is PaymentStatus.SUCCEEDED
    refunds = face.gateway.store.list_refunds(created.id)
    assert [(r.id, r.status, r.metadata) for r in refunds] == [
        (refund.id, RefundStatus.SUCCEEDED, {"rma": "7"})
    ]

    failing = await face("refund_payment", created.id, amount=1000)
    counted = await face("stored_payment", created.id)
    assert counted.amount_refunded == 3000, "a pending refund is counted at once"
    fake_adyen.settle(failing.provider_refund_id, succeed=False)
    (item,) = fake_adyen.take_notifications()
    assert item["eventCode"] == "REFUND_FAILED"
    assert (await deliver(url, [item])).status_code == 200
    given_back = await face("stored_payment", created.id)
    assert given_back == settled, "the payment is as it was before the failed refund"
    assert given_back.amount_received - given_back.amount_refunded == 3000
    statuses = {r.id: r.status for r in face.gateway.store.list_refunds(created.id)}
    assert statuses == {refund.id: RefundStatus.SUCCEEDED, failing.id: RefundStatus.FAILED}
    again = await face("refund_payment", created.id)  # all that is left, the failed 1000 too
    assert (again.amount, again.status) == (3000, RefundStatus.PENDING)

    assert [(e.provider_type, e.type.value) for e in seen] == [
        ("AUTHORISATION", "payment.requires_capture"),
        ("CAPTURE", "payment.succeeded"),
        ("REFUND", "refund.succeeded"),
        ("REFUND_FAILED", "refund.failed"),
    ]
    if isinstance(face.gateway, AsyncGateway):
        await face.gateway.aclose()


async def test_one_delivery_many_events_each_deduplicated(
    face: Face, server: tuple[str, list[WebhookEvent]], fake_adyen: FakeAdyen
) -> None:
    """Adyen batches: each item is its own event; a redelivery runs no handler twice."""
    url, seen = server
    ids = []
    for amount in (1000, 2000, 3000):
        payment = await face(
            "create_payment", provider="adyen", amount=amount, currency="EUR", payment_method=TOKEN
        )
        ids.append(payment.id)
    items = fake_adyen.take_notifications()
    assert len(items) == 3
    for _ in range(2):
        answer = await deliver(url, items)
        assert (answer.status_code, answer.text) == (200, "[accepted]")
    assert [e.payment.id for e in seen if e.payment] == ids
    assert all(e.type.value == "payment.succeeded" for e in seen)
    if isinstance(face.gateway, AsyncGateway):
        await face.gateway.aclose()


@pytest.mark.parametrize("kind", [Gateway, AsyncGateway])
async def test_notifications_read_by_a_process_that_never_saw_the_payments(
    fake_adyen: FakeAdyen, kind: type[Gateway] | type[AsyncGateway]
) -> None:
    """Another host, or a restart: the webhook process shares the store, not the memory, of the
    one that made the payments. Each notification updates only what it reports, so the stored
    payments keep their metadata, description, email and authorised amount."""
    store = MemoryStore()
    creator = Face(kind(store=store, providers=[make_provider()], load_installed=False))
    receiver = kind(store=store, providers=[make_provider()], load_installed=False)
    app = WebhookApp(receiver)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)
    transport = httpx.ASGITransport(app=app)

    async def notify() -> None:
        body, headers = adyen_delivery(fake_adyen.take_notifications())
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            answer = await client.post("/adyen", content=body, headers=headers)
        assert (answer.status_code, answer.text) == (200, "[accepted]")

    async def create(order: str) -> Payment:
        payment: Payment = await creator(
            "create_payment", provider="adyen", amount=5000, currency="EUR",
            payment_method=TOKEN, capture_method="manual", metadata={"order": order},
            description=f"Order {order}", customer_email="buyer@example.com",
        )  # fmt: skip
        return payment

    def kept(payment: Payment, order: str) -> None:
        assert (payment.metadata, payment.description, payment.customer_email) == (
            {"order": order},
            f"Order {order}",
            "buyer@example.com",
        )
        assert (payment.amount, payment.capture_method) == (5000, CaptureMethod.MANUAL)

    captured, canceled, failed = await create("C-1"), await create("C-2"), await create("C-3")
    await notify()  # their AUTHORISATIONs
    for made in (captured, canceled, failed):
        stored = store.get_payment(made.id)
        assert stored is not None and stored.status is PaymentStatus.REQUIRES_CAPTURE
        kept(stored, made.metadata["order"])
        assert stored.amount_capturable == 5000

    # A partial capture: its notification's amount is what was captured, not the payment's.
    (pending,) = (await creator("capture_payment", captured.id, amount=3000)).pending
    assert pending.provider_reference is not None
    fake_adyen.settle(pending.provider_reference)
    await notify()
    stored = store.get_payment(captured.id)
    assert stored is not None and stored.status is PaymentStatus.SUCCEEDED
    assert (stored.amount_received, stored.amount_capturable, stored.pending) == (3000, 0, ())
    kept(stored, "C-1")
    assert seen[-1].payment == stored, "handlers see the completed payment"

    refund = await creator(
        "refund_payment", captured.id, amount=1000, reason="requested_by_customer",
        metadata={"rma": "R-9"},
    )  # fmt: skip
    fake_adyen.settle(refund.provider_refund_id)
    await notify()
    stored = store.get_payment(captured.id)
    assert stored is not None and (stored.amount_received, stored.amount_refunded) == (3000, 1000)
    kept(stored, "C-1")
    # The REFUND, read where the refund was never made, keeps what refund_payment was given.
    assert [(r.status, r.reason, r.metadata) for r in store.list_refunds(captured.id)] == [
        (RefundStatus.SUCCEEDED, RefundReason.REQUESTED_BY_CUSTOMER, {"rma": "R-9"})
    ]

    (pending,) = (await creator("cancel_payment", canceled.id)).pending
    assert pending.provider_reference is not None
    fake_adyen.settle(pending.provider_reference)
    await notify()
    stored = store.get_payment(canceled.id)
    assert stored is not None and stored.status is PaymentStatus.CANCELED
    assert (stored.amount_capturable, stored.pending) == (0, ())
    kept(stored, "C-2")

    (pending,) = (await creator("capture_payment", failed.id)).pending
    assert pending.provider_reference is not None
    fake_adyen.settle(pending.provider_reference, succeed=False)
    await notify()
    stored = store.get_payment(failed.id)
    assert stored is not None and stored.status is PaymentStatus.REQUIRES_CAPTURE
    assert (stored.amount_capturable, stored.pending) == (5000, ())
    kept(stored, "C-3")

    assert all(event.partial for event in seen if event.payment is not None)
    assert [e.provider_type for e in seen].count("REFUND") == 1
    for gateway in (creator.gateway, receiver):
        if isinstance(gateway, AsyncGateway):
            await gateway.aclose()
        else:
            gateway.close()
