"""Stripe's exceptions as unipay's, with Stripe's request id, code and ``param`` kept.

Retries belong to the gateway (it retries what is ``retriable`` with the same idempotency key), so
the SDK's own retries are switched off and every transient failure becomes ``ProviderUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import stripe

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

#: Stripe error codes that mean "the payment is in the wrong state for this".
_STATE_CODES = frozenset(
    {
        "payment_intent_unexpected_state",
        "charge_already_captured",
        "charge_already_refunded",
        "charge_expired_for_capture",
    }
)


def translate(
    error: stripe.StripeError,
    *,
    provider: str,
    redact: Callable[[str], str],
    payment_from: Callable[[Mapping[str, Any]], Payment],
) -> UnipayError:
    """The unipay error for a Stripe error. ``redact`` scrubs secrets from Stripe's message."""
    body = _error_body(error)
    code = error.code or body.get("code")
    message = redact(f"Stripe: {error.user_message or 'no message'}")
    common: dict[str, Any] = {
        "provider": provider,
        "provider_code": code,
        "request_id": error.request_id,
    }
    if isinstance(error, stripe.CardError):
        intent = body.get("payment_intent")
        return PaymentDeclined(
            message,
            decline_code=str(body.get("decline_code") or code or "card_declined"),
            payment=payment_from(intent) if isinstance(intent, Mapping) else None,
            **common,
        )
    if isinstance(error, stripe.IdempotencyError):
        return IdempotencyKeyReused(message, **common)
    if isinstance(error, stripe.InvalidRequestError):
        param = error.param or body.get("param")
        if code == "resource_missing" or error.http_status == 404:
            return PaymentNotFound(message, param=param or "payment_id", **common)
        if code in _STATE_CODES:
            return InvalidPaymentState(message, param=param or "payment_id", **common)
        return InvalidRequest(message, param=param, code=code, **common)
    if isinstance(error, stripe.AuthenticationError):
        return AuthenticationFailed(
            redact(f"{message} Check the configured Stripe secret key."), **common
        )
    if isinstance(error, stripe.PermissionError):
        return PermissionDenied(message, **common)
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError):
        return ProviderUnavailable(message, **common)
    if code == "idempotency_key_in_use":
        return IdempotencyInProgress(message, **common)
    status = error.http_status or 0
    if status >= 500 or status == 409:
        # Stripe says when a retry would be pointless (e.g. the failure is deterministic).
        should_retry = (error.headers or {}).get("Stripe-Should-Retry", "true") != "false"
        return ProviderUnavailable(message, retriable=should_retry, **common)
    return ProviderError(message, **common)


def _error_body(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        inner: Mapping[str, Any] = body["error"]
        return inner
    return {}
