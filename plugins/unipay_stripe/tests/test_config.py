"""Configuration from code and environment, the test-mode guard, and keys kept out of sight."""

from __future__ import annotations

import logging

import pytest
import respx

from unipay import Gateway
from unipay.errors import AuthenticationFailed, ProviderNotConfigured
from unipay_stripe import StripeProvider

from .conftest import API_KEY, WEBHOOK_SECRET
from .fake_stripe import FakeStripe, fixture

LIVE_KEY = "sk_live_51QbZ0aLkdIwHu7ixLIVEsecretKEY9"


def test_installed_but_unconfigured_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = Gateway()
    assert "stripe" in gateway.providers.names()
    with pytest.raises(ProviderNotConfigured) as caught:
        gateway.retrieve_payment("stripe:pi_123")
    assert caught.value.setting == "STRIPE_SECRET_KEY"
    assert "STRIPE_SECRET_KEY" in str(caught.value)


def test_every_missing_setting_is_named_at_once() -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        StripeProvider.from_env({})
    assert "STRIPE_SECRET_KEY" in caught.value.message
    assert "STRIPE_WEBHOOK_SECRET" in caught.value.message
    with pytest.raises(ProviderNotConfigured) as caught:
        StripeProvider.from_env({"STRIPE_WEBHOOK_SECRET": "whsec_test"})
    assert "STRIPE_WEBHOOK_SECRET" not in caught.value.message


def test_environment_configures_the_installed_provider(
    monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe
) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f" {WEBHOOK_SECRET} , whsec_second ")
    monkeypatch.setenv("STRIPE_API_BASE", "http://localhost:12111")
    provider = StripeProvider.from_env()
    assert provider.api_base == "http://localhost:12111"
    assert not provider.live
    assert "secrets=2" in repr(provider._webhooks)

    monkeypatch.delenv("STRIPE_API_BASE")
    gateway = Gateway()
    payment = gateway.create_payment(
        provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa"
    )
    assert payment.provider == "stripe"
    assert fake_stripe.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("key", [LIVE_KEY, "rk_live_51QbZ0aLkdIwHu7ixRESTRICTEDkey"])
def test_live_keys_are_refused_unless_opted_in(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        StripeProvider(api_key=key)
    assert "UNIPAY_STRIPE_ALLOW_LIVE" in str(caught.value)
    assert key not in str(caught.value)
    assert StripeProvider(api_key=key, allow_live=True).live

    monkeypatch.setenv("STRIPE_SECRET_KEY", key)
    with pytest.raises(ProviderNotConfigured):
        StripeProvider.from_env()
    monkeypatch.setenv("UNIPAY_STRIPE_ALLOW_LIVE", "1")
    assert StripeProvider.from_env().live


@pytest.mark.parametrize("key", ["pk_test_51QbZ0aLkdIwHu7ixPUBLISHABLE", "not-a-key", ""])
def test_keys_that_are_not_secret_keys_are_refused(key: str) -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        StripeProvider(api_key=key)
    assert "sk_test_" in str(caught.value)
    if key:
        assert key not in str(caught.value)


def test_the_key_never_shows(fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture) -> None:
    provider = StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])
    assert API_KEY not in repr(provider)
    assert WEBHOOK_SECRET not in repr(provider)
    fake_stripe.fail_next(401)
    gateway = Gateway(providers=[provider], load_installed=False)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AuthenticationFailed) as caught:
            gateway.create_payment(
                provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa"
            )
        gateway.create_payment(
            provider="stripe", amount=1000, currency="USD", payment_method="pm_card_visa"
        )
    assert caught.value.request_id
    for text in (str(caught.value), repr(caught.value), str(caught.value.to_dict())):
        assert API_KEY not in text
    assert caplog.records, "stripe's debug logging was captured"
    assert API_KEY not in caplog.text


def test_echoed_key_is_redacted_from_messages() -> None:
    """A server that echoes the key back must not get it into unipay's error text."""
    provider = StripeProvider(api_key=API_KEY)
    body = fixture("error_authentication")
    body["error"]["message"] = f"Invalid API Key provided: {API_KEY}"
    with respx.mock(base_url="https://api.stripe.com") as router:
        router.get(url__regex=r"/v1/payment_intents/.*").respond(401, json=body)
        with pytest.raises(AuthenticationFailed) as caught:
            Gateway(providers=[provider], load_installed=False).retrieve_payment("stripe:pi_1")
    assert API_KEY not in str(caught.value)
    assert "[redacted key]" in str(caught.value)
