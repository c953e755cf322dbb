"""What unipay-adyen sends: bodies valid against Adyen's v71 schemas, keys, references, methods.

The fake validates every request against the schema fixtures (``fake_adyen.validate``), so every
test here also checks that; these tests pin the bodies themselves and what is refused before any
request.
"""

from __future__ import annotations

import json

import pytest

from unipay import Gateway
from unipay.errors import InvalidRequest, UnsupportedOperation
from unipay.idempotency import IdempotencyPolicy, RetryPolicy
from unipay_adyen import AdyenProvider
from unipay_adyen.provider import adyen_key

from .conftest import API_KEY, MERCHANT_ACCOUNT, RETURN_URL, make_provider
from .fake_adyen import FakeAdyen, validate

TOKEN = "shopper-4242:8415718415172204"
#: What Adyen's Drop-in hands the browser for a card: encrypted fields only.
CARD = {
    "type": "scheme",
    "encryptedCardNumber": "adyenjs_0_1_25$XUyMJyHebrra/TpSda9fha",
    "encryptedExpiryMonth": "adyenjs_0_1_25$ZtLsgv3KyIpThjh2D2W",
    "encryptedExpiryYear": "adyenjs_0_1_25$KnMfkkN3TOxW7xwAVeN",
    "encryptedSecurityCode": "adyenjs_0_1_25$CZSBFI5MVzoZf4X2VbL",
    "holderName": "J. Smith",
}


@pytest.fixture
def gateway(adyen_provider: AdyenProvider) -> Gateway:
    return Gateway(providers=[adyen_provider], load_installed=False)


def sent(fake: FakeAdyen, index: int = -1) -> tuple[str, dict[str, object], dict[str, str]]:
    path, body, headers = fake.requests[index]
    return path, body, dict(headers)


def test_a_stored_method_is_a_merchant_initiated_card_on_file_payment(
    gateway: Gateway, fake_adyen: FakeAdyen
) -> None:
    payment = gateway.create_payment(
        provider="adyen",
        amount=1299,
        currency="EUR",
        payment_method=TOKEN,
        customer_email="buyer@example.com",
        description="Order 42",
        metadata={"order": "42"},
        idempotency_key="key-1",
    )
    path, body, headers = sent(fake_adyen)
    assert path == "/v71/payments"
    assert body == {
        "amount": {"value": 1299, "currency": "EUR"},
        "merchantAccount": MERCHANT_ACCOUNT,
        "paymentMethod": {"type": "scheme", "storedPaymentMethodId": "8415718415172204"},
        "reference": body["reference"],
        "returnUrl": RETURN_URL,
        "shopperReference": "shopper-4242",
        "shopperInteraction": "ContAuth",
        "recurringProcessingModel": "UnscheduledCardOnFile",
        "captureDelayHours": 0,
        "metadata": {"order": "42"},
        "shopperEmail": "buyer@example.com",
    }
    # unipay's merchant reference and key: the same for every attempt of the call.
    assert isinstance(body["reference"], str) and body["reference"].startswith("unipay-")
    assert headers["idempotency-key"] == "key-1"
    assert headers["x-api-key"] == API_KEY
    assert headers["content-type"] == "application/json"
    assert payment.payment_method == TOKEN and payment.description == "Order 42"


def test_a_drop_in_payment_method_passes_through_with_manual_capture(
    gateway: Gateway, fake_adyen: FakeAdyen
) -> None:
    payment = gateway.create_payment(
        provider="adyen",
        amount=500,
        currency="EUR",
        payment_method=CARD,
        capture_method="manual",
        return_url="https://shop.example/this-order",
    )
    _, body, _ = sent(fake_adyen)
    assert body["paymentMethod"] == dict(sorted(CARD.items()))
    assert body["additionalData"] == {"manualCapture": "true"}
    assert body["metadata"] == {"unipay_capture": "manual"}
    assert body["returnUrl"] == "https://shop.example/this-order"
    assert "shopperReference" not in body and "captureDelayHours" not in body
    # The marker is the plugin's: the payment shows the caller's own metadata only.
    assert payment.metadata == {} and payment.payment_method is None


