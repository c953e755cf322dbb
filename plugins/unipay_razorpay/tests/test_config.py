"""Configuration from code and the environment, the test-mode guard, secrets kept out of sight,
and the command line (``unipay providers``, ``unipay webhooks sign razorpay``)."""

from __future__ import annotations

import base64
import logging
import shlex
from typing import Any

import httpx
import pytest
import respx

from unipay import AsyncGateway, Gateway, cli
from unipay.errors import AuthenticationFailed, InvalidRequest, ProviderNotConfigured
from unipay_razorpay import RazorpayProvider

from .conftest import KEY_ID, KEY_SECRET, WEBHOOK_SECRET
from .fake_razorpay import FakeRazorpay

LIVE_KEY_ID = "rzp_live_9XyZ8WvU7TsR6q"
ORDER: dict[str, Any] = {"provider": "razorpay", "amount": 50000, "currency": "INR"}


def test_installed_but_unconfigured_names_every_setting() -> None:
    gateway = Gateway()
    assert "razorpay" in gateway.providers.names()
    with pytest.raises(ProviderNotConfigured) as caught:
        gateway.retrieve_payment("razorpay:order_Abc")
    assert caught.value.setting == "RAZORPAY_KEY_ID"
    for setting in ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"):
        assert setting in caught.value.message
    with pytest.raises(ProviderNotConfigured) as caught:
        RazorpayProvider.from_env({"RAZORPAY_KEY_ID": KEY_ID, "RAZORPAY_WEBHOOK_SECRET": "w"})
    assert caught.value.settings == ("RAZORPAY_KEY_SECRET",)


def test_the_environment_configures_the_installed_provider(
    monkeypatch: pytest.MonkeyPatch, fake: FakeRazorpay
) -> None:
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_WEBHOOK_SECRET", f" {WEBHOOK_SECRET} , second ")
    provider = RazorpayProvider.from_env()
    assert not provider.live and provider.api_base == "https://api.razorpay.com"
    assert "secrets=2" in repr(provider._webhooks)
    payment = Gateway().create_payment(**ORDER)
    assert payment.provider == "razorpay"
    basic = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    assert fake.requests[0].headers["Authorization"] == f"Basic {basic}"
    monkeypatch.setenv("RAZORPAY_API_BASE", "http://127.0.0.1:9/")
    assert RazorpayProvider.from_env().api_base == "http://127.0.0.1:9"


def test_live_keys_are_refused_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        RazorpayProvider(key_id=LIVE_KEY_ID, key_secret=KEY_SECRET)
    assert "UNIPAY_RAZORPAY_ALLOW_LIVE" in caught.value.message
    assert LIVE_KEY_ID not in caught.value.message and KEY_SECRET not in caught.value.message
    assert RazorpayProvider(key_id=LIVE_KEY_ID, key_secret=KEY_SECRET, allow_live=True).live
    monkeypatch.setenv("RAZORPAY_KEY_ID", LIVE_KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    with pytest.raises(ProviderNotConfigured):
        RazorpayProvider.from_env()
    monkeypatch.setenv("UNIPAY_RAZORPAY_ALLOW_LIVE", "1")
    assert RazorpayProvider.from_env().live


@pytest.mark.parametrize("key_id", ["sk_test_51Qb0aLkdIwHu7ix", KEY_SECRET, ""])
def test_what_is_not_a_key_id_is_refused(key_id: str) -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        RazorpayProvider(key_id=key_id, key_secret=KEY_SECRET)
    assert "rzp_test_" in caught.value.message
    assert KEY_SECRET not in caught.value.message
    with pytest.raises(ProviderNotConfigured, match="secret is empty"):
        RazorpayProvider(key_id=KEY_ID, key_secret=" ")


def test_the_secrets_never_show(fake: FakeRazorpay, caplog: pytest.LogCaptureFixture) -> None:
    provider = RazorpayProvider(
        key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secrets=[WEBHOOK_SECRET]
    )
    basic = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    gateway = Gateway(providers=[provider], load_installed=False)
    with caplog.at_level(logging.DEBUG):
        payment = gateway.create_payment(**ORDER)
        fake.pay(payment.provider_payment_id)
        gateway.retrieve_payment(payment.id)
    shown = [repr(provider), repr(provider.http), repr(provider._webhooks), repr(gateway)]
    shown += [payment.model_dump_json(), caplog.text]
    assert caplog.records, "httpx's and httpcore's debug logging was captured"
    for text in shown:
        for secret in (KEY_SECRET, WEBHOOK_SECRET, basic):
            assert secret not in text
    wrong = RazorpayProvider(key_id=KEY_ID, key_secret="not-the-secret")
    with pytest.raises(AuthenticationFailed) as caught:
        Gateway(providers=[wrong], load_installed=False).create_payment(**ORDER)
    for text in (str(caught.value), repr(caught.value), str(caught.value.to_dict())):
        assert "not-the-secret" not in text
    assert "RAZORPAY_KEY_SECRET" in caught.value.message


def test_an_echoed_secret_is_redacted() -> None:
    """A server that echoes the secret back must not get it into unipay's error text."""
    provider = RazorpayProvider(key_id=KEY_ID, key_secret=KEY_SECRET)
    error = {"code": "BAD_REQUEST_ERROR", "description": f"Bad key secret {KEY_SECRET}"}
    with respx.mock(base_url="https://api.razorpay.com") as router:
        router.get(url__regex=r"/v1/orders/.*").respond(400, json={"error": error})
        with pytest.raises(InvalidRequest) as caught:
            Gateway(providers=[provider], load_installed=False).retrieve_payment(
                "razorpay:order_Abc"
            )
    assert KEY_SECRET not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_unreadable_answers_are_reported_not_crashed_on() -> None:
    provider = RazorpayProvider(key_id=KEY_ID, key_secret=KEY_SECRET)
    gateway = Gateway(providers=[provider], load_installed=False)
    with respx.mock(base_url="https://api.razorpay.com") as router:
        router.post("/v1/orders").mock(return_value=httpx.Response(200, text="<html>"))
        with pytest.raises(Exception, match="not a JSON object"):
            gateway.create_payment(**ORDER)


def test_the_command_line_lists_and_signs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    assert cli.main(["providers"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("razorpay")]
    assert listed and listed[0].endswith("configured") and "unipay-razorpay" in listed[0]
    assert cli.main(["webhooks", "sign", "razorpay", "--currency", "INR"]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[words.index("-X") + 1] == "POST"
    assert "http://127.0.0.1:8000/webhooks/razorpay" in words
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = words[words.index("--data-raw") + 1].encode()
    provider = RazorpayProvider.from_env()
    event = provider.verify_webhook(body, headers)
    assert event.provider_type == "payment.captured" and event.payment is not None


async def test_the_gateways_close_closes_the_providers_clients(fake: FakeRazorpay) -> None:
    """Each face builds its own httpx client on first use; closing the gateway closes it."""
    provider = RazorpayProvider(key_id=KEY_ID, key_secret=KEY_SECRET)
    order = {"provider": "razorpay", "amount": 50_000, "currency": "INR"}
    with Gateway(providers=[provider], load_installed=False) as gateway:
        gateway.create_payment(**order)
    async with AsyncGateway(providers=[provider], load_installed=False) as agateway:
        await agateway.create_payment(**order)
    clients = (provider.http._client, provider.http._async_client)
    assert all(client is not None and client.is_closed for client in clients)
