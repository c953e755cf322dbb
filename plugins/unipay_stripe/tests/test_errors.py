"""Every Stripe error, as Stripe sends it over HTTP, becomes the unipay error the issue lists;
and transient failures are retried by the gateway with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from unipay import AsyncGateway, Gateway, RetryPolicy
from unipay._flow import arun, run
from unipay.errors import (
    AuthenticationFailed,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
)
from unipay.models import CreatePaymentRequest, PaymentStatus
from unipay.provider import CallContext
from unipay_stripe import StripeProvider

from .conftest import API_KEY
from .fake_stripe import FakeStripe, fixture

REQUEST = CreatePaymentRequest(
    provider="stripe", amount=2000, currency="USD", payment_method="pm_card_chargeDeclined"
)
NO_WAIT = RetryPolicy(attempts=3, base_delay=0, max_delay=0)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url="https://api.stripe.com", assert_all_called=False) as mock:
        yield mock


@pytest.fixture(params=["sync", "async"])
def create(request: pytest.FixtureRequest, router: respx.MockRouter) -> Iterator[Any]:
    """``create()`` runs the provider's create_payment flow once, as the sync or the async face
    performs it (no gateway, so no retries: each error is the provider's own)."""
    provider = StripeProvider(api_key=API_KEY)
    ctx = CallContext("key-1")
    if request.param == "sync":
        yield lambda: run(provider.create_payment(REQUEST, ctx))
    else:
        yield lambda: asyncio.run(arun(provider.create_payment(REQUEST, ctx)))
    provider.close()


def _reply(router: respx.MockRouter, status: int, body: dict[str, Any], **headers: str) -> None:
    router.post("/v1/payment_intents").respond(
        status, json=body, headers={"Request-Id": "req_Ab1cD2eF3gH4iJ", **headers}
    )


def test_card_error_is_a_decline_with_code_and_payment(
    router: respx.MockRouter, create: Any
) -> None:
    body = fixture("error_card_declined")
    intent = fixture("payment_intent")
    last_error = {"code": "card_declined", "decline_code": "generic_decline"}
    intent.update(status="requires_payment_method", amount_received=0, latest_charge=None,
                  last_payment_error=last_error)  # fmt: skip
    body["error"]["payment_intent"] = intent
    _reply(router, 402, body)
    with pytest.raises(PaymentDeclined) as caught:
        create()
    declined = caught.value
    assert declined.decline_code == "generic_decline"
    assert (declined.provider, declined.provider_code) == ("stripe", "card_declined")
    assert declined.request_id == "req_Ab1cD2eF3gH4iJ"
    assert declined.payment is not None
    assert declined.payment.id == f"stripe:{intent['id']}"
    assert declined.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert declined.payment.decline_code == "generic_decline"
    assert "Your card was declined." in declined.message


@pytest.mark.parametrize(
    ("status", "name", "headers", "expected", "retriable"),
    [
        (400, "error_invalid_request", {}, InvalidRequest, False),
        (404, "error_resource_missing", {}, PaymentNotFound, False),
        (400, "error_unexpected_state", {}, InvalidPaymentState, False),
        (400, "error_idempotency", {}, IdempotencyKeyReused, False),
        (401, "error_authentication", {}, AuthenticationFailed, False),
        (403, "error_permission", {}, PermissionDenied, False),
        (429, "error_rate_limit", {}, ProviderUnavailable, True),
        (500, "error_api", {}, ProviderUnavailable, True),
        (503, "error_api", {"Stripe-Should-Retry": "false"}, ProviderUnavailable, False),
        (402, "error_api", {}, PaymentDeclined, False),
    ],
)
def test_error_mapping(
    router: respx.MockRouter,
    create: Any,
    status: int,
    name: str,
    headers: dict[str, str],
    expected: type[UnipayError],
    retriable: bool,
) -> None:
    _reply(router, status, fixture(name), **headers)
    with pytest.raises(expected) as caught:
        create()
    error = caught.value
    assert type(error) is expected
    assert error.retriable is retriable
    assert error.request_id == "req_Ab1cD2eF3gH4iJ"
    assert error.provider == "stripe"
    assert error.message.startswith("Stripe: ")


def test_invalid_request_carries_param_and_code(router: respx.MockRouter, create: Any) -> None:
    _reply(router, 400, fixture("error_invalid_request"))
    with pytest.raises(InvalidRequest) as caught:
        create()
    assert (caught.value.param, caught.value.code) == ("amount", "parameter_invalid_integer")
    assert "Invalid integer" in caught.value.message


def test_concurrent_use_of_a_key_is_in_progress(router: respx.MockRouter, create: Any) -> None:
    message = "There is currently another in-progress request using this key."
    body = {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use",
                      "message": message}}  # fmt: skip
    _reply(router, 409, body)
    with pytest.raises(IdempotencyInProgress) as caught:
        create()
    assert caught.value.retriable


