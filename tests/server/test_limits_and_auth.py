"""Hostile requests: huge and slow bodies, a repeated Idempotency-Key, a request still running;
the optional API key; webhook errors in the REST error shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from unipay import AsyncGateway
from unipay.server import ServerSettings, create_app
from unipay.server.errors import ErrorDetail
from unipay.storage import MemoryStore
from unipay.storage.base import Claim, ClaimState
from unipay_mock import Ledger, MockProvider

API_KEY = "unipay-test-api-key-0123456789abcdef"
BODY = {"provider": "mock", "amount": 1299, "currency": "USD"}


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServerSettings(
        database_url="memory://", unipay_max_body_bytes=2048, unipay_body_timeout=0.3
    )
    gateway = AsyncGateway(providers=[MockProvider(ledger=Ledger())])
    async with gateway, client_for(create_app(settings, gateway=gateway)) as client:
        yield client


def assert_error_shape(response: httpx.Response) -> dict[str, object]:
    """Every key of the REST API's error object, whatever answered."""
    error: dict[str, object] = response.json()["error"]
    assert set(error) == set(ErrorDetail.model_fields)
    return error


async def test_a_body_over_the_limit_is_413(limited: httpx.AsyncClient) -> None:
    big = b'{"provider":"mock","amount":1,"currency":"USD","description":"' + b"x" * 4096 + b'"}'
    announced = await limited.post("/payments", content=big)
    assert announced.status_code == 413
    assert "UNIPAY_MAX_BODY_BYTES" in assert_error_shape(announced)["message"]  # type: ignore[operator]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(8):
            yield b"x" * 512

    streamed = await limited.post("/payments", content=chunks())
    assert streamed.status_code == 413
    assert (await limited.post("/payments", json=BODY)).status_code == 201


async def test_a_slow_body_is_cut_off_with_408(limited: httpx.AsyncClient) -> None:
    async def slowloris() -> AsyncIterator[bytes]:
        yield b'{"provider":'
        await asyncio.sleep(5)
        yield b'"mock"}'

    started = asyncio.get_running_loop().time()
    response = await limited.post("/payments", content=slowloris())
    assert response.status_code == 408
    assert "UNIPAY_BODY_TIMEOUT" in assert_error_shape(response)["message"]  # type: ignore[operator]
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_repeated_idempotency_key_is_400(client: httpx.AsyncClient) -> None:
    headers = [("Idempotency-Key", "key-one"), ("Idempotency-Key", "key-two")]
    response = await client.post("/payments", json=BODY, headers=headers)
    assert response.status_code == 400
    error = assert_error_shape(response)
    assert error["param"] == "Idempotency-Key"
    assert "more than once" in str(error["message"])


class Busy(MemoryStore):
    """Every key is held by another request (the default policy waits 0 s for it)."""

    def claim(self, *args: object, **kwargs: object) -> Claim:
        return Claim(ClaimState.IN_PROGRESS)


async def test_the_409_gives_http_advice() -> None:
    gateway = AsyncGateway(store=Busy(), providers=[MockProvider(ledger=Ledger())])
    async with gateway, client_for(create_app(gateway=gateway)) as client:
        response = await client.post("/payments", json=BODY, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 409
    message = str(assert_error_shape(response)["message"])
    assert "IdempotencyPolicy" not in message
    assert "same Idempotency-Key" in message
    assert "Retry-After" in message
    assert response.headers["Retry-After"] == "1"


async def test_webhook_errors_have_the_rest_error_shape(client: httpx.AsyncClient) -> None:
    unsigned = await client.post("/webhooks/mock", content=b"{}")
    assert unsigned.status_code == 400
    assert assert_error_shape(unsigned)["type"] == "WebhookVerificationError"
    nobody = await client.post("/webhooks/nobody", content=b"{}")
    assert nobody.status_code == 404
    assert assert_error_shape(nobody)["type"] == "HTTPError"
    rest = await client.get("/nowhere")
    assert set(rest.json()["error"]) == set(unsigned.json()["error"])


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    settings = ServerSettings(database_url="memory://", unipay_api_key=API_KEY)
    gateway = AsyncGateway(providers=[MockProvider(ledger=Ledger())])
    async with gateway, client_for(create_app(settings, gateway=gateway)) as client:
        yield client


async def test_with_an_api_key_every_api_route_needs_it(guarded: httpx.AsyncClient) -> None:
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    created = await guarded.post("/payments", json=BODY, headers=bearer)
    assert created.status_code == 201
    payment_id = created.json()["id"]
    requests = [
        ("POST", "/payments", BODY),
        ("GET", "/payments", None),
        ("GET", f"/payments/{payment_id}", None),
        ("POST", f"/payments/{payment_id}/capture", None),
        ("POST", f"/payments/{payment_id}/cancel", None),
        ("POST", "/refunds", {"payment_id": payment_id}),
        ("GET", f"/payments/{payment_id}/refunds", None),
        ("GET", "/refunds/mock:re_1", None),
        ("GET", "/providers", None),
    ]
    wrong_keys = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}]
    for method, path, body in requests:
        for headers in wrong_keys:
            response = await guarded.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert API_KEY not in response.text
            assert assert_error_shape(response)["code"] == "unauthorized"
    assert (await guarded.get("/payments", headers=bearer)).status_code == 200
    assert (await guarded.get("/providers", headers=bearer)).status_code == 200


async def test_health_webhooks_and_docs_stay_open(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/health")).status_code == 200
    # The webhook is refused for its signature (400), not for the missing API key.
    assert (await guarded.post("/webhooks/mock", content=b"{}")).status_code == 400
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await guarded.get(path)).status_code == 200, path
    for page in ("/docs", "/redoc"):  # nothing from elsewhere (see test_docs_browser.py)
        policy = (await guarded.get(page)).headers["Content-Security-Policy"]
        assert policy.startswith("default-src 'self'")
    schemes = (await guarded.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
