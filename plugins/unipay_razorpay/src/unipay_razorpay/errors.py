"""Razorpay's error answers as unipay's errors.

Razorpay answers a refused call with ``{"error": {"code", "description", "field", "source",
"step", "reason", "metadata"}}`` (docs: errors). ``code`` is one of BAD_REQUEST_ERROR,
GATEWAY_ERROR and SERVER_ERROR, and most refusals are HTTP 400, whatever the cause: an unknown id
("The id provided does not exist") and a payment in the wrong state ("This payment has already
been captured") included. So the HTTP status decides what is transient and the description, the
only text that tells those apart, decides the rest; each match is a phrase of Razorpay's
reference, listed here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from unipay.errors import (
    AuthenticationFailed,
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentNotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
)

#: Phrases of Razorpay's error descriptions (lower case) and what they mean.
_NOT_FOUND = ("does not exist", "is not a valid id", "no db records found")
_WRONG_STATE = (
    "already been captured",
    "order is already paid",
    "not in authorized state",
    "only payments which have been authorized",
    "fully refunded already",
    "payment has been refunded",
)
_TOO_MUCH = ("greater than amount captured", "greater than the refundable amount")
_AUTHENTICATION = ("api key provided is invalid", "authentication failed", "api key/secret")
_KEY_REUSED = "different request with the same idempotency key"

#: What a caller can do about a transient failure without idempotency keys to lean on.
_RETRY = "unipay looks the call up before anything is sent again"


def error_body(response: httpx.Response) -> Mapping[str, Any]:
    """The ``error`` object of a refusal, or an empty one when the body is not Razorpay's."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def translate(
    response: httpx.Response, *, provider: str, redact: Callable[[str], str]
) -> UnipayError:
    """The unipay error for a non-2xx answer. ``redact`` strips the key secret from Razorpay's
    text, should it ever be echoed."""
    error = error_body(response)
    code = _text(error.get("code")) or None
    reason = _text(error.get("reason"))
    provider_code = reason if reason and reason != "NA" else code
    description = redact(_text(error.get("description")) or f"HTTP {response.status_code}")
    text = description.lower()
    field = _text(error.get("field")) or None
    status = response.status_code
    said = f"Razorpay: {description}"
    common: dict[str, Any] = {"provider": provider, "provider_code": provider_code}
    if status == 401 or any(phrase in text for phrase in _AUTHENTICATION):
        return AuthenticationFailed(
            f"{said} Check RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET (a key pair from the same "
            "mode: test keys start with rzp_test_).",
            **common,
        )
    if status == 403:
        return PermissionDenied(said, **common)
    if status == 429:
        # Refused before anything was done: a plain retry is safe even without a key.
        return ProviderUnavailable(
            f"{said} (rate limited); unipay retries after a pause.",
            request_sent=False,
            **common,
        )
    if status == 409 and _KEY_REUSED in text:
        return IdempotencyKeyReused(said, **common)
    if status >= 500 or status == 409 or code in ("SERVER_ERROR", "GATEWAY_ERROR"):
        return ProviderUnavailable(f"{said}; {_RETRY}.", **common)
    if any(phrase in text for phrase in _NOT_FOUND):
        return PaymentNotFound(said, param=field, **common)
    if any(phrase in text for phrase in _WRONG_STATE):
        return InvalidPaymentState(said, **common)
    if any(phrase in text for phrase in _TOO_MUCH):
        return InvalidRequest(said, param=field or "amount", code="amount_too_large", **common)
    if status in (400, 404, 422):
        return InvalidRequest(said, param=field, **common)
    return ProviderError(said, **common)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
