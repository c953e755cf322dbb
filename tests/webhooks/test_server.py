"""The app mounted under ``/webhooks`` in a Starlette application, served by a real uvicorn on
127.0.0.1, receiving signed mock and Stripe deliveries over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from unipay import Gateway, WebhookEvent
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event
from unipay_stripe import StripeProvider

from .conftest import SECRET, a_payment

STRIPE_SECRET = "whsec_stripe_endpoint_secret_for_tests"
STARTUP_TIMEOUT = 10.0


@pytest.fixture
def gateway() -> Gateway:
    providers = [
        MockProvider(webhook_secret=SECRET),
        StripeProvider(api_key="sk_test_" + "x" * 24, webhook_secrets=[STRIPE_SECRET]),
    ]
    return Gateway(store=MemoryStore(), providers=providers, load_installed=False)


@pytest.fixture
def served(gateway: Gateway) -> Iterator[tuple[str, list[WebhookEvent]]]:
    """The base URL of a running server, and the events its handlers saw."""
    hooks = WebhookApp(gateway)
    seen: list[WebhookEvent] = []
    hooks.on("*")(seen.append)

    async def health(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    site = Starlette(routes=[Route("/health", health), Mount("/webhooks", app=hooks)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(site, log_level="warning", lifespan="off"))
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


def stripe_delivery(event_id: str, secret: str = STRIPE_SECRET) -> tuple[bytes, dict[str, str]]:
    """A delivery signed as Stripe signs: HMAC-SHA256 of "{t}.{body}" keyed by the secret text."""
    intent = {
        "id": "pi_3StripeTest",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 1299,
        "currency": "usd",
        "amount_received": 1299,
        "capture_method": "automatic",
        "created": 1700000000,
    }
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1700000000,
        "data": {"object": intent},
    }
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), b"%d.%s" % (timestamp, body), hashlib.sha256).hexdigest()
    return body, {
        "content-type": "application/json",
        "stripe-signature": f"t={timestamp},v1={digest}",
    }


def test_signed_mock_and_stripe_deliveries_over_http(
    served: tuple[str, list[WebhookEvent]], gateway: Gateway
) -> None:
    base, seen = served
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/health").text == "ok"

        body, headers = build_delivery(
            payment_event("payment.succeeded", a_payment()), secret=SECRET
        )
        first = http.post("/webhooks/mock", content=body, headers=headers)
        assert (first.status_code, first.json()["outcome"]) == (200, "processed")
        again = http.post("/webhooks/mock", content=body, headers=headers)
        assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
        assert http.post("/webhooks/mock", content=body + b" ", headers=headers).status_code == 400

        body, headers = stripe_delivery("evt_stripe_1")
        assert http.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
        forged, forged_headers = stripe_delivery("evt_stripe_2", secret="whsec_someone_else")
        assert (
            http.post("/webhooks/stripe", content=forged, headers=forged_headers).status_code == 400
        )

        assert http.post("/webhooks/paypal", content=b"{}").status_code == 404
        assert http.get("/webhooks/mock").status_code == 405
        assert http.post("/webhooks/mock", content=b"x" * (2 * 1024 * 1024)).status_code == 413

    assert [(e.provider, e.type.value) for e in seen] == [
        ("mock", "payment.succeeded"),
        ("stripe", "payment.succeeded"),
    ]
    stored = gateway.store.get_payment("stripe:pi_3StripeTest")
    assert stored is not None and stored.status.value == "succeeded"
