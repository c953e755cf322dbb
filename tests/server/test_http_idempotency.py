"""HTTP idempotency (IETF Idempotency-Key draft) is the gateway's idempotency, seen over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from unipay import AsyncGateway, hookimpl
from unipay.errors import InvalidRequest
from unipay.hookspecs import OperationCall
from unipay.idempotency import check_key
from unipay.server import create_app
from unipay_mock import MockProvider

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"
BODY = {"provider": "mock", "amount": 1299, "currency": "USD", "payment_method": "pm_card_visa"}


def charges(gateway: AsyncGateway, key: str) -> int:
    mock = gateway.providers.get("mock")
    assert isinstance(mock, MockProvider)
    return mock.ledger.count_payments(created_with_key=key)


async def test_a_replay_answers_the_first_status_and_body_once_charged(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    first = await client.post("/payments", json=BODY, headers={"Idempotency-Key": KEY})
    # The same request again, its JSON written differently: key order and spacing do not matter.
    again = await client.post(
        "/payments",
        content='{ "payment_method": "pm_card_visa", "currency": "USD",\n'
        '  "amount": 1299, "provider": "mock" }',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert charges(gateway, KEY) == 1


async def test_the_quoted_form_of_the_draft_is_the_same_key(client: httpx.AsyncClient) -> None:
    bare = await client.post("/payments", json=BODY, headers={"Idempotency-Key": KEY})
    quoted = await client.post("/payments", json=BODY, headers={"Idempotency-Key": f'"{KEY}"'})
    assert quoted.headers["Idempotent-Replayed"] == "true"
    assert quoted.json()["id"] == bare.json()["id"]


async def test_without_a_key_each_post_is_a_new_payment(client: httpx.AsyncClient) -> None:
    first = await client.post("/payments", json=BODY)
    second = await client.post("/payments", json=BODY)
    assert first.json()["id"] != second.json()["id"]


async def test_a_key_reused_with_another_body_is_422_and_charges_nothing(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    await client.post("/payments", json=BODY, headers={"Idempotency-Key": KEY})
    other = await client.post(
        "/payments", json={**BODY, "amount": 1300}, headers={"Idempotency-Key": KEY}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert charges(gateway, KEY) == 1


async def test_a_key_reused_for_another_operation_is_422(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/payments", json={**BODY, "capture_method": "manual"}, headers={"Idempotency-Key": KEY}
    )
    captured = await client.post(
        f"/payments/{created.json()['id']}/capture", headers={"Idempotency-Key": KEY}
    )
    assert captured.status_code == 422


async def test_a_declined_payment_replays_as_the_same_402(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    declined = {**BODY, "payment_method": "pm_card_chargeDeclined"}
    first = await client.post("/payments", json=declined, headers={"Idempotency-Key": KEY})
    again = await client.post("/payments", json=declined, headers={"Idempotency-Key": KEY})
    assert first.status_code == again.status_code == 402
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert charges(gateway, KEY) == 1


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("capture", {"amount": 500}, 200),
        ("cancel", {"reason": "duplicate"}, 200),
    ],
)
async def test_operations_on_a_payment_replay_too(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int
) -> None:
    created = await client.post("/payments", json={**BODY, "capture_method": "manual"})
    url = f"/payments/{created.json()['id']}/{path}"
    first = await client.post(url, json=body, headers={"Idempotency-Key": KEY})
    again = await client.post(url, json=body, headers={"Idempotency-Key": KEY})
    assert first.status_code == again.status_code == status
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_refund_replays_without_refunding_twice(client: httpx.AsyncClient) -> None:
    created = (await client.post("/payments", json=BODY)).json()
    refund = {"provider": "mock", "provider_payment_id": created["provider_payment_id"]}
    first = await client.post(
        "/refunds", json={**refund, "amount": 500}, headers={"Idempotency-Key": KEY}
    )
    again = await client.post(
        "/refunds", json={**refund, "amount": 500}, headers={"Idempotency-Key": KEY}
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    payment = (await client.get(f"/payments/{created['id']}")).json()
    assert payment["amount_refunded"] == 500


def gateway_message(key: str) -> str:
    """What the gateway says about this key: the server must say the same."""
    with pytest.raises(InvalidRequest) as caught:
        check_key(key)
    return caught.value.message


@pytest.mark.parametrize(
    ("header", "key"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"x" * 256, "x" * 256, id="too long"),
        pytest.param('"cl\u00e9"'.encode(), "cl\u00c3\u00a9", id="non-ASCII quoted"),
        # HTTP/1.1 headers arrive as Latin-1: UTF-8 bytes become other non-ASCII characters.
        pytest.param("cl\u00e9".encode(), "cl\u00c3\u00a9", id="non-ASCII (UTF-8)"),
        pytest.param(b"tab\there", "tab\there", id="tab"),
        pytest.param(b"order\x0142", "order\x0142", id="control character"),
        pytest.param(b"order\x7f", "order\x7f", id="DEL"),
        pytest.param(b"order\x0042", "order\x0042", id="NUL"),
        pytest.param(b"order\n42", "order\n42", id="LF"),
        pytest.param(b"order\r42", "order\r42", id="CR"),
        pytest.param(b"order\r\n42", "order\r\n42", id="CRLF"),
        pytest.param(b'" order-42"', " order-42", id="leading space inside quotes"),
        pytest.param(b'"order-42 "', "order-42 ", id="trailing space inside quotes"),
    ],
)
async def test_a_key_the_gateway_refuses_is_400_with_the_gateways_message(
    client: httpx.AsyncClient, gateway: AsyncGateway, header: bytes, key: str
) -> None:
    response = await client.post("/payments", json=BODY, headers={b"Idempotency-Key": header})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == gateway_message(key)
    assert "printable ASCII" in error["message"]
    assert error["param"] == "Idempotency-Key"
    assert error["code"] == "idempotency_key_invalid"
    assert error["retriable"] is False
    mock = gateway.providers.get("mock")
    assert isinstance(mock, MockProvider)
    assert mock.ledger.count_payments() == 0


@pytest.mark.parametrize(
    "header",
    [
        '"unterminated',
        '"trailing" junk',
        'in"side',
        '"bad \\escape"',
    ],
)
async def test_a_malformed_header_is_400_and_nothing_is_charged(
    client: httpx.AsyncClient, gateway: AsyncGateway, header: str
) -> None:
    response = await client.post("/payments", json=BODY, headers={"Idempotency-Key": header})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    mock = gateway.providers.get("mock")
    assert isinstance(mock, MockProvider)
    assert mock.ledger.count_payments() == 0


async def test_a_key_with_inner_spaces_and_punctuation_is_one_key_bare_or_quoted(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    key = "order 42 / attempt #1 (a+b=c)"
    bare = await client.post("/payments", json=BODY, headers={"Idempotency-Key": key})
    quoted = await client.post("/payments", json=BODY, headers={"Idempotency-Key": f'"{key}"'})
    assert bare.status_code == quoted.status_code == 201
    assert quoted.headers["Idempotent-Replayed"] == "true"
    assert quoted.json()["id"] == bare.json()["id"]
    assert charges(gateway, key) == 1


class ClaimSignal:
    """Sets an event once a call has claimed its key and is about to reach the provider."""

    def __init__(self) -> None:
        self.claimed = asyncio.Event()

    @hookimpl
    def unipay_before_operation(self, call: OperationCall) -> None:
        self.claimed.set()


@pytest.fixture
async def slow_gateway() -> AsyncIterator[tuple[AsyncGateway, ClaimSignal]]:
    signal = ClaimSignal()
    # Far longer than the test: the first request is in flight until it is cancelled.
    async with AsyncGateway(providers=[MockProvider(latency=60)], plugins=[signal]) as gateway:
        yield gateway, signal


async def test_a_request_still_in_flight_is_409_with_retry_after(
    slow_gateway: tuple[AsyncGateway, ClaimSignal],
) -> None:
    gateway, signal = slow_gateway
    transport = httpx.ASGITransport(app=create_app(gateway=gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        first = asyncio.create_task(
            client.post("/payments", json=BODY, headers={"Idempotency-Key": KEY})
        )
        await signal.claimed.wait()
        second = await client.post("/payments", json=BODY, headers={"Idempotency-Key": KEY})
        first.cancel()
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "idempotency_in_progress"
        assert second.json()["error"]["retriable"] is True
        assert int(second.headers["Retry-After"]) >= 1
