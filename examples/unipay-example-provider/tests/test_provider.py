"""Acme Pay specifics the conformance suite cannot know: the wire format, retries, error mapping,
secrets kept out of sight, and webhooks as the fake API sends them."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import respx
from unipay_example import AcmeProvider
from unipay_example.fake_api import FakeAcmePay
from unipay_example.provider import DEFAULT_API_BASE

from unipay import AsyncGateway, Gateway, Payment, RetryPolicy, WebhookEventType
from unipay.errors import (
    AuthenticationFailed,
    IdempotencyKeyReused,
    InvalidPaymentState,
    PaymentNotFound,
    ProviderNotConfigured,
    UnsupportedOperation,
    WebhookVerificationError,
)
from unipay.testing import Face

from .conftest import API_KEY, WEBHOOK_SECRET

NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, acme: AcmeProvider) -> Face:
    options = {"providers": [acme], "load_installed": False, "retry": NO_WAIT}
    gateway = Gateway(**options) if request.param == "sync" else AsyncGateway(**options)  # type: ignore[arg-type]
    return Face(gateway)


def _create(face: Face, **overrides: object) -> object:
    params = {"provider": "acmepay", "amount": 1299, "currency": "EUR"}
    params.update(payment_method="pm_acme_success", **overrides)
    return face("create_payment", **params)


async def test_create_sends_acme_json_with_the_gateway_key(
    face: Face, fake_acme: FakeAcmePay, wire: respx.MockRouter
) -> None:
    payment = await _create(face, capture_method="manual", idempotency_key="order-42-pay")
    request = wire.calls.last.request
    assert request.url == f"{DEFAULT_API_BASE}/v1/charges"
    assert request.headers["idempotency-key"] == "order-42-pay"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "amount": 1299,
        "currency": "eur",
        "capture": "manual",
        "confirm": True,
        "metadata": {},
        "source": "pm_acme_success",
    }
    charge = fake_acme.charges[payment.provider_payment_id]  # type: ignore[attr-defined]
    assert charge["status"] == "authorized"


async def test_lost_answer_is_retried_with_the_same_key_and_charges_once(
    face: Face, fake_acme: FakeAcmePay, wire: respx.MockRouter
) -> None:
    fake_acme.fail_next(after_work=True)
    payment = await _create(face)
    assert len(fake_acme.charges) == 1
    assert payment.status == "succeeded"  # type: ignore[attr-defined]
    keys = {call.request.headers["idempotency-key"] for call in wire.calls}
    assert len(keys) == 1
    assert len(wire.calls) == 2


async def test_acme_errors_become_unipay_errors(face: Face, fake_acme: FakeAcmePay) -> None:
    with pytest.raises(PaymentNotFound) as missing:
        await face("retrieve_payment", "acmepay:ch_0000")
    assert missing.value.request_id is not None
    assert missing.value.request_id.startswith("req_")
    payment = await _create(face, capture_method="manual")
    await face("cancel_payment", payment.id)  # type: ignore[attr-defined]
    with pytest.raises(InvalidPaymentState):
        await face("capture_payment", payment.id)  # type: ignore[attr-defined]


async def test_one_refund_per_charge_is_enforced_before_the_call(
    face: Face, wire: respx.MockRouter
) -> None:
    payment = await _create(face)
    await face("refund_payment", payment.id, amount=300)  # type: ignore[attr-defined]
    calls = len(wire.calls)
    with pytest.raises(UnsupportedOperation):
        await face("refund_payment", payment.id, amount=300)  # type: ignore[attr-defined]
    assert len(wire.calls) == calls


def test_a_key_reused_with_other_parameters_is_refused_by_acme(acme: AcmeProvider) -> None:
    key = str(uuid.uuid4())

    def create(amount: int) -> Payment:
        # A fresh gateway store each time: only Acme Pay remembers the key.
        gateway = Gateway(providers=[acme], load_installed=False)
        return gateway.create_payment(
            provider="acmepay", amount=amount, currency="USD", payment_method="pm_acme_success",
            idempotency_key=key,
        )  # fmt: skip

    assert create(1000).amount == 1000
    assert create(1000).amount == 1000
    with pytest.raises(IdempotencyKeyReused):
        create(2000)


def test_the_api_key_never_shows(wire: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    wrong_key = "ak_test_wrongwrongwrong123"
    provider = AcmeProvider(api_key=wrong_key)
    caplog.set_level(logging.DEBUG)
    gateway = Gateway(providers=[provider], load_installed=False)
    with pytest.raises(AuthenticationFailed) as caught:
        gateway.create_payment(
            provider="acmepay", amount=500, currency="USD", payment_method="pm_acme_success"
        )
    error = caught.value
    assert "Invalid API key" in error.message
    shown = [error.message, repr(error), json.dumps(error.to_dict()), repr(provider), caplog.text]
    assert all(wrong_key not in text for text in shown)


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    with pytest.raises(ProviderNotConfigured, match="ACME_API_KEY"):
        Gateway(store="memory://").providers.get("acmepay")
    monkeypatch.setenv("ACME_API_KEY", API_KEY)
    monkeypatch.setenv("ACME_API_BASE", "http://127.0.0.1:9999")
    provider = Gateway().providers.get("acmepay")
    assert isinstance(provider, AcmeProvider)
    assert provider.api_base == "http://127.0.0.1:9999"
    with pytest.raises(ProviderNotConfigured, match="not an Acme Pay secret key"):
        AcmeProvider(api_key="pk_test_publishable")


def test_webhooks_sent_by_acme_are_verified_and_unified(
    acme: AcmeProvider, fake_acme: FakeAcmePay
) -> None:
    with Gateway(providers=[acme], load_installed=False) as gateway:
        payment = gateway.create_payment(
            provider="acmepay", amount=800, currency="GBP", payment_method="pm_acme_success"
        )
        refund = gateway.refund_payment(payment.id)
    event = acme.verify_webhook(*fake_acme.delivery("refund.succeeded", refund.provider_refund_id))
    assert event.type is WebhookEventType.REFUND_SUCCEEDED
    assert event.refund == refund.model_copy(update={"created_at": event.refund.created_at})  # type: ignore[union-attr]
    other = acme.verify_webhook(*fake_acme.delivery("charge.disputed", payment.provider_payment_id))
    assert (other.type, other.provider_type) == (WebhookEventType.OTHER, "charge.disputed")


def test_webhooks_need_the_right_secret(fake_acme: FakeAcmePay, wire: respx.MockRouter) -> None:
    body, headers = fake_acme.delivery("charge.paid", _any_charge(fake_acme))
    unconfigured = AcmeProvider(api_key=API_KEY)
    with pytest.raises(WebhookVerificationError, match="ACME_WEBHOOK_SECRET"):
        unconfigured.verify_webhook(body, headers)
    other_secret = AcmeProvider(api_key=API_KEY, webhook_secrets=["whsec_b3RoZXIta2V5"])
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        other_secret.verify_webhook(body, headers)
    rolling = AcmeProvider(api_key=API_KEY, webhook_secrets=["whsec_b3RoZXIta2V5", WEBHOOK_SECRET])
    assert rolling.verify_webhook(body, headers).type is WebhookEventType.PAYMENT_SUCCEEDED


def _any_charge(fake: FakeAcmePay) -> str:
    with Gateway(providers=[AcmeProvider(api_key=API_KEY)], load_installed=False) as gateway:
        payment = gateway.create_payment(
            provider="acmepay", amount=900, currency="USD", payment_method="pm_acme_success"
        )
    return payment.provider_payment_id
