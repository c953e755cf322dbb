"""Settings, the test-mode guard, secrets kept out of sight, and the host's view of the plugin:
``unipay providers``, ``unipay webhooks sign adyen`` and ``/webhooks/adyen`` in ``unipay serve``."""

from __future__ import annotations

import json
import logging
import shlex

import httpx
import pytest

from unipay import AsyncGateway, Gateway
from unipay.cli import main
from unipay.errors import ProviderNotConfigured
from unipay.models import PaymentStatus
from unipay_adyen import AdyenProvider

from .conftest import (
    API_KEY,
    HMAC_KEY,
    MERCHANT_ACCOUNT,
    OLD_HMAC_KEY,
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    adyen_delivery,
)
from .fake_adyen import FakeAdyen

SETTINGS = {
    "ADYEN_API_KEY": API_KEY,
    "ADYEN_MERCHANT_ACCOUNT": MERCHANT_ACCOUNT,
    "ADYEN_HMAC_KEY": f"{HMAC_KEY}, {OLD_HMAC_KEY}",
    "ADYEN_RETURN_URL": "https://shop.example/return",
    "ADYEN_WEBHOOK_USERNAME": WEBHOOK_USER,
    "ADYEN_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
}
SECRETS = (API_KEY, HMAC_KEY, OLD_HMAC_KEY, WEBHOOK_PASSWORD)


def test_missing_settings_are_named_together() -> None:
    with pytest.raises(ProviderNotConfigured) as missing:
        AdyenProvider.from_env({})
    assert missing.value.settings == ("ADYEN_API_KEY", "ADYEN_MERCHANT_ACCOUNT")
    assert "ADYEN_HMAC_KEY" in missing.value.message
    with pytest.raises(ProviderNotConfigured) as one:
        AdyenProvider.from_env({"ADYEN_API_KEY": API_KEY})
    assert one.value.settings == ("ADYEN_MERCHANT_ACCOUNT",)


def test_from_the_environment() -> None:
    provider = AdyenProvider.from_env(SETTINGS)
    assert (provider.environment, provider.live) == ("test", False)
    assert provider.base_url == "https://checkout-test.adyen.com/v71/"
    assert provider.merchant_account == MERCHANT_ACCOUNT
    assert provider.return_url == "https://shop.example/return"


def test_live_needs_the_opt_in_and_the_prefix() -> None:
    live = SETTINGS | {"ADYEN_ENVIRONMENT": "live"}
    with pytest.raises(ProviderNotConfigured, match="UNIPAY_ADYEN_ALLOW_LIVE"):
        AdyenProvider.from_env(live)
    allowed = live | {"UNIPAY_ADYEN_ALLOW_LIVE": "1"}
    with pytest.raises(ProviderNotConfigured) as missing:
        AdyenProvider.from_env(allowed)
    assert missing.value.setting == "ADYEN_LIVE_URL_PREFIX"
    with pytest.raises(ProviderNotConfigured):
        AdyenProvider.from_env(allowed | {"ADYEN_LIVE_URL_PREFIX": "evil.example/x?"})
    provider = AdyenProvider.from_env(
        allowed | {"ADYEN_LIVE_URL_PREFIX": "1797a841fbb37ca7-AdyenDemo"}
    )
    assert provider.live is True
    assert provider.base_url == (
        "https://1797a841fbb37ca7-AdyenDemo-checkout-live.adyenpayments.com/checkout/v71/"
    )
    with pytest.raises(ProviderNotConfigured, match="'test'"):
        AdyenProvider.from_env(SETTINGS | {"ADYEN_ENVIRONMENT": "production"})


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"ADYEN_HMAC_KEY": "not-hex"}, "ADYEN_HMAC_KEY"),
        ({"ADYEN_WEBHOOK_PASSWORD": ""}, "ADYEN_WEBHOOK_PASSWORD"),
        ({"ADYEN_WEBHOOK_USERNAME": ""}, "ADYEN_WEBHOOK_USERNAME"),
    ],
)
def test_wrong_settings_are_refused_without_repeating_them(
    change: dict[str, str], setting: str
) -> None:
    with pytest.raises(ProviderNotConfigured) as refused:
        AdyenProvider.from_env(SETTINGS | change)
    assert refused.value.setting == setting
    assert "not-hex" not in refused.value.message and WEBHOOK_PASSWORD not in refused.value.message


