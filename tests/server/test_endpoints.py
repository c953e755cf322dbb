"""Every endpoint, and every status code it can answer, through the ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from unipay import AsyncGateway, Payment, RetryPolicy, WebhookEvent, hookimpl
from unipay.errors import OperationVetoed
from unipay.hookspecs import OperationCall
from unipay.server import create_app
from unipay_mock import MockProvider
from unipay_mock.webhooks import DEFAULT_WEBHOOK_SECRET, build_delivery, payment_event

VISA = "pm_card_visa"


def payment_body(**overrides: Any) -> dict[str, Any]:
    return {"provider": "mock", "amount": 1299, "currency": "USD", **overrides}


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/payments", json=payment_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert {"type", "code", "message", "param", "retriable"} <= error.keys()
    return error


async def test_create_returns_201_with_the_unified_payment(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/payments",
        json=payment_body(
            payment_method=VISA,
            customer_email="demo@example.com",
            capture_method="manual",
            metadata={"order": "42"},
        ),
    )
    assert response.status_code == 201
    payment = response.json()
    assert payment["status"] == "requires_capture"
    assert payment["amount_capturable"] == 1299
    assert payment["metadata"] == {"order": "42"}
    assert payment["id"] == f"mock:{payment['provider_payment_id']}"
    assert "replayed" not in payment
    assert "Idempotent-Replayed" not in response.headers


async def test_capture_part_then_refund_the_rest(client: httpx.AsyncClient) -> None:
    payment = await create(client, payment_method=VISA, capture_method="manual")
    captured = await client.post(f"/payments/{payment['id']}/capture", json={"amount": 1000})
    assert captured.status_code == 200
    assert captured.json()["status"] == "succeeded"
    assert captured.json()["amount_received"] == 1000
    refund = await client.post(
        "/refunds",
        json={"provider": "mock", "provider_payment_id": payment["provider_payment_id"]},
    )
    assert refund.status_code == 201
    assert refund.json()["amount"] == 1000
    assert refund.json()["payment_id"] == payment["id"]
    again = await client.post(
        "/refunds",
        json={
            "provider": "mock",
            "provider_payment_id": payment["provider_payment_id"],
            "amount": 1,
        },
    )
    assert again.status_code == 400


async def test_capture_without_a_body_captures_everything(client: httpx.AsyncClient) -> None:
    payment = await create(client, payment_method=VISA, capture_method="manual")
    captured = await client.post(f"/payments/{payment['id']}/capture")
    assert captured.status_code == 200
    assert captured.json()["amount_received"] == 1299


async def test_confirm_a_payment_created_unconfirmed(client: httpx.AsyncClient) -> None:
    payment = await create(client, confirm=False)
    assert payment["status"] in ("requires_payment_method", "requires_confirmation")
    confirmed = await client.post(
        f"/payments/{payment['id']}/confirm", json={"payment_method": VISA}
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "succeeded"


async def test_confirm_that_needs_authentication_returns_the_next_action(
    client: httpx.AsyncClient,
) -> None:
    payment = await create(client, confirm=False)
    response = await client.post(
        f"/payments/{payment['id']}/confirm",
        json={"payment_method": "pm_card_authenticationRequired", "return_url": "https://x.test"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "requires_action"
    assert response.json()["next_action"]["redirect_url"]


async def test_cancel_then_cancel_again_is_a_state_error(client: httpx.AsyncClient) -> None:
    payment = await create(client, payment_method=VISA, capture_method="manual")
    canceled = await client.post(
        f"/payments/{payment['id']}/cancel", json={"reason": "requested_by_customer"}
    )
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = await client.post(f"/payments/{payment['id']}/cancel")
    assert again.status_code == 400
    assert error_of(again)["code"] == "payment_unexpected_state"


async def test_retrieve(client: httpx.AsyncClient) -> None:
    payment = await create(client, payment_method=VISA)
    response = await client.get(f"/payments/{payment['id']}")
    assert response.status_code == 200
    assert response.json() == payment


@pytest.mark.parametrize(
    ("payment_id", "status", "code", "param"),
    [
        ("mock:pi_doesnotexist", 404, "resource_missing", "payment_id"),
        ("no-colon-here", 400, "invalid_request", "payment_id"),
        ("acme:pi_1", 400, "provider_not_found", None),
    ],
)
async def test_retrieve_what_is_not_there(
    client: httpx.AsyncClient, payment_id: str, status: int, code: str, param: str | None
) -> None:
    response = await client.get(f"/payments/{payment_id}")
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert error_of(response)["param"] == param


async def test_decline_is_402_with_the_payment(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/payments", json=payment_body(payment_method="pm_card_chargeDeclinedInsufficientFunds")
    )
    assert response.status_code == 402
    error = error_of(response)
    assert error["type"] == "PaymentDeclined"
    assert error["decline_code"] == "insufficient_funds"
    assert error["payment"]["status"] == "requires_payment_method"
    assert error["payment"]["id"].startswith("mock:")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (payment_body(amount=12.99), "amount"),
        (payment_body(amount=0), "amount"),
        (payment_body(currency="XXX"), "currency"),
        (payment_body(customer_email="not-an-email"), "customer_email"),
        (payment_body(capture_method="later"), "capture_method"),
        (payment_body(surprise=True), "surprise"),
        ({"provider": "mock", "amount": 1299}, "currency"),
    ],
)
async def test_invalid_bodies_are_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    response = await client.post("/payments", json=body)
    assert response.status_code == 400
    assert error_of(response)["type"] == "InvalidRequest"
    assert error_of(response)["param"] == param


async def test_a_raw_card_number_is_refused_and_never_echoed(client: httpx.AsyncClient) -> None:
    card = "4242424242424242"
    response = await client.post("/payments", json=payment_body(payment_method=card))
    assert response.status_code == 400
    assert error_of(response)["param"] == "payment_method"
    assert card not in response.text


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
async def test_a_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, content: str
) -> None:
    response = await client.post(
        "/payments", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "InvalidRequest"


async def test_unconfigured_provider_is_400_naming_the_setting(client: httpx.AsyncClient) -> None:
    response = await client.post("/payments", json=payment_body(provider="stripe"))
    assert response.status_code == 400
    assert error_of(response)["code"] == "provider_not_configured"
    assert "STRIPE_SECRET_KEY" in error_of(response)["message"]


async def test_unknown_route_and_method_answer_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert error_of(missing)["type"] == "HTTPError"
    wrong = await client.delete("/payments")
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]


class Veto:
    """A plugin refusing refunds, as a fraud or policy check would."""

    @hookimpl
    def unipay_before_operation(self, call: OperationCall) -> None:
        if call.operation == "refund_payment":
            raise OperationVetoed("refunds are closed today")


@pytest.fixture
async def vetoing_client() -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncGateway(plugins=[Veto()]) as gateway:
        transport = httpx.ASGITransport(app=create_app(gateway=gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_vetoed_operation_is_403(vetoing_client: httpx.AsyncClient) -> None:
    payment = await create(vetoing_client, payment_method=VISA)
    response = await vetoing_client.post(
        "/refunds", json={"provider": "mock", "provider_payment_id": payment["provider_payment_id"]}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "operation_vetoed"


async def test_provider_unavailable_is_503_with_retry_after() -> None:
    mock = MockProvider()
    async with AsyncGateway(providers=[mock], retry=RetryPolicy(attempts=1)) as gateway:
        transport = httpx.ASGITransport(app=create_app(gateway=gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            mock.fail_next()
            response = await client.post("/payments", json=payment_body(payment_method=VISA))
            assert response.status_code == 503
            assert error_of(response)["retriable"] is True
            assert int(response.headers["retry-after"]) > 0
            retried = await client.post("/payments", json=payment_body(payment_method=VISA))
            assert retried.status_code == 201


async def test_providers_lists_each_and_whether_it_is_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/providers")
    assert response.status_code == 200
    listed = {entry["name"]: entry for entry in response.json()}
    assert listed["mock"]["configured"] is True
    assert listed["stripe"]["configured"] is False
    assert "STRIPE_SECRET_KEY" in listed["stripe"]["problem"]


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_webhooks_are_mounted_and_take_handlers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seen: list[WebhookEvent] = []
    app.state.webhooks.on("payment.succeeded")(seen.append)
    payment = await create(client, payment_method=VISA)
    event = payment_event("payment.succeeded", Payment.model_validate(payment))
    body, headers = build_delivery(event, secret=DEFAULT_WEBHOOK_SECRET)
    delivered = await client.post("/webhooks/mock", content=body, headers=headers)
    assert delivered.status_code == 200
    assert [e.payment.id if e.payment else None for e in seen] == [payment["id"]]
    forged = await client.post(
        "/webhooks/mock", content=body, headers={**headers, "webhook-signature": "v1,AAAA"}
    )
    assert forged.status_code == 400
