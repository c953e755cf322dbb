"""Refunds by unified id, Stripe-style lists of payments, a payment's refunds and one refund."""

from __future__ import annotations

from typing import Any

import httpx


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"provider": "mock", "amount": 1299, "currency": "USD", **fields}
    response = await client.post("/payments", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_refund_by_the_unified_payment_id(client: httpx.AsyncClient) -> None:
    payment = await create(client)
    refund = await client.post("/refunds", json={"payment_id": payment["id"], "amount": 299})
    assert refund.status_code == 201, refund.text
    assert refund.json()["payment_id"] == payment["id"]
    # The sandbox's form still works.
    rest = await client.post(
        "/refunds",
        json={"provider": "mock", "provider_payment_id": payment["provider_payment_id"]},
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == 1000


async def test_a_refund_names_its_payment_one_way(client: httpx.AsyncClient) -> None:
    both = {"payment_id": "mock:pi_1", "provider": "mock", "provider_payment_id": "pi_1"}
    for body in (both, {"amount": 5}, {"provider": "mock"}, {"payment_id": "pi_no_prefix"}):
        response = await client.post("/refunds", json=body)
        assert response.status_code == 400, body
        assert "payment_id" in response.json()["error"]["message"]


async def test_the_404_for_a_prefixed_provider_id_says_what_to_send(
    client: httpx.AsyncClient,
) -> None:
    payment = await create(client)
    body = {"provider": "mock", "provider_payment_id": payment["id"]}
    response = await client.post("/refunds", json=body)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert f'{{"payment_id": "{payment["id"]}"}}' in message


async def test_list_payments_in_pages_with_filters(client: httpx.AsyncClient) -> None:
    made = [await create(client, amount=1000 + n) for n in range(5)]
    manual = await create(client, capture_method="manual", payment_method="pm_card_visa")
    first = await client.get("/payments", params={"limit": 4})
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["object"] == "list"
    assert page["url"] == "/payments"
    assert page["has_more"] is True
    assert [p["id"] for p in page["data"]] == [manual["id"], *[p["id"] for p in made[::-1][:3]]]
    rest = await client.get(
        "/payments", params={"limit": 4, "starting_after": page["data"][-1]["id"]}
    )
    assert [p["id"] for p in rest.json()["data"]] == [made[1]["id"], made[0]["id"]]
    assert rest.json()["has_more"] is False
    waiting = await client.get("/payments", params={"status": "requires_capture"})
    assert [p["id"] for p in waiting.json()["data"]] == [manual["id"]]
    other = await client.get("/payments", params={"provider": "stripe"})
    assert other.json()["data"] == []


async def test_list_payments_refuses_bad_parameters(client: httpx.AsyncClient) -> None:
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"status": "paid"},
        {"starting_after": "mock:pi_nope"},
    ):
        response = await client.get("/payments", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["type"] == "InvalidRequest"


async def test_a_refund_and_a_payments_refunds(client: httpx.AsyncClient) -> None:
    payment = await create(client)
    refunds = [
        (await client.post("/refunds", json={"payment_id": payment["id"], "amount": a})).json()
        for a in (100, 200)
    ]
    one = await client.get(f"/refunds/{refunds[0]['id']}")
    assert one.status_code == 200
    assert one.json() == refunds[0]
    listed = await client.get(f"/payments/{payment['id']}/refunds")
    assert listed.status_code == 200
    assert listed.json()["data"] == refunds
    assert listed.json()["has_more"] is False
    none_yet = await create(client)
    assert (await client.get(f"/payments/{none_yet['id']}/refunds")).json()["data"] == []


async def test_unknown_refunds_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/refunds/mock:re_nope")).status_code == 404
    assert (await client.get("/payments/mock:pi_nope/refunds")).status_code == 404
    assert (await client.get("/refunds/re_no_prefix")).status_code == 400