def test_secrets_stay_out_of_reprs_and_logs(
    fake_adyen: FakeAdyen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = AdyenProvider.from_env(SETTINGS)
    gateway = Gateway(providers=[provider], load_installed=False)
    payment = gateway.create_payment(
        provider="adyen", amount=100, currency="EUR", payment_method="shopper-42:tok_success"
    )
    provider.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    shown = [repr(provider), repr(provider.http), repr(gateway), repr(payment), caplog.text]
    shown.append(repr(provider._notifications))
    for secret in SECRETS:
        assert not any(secret in text for text in shown), "a secret was shown"
    assert repr(provider) == (
        f"<AdyenProvider 'adyen' environment=test merchant_account='{MERCHANT_ACCOUNT}'>"
    )


def test_unipay_providers_lists_it_with_its_state(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["providers", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed["adyen"]["distribution"] == "unipay-adyen"
    assert listed["adyen"]["configured"] is False
    assert "ADYEN_API_KEY and ADYEN_MERCHANT_ACCOUNT" in listed["adyen"]["problem"]
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    assert main(["providers"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("adyen")]
    assert line.endswith("configured") and "unipay-adyen" in line


def test_unipay_webhooks_sign_prints_a_delivery_the_provider_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    assert main(["webhooks", "sign", "adyen", "--amount", "2500", "--currency", "EUR"]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:8000/webhooks/adyen"]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = words[words.index("--data-raw") + 1].encode()
    (event,) = AdyenProvider.from_env(SETTINGS).verify_webhook(body, headers)
    assert event.type.value == "payment.succeeded" and event.payment is not None
    assert (event.payment.amount, event.payment.currency) == (2500, "EUR")
    assert event.payment.metadata == {"unipay_test_delivery": "true"}


async def test_webhooks_adyen_in_unipay_serve(fake_adyen: FakeAdyen) -> None:
    from pydantic import SecretStr

    from unipay.server import create_app
    from unipay.server.settings import ServerSettings

    settings = ServerSettings(
        _env_file=None,
        database_url=SecretStr("memory://"),
        provider_settings={name: SecretStr(value) for name, value in SETTINGS.items()},
    )
    app = create_app(settings)
    gateway: AsyncGateway = app.state.gateway
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        listed = (await client.get("/providers")).json()
        adyen = next(p for p in listed if p["name"] == "adyen")
        assert adyen["configured"] is True and adyen["distribution"] == "unipay-adyen"
        created = await client.post(
            "/payments",
            json={
                "provider": "adyen",
                "amount": 4200,
                "currency": "EUR",
                "payment_method": "shopper-42:tok_success",
                "capture_method": "manual",
            },
        )
        assert created.status_code in (200, 201), created.text
        payment_id = created.json()["id"]
        items = fake_adyen.take_notifications()
        body, headers = adyen_delivery(items)
        answer = await client.post("/webhooks/adyen", content=body, headers=headers)
        assert (answer.status_code, answer.text) == (200, "[accepted]")
        stored = await gateway.stored_payment(payment_id)
        assert stored is not None and stored.status is PaymentStatus.REQUIRES_CAPTURE
        forged, _ = adyen_delivery(items, key="00" * 32)
        refused = await client.post("/webhooks/adyen", content=forged, headers=headers)
        assert refused.status_code == 400


def test_a_live_provider_is_never_served_without_authentication() -> None:
    from pydantic import SecretStr

    from unipay.server import create_app
    from unipay.server.app import LiveKeyWithoutAuthentication
    from unipay.server.settings import ServerSettings

    live = SETTINGS | {
        "ADYEN_ENVIRONMENT": "live",
        "UNIPAY_ADYEN_ALLOW_LIVE": "1",
        "ADYEN_LIVE_URL_PREFIX": "1797a841fbb37ca7-AdyenDemo",
    }
    settings = ServerSettings(
        _env_file=None,
        database_url=SecretStr("memory://"),
        provider_settings={name: SecretStr(value) for name, value in live.items()},
    )
    with pytest.raises(LiveKeyWithoutAuthentication, match="adyen"):
        create_app(settings)


async def test_the_gateways_close_closes_the_providers_clients(fake_adyen: FakeAdyen) -> None:
    """Each face builds its own httpx client on first use; closing the gateway closes it."""
    provider = AdyenProvider.from_env(SETTINGS)
    create = {"provider": "adyen", "amount": 100, "currency": "EUR"}
    method = {"payment_method": "shopper-42:tok_success"}
    with Gateway(providers=[provider], load_installed=False) as gateway:
        gateway.create_payment(**create, **method)
    async with AsyncGateway(providers=[provider], load_installed=False) as agateway:
        await agateway.create_payment(**create, **method)
    clients = (provider.http._client, provider.http._async_client)
    assert all(client is not None and client.is_closed for client in clients)
