"""Translation between unipay's models and Stripe's JSON, in both directions.

Everything here is pure (no I/O) and shared by the sync and the async path and by webhooks. Stripe
objects are read as mappings: the SDK's ``StripeObject`` is a dict, and webhook payloads are parsed
JSON, so one function serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from unipay.models import (
    CancelPaymentRequest,
    CaptureMethod,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    NextAction,
    Payment,
    PaymentStatus,
    Refund,
    RefundPaymentRequest,
    RefundReason,
    RefundStatus,
    payment_id,
)
from unipay_stripe.currencies import from_stripe_amount, to_stripe_amount

#: Every payment-intent call expands the latest charge: it carries the amount refunded so far.
EXPAND = ["latest_charge"]

Params = dict[str, Any]


# --- requests -------------------------------------------------------------------------------


def create_params(request: CreatePaymentRequest) -> Params:
    params: Params = {
        "amount": to_stripe_amount(request.amount, request.currency),
        "currency": request.currency.lower(),
        "capture_method": request.capture_method.value,
        "confirm": request.confirm,
        "expand": EXPAND,
    }
    if request.payment_method is not None:
        params["payment_method"] = request.payment_method
    if request.customer_email is not None:
        params["receipt_email"] = request.customer_email
    if request.description is not None:
        params["description"] = request.description
    if request.metadata:
        params["metadata"] = dict(request.metadata)
    if request.confirm:
        params.update(_redirects(request.return_url))
    return params


def _redirects(return_url: str | None) -> Params:
    """Without a return URL, Stripe must not pick a redirect-only payment method."""
    if return_url is not None:
        return {"return_url": return_url}
    return {"automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}


def confirm_params(request: ConfirmPaymentRequest) -> Params:
    params: Params = {"expand": EXPAND}
    if request.payment_method is not None:
        params["payment_method"] = request.payment_method
    if request.return_url is not None:
        params["return_url"] = request.return_url
    return params


def capture_params(request: CapturePaymentRequest, currency: str | None) -> Params:
    params: Params = {"expand": EXPAND}
    if request.amount is not None:
        params["amount_to_capture"] = _amount_for(request.amount, currency)
    return params


def cancel_params(request: CancelPaymentRequest) -> Params:
    params: Params = {"expand": EXPAND}
    if request.reason is not None:
        params["cancellation_reason"] = request.reason.value
    return params


def refund_params(
    provider_payment_id: str, request: RefundPaymentRequest, currency: str | None
) -> Params:
    params: Params = {"payment_intent": provider_payment_id}
    if request.amount is not None:
        params["amount"] = _amount_for(request.amount, currency)
    if request.reason is not None:
        params["reason"] = request.reason.value
    if request.metadata:
        params["metadata"] = dict(request.metadata)
    return params


def _amount_for(amount: int, currency: str | None) -> int:
    # The currency is only unknown for a payment this process never saw; Stripe then validates.
    return amount if currency is None else to_stripe_amount(amount, currency)


# --- responses ------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC) if value else datetime.now(UTC)


def _id_of(value: Any) -> str | None:
    """An expandable field: an id string, an expanded object, or null."""
    if isinstance(value, Mapping):
        return str(value["id"])
    return None if value is None else str(value)


def _metadata(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _next_action(intent: Mapping[str, Any]) -> NextAction | None:
    action = intent.get("next_action")
    if not action:
        return None
    redirect = action.get("redirect_to_url") or {}
    return NextAction(
        type=str(action.get("type") or "redirect_to_url"),
        redirect_url=redirect.get("url"),
        return_url=redirect.get("return_url"),
    )


def payment_from_intent(provider: str, intent: Mapping[str, Any]) -> Payment:
    """A Stripe PaymentIntent as a unified Payment.

    ``amount_refunded`` comes from the expanded ``latest_charge``; where the charge is not expanded
    (webhook payloads) it is reported as 0.
    """
    currency = str(intent["currency"]).upper()
    charge = intent.get("latest_charge")
    refunded = charge.get("amount_refunded", 0) if isinstance(charge, Mapping) else 0
    error = intent.get("last_payment_error") or {}
    method = intent.get("capture_method")
    return Payment(
        provider=provider,
        provider_payment_id=str(intent["id"]),
        status=PaymentStatus(intent["status"]),
        amount=from_stripe_amount(int(intent["amount"]), currency),
        currency=currency,
        amount_capturable=from_stripe_amount(int(intent.get("amount_capturable") or 0), currency),
        amount_received=from_stripe_amount(int(intent.get("amount_received") or 0), currency),
        amount_refunded=from_stripe_amount(int(refunded), currency),
        capture_method=CaptureMethod.MANUAL if method == "manual" else CaptureMethod.AUTOMATIC,
        customer_email=intent.get("receipt_email"),
        payment_method=_id_of(intent.get("payment_method")),
        description=intent.get("description"),
        metadata=_metadata(intent.get("metadata")),
        next_action=_next_action(intent),
        decline_code=error.get("decline_code") or error.get("code") if error else None,
        created_at=_timestamp(intent.get("created")),
    )


def payment_from_charge(provider: str, charge: Mapping[str, Any]) -> Payment | None:
    """The payment a Charge belongs to, as far as the charge tells (for ``charge.*`` events)."""
    intent_id = _id_of(charge.get("payment_intent"))
    if intent_id is None:
        return None
    currency = str(charge["currency"]).upper()
    captured = bool(charge.get("captured"))
    amount = int(charge["amount"])
    return Payment(
        provider=provider,
        provider_payment_id=intent_id,
        status=PaymentStatus.SUCCEEDED if captured else PaymentStatus.REQUIRES_CAPTURE,
        amount=from_stripe_amount(amount, currency),
        currency=currency,
        amount_capturable=0 if captured else from_stripe_amount(amount, currency),
        amount_received=from_stripe_amount(int(charge.get("amount_captured") or 0), currency),
        amount_refunded=from_stripe_amount(int(charge.get("amount_refunded") or 0), currency),
        customer_email=charge.get("receipt_email"),
        payment_method=_id_of(charge.get("payment_method")),
        description=charge.get("description"),
        metadata=_metadata(charge.get("metadata")),
        created_at=_timestamp(charge.get("created")),
    )


def refund_from_stripe(provider: str, refund: Mapping[str, Any]) -> Refund:
    """A Stripe Refund as a unified Refund; reasons Stripe sets itself map to None."""
    currency = str(refund["currency"]).upper()
    reason = refund.get("reason")
    known_reasons = {r.value for r in RefundReason}
    intent_id = _id_of(refund.get("payment_intent")) or _id_of(refund.get("charge")) or ""
    return Refund(
        provider=provider,
        provider_refund_id=str(refund["id"]),
        payment_id=payment_id(provider, intent_id),
        amount=from_stripe_amount(int(refund["amount"]), currency),
        currency=currency,
        status=RefundStatus(refund.get("status") or "pending"),
        reason=RefundReason(str(reason)) if reason in known_reasons else None,
        metadata=_metadata(refund.get("metadata")),
        created_at=_timestamp(refund.get("created")),
    )


def intent_from_payment(payment: Payment) -> dict[str, Any]:
    """The PaymentIntent JSON Stripe would send for ``payment`` (for signed test deliveries)."""
    currency = payment.currency
    action = payment.next_action
    return {
        "id": payment.provider_payment_id,
        "object": "payment_intent",
        "amount": to_stripe_amount(payment.amount, currency),
        "amount_capturable": to_stripe_amount(payment.amount_capturable, currency),
        "amount_received": to_stripe_amount(payment.amount_received, currency),
        "capture_method": payment.capture_method.value,
        "created": int(payment.created_at.timestamp()),
        "currency": currency.lower(),
        "description": payment.description,
        "last_payment_error": (
            {"type": "card_error", "code": "card_declined", "decline_code": payment.decline_code}
            if payment.decline_code
            else None
        ),
        "livemode": False,
        "metadata": dict(payment.metadata),
        "next_action": (
            {
                "type": action.type,
                "redirect_to_url": {"url": action.redirect_url, "return_url": action.return_url},
            }
            if action
            else None
        ),
        "payment_method": payment.payment_method,
        "receipt_email": payment.customer_email,
        "status": payment.status.value,
    }
