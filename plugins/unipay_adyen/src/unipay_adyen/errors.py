"""Adyen's error answers as unipay's errors, with ``retriable`` set as Adyen's docs say.

An error answer is a ``ServiceError`` (``status``, ``errorCode``, ``message``, ``errorType``,
``pspReference``) with the HTTP status (https://docs.adyen.com/development-resources/
response-handling and /error-codes). ``retriable`` means "send the very same call again, with the
same idempotency key": true for 5xx, 429 and a request still in progress (704 with
``transient-error: true``), false for everything a retry cannot fix (401, 403, 400, 422).
docs/providers/adyen.md shows the same table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from unipay.errors import (
    AuthenticationFailed,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    PaymentNotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
)

#: ``errorCode`` 167: "Original pspReference required for this operation": the payment named in
#: a modification's path is not one Adyen knows (as Adyen's own libraries' tests show it).
UNKNOWN_PAYMENT = "167"
#: ``errorCode`` 704: "request already processed or in progress" (same idempotency key).
KEY_IN_USE = "704"
#: Validation error codes that name the parameter to fix.
PARAMS = {"100": "amount", "137": "amount", "138": "currency", "177": "metadata"}


def translate(
    response: httpx.Response, *, provider: str, redact: Callable[[str], str]
) -> UnipayError:
    """The unipay error for an Adyen error answer. ``redact`` scrubs secrets from Adyen's text."""
    body = _service_error(response)
    status = response.status_code
    code = _text(body, "errorCode")
    message = redact(f"Adyen: {_text(body, 'message') or response.reason_phrase or status}")
    if code:
        message += f" (errorCode {code})"
    common: dict[str, Any] = {
        "provider": provider,
        "provider_code": code,
        "request_id": _text(body, "pspReference"),
    }
    if code == KEY_IN_USE:
        if response.headers.get("transient-error", "").lower() == "true":
            return IdempotencyInProgress(message, **common)
        return IdempotencyKeyReused(message, **common)
    if status == 401:
        return AuthenticationFailed(f"{message} Check ADYEN_API_KEY.", **common)
    if status == 403:
        return PermissionDenied(
            f"{message} The API credential lacks a role for this call.", **common
        )
    if status == 429 or status >= 500:
        return ProviderUnavailable(message, **common)
    if status == 422 and code == UNKNOWN_PAYMENT:
        return PaymentNotFound(message, param="payment_id", **common)
    if status in (400, 422):
        return InvalidRequest(
            message, param=PARAMS.get(code or ""), code=f"adyen_{code or status}", **common
        )
    if status == 404:
        return ProviderError(
            f"{message} No such Adyen endpoint: check ADYEN_ENVIRONMENT and, for live, "
            "ADYEN_LIVE_URL_PREFIX.",
            **common,
        )
    return ProviderError(message, **common)


def _service_error(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    return str(value)[:200] if isinstance(value, str | int) and value != "" else None
