"""The whole life of a Razorpay payment on both faces, its webhook through `WebhookApp` served by
a real uvicorn on 127.0.0.1: create -> Checkout -> confirm -> capture -> partial refund (pending)
-> ``refund.processed`` delivered over HTTP -> the stored refund and payment move forward."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from unipay import AsyncGateway, Gateway
from unipay.models import PaymentStatus, RefundStatus, WebhookEvent, WebhookEventType
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay.webhooks import WebhookApp
from unipay_razorpay import RazorpayProvider

from .fake_razorpay import FakeRazorpay

STARTUP_TIMEOUT = 10.0


@pytest.fixture(params=["Gateway", "AsyncGateway"])
async def gateway(
    request: pytest.FixtureRequest, razorpay: RazorpayProvider
) -> AsyncIterator[Gateway | AsyncGateway]:
    kind = Gateway if request.param == "Gateway" else AsyncGateway
    gateway: Any = kind(providers=[razorpay], store=MemoryStore(), load_installed=False)
    yield gateway
    if isinstance(gateway, AsyncGateway):
        await gateway.aclose()


@pytest.fixture
def served(
    gateway: Gateway | AsyncGateway, fake: FakeRazorpay
) -> Iterator[tuple[str, list[WebhookEvent]]]:
    """A real uvicorn serving the gateway's WebhookApp; the URL and the events handled."""
    fake.router.route(host="127.0.0.1").pass_through()
    app = WebhookApp(gateway)
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


async def test_create_checkout_confirm_capture_refund_and_its_webhook(
    gateway: Gateway | AsyncGateway,
    fake: FakeRazorpay,
    served: tuple[str, list[WebhookEvent]],
) -> None:
    url, seen = served
    face = Face(gateway)
    created = await face(
        "create_payment", provider="razorpay", amount=50000, currency="INR",
        capture_method="manual", metadata={"order": "42"}, idempotency_key="order-42",
    )  # fmt: skip
    assert created.status is PaymentStatus.REQUIRES_ACTION
    assert created.next_action is not None
    checkout = created.next_action.data
    answer = fake.pay(checkout["order_id"])  # the customer pays in Checkout
    held = await face("confirm_payment", created.id, action_result=answer)
    assert held.status is PaymentStatus.REQUIRES_CAPTURE
    captured = await face("capture_payment", created.id)
    assert captured.status is PaymentStatus.SUCCEEDED and captured.amount_received == 50000
    refund = await face("refund_payment", created.id, amount=10000, idempotency_key="refund-1")
    assert refund.status is RefundStatus.PENDING
    stored = await face("stored_payment", created.id)
    assert stored is not None and stored.amount_refunded == 10000

    fake.settle_refund(refund.provider_refund_id)  # Razorpay processes it, then tells us
    event = fake.event(
        "refund.processed",
        payment_id=answer["razorpay_payment_id"],
        refund_id=refund.provider_refund_id,
    )
    body = json.dumps(event, indent=2).encode()
    headers = fake.signed(body, event_id="JbXGnxzxSCpmI9")
    async with httpx.AsyncClient() as client:
        first = await client.post(f"{url}/razorpay", content=body, headers=headers)
        again = await client.post(f"{url}/razorpay", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert [(e.id, e.type) for e in seen] == [
        ("JbXGnxzxSCpmI9", WebhookEventType.REFUND_SUCCEEDED)
    ]  # the redelivery was recognised and not handled again
    settled = gateway.store.get_refund(refund.id)
    assert settled is not None and settled.status is RefundStatus.SUCCEEDED
    now = await face("stored_payment", created.id)
    assert now is not None and now.status is PaymentStatus.SUCCEEDED
    assert (now.amount_received, now.amount_refunded) == (50000, 10000)
    assert now.metadata == {"order": "42"}

    # A second refund that Razorpay cannot process: refund.failed gives its amount back.
    failing = await face("refund_payment", created.id, amount=5000, idempotency_key="refund-2")
    stored = await face("stored_payment", created.id)
    assert stored is not None and stored.amount_refunded == 15000
    fake.settle_refund(failing.provider_refund_id, succeed=False)
    event = fake.event(
        "refund.failed",
        payment_id=answer["razorpay_payment_id"],
        refund_id=failing.provider_refund_id,
    )
    body = json.dumps(event).encode()
    async with httpx.AsyncClient() as client:
        failed = await client.post(f"{url}/razorpay", content=body, headers=fake.signed(body))
    assert failed.status_code == 200
    assert seen[-1].type is WebhookEventType.REFUND_FAILED
    gone = gateway.store.get_refund(failing.id)
    assert gone is not None and gone.status is RefundStatus.FAILED
    now = await face("stored_payment", created.id)
    assert now is not None and now.amount_refunded == 10000