def test_unknown_error_shape_is_a_provider_error(router: respx.MockRouter, create: Any) -> None:
    _reply(router, 418, {"error": {"type": "api_error", "message": "I'm a teapot"}})
    with pytest.raises(ProviderError) as caught:
        create()
    assert type(caught.value) is ProviderError
    assert not caught.value.retriable


def test_connection_error_is_retriable(router: respx.MockRouter, create: Any) -> None:
    router.post("/v1/payment_intents").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderUnavailable) as caught:
        create()
    assert caught.value.retriable
    assert router.calls.call_count == 1, "the SDK must not retry underneath the gateway"


# --- retries through the gateway, with the same key ----------------------------------------------


@pytest.mark.parametrize(
    ("failure", "after_work"),
    [(None, False), (500, False), (503, False), (429, False), (None, True), (500, True)],
)
def test_gateway_retries_transient_failures_with_the_same_key(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider, failure: int | None, after_work: bool
) -> None:
    fake_stripe.fail_next(failure, after_work=after_work)
    gateway = Gateway(providers=[stripe_provider], load_installed=False, retry=NO_WAIT)
    payment = gateway.create_payment(
        provider="stripe", amount=2000, currency="USD", payment_method="pm_card_visa",
        idempotency_key="retry-me",
    )  # fmt: skip
    sent = fake_stripe.mutations("/v1/payment_intents")
    assert len(sent) == 2
    assert {r.headers["Idempotency-Key"] for r in sent} == {"retry-me"}
    assert len(fake_stripe.intents) == 1, "one payment intent at Stripe, however many attempts"
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.provider_payment_id in fake_stripe.intents


async def test_async_gateway_retries_with_the_same_key(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    fake_stripe.fail_next(None, after_work=True)
    fake_stripe.fail_next(502)
    async with AsyncGateway(providers=[stripe_provider], load_installed=False, retry=NO_WAIT) as gw:
        payment = await gw.create_payment(
            provider="stripe", amount=2000, currency="USD", payment_method="pm_card_visa",
            idempotency_key="retry-async",
        )  # fmt: skip
    sent = fake_stripe.mutations("/v1/payment_intents")
    assert [r.headers["Idempotency-Key"] for r in sent] == ["retry-async"] * 3
    assert list(fake_stripe.intents) == [payment.provider_payment_id]


def test_retries_give_up_after_the_policy_attempts(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider
) -> None:
    for _ in range(3):
        fake_stripe.fail_next(500)
    gateway = Gateway(providers=[stripe_provider], load_installed=False, retry=NO_WAIT)
    with pytest.raises(ProviderUnavailable):
        gateway.create_payment(
            provider="stripe", amount=2000, currency="USD", payment_method="pm_card_visa"
        )
    assert len(fake_stripe.requests) == 3
    assert fake_stripe.intents == {}


def test_declines_are_not_retried(fake_stripe: FakeStripe, stripe_provider: StripeProvider) -> None:
    gateway = Gateway(providers=[stripe_provider], load_installed=False, retry=NO_WAIT)
    with pytest.raises(PaymentDeclined) as caught:
        gateway.create_payment(
            provider="stripe", amount=2000, currency="USD",
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
        )  # fmt: skip
    assert caught.value.decline_code == "insufficient_funds"
    assert len(fake_stripe.requests) == 1
