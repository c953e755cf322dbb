"""Acme Pay specifics the conformance kit cannot know: the wire format, retries, what each error
means, secrets kept out of sight, and webhooks as the fake API sends them."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
import respx
from unipay_example import AcmeProvider
from unipay_example.fake_api import FakeAcmePay
from unipay_example.provider import API_BASE

from unipay import AsyncGateway, Gateway, Payment, RetryPolicy, WebhookEventType
from unipay.errors import (
    AuthenticationFailed,
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentNotFound,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
    UnipayError,
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
    params["payment_method"] = "tok_acme_success"
    return face("create_payment", **params | overrides)


async def test_create_sends_acme_json_with_the_key_and_the_reference(
    face: Face, fake_acme: FakeAcmePay, wire: respx.MockRouter
) -> None:
    payment = await _create(face, capture_method="manual", idempotency_key="order-42-pay")
    request = wire.calls.last.request
    assert request.url == f"{API_BASE}charges"
    assert request.headers["idempotency-key"] == "order-42-pay"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = json.loads(request.content)
    assert sent.pop("reference").startswith("unipay-")
    assert sent == {
        "amount": 1299,
        "currency": "EUR",
        "payment_method": "tok_acme_success",
        "customer_email": None,
        "capture_method": "manual",
        "confirm": True,
        "description": None,
        "metadata": {},
        "return_url": None,
    }
    charge = fake_acme.charge(payment.provider_payment_id)  # type: ignore[attr-defined]
    assert charge["status"] == "authorized"


async def test_a_lost_answer_is_sent_again_with_the_same_key_and_charges_once(
    face: Face, fake_acme: FakeAcmePay, wire: respx.MockRouter
) -> None:
    fake_acme.fail_next(after_work=True)
    payment = await _create(face)
    assert payment.status == "succeeded"  # type: ignore[attr-defined]
    assert (fake_acme.processor.calls["create"], fake_acme.processor.replays["create"]) == (1, 1)
    assert len({call.request.headers["idempotency-key"] for call in wire.calls}) == 1
    assert len(wire.calls) == 2


async def test_acme_errors_become_unipay_errors(face: Face) -> None:
    with pytest.raises(PaymentNotFound) as missing:
        await face("retrieve_payment", "acmepay:ch_0000")
    assert missing.value.request_id is not None
    assert missing.value.request_id.startswith("req_")
    assert not missing.value.retriable
    payment = await _create(face, capture_method="manual")
    await face("cancel_payment", payment.id)  # type: ignore[attr-defined]
    with pytest.raises(InvalidPaymentState):
        await face("capture_payment", payment.id)  # type: ignore[attr-defined]


def _acme_error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": "some_error", "message": "No."}})


@pytest.mark.parametrize(
    ("answer", "error", "retriable"),
    [
        (_acme_error(500), ProviderUnavailable, True),
        (httpx.Response(502, text="<html>Bad gateway</html>"), ProviderUnavailable, True),
        (_acme_error(429), ProviderUnavailable, True),
        (httpx.ConnectTimeout("no route"), ProviderUnavailable, True),
        (httpx.ReadTimeout("no answer"), ProviderUnavailable, True),
        (_acme_error(400), InvalidRequest, False),
        (_acme_error(401), AuthenticationFailed, False),
        (_acme_error(404), PaymentNotFound, False),
        (_acme_error(409), InvalidPaymentState, False),
        (_acme_error(418), ProviderError, False),
    ],
)
def test_5xx_429_and_timeouts_are_retried_and_4xx_are_not(
    answer: httpx.Response | Exception, error: type[UnipayError], retriable: bool
) -> None:
    provider = AcmeProvider(api_key=API_KEY)
    with respx.mock(base_url=API_BASE) as router:
        route = router.route()
        route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(answer)
        gateway = Gateway(providers=[provider], retry=NO_WAIT, load_installed=False)
        with pytest.raises(error) as caught:
            gateway.retrieve_payment("acmepay:ch_1")
    assert type(caught.value) is error
    assert caught.value.retriable is retriable
    assert route.call_count == (NO_WAIT.attempts if retriable else 1)


async def test_acme_takes_only_its_own_tokens(face: Face, wire: respx.MockRouter) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await _create(face, payment_method="pm_card_visa")
    assert caught.value.param == "payment_method"
    payment = await _create(face, confirm=False)
    with pytest.raises(InvalidRequest):
        await face("confirm_payment", payment.id, payment_method="tok_other")  # type: ignore[attr-defined]
    assert [call.request.url.path for call in wire.calls] == ["/v1/charges"]


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
            provider="acmepay", amount=amount, currency="USD", payment_method="tok_acme_success",
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
            provider="acmepay", amount=500, currency="USD", payment_method="tok_acme_success"
        )
    error = caught.value
    assert "Bad key" in error.message
    shown = [error.message, repr(error), json.dumps(error.to_dict()), repr(provider), caplog.text]
    assert all(wrong_key not in text for text in shown)


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    with pytest.raises(ProviderNotConfigured, match="ACME_API_KEY"):
        Gateway(store="memory://").providers.get("acmepay")
    monkeypatch.setenv("ACME_API_KEY", API_KEY)
    monkeypatch.setenv("ACME_API_BASE", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("ACME_WEBHOOK_SECRET", f"whsec_b3RoZXIta2V5, {WEBHOOK_SECRET}")
    provider = Gateway().providers.get("acmepay")
    assert isinstance(provider, AcmeProvider)
    assert str(provider.http.base_url) == "http://127.0.0.1:9999/v1/"
    assert len(provider.webhooks.secrets) == 2
    with pytest.raises(ProviderNotConfigured, match="start with ak_"):
        AcmeProvider(api_key="pk_test_publishable")


def test_webhooks_sent_by_acme_are_verified_and_unified(
    acme: AcmeProvider, fake_acme: FakeAcmePay
) -> None:
    with Gateway(providers=[acme], load_installed=False) as gateway:
        payment = gateway.create_payment(
            provider="acmepay", amount=800, currency="GBP", payment_method="tok_acme_success"
        )
        refund = gateway.refund_payment(payment.id)
        refunded = gateway.retrieve_payment(payment.id)
    event = acme.verify_webhook(*fake_acme.delivery("refund.succeeded", refund.provider_refund_id))
    assert event.type is WebhookEventType.REFUND_SUCCEEDED
    assert event.refund == refund
    paid = acme.verify_webhook(*fake_acme.delivery("charge.paid", payment.provider_payment_id))
    assert (paid.type, paid.payment) == (WebhookEventType.PAYMENT_SUCCEEDED, refunded)
    other = acme.verify_webhook(*fake_acme.delivery("charge.disputed", payment.provider_payment_id))
    assert (other.type, other.provider_type) == (WebhookEventType.OTHER, "charge.disputed")


def test_webhooks_need_the_right_secret(acme: AcmeProvider, fake_acme: FakeAcmePay) -> None:
    with Gateway(providers=[acme], load_installed=False) as gateway:
        payment = gateway.create_payment(
            provider="acmepay", amount=900, currency="USD", payment_method="tok_acme_success"
        )
    body, headers = fake_acme.delivery("charge.paid", payment.provider_payment_id)
    with pytest.raises(WebhookVerificationError, match="ACME_WEBHOOK_SECRET"):
        AcmeProvider(api_key=API_KEY).verify_webhook(body, headers)
    other_secret = AcmeProvider(api_key=API_KEY, webhook_secrets=["whsec_b3RoZXIta2V5"])
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        other_secret.verify_webhook(body, headers)
    rolling = AcmeProvider(api_key=API_KEY, webhook_secrets=["whsec_b3RoZXIta2V5", WEBHOOK_SECRET])
    assert rolling.verify_webhook(body, headers).type is WebhookEventType.PAYMENT_SUCCEEDED
