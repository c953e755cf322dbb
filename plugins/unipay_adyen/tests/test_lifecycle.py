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
from unipay.models import PaymentStatus, RefundStatus, WebhookEvent
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay.webhooks import WebhookApp
from unipay_adyen import AdyenProvider

from .conftest import adyen_delivery
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