def test_every_modification_carries_the_key_the_reference_and_the_account(
    gateway: Gateway, fake_adyen: FakeAdyen
) -> None:
    held = gateway.create_payment(
        provider="adyen", amount=3000, currency="EUR", payment_method=TOKEN, capture_method="manual"
    )
    gateway.capture_payment(held.id, amount=2500, idempotency_key="capture-1")
    path, body, headers = sent(fake_adyen)
    assert path == f"/v71/payments/{held.provider_payment_id}/captures"
    assert body == {
        "amount": {"value": 2500, "currency": "EUR"},
        "merchantAccount": MERCHANT_ACCOUNT,
        "reference": body["reference"],
    }
    assert headers["idempotency-key"] == "capture-1"
    paid = gateway.create_payment(
        provider="adyen", amount=800, currency="EUR", payment_method=TOKEN
    )
    gateway.refund_payment(paid.id, amount=300, reason="requested_by_customer")
    path, body, _ = sent(fake_adyen)
    assert path == f"/v71/payments/{paid.provider_payment_id}/refunds"
    assert body["amount"] == {"value": 300, "currency": "EUR"}
    assert body["merchantRefundReason"] == "CUSTOMER REQUEST"
    other = gateway.create_payment(
        provider="adyen", amount=900, currency="EUR", payment_method=TOKEN, capture_method="manual"
    )
    gateway.cancel_payment(other.id, reason="abandoned")
    path, body, _ = sent(fake_adyen)
    assert path == f"/v71/payments/{other.provider_payment_id}/cancels"
    assert set(body) == {"merchantAccount", "reference"}
    references = [b["reference"] for _, b, _ in fake_adyen.requests]
    assert len(set(references)) == len(references), "each call has its own merchant reference"


def test_a_long_idempotency_key_is_hashed_to_adyens_64_characters(
    gateway: Gateway, fake_adyen: FakeAdyen
) -> None:
    key = "k" * 200
    first = gateway.create_payment(
        provider="adyen", amount=100, currency="EUR", payment_method=TOKEN, idempotency_key=key
    )
    _, _, headers = sent(fake_adyen)
    assert headers["idempotency-key"] == adyen_key(key) and len(adyen_key(key)) == 64
    assert adyen_key("short-key") == "short-key"
    # Another store (a lost record): the same key reaches Adyen, which answers the same payment.
    again = Gateway(providers=[gateway.providers.get("adyen")], load_installed=False)
    second = again.create_payment(
        provider="adyen", amount=100, currency="EUR", payment_method=TOKEN, idempotency_key=key
    )
    assert second.id == first.id and fake_adyen.processor.replays["create"] == 1


def test_a_retry_after_a_server_error_resends_the_same_key(
    adyen_provider: AdyenProvider, fake_adyen: FakeAdyen
) -> None:
    gateway = Gateway(
        providers=[adyen_provider],
        load_installed=False,
        retry=RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0),
        idempotency=IdempotencyPolicy(),
    )
    fake_adyen.fail_next = (
        500,
        {
            "status": 500,
            "errorCode": "905",
            "message": "Payment details are not supported",
            "errorType": "internal",
        },
        {},
    )
    payment = gateway.create_payment(
        provider="adyen", amount=100, currency="EUR", payment_method=TOKEN
    )
    keys = [headers["Idempotency-Key"] for _, _, headers in fake_adyen.requests]
    references = [body["reference"] for _, body, _ in fake_adyen.requests]
    assert len(keys) == 2 and len(set(keys)) == 1 and len(set(references)) == 1
    assert payment.status.value == "succeeded"


