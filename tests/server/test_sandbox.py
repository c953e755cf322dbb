"""The sandbox README's curl examples, sent verbatim, and its /docs page."""

from __future__ import annotations

import httpx

from .conftest import (
    SANDBOX_CREATE_BODY,
    SANDBOX_CREATE_HEADERS,
    SANDBOX_REFUND_BODY,
    SANDBOX_REFUND_HEADERS,
)


async def run_sandbox_examples(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
    """Create as the README does, then refund with the provider_payment_id it returned."""
    created = await client.post(
        "/payments", headers=SANDBOX_CREATE_HEADERS, content=SANDBOX_CREATE_BODY
    )
    assert created.status_code == 201, created.text
    refund_body = SANDBOX_REFUND_BODY.replace(
        "<returned_from_create>", created.json()["provider_payment_id"]
    )
    refunded = await client.post("/refunds", headers=SANDBOX_REFUND_HEADERS, content=refund_body)
    return created, refunded


async def test_the_two_curl_examples(client: httpx.AsyncClient) -> None:
    created, refunded = await run_sandbox_examples(client)
    payment = created.json()
    # No payment_method in the sandbox body: the mock's default test card charges it in full.
    assert payment["status"] == "succeeded"
    assert payment["amount_received"] == 1299
    assert payment["customer_email"] == "demo@example.com"
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["amount"] == 1299
    assert refunded.json()["status"] == "succeeded"
    assert refunded.json()["payment_id"] == payment["id"]
    # The create's curl line, run a second time, is a replay: no second charge.
    again = await client.post(
        "/payments", headers=SANDBOX_CREATE_HEADERS, content=SANDBOX_CREATE_BODY
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == payment


async def test_docs_and_schema_are_served(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = (await client.get("/openapi.json")).json()
    assert {
        "/payments",
        "/payments/{payment_id}",
        "/payments/{payment_id}/confirm",
        "/payments/{payment_id}/capture",
        "/payments/{payment_id}/cancel",
        "/refunds",
        "/providers",
        "/health",
    } <= schema["paths"].keys()
    create = schema["paths"]["/payments"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert {"201", "402", "409", "422"} <= create["responses"].keys()
