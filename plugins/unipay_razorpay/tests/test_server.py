"""The sandbox server over Razorpay: create answers 201 with the checkout as next_action, the
client's signed answer confirms it over REST, and /webhooks/razorpay takes Razorpay's deliveries."""

from __future__ import annotations

import json

import httpx

from unipay import AsyncGateway
from unipay.server import create_app
from unipay.storage import MemoryStore
from unipay_razorpay import RazorpayProvider

from .fake_razorpay import FakeRazorpay


async def test_create_confirm_and_webhook_over_rest(
    razorpay: RazorpayProvider, fake: FakeRazorpay
) -> None:
    async with AsyncGateway(providers=[razorpay], store=MemoryStore(), load_installed=False) as gw:
        transport = httpx.ASGITransport(app=create_app(gateway=gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://unipay.test") as client:
            created = await client.post(
                "/payments",
                json={"provider": "razorpay", "amount": 50000, "currency": "INR"},
                headers={"Idempotency-Key": "order-1"},
            )
            assert created.status_code == 201
            payment = created.json()
            assert payment["status"] == "requires_action"
            action = payment["next_action"]
            assert action["type"] == "client_checkout"
            assert action["data"]["order_id"] == payment["provider_payment_id"]
            result = fake.pay(action["data"]["order_id"])
            confirmed = await client.post(
                f"/payments/{payment['id']}/confirm",
                json={"action_result": result},
                headers={"Idempotency-Key": "confirm-1"},
            )
            assert confirmed.status_code == 200, confirmed.text
            assert confirmed.json()["status"] == "succeeded"
            forged = await client.post(
                f"/payments/{payment['id']}/confirm",
                json={"action_result": result | {"razorpay_signature": "f" * 64}},
            )
            assert forged.status_code == 400
            assert forged.json()["error"]["param"] == "action_result"
            event = fake.event("payment.captured", payment_id=result["razorpay_payment_id"])
            body = json.dumps(event).encode()
            delivered = await client.post(
                "/webhooks/razorpay", content=body, headers=fake.signed(body)
            )
            assert delivered.status_code == 200
