"""Fixtures: the server app over a fresh in-memory gateway, and an httpx client through ASGI.

Also the sandbox README's two curl examples, as data, so the ASGI test and the real-process test
send exactly the same requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp

from unipay import AsyncGateway
from unipay.server import create_app
from unipay_mock import Ledger, MockProvider

from .live import chromium, served

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Provider variables a test may set (in .env or the environment); the fixture restores them.
PROVIDER_VARIABLES = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "UNIPAY_MOCK_WEBHOOK_SECRET",
    "UNIPAY_MOCK_LEDGER",
)

# The sandbox README, "Example usage": the headers and bodies exactly as its curl lines send them.
SANDBOX_CREATE_HEADERS = {
    "Content-Type": "application/json",
    "Idempotency-Key": "7b6a1e4b-8d4a-4c9d-a0a7-1d8c42e3b111",
}
SANDBOX_CREATE_BODY = (
    '{"provider":"mock","amount":1299,"currency":"USD","customer_email":"demo@example.com"}'
)
SANDBOX_REFUND_HEADERS = {"Content-Type": "application/json"}
SANDBOX_REFUND_BODY = (
    '{"provider":"mock","provider_payment_id":"<returned_from_create>","amount":1299}'
)


@pytest.fixture
def provider_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Provider variables unset now and restored afterwards, whatever the test exports."""
    for name in PROVIDER_VARIABLES:
        monkeypatch.setenv(name, "placeholder")  # records the original value for teardown
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
async def gateway() -> AsyncIterator[AsyncGateway]:
    """Installed providers, with a mock whose books start empty (not the process-wide ones)."""
    async with AsyncGateway(providers=[MockProvider(ledger=Ledger())]) as gateway:
        yield gateway


@pytest.fixture
def app(gateway: AsyncGateway) -> FastAPI:
    return create_app(gateway=gateway)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (tests/server/live.py): skipped, or failed when required."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def serve() -> Callable[[ASGIApp], AbstractContextManager[str]]:
    """``with serve(app) as url``: the app under a real uvicorn server on 127.0.0.1."""
    return served