@pytest.mark.parametrize(
    ("method", "fix"),
    [
        ("8415718415172204", "shopperReference"),  # no shopper reference
        ("ab:8415718415172204", "shopperReference"),  # too short a shopper reference
        ("shopper-1:", "shopperReference"),
        ("pm_card_visa", "shopperReference"),  # another provider's token
        ({"type": "scheme", "storedPaymentMethodId": "8415718415172204"}, "server"),
        ({"type": 3}, "string"),
    ],
)
def test_payment_methods_adyen_cannot_take_are_refused_before_any_request(
    gateway: Gateway, fake_adyen: FakeAdyen, method: object, fix: str
) -> None:
    with pytest.raises(InvalidRequest, match=fix) as refused:
        gateway.create_payment(provider="adyen", amount=100, currency="EUR", payment_method=method)  # type: ignore[arg-type]
    assert refused.value.param == "payment_method"
    assert fake_adyen.requests == []


def test_raw_card_numbers_stay_refused(gateway: Gateway, fake_adyen: FakeAdyen) -> None:
    for method in ({"type": "scheme", "number": "4111111111111111"}, "shopper:4111111111111111"):
        with pytest.raises(InvalidRequest) as refused:
            gateway.create_payment(
                provider="adyen", amount=100, currency="EUR", payment_method=method
            )
        assert "4111111111111111" not in str(refused.value)
    assert fake_adyen.requests == []


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(20)}, "capture_method": "manual"}, "metadata"),
        ({"metadata": {"a-key-longer-than-twenty": "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 81}}, "metadata"),
        ({"metadata": {"unipay_capture": "manual"}}, "metadata"),
        ({"payment_method": None}, "payment_method"),
        ({"currency": "IDR", "amount": 150}, "amount"),  # IDR in whole rupiah at Adyen
    ],
)
def test_what_adyen_would_refuse_is_refused_before_any_request(
    gateway: Gateway, fake_adyen: FakeAdyen, options: dict[str, object], param: str
) -> None:
    call = {"provider": "adyen", "amount": 100, "currency": "EUR", "payment_method": TOKEN}
    with pytest.raises(InvalidRequest) as refused:
        gateway.create_payment(**(call | options))  # type: ignore[arg-type]
    assert refused.value.param == param
    assert fake_adyen.requests == []


def test_an_unconfirmed_payment_is_refused_by_the_gateway(
    gateway: Gateway, fake_adyen: FakeAdyen
) -> None:
    """POST /payments attempts the payment: Adyen declares no confirm step."""
    with pytest.raises(UnsupportedOperation):
        gateway.create_payment(
            provider="adyen", amount=100, currency="EUR", payment_method=TOKEN, confirm=False
        )
    assert fake_adyen.requests == []


def test_a_return_url_is_required_by_adyen(fake_adyen: FakeAdyen) -> None:
    gateway = Gateway(providers=[make_provider(return_url=None)], load_installed=False)
    with pytest.raises(InvalidRequest, match="ADYEN_RETURN_URL") as refused:
        gateway.create_payment(provider="adyen", amount=100, currency="EUR", payment_method=TOKEN)
    assert refused.value.param == "return_url" and fake_adyen.requests == []
    payment = gateway.create_payment(
        provider="adyen",
        amount=100,
        currency="EUR",
        payment_method=TOKEN,
        return_url="https://shop.example/r",
    )
    assert payment.status.value == "succeeded"


def test_the_schema_check_can_fail() -> None:
    """The fixtures are strict: what the real API refuses, the fake refuses too."""
    good = {
        "amount": {"value": 100, "currency": "EUR"},
        "merchantAccount": MERCHANT_ACCOUNT,
        "paymentMethod": {"type": "scheme", "storedPaymentMethodId": "8415718415172204"},
        "reference": "unipay-0",
        "returnUrl": RETURN_URL,
    }
    validate("PaymentRequest", good)
    for bad in (
        {k: v for k, v in good.items() if k != "returnUrl"},
        good | {"captureMethod": "manual"},  # no such field in v71
        good | {"amount": {"value": "1.00", "currency": "EUR"}},
        good | {"paymentMethod": {"type": "no-such-method-type"}},
    ):
        with pytest.raises(AssertionError, match="PaymentRequest refuses"):
            validate("PaymentRequest", json.loads(json.dumps(bad)))
    with pytest.raises(AssertionError):
        validate("PaymentCaptureRequest", {"merchantAccount": MERCHANT_ACCOUNT})
