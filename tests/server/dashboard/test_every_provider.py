"""The dashboard with every provider in the repository, webhooks included: each signs a test
delivery (``Provider.sign_test_delivery``, what ``unipay webhooks sign`` prints), the server's
``/webhooks/{provider}`` takes it, and the webhooks page lists it as processed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from unipay.cli import sample_payment
from unipay.gateway import AsyncGateway
from unipay.models import WebhookEventType
from unipay.server import ServerSettings, create_app

from .conftest import _client

#: Test-mode settings for every provider plugin in the repository (none is ever called: a
#: webhook needs only its secret).
SETTINGS = {
    "mock": {"UNIPAY_MOCK_WEBHOOK_SECRET": "whsec_" + "bW9jay1kYXNoYm9hcmQ="},
    "stripe": {
        "STRIPE_SECRET_KEY": "sk_test_" + "Dash" * 6,
        "STRIPE_WEBHOOK_SECRET": "whsec_dashboard_test_secret",
    },
    "adyen": {
        "ADYEN_API_KEY": "AQE_dashboard_test_key",
        "ADYEN_MERCHANT_ACCOUNT": "UnipayDashboardECOM",
        "ADYEN_HMAC_KEY": "1D39A0B8D5A3C4F0E6A0B5C7D9E1F3A5B7C9D1E3F5A7B9C1D3E5F7A9B1C3D5E7",
    },
    "razorpay": {
        "RAZORPAY_KEY_ID": "rzp_test_1DP5mmOlF5G5ag",
        "RAZORPAY_KEY_SECRET": "thisisthetestsecretUNIPAY1",
        "RAZORPAY_WEBHOOK_SECRET": "unipay-dashboard-webhook-secret",
    },
    "acmepay": {
        "ACME_API_KEY": "ak_test_dashboard",
        "ACME_WEBHOOK_SECRET": "whsec_" + "ZGFzaGJvYXJkLWFjbWU=",
    },
}


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The server as ``unipay serve`` builds it: providers configured by their plugins from
    settings, and a gateway that records activity. The example plugin has no configure hook:
    it reads the environment, as ``unipay webhooks sign`` does."""
    for name, value in SETTINGS["acmepay"].items():
        monkeypatch.setenv(name, value)
    values = {name: SecretStr(v) for per in SETTINGS.values() for name, v in per.items()}
    app = create_app(ServerSettings(database_url="memory://", provider_settings=values))
    async for client in _client(app):
        yield client


async def test_every_provider_in_the_repository_is_configured(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get("/providers")).json()
    assert {p["name"] for p in listed} == set(SETTINGS), "a provider without test settings here"
    assert [p["name"] for p in listed if not p["configured"]] == []


@pytest.mark.parametrize("name", sorted(SETTINGS))
async def test_a_signed_delivery_is_listed_on_the_webhooks_page(
    client: httpx.AsyncClient, name: str
) -> None:
    gateway: AsyncGateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    assert gateway.activity_recorder is not None  # create_app records activity by default
    provider = gateway.providers.get(name)
    payment = sample_payment(
        name,
        WebhookEventType.PAYMENT_SUCCEEDED,
        amount=4200,
        currency="EUR",
        payment_id=f"dash_{name}_1",
    )
    body, headers = provider.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, payment)
    answer = await client.post(f"/webhooks/{name}", content=body, headers=headers)
    assert answer.status_code < 300, answer.text
    page = await client.get("/dashboard/webhooks", params={"provider": name})
    rows = page.text[page.text.index('id="deliveries"') :].split("<tbody>")[1]
    assert rows.count("<tr>") == 1, rows
    assert f'<th scope="row">{name}</th>' in rows
    assert "outcome-processed" in rows
    assert "payment.succeeded" in rows
    others = [n for n in SETTINGS if n != name]
    assert not any(f'<th scope="row">{other}</th>' in rows for other in others)
