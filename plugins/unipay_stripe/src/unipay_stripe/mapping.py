"""Translation between unipay's models and Stripe's JSON, in both directions.

Everything here is pure (no I/O) and shared by the sync and the async path and by webhooks. Stripe
objects are read as mappings: the SDK's ``StripeObject`` is a dict, and webhook payloads are parsed
JSON, so one function serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stripe.params import (
    PaymentIntentCancelParams,
    PaymentIntentCaptureParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    PaymentIntentCreateParamsAutomaticPaymentMethods,
    PaymentIntentRetrieveParams,
    RefundCreateParams,
)

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
from unipay.webhooks import reading
from unipay.webhooks.reading import excerpt
from unipay_stripe.currencies import from_stripe_amount, to_stripe_amount

#: Every payment-intent call expands the latest charge: it carries the amount refunded so far.
EXPAND = ["latest_charge"]


# --- requests: typed with the SDK's own parameter types, so mypy checks every Stripe field ---


def create_params(request: CreatePaymentRequest) -> PaymentIntentCreateParams:
    params: PaymentIntentCreateParams = {
        "amount": to_stripe_amount(request.amount, request.currency),
        "currency": request.currency.lower(),
        "capture_method": request.capture_method.value,
        "confirm": request.confirm,
        "expand": EXPAND,
    }
    if isinstance(request.payment_method, str):  # checked by the provider: a pm_ id
        params["payment_method"] = request.payment_method
    if request.customer_email is not None:
        params["receipt_email"] = request.customer_email
    if request.description is not None:
        params["description"] = request.description
    if request.metadata:
        params["metadata"] = dict(request.metadata)
    _redirects(params, request.confirm, request.return_url)
    return params


def _redirects(params: PaymentIntentCreateParams, confirm: bool, return_url: str | None) -> None:
    """What keeps the confirmation valid, now or later.

    Stripe gives an intent created without ``automatic_payment_methods`` the payment methods
    enabled in the Dashboard, redirects allowed, and then refuses to confirm it without a
    ``return_url``, even for a card. So without a return URL the intent is created with redirect
    methods excluded, and a later ``confirm_payment`` needs none. With one, redirect methods stay
    allowed; Stripe takes ``return_url`` on create only with ``confirm=true``, so a two-step
    payment passes it again to ``confirm_payment``.
    """
    automatic: PaymentIntentCreateParamsAutomaticPaymentMethods
    if return_url is None:
        automatic = {"enabled": True, "allow_redirects": "never"}
    elif confirm:
        params["return_url"] = return_url
        return
    else:
        automatic = {"enabled": True, "allow_redirects": "always"}
    params["automatic_payment_methods"] = automatic


def confirm_params(request: ConfirmPaymentRequest) -> PaymentIntentConfirmParams:
    params: PaymentIntentConfirmParams = {"expand": EXPAND}
    if isinstance(request.payment_method, str):  # checked by the provider: a pm_ id
        params["payment_method"] = request.payment_method
    if request.return_url is not None:
        params["return_url"] = request.return_url
    return params


def capture_params(
    request: CapturePaymentRequest, currency: str | None
) -> PaymentIntentCaptureParams:
    params: PaymentIntentCaptureParams = {"expand": EXPAND}
    if request.amount is not None:
        params["amount_to_capture"] = _amount_for(request.amount, currency)
    return params


def cancel_params(request: CancelPaymentRequest) -> PaymentIntentCancelParams:
    params: PaymentIntentCancelParams = {"expand": EXPAND}
    if request.reason is not None:
        params["cancellation_reason"] = request.reason.value
    return params


def retrieve_params() -> PaymentIntentRetrieveParams:
    return {"expand": EXPAND}


def refund_params(
    provider_payment_id: str, request: RefundPaymentRequest, currency: str | None
) -> RefundCreateParams:
    params: RefundCreateParams = {"payment_intent": provider_payment_id}
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

#: PaymentIntent statuses of API versions before 2019-02-11, by their current names. An account
#: or webhook endpoint still pinned to such a version keeps sending them
#: (https://docs.stripe.com/upgrades#2019-02-11).
LEGACY_PAYMENT_STATUSES: dict[str, PaymentStatus] = {
    "requires_source": PaymentStatus.REQUIRES_PAYMENT_METHOD,
    "requires_source_action": PaymentStatus.REQUIRES_ACTION,
}

_KNOWN_REASONS = frozenset(r.value for r in RefundReason)


class UnreadableObject(reading.UnreadableObject):
    """A Stripe object lacks a field unipay reads, or holds a value unipay does not know.

    Webhooks turn it into a refusal with this message as the reason, so the message names the
    object and the field and shows at most a short excerpt of a value (never a whole payload).
    """


def _text(obj: Mapping[str, Any], name: str, kind: str) -> str | None:
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return value
    raise UnreadableObject(f"the {kind}'s {name!r} is not a string: {excerpt(value)}")


def _required_text(obj: Mapping[str, Any], name: str, kind: str) -> str:
    value = _text(obj, name, kind)
    if not value:
        raise UnreadableObject(f"the {kind} has no {name!r}")
    return value


def _integer(obj: Mapping[str, Any], name: str, kind: str, default: int | None = 0) -> int:
    value = obj.get(name)
    if value is None and default is not None:
        return default
    if value is None:
        raise UnreadableObject(f"the {kind} has no {name!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnreadableObject(f"the {kind}'s {name!r} is not an integer: {excerpt(value)}")
    return value


def _object(obj: Mapping[str, Any], name: str, kind: str) -> Mapping[str, Any]:
    """A nested object, or ``{}`` for null."""
    value = obj.get(name)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise UnreadableObject(f"the {kind}'s {name!r} is not an object: {excerpt(value)}")


def _currency(obj: Mapping[str, Any], kind: str) -> str:
    value = obj.get("currency")
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()
    if value is None:
        raise UnreadableObject(f"the {kind} has no 'currency'")
    raise UnreadableObject(f"the {kind}'s 'currency' is not a currency code: {excerpt(value)}")


def _timestamp(obj: Mapping[str, Any], name: str, kind: str) -> datetime:
    seconds = _integer(obj, name, kind)
    if not seconds:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise UnreadableObject(
            f"the {kind}'s {name!r} is not a Unix time: {excerpt(seconds)}"
        ) from None


def _id_of(obj: Mapping[str, Any], name: str, kind: str) -> str | None:
    """An expandable field: an id string, an expanded object, or null."""
    value = obj.get(name)
    if isinstance(value, Mapping):
        return _required_text(value, "id", f"{kind}'s {name}")
    return _text(obj, name, kind) or None


def _metadata(obj: Mapping[str, Any], kind: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _object(obj, "metadata", kind).items()}


def _payment_status(intent: Mapping[str, Any]) -> PaymentStatus:
    value = intent.get("status")
    if isinstance(value, str):
        if value in LEGACY_PAYMENT_STATUSES:
            return LEGACY_PAYMENT_STATUSES[value]
        if value in PaymentStatus._value2member_map_:
            return PaymentStatus(value)
    raise UnreadableObject(
        f"the payment_intent's status {excerpt(value)} is none of "
        f"{', '.join([*PaymentStatus, *LEGACY_PAYMENT_STATUSES])}"
    )


def _refund_status(refund: Mapping[str, Any]) -> RefundStatus:
    value = refund.get("status") or "pending"
    if isinstance(value, str) and value in RefundStatus._value2member_map_:
        return RefundStatus(value)
    raise UnreadableObject(
        f"the refund's status {excerpt(value)} is none of {', '.join(RefundStatus)}"
    )


def _next_action(intent: Mapping[str, Any]) -> NextAction | None:
    action = _object(intent, "next_action", "payment_intent")
    if not action:
        return None
    redirect = _object(action, "redirect_to_url", "next_action")
    return NextAction(
        type=_text(action, "type", "next_action") or "redirect_to_url",
        redirect_url=_text(redirect, "url", "redirect_to_url"),
        return_url=_text(redirect, "return_url", "redirect_to_url"),
    )


def payment_from_intent(provider: str, intent: Mapping[str, Any]) -> Payment:
    """A Stripe PaymentIntent as a unified Payment; :class:`UnreadableObject` if it is not one.

    ``amount_refunded`` comes from the expanded ``latest_charge``; where the charge is not expanded
    (webhook payloads) it is reported as 0.
    """
    kind = "payment_intent"
    currency = _currency(intent, kind)
    charge = intent.get("latest_charge")
    refunded = (
        _integer(charge, "amount_refunded", "latest_charge") if isinstance(charge, Mapping) else 0
    )
    error = _object(intent, "last_payment_error", kind)
    return Payment(
        provider=provider,
        provider_payment_id=_required_text(intent, "id", kind),
        status=_payment_status(intent),
        amount=from_stripe_amount(_integer(intent, "amount", kind, default=None), currency),
        currency=currency,
        amount_capturable=from_stripe_amount(_integer(intent, "amount_capturable", kind), currency),
        amount_received=from_stripe_amount(_integer(intent, "amount_received", kind), currency),
        amount_refunded=from_stripe_amount(refunded, currency),
        capture_method=(
            CaptureMethod.MANUAL
            if intent.get("capture_method") == "manual"
            else CaptureMethod.AUTOMATIC
        ),
        customer_email=_text(intent, "receipt_email", kind),
        payment_method=_id_of(intent, "payment_method", kind),
        description=_text(intent, "description", kind),
        metadata=_metadata(intent, kind),
        next_action=_next_action(intent),
        decline_code=(
            _text(error, "decline_code", "last_payment_error")
            or _text(error, "code", "last_payment_error")
        ),
        created_at=_timestamp(intent, "created", kind),
    )


def payment_from_charge(provider: str, charge: Mapping[str, Any]) -> Payment | None:
    """The payment a Charge belongs to, as far as the charge tells (for ``charge.*`` events)."""
    kind = "charge"
    intent_id = _id_of(charge, "payment_intent", kind)
    if intent_id is None:
        return None
    currency = _currency(charge, kind)
    captured = bool(charge.get("captured"))
    amount = from_stripe_amount(_integer(charge, "amount", kind, default=None), currency)
    return Payment(
        provider=provider,
        provider_payment_id=intent_id,
        status=PaymentStatus.SUCCEEDED if captured else PaymentStatus.REQUIRES_CAPTURE,
        amount=amount,
        currency=currency,
        amount_capturable=0 if captured else amount,
        amount_received=from_stripe_amount(_integer(charge, "amount_captured", kind), currency),
        amount_refunded=from_stripe_amount(_integer(charge, "amount_refunded", kind), currency),
        customer_email=_text(charge, "receipt_email", kind),
        payment_method=_id_of(charge, "payment_method", kind),
        description=_text(charge, "description", kind),
        metadata=_metadata(charge, kind),
        created_at=_timestamp(charge, "created", kind),
    )


def refund_from_stripe(provider: str, refund: Mapping[str, Any]) -> Refund:
    """A Stripe Refund as a unified Refund; reasons Stripe sets itself map to None."""
    kind = "refund"
    currency = _currency(refund, kind)
    reason = refund.get("reason")
    intent_id = _id_of(refund, "payment_intent", kind) or _id_of(refund, "charge", kind) or ""
    return Refund(
        provider=provider,
        provider_refund_id=_required_text(refund, "id", kind),
        payment_id=payment_id(provider, intent_id),
        amount=from_stripe_amount(_integer(refund, "amount", kind, default=None), currency),
        currency=currency,
        status=_refund_status(refund),
        reason=RefundReason(reason)
        if isinstance(reason, str) and reason in _KNOWN_REASONS
        else None,
        metadata=_metadata(refund, kind),
        created_at=_timestamp(refund, "created", kind),
    )


def refund_of_charge(provider: str, charge: Mapping[str, Any]) -> Refund | None:
    """The newest refund a Charge lists (``refunds.data[0]``), when the charge lists any."""
    refunds = _object(charge, "refunds", "charge").get("data") or []
    if not isinstance(refunds, list) or not all(isinstance(r, Mapping) for r in refunds[:1]):
        raise UnreadableObject("the charge's 'refunds.data' is not a list of refunds")
    return refund_from_stripe(provider, refunds[0]) if refunds else None


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
