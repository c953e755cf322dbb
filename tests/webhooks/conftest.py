"""A gateway with the mock provider, a WebhookApp over it, and helpers to deliver events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipay import AsyncGateway, Gateway, Payment
from unipay.storage import MemoryStore, Store
from unipay.storage.sql import SQLStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event

SECRET = "whsec_" + "c2VjcmV0LWZvci13ZWJob29rLXRlc3RzLW9ubHktMzI="
ROLLED_SECRET = "whsec_" + "YW5vdGhlci1zZWNyZXQtd2hpbGUtcm9sbGluZy0zMg=="


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Both kinds of store: in memory (called inline) and SQL (a blocking store, in a thread)."""
    made: Store = (
        MemoryStore()
        if request.param == "memory"
        else SQLStore(f"sqlite:///{tmp_path / 'unipay.db'}")
    )
    yield made
    made.close()


@pytest.fixture(params=[Gateway, AsyncGateway])
def gateway(request: pytest.FixtureRequest, store: Store) -> Gateway | AsyncGateway:
    mock = MockProvider(webhook_secret=[SECRET, ROLLED_SECRET])
    gw: Gateway | AsyncGateway = request.param(store=store, providers=[mock], load_installed=False)
    return gw


@pytest.fixture
def app(gateway: Gateway | AsyncGateway) -> WebhookApp:
    return WebhookApp(gateway, max_body_size=64 * 1024)


@pytest.fixture
async def client(app: WebhookApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def a_payment(status: str = "succeeded", **fields: Any) -> Payment:
    """A payment as the mock would report it (no provider call needed to describe one)."""
    return Payment(
        provider="mock",
        provider_payment_id=fields.pop("provider_payment_id", "pi_webhooktest"),
        status=status,
        amount=1299,
        currency="USD",
        **fields,
    )


def signed(
    event_type: str = "payment.succeeded", payment: Payment | None = None, **kwargs: Any
) -> tuple[bytes, dict[str, str]]:
    return build_delivery(
        payment_event(event_type, payment or a_payment()), secret=SECRET, **kwargs
    )
