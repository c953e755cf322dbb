"""Acme Pay's error answers as unipay exceptions.

Acme Pay answers an error with an HTTP status and ``{"error": {"type", "message", ...}}``. The
gateway decides what to retry from the exception class alone (``ProviderUnavailable`` is retried
with the same idempotency key), so this mapping is what makes the provider retry-safe. Messages
pass through ``redact``: Acme Pay repeats a rejected API key in its 401 message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

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
from unipay.models import Payment

REQUEST_ID_HEADER = "Acme-Request-Id"

Redact = Callable[[str], str]
ReadCharge = Callable[[Mapping[str, Any]], Payment]


def from_response(
    provider: str, response: httpx.Response, *, redact: Redact, read_charge: ReadCharge
) -> UnipayError:
    """The exception for an error answer (status 400 and above)."""
    error = _error_object(response)
    message = redact(str(error.get("message") or f"Acme Pay answered {response.status_code}."))
    kind = str(error.get("type") or "")
    context: dict[str, Any] = {
        "provider": provider,
        "provider_code": kind or None,
        "request_id": response.headers.get(REQUEST_ID_HEADER),
    }
    status = response.status_code
    if status == 402 and kind == "card_declined":
        charge = error.get("charge")
        return PaymentDeclined(
            message,
            decline_code=str(error.get("decline_code") or "generic_decline"),
            payment=read_charge(charge) if isinstance(charge, Mapping) else None,
            **context,
        )
    if status == 400:
        return InvalidRequest(message, param=error.get("param"), **context)
    if status == 404:
        return PaymentNotFound(message, **context)
    if status == 409 and kind == "idempotency_in_progress":
        return IdempotencyInProgress(message, **context)
    if status == 409:
        return InvalidPaymentState(message, **context)
    if status == 422 and kind == "idempotency_conflict":
        return IdempotencyKeyReused(message, **context)
    if status == 401:
        return AuthenticationFailed(message, **context)
    if status == 403:
        return PermissionDenied(message, **context)
    if status == 429 or status >= 500:
        return ProviderUnavailable(message, **context)
    return ProviderError(message, **context)


def unavailable(provider: str, error: httpx.TransportError) -> ProviderUnavailable:
    """Network trouble: whether the request took effect is unknown, so it is retried (same key)."""
    return ProviderUnavailable(
        f"Acme Pay could not be reached ({type(error).__name__}); retry with the same key.",
        provider=provider,
    )


def _error_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}
