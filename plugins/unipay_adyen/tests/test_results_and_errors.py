"""Adyen's result codes, refusal reasons and error answers, as unipay's statuses and errors.

The tables are docs/providers/adyen.md's; ``retriable`` says whether the very same call (same
idempotency key) is worth sending again.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from unipay import Gateway
from unipay.errors import (
    AuthenticationFailed,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
)
from unipay.idempotency import RetryPolicy
from unipay.models import CaptureMethod, Payment, PaymentStatus
from unipay_adyen import AdyenProvider
from unipay_adyen.errors import translate
from unipay_adyen.mapping import RESULT_STATUS, decline_code, read_result

from .conftest import API_KEY
from .fake_adyen import FakeAdyen, validate

SHOPPER = "shopper-4242"


def base(capture: CaptureMethod = CaptureMethod.AUTOMATIC) -> Payment:
    return Payment(
        provider="adyen",
        provider_payment_id="unipay-0123",
        status=PaymentStatus.PROCESSING,
        amount=1000,
        currency="EUR",
        capture_method=capture,
    )


@pytest.mark.parametrize(
    ("answer", "capture", "status"),
    [
        ({"resultCode": "Authorised"}, CaptureMethod.AUTOMATIC, PaymentStatus.SUCCEEDED),
        ({"resultCode": "Authorised"}, CaptureMethod.MANUAL, PaymentStatus.REQUIRES_CAPTURE),
        ({"resultCode": "Pending"}, CaptureMethod.AUTOMATIC, PaymentStatus.PROCESSING),
        ({"resultCode": "Received"}, CaptureMethod.AUTOMATIC, PaymentStatus.PROCESSING),
        ({"resultCode": "Cancelled"}, CaptureMethod.AUTOMATIC, PaymentStatus.CANCELED),
        (
            {
                "resultCode": "Refused",
                "refusalReason": "Not enough balance",
                "refusalReasonCode": "12",
            },
            CaptureMethod.AUTOMATIC,
            PaymentStatus.REQUIRES_PAYMENT_METHOD,
        ),
        (
            {
                "resultCode": "RedirectShopper",
                "action": {"type": "redirect", "method": "GET", "url": "https://bank.example/3ds"},
            },
            CaptureMethod.AUTOMATIC,
            PaymentStatus.REQUIRES_ACTION,
        ),
        (
            {"resultCode": "IdentifyShopper", "action": {"type": "threeDS2", "token": "eyJ0"}},
            CaptureMethod.AUTOMATIC,
            PaymentStatus.REQUIRES_ACTION,
        ),
        (
            {"resultCode": "ChallengeShopper", "action": {"type": "threeDS2", "token": "eyJ0"}},
            CaptureMethod.MANUAL,
            PaymentStatus.REQUIRES_ACTION,
        ),
    ],
)
def test_result_codes(
    answer: dict[str, Any], capture: CaptureMethod, status: PaymentStatus
) -> None:
    answer = {"pspReference": "QFQTPCQ8HXSKGK82", **answer}
    validate("PaymentResponse", answer)
    payment = read_result("adyen", answer, base(capture), return_url="https://shop.example/r")
    assert payment.status is status
    assert payment.provider_payment_id == "QFQTPCQ8HXSKGK82"
    assert payment.amount_received == (1000 if status is PaymentStatus.SUCCEEDED else 0)
    assert payment.amount_capturable == (1000 if status is PaymentStatus.REQUIRES_CAPTURE else 0)
    if status is PaymentStatus.REQUIRES_ACTION:
        assert payment.next_action is not None
        assert payment.next_action.return_url == "https://shop.example/r"
    else:
        assert payment.next_action is None
    if status is PaymentStatus.REQUIRES_PAYMENT_METHOD:
        assert payment.decline_code == "insufficient_funds"


@pytest.mark.parametrize(
    ("code", "action", "kind", "url"),
    [
        (
            "RedirectShopper",
            {"type": "redirect", "method": "GET", "url": "https://bank.example/a"},
            "redirect_to_url",
            "https://bank.example/a",
        ),
        (
            "RedirectShopper",
            {"type": "redirect", "method": "POST", "url": "https://acs.example/b", "data": {}},
            "adyen_redirect",  # a form post: not a link to follow
            "https://acs.example/b",
        ),
        ("IdentifyShopper", {"type": "threeDS2", "token": "eyJ0"}, "three_d_secure", None),
        (
            "ChallengeShopper",
            {"type": "threeDS2", "subtype": "challenge", "token": "eyJ0"},
            "three_d_secure",
            None,
        ),
        ("PresentToShopper", {"type": "voucher", "url": "https://v.example/1"}, "adyen_voucher",
         "https://v.example/1"),
    ],
)  # fmt: skip
def test_actions_are_named_by_kind_and_carried_whole(
    code: str, action: dict[str, Any], kind: str, url: str | None
) -> None:
    """``data`` is Adyen's action as it came: what Drop-in's ``handleAction`` takes."""
    answer = {"resultCode": code, "action": action}
    validate("PaymentResponse", answer)
    found = read_result("adyen", answer, base(), return_url="https://shop.example/r").next_action
    assert found is not None
    assert (found.type, found.redirect_url, found.data) == (kind, url, action)
    assert found.return_url == "https://shop.example/r"


def test_an_error_result_and_an_unknown_one_are_provider_errors() -> None:
    with pytest.raises(ProviderError, match="Acquirer Error") as error:
        read_result("adyen", {"resultCode": "Error", "refusalReason": "Acquirer Error"}, base())
    assert not error.value.retriable
    with pytest.raises(ProviderError, match="does not know"):
        read_result("adyen", {"resultCode": "SomethingNew"}, base())
    assert set(RESULT_STATUS) <= {
        "AuthenticationFinished", "AuthenticationNotRequired", "Authorised", "Cancelled",
        "ChallengeShopper", "Error", "IdentifyShopper", "PartiallyAuthorised", "Pending",
        "PresentToShopper", "Received", "RedirectShopper", "Refused", "Success",
    }, "every result code mapped is one of v71's PaymentResponse.resultCode"  # fmt: skip


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        ("2", "Refused", "card_declined"),
        ("12", "Not enough balance", "insufficient_funds"),
        ("6", "Expired Card", "expired_card"),
        ("24", "CVC Declined", "incorrect_cvc"),
        ("11", "3D Not Authenticated", "authentication_required"),
        (None, "Not enough balance", "insufficient_funds"),  # notifications: the text only
        (None, "FRAUD-CANCELLED", "fraudulent"),
        (None, "CVC Declined: the code is wrong", "incorrect_cvc"),
        ("99", "Something new", "generic_decline"),
        (None, None, "generic_decline"),
    ],
)
def test_refusal_reasons(code: str | None, reason: str | None, expected: str) -> None:
    assert decline_code(code, reason) == expected


@pytest.mark.parametrize(
    ("token", "decline"),
    [("tok_decline", "card_declined"), ("insufficient_funds", "insufficient_funds")],
)
def test_a_refusal_raises_payment_declined_with_the_payment(
    adyen_provider: AdyenProvider, fake_adyen: FakeAdyen, token: str, decline: str
) -> None:
    gateway = Gateway(providers=[adyen_provider], load_installed=False)
    with pytest.raises(PaymentDeclined) as caught:
        gateway.create_payment(
            provider="adyen", amount=700, currency="EUR", payment_method=f"{SHOPPER}:{token}"
        )
    declined = caught.value
    assert declined.decline_code == decline and not declined.retriable
    assert declined.payment is not None
    assert declined.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert declined.provider_code in ("2", "12") and declined.request_id
    assert gateway.stored_payment(declined.payment.id) == declined.payment


def error(status: int, code: str, message: str = "msg", **headers: str) -> httpx.Response:
    body = {"status": status, "errorCode": code, "message": message, "errorType": "validation"}
    validate("ServiceError", body)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "kind", "retriable", "param"),
    [
        (error(401, "000", "Unauthorized"), AuthenticationFailed, False, None),
        (error(403, "010", "Not allowed"), PermissionDenied, False, None),
        (error(400, "702", "Structure is invalid"), InvalidRequest, False, None),
        (error(422, "137", "Invalid amount specified"), InvalidRequest, False, "amount"),
        (error(422, "138", "Unsupported currency specified"), InvalidRequest, False, "currency"),
        (error(422, "167", "Original pspReference required"), PaymentNotFound, False, "payment_id"),
        (
            error(422, "704", "request already processed or in progress"),
            IdempotencyKeyReused,
            False,
            None,
        ),
        (
            error(
                409,
                "704",
                "request already processed or in progress",
                **{"transient-error": "true"},
            ),
            IdempotencyInProgress,
            True,
            None,
        ),
        (error(429, "000", "Too many requests"), ProviderUnavailable, True, None),
        (error(500, "905", "Internal error"), ProviderUnavailable, True, None),
        (error(503, "000", "Unavailable"), ProviderUnavailable, True, None),
        (error(404, "000", "Not found"), ProviderError, False, None),
        (httpx.Response(502, text="<html>bad gateway</html>"), ProviderUnavailable, True, None),
    ],
)
def test_error_answers(
    response: httpx.Response, kind: type[UnipayError], retriable: bool, param: str | None
) -> None:
    translated = translate(response, provider="adyen", redact=lambda text: text)
    assert type(translated) is kind
    assert translated.retriable is retriable
    assert getattr(translated, "param", None) == param
    assert translated.provider == "adyen"


def test_a_key_echoed_by_adyen_is_never_shown(
    adyen_provider: AdyenProvider, fake_adyen: FakeAdyen
) -> None:
    fake_adyen.fail_next = (
        422,
        {
            "status": 422,
            "errorCode": "000",
            "message": f"bad key {API_KEY}",
            "errorType": "validation",
        },
        {},
    )
    gateway = Gateway(providers=[adyen_provider], load_installed=False)
    with pytest.raises(InvalidRequest) as refused:
        gateway.create_payment(
            provider="adyen", amount=100, currency="EUR", payment_method=f"{SHOPPER}:tok_success"
        )
    assert API_KEY not in str(refused.value) and "[redacted]" in str(refused.value)
    assert API_KEY not in repr(refused.value) and API_KEY not in str(refused.value.to_dict())


def test_a_wrong_api_key_is_not_retried(fake_adyen: FakeAdyen) -> None:
    provider = AdyenProvider(
        api_key="AQE-wrong-key", merchant_account="UnipayTestECOM", return_url="https://x.example"
    )
    gateway = Gateway(
        providers=[provider], load_installed=False, retry=RetryPolicy(attempts=3, base_delay=0)
    )
    with pytest.raises(AuthenticationFailed, match="ADYEN_API_KEY") as refused:
        gateway.create_payment(
            provider="adyen", amount=100, currency="EUR", payment_method=f"{SHOPPER}:tok_success"
        )
    assert len(fake_adyen.requests) == 1
    assert "AQE-wrong-key" not in str(refused.value)
