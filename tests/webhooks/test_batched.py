"""Deliveries that carry several events (Adyen batches NotificationRequestItems): each event is
deduplicated and dispatched on its own, a failing handler fails only its event, and a provider's
own acknowledgement body is what the app answers."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import pytest

from unipay import AsyncGateway, Gateway, WebhookEvent
from unipay.models import (
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundPaymentRequest,
    WebhookEventType,
)
from unipay.provider import CallContext, Capabilities, Provider
from unipay.webhooks import WebhookApp


class Batching(Provider):
    """Its deliveries are JSON lists of event ids, each a payment.succeeded event."""

    name = "batching"
    capabilities = Capabilities(webhooks=True, confirmation=False)
    webhook_acknowledgement = "[accepted]"

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        raise NotImplementedError

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        raise NotImplementedError

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        return [
            WebhookEvent(
                id=event_id,
                provider=self.name,
                type=WebhookEventType.PAYMENT_SUCCEEDED,
                provider_type="AUTHORISATION",
            )
            for event_id in json.loads(body)
        ]


@pytest.mark.parametrize("kind", [Gateway, AsyncGateway])
async def test_each_event_of_a_batch_is_handled_once_and_on_its_own(
    kind: type[Gateway | AsyncGateway],
) -> None:
    app = WebhookApp(kind(providers=[Batching()], load_installed=False))
    seen: list[str] = []
    broken = {"evt_b"}

    @app.on("payment.succeeded")
    def handle(event: WebhookEvent) -> None:
        if event.id in broken:
            raise RuntimeError("the shop's database is down")
        seen.append(event.id)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        batch = json.dumps(["evt_a", "evt_b", "evt_c"])
        failed = await client.post("/batching", content=batch)
        assert failed.status_code == 500  # the provider redelivers the whole batch
        assert seen == ["evt_a", "evt_c"]
        broken.clear()
        again = await client.post("/batching", content=batch)
        assert (again.status_code, again.text) == (200, "[accepted]")
        assert again.headers["content-type"].startswith("text/plain")
        assert seen == ["evt_a", "evt_c", "evt_b"]  # only the failed one ran again
        empty = await client.post("/batching", content="[]")
        assert empty.status_code == 400
