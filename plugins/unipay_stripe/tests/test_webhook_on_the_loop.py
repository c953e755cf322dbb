"""The async face verifies a Stripe delivery on the event loop (no worker thread: the hop cost
a sixth of the throughput and most of the p99, issue 19), with stripe's own signature check."""

from __future__ import annotations

import threading

import httpx
import pytest

from unipay import AsyncGateway
from unipay.webhooks import WebhookApp
from unipay_stripe import StripeProvider
from unipay_stripe.webhooks import WebhookVerifier

from .conftest import API_KEY, WEBHOOK_SECRET, signed_event
from .fake_stripe import fixture


async def test_deliveries_are_verified_on_the_loop_and_bad_signatures_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified_in: list[int] = []
    verify = WebhookVerifier.verify

    def spy(self: WebhookVerifier, body: bytes, headers: dict[str, str]) -> object:
        verified_in.append(threading.get_ident())
        return verify(self, body, headers)

    monkeypatch.setattr(WebhookVerifier, "verify", spy)
    provider = StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])
    app = WebhookApp(AsyncGateway(providers=[provider], load_installed=False))
    body, headers = signed_event(fixture("event_payment_intent_succeeded"))
    forged = {**headers, "Stripe-Signature": headers["Stripe-Signature"][:-4] + "0000"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
        accepted = await client.post("/stripe", content=body, headers=headers)
        refused = await client.post("/stripe", content=body, headers=forged)
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "webhook_verification_failed", refused.text
    assert verified_in == [threading.get_ident()] * 2
