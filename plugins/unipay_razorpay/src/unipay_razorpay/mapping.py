"""Razorpay's orders, payments and refunds as unipay's models, and unipay's requests as notes.

A unified payment is a Razorpay **order**: its id is the order's (``razorpay:order_...``), since
the order exists from ``create_payment`` on while Razorpay's payment (``pay_...``) only exists once
the customer has paid in Checkout, and an order may see several payment attempts (a declined
card, then UPI). The payment the unified one reports is the order's captured one, else its
authorized one, else the one in progress, else its latest failed attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from unipay.errors import InvalidRequest
from unipay.models import (
    CaptureMethod,
    NextAction,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    payment_id,
)
from unipay.provider import NextActionKind
from unipay.webhooks import reading

Json = Mapping[str, Any]

#: Notes unipay keeps for itself on an order (capture method) and a refund (reason).
CAPTURE_NOTE = "unipay_capture"
REASON_NOTE = "unipay_reason"
RESERVED_NOTES = frozenset({CAPTURE_NOTE, REASON_NOTE})
#: Razorpay's limits on ``notes``: 15 pairs of at most 256 characters each (one pair is unipay's).
MAX_NOTES = 15
MAX_NOTE_LENGTH = 256

#: Razorpay payment status -> unified status (docs: payments, payment life cycle).
PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "created": PaymentStatus.PROCESSING,
    "authorized": PaymentStatus.REQUIRES_CAPTURE,
    "captured": PaymentStatus.SUCCEEDED,
    "refunded": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.REQUIRES_PAYMENT_METHOD,
}
#: Razorpay refund status -> unified status (docs: refunds, entity).
REFUND_STATUS: dict[str, RefundStatus] = {
    "pending": RefundStatus.PENDING,
    "processed": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
}
#: Razorpay's failure reasons (docs: errors/payments, list of errors) where Stripe, whose decline
#: codes unipay reports, has a code of its own; every other reason is reported as Razorpay's.
DECLINE_CODES: dict[str, str] = {
    "insufficient_funds": "insufficient_funds",
    "card_expired": "expired_card",
    "incorrect_cvv": "incorrect_cvc",
    "card_number_invalid": "incorrect_number",
    "incorrect_card_details": "incorrect_number",
    "incorrect_pin": "incorrect_pin",
    "incorrect_atm_pin": "incorrect_pin",
    "card_declined": "card_declined",
    "payment_declined": "card_declined",
    "debit_declined": "card_declined",
    "authorisation_declined_by_psp": "card_declined",
    "payment_risk_check_failed": "fraudulent",
    "transaction_limit_exceeded": "card_velocity_exceeded",
    "transaction_daily_limit_exceeded": "card_velocity_exceeded",
    "authentication_failed": "authentication_failed",
    "incorrect_otp": "authentication_failed",
    "otp_expired": "authentication_failed",
}
_PREFERENCE = (("captured", "refunded"), ("authorized",), ("created",))


class UnreadableObject(reading.UnreadableObject):
    """A Razorpay object that lacks what unipay reads from it (it says what, never the data)."""


# --- requests -------------------------------------------------------------------------------


def order_notes(metadata: Mapping[str, str], capture: CaptureMethod) -> dict[str, str]:
    """An order's notes: the caller's metadata within Razorpay's limits, and the capture method
    (confirm captures an authorized payment of an automatic order; webhooks report it)."""
    return {**_notes(metadata), CAPTURE_NOTE: capture.value}


def refund_notes(metadata: Mapping[str, str], reason: RefundReason | None) -> dict[str, str]:
    notes = _notes(metadata)
    return notes if reason is None else {**notes, REASON_NOTE: reason.value}


def _notes(metadata: Mapping[str, str]) -> dict[str, str]:
    reserved = sorted(RESERVED_NOTES & metadata.keys())
    if reserved:
        raise InvalidRequest(
            f"metadata key {reserved[0]!r} is reserved by unipay-razorpay; use another name.",
            param="metadata",
        )
    if len(metadata) > MAX_NOTES - 1:
        raise InvalidRequest(
            f"Razorpay keeps at most {MAX_NOTES} notes and unipay uses one: pass at most "
            f"{MAX_NOTES - 1} metadata keys (got {len(metadata)}).",
            param="metadata",
        )
    long = sorted(key for key, value in metadata.items() if len(value) > MAX_NOTE_LENGTH)
    if long:
        raise InvalidRequest(
            f"Razorpay keeps notes of at most {MAX_NOTE_LENGTH} characters; metadata value of "
            f"{long[0]!r} is longer.",
            param="metadata",
        )
    return dict(metadata)


def checkout_data(
    key_id: str,
    order: Json,
    *,
    description: str | None = None,
    customer_email: str | None = None,
) -> dict[str, Any]:
    """Razorpay Checkout's options for paying ``order``, named as Checkout names them, so that
    ``new Razorpay({...data, handler})`` opens it. The key id is public; the secret never is."""
    data: dict[str, Any] = {
        "key": key_id,
        "order_id": _str(order, "id"),
        "amount": _int(order, "amount"),
        "currency": _str(order, "currency"),
        "notes": notes_of(order.get("notes")),
    }
    if description:
        data["description"] = description
    if customer_email:
        data["prefill"] = {"email": customer_email}
    return data


# --- answers --------------------------------------------------------------------------------


def notes_of(value: object) -> dict[str, str]:
    """Razorpay's ``notes``: an object, or ``[]`` when empty (its PHP heritage)."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    return {}


def metadata_of(notes: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in notes.items() if k not in RESERVED_NOTES}


def current_payment(payments: Sequence[Json]) -> Json | None:
    """The order's payment that speaks for it: captured, else authorized, else in progress, else
    its latest failed attempt; None before any attempt."""
    for statuses in _PREFERENCE:
        for payment in payments:
            if payment.get("status") in statuses:
                return payment
    failed = [p for p in payments if p.get("status") == "failed"]
    return max(failed, key=lambda p: _int(p, "created_at", 0), default=None)


def payment_from_order(
    provider: str,
    key_id: str,
    order: Json,
    payments: Sequence[Json],
    *,
    description: str | None = None,
    customer_email: str | None = None,
) -> Payment:
    """The unified payment of ``order`` and its payment attempts."""
    notes = notes_of(order.get("notes"))
    attempt = current_payment(payments)
    checkout = NextAction(
        type=NextActionKind.CLIENT_CHECKOUT.value,
        data=checkout_data(key_id, order, description=description, customer_email=customer_email),
    )
    return _unified(
        provider,
        order_id=_str(order, "id"),
        amount=_int(order, "amount"),
        currency=_str(order, "currency"),
        notes=notes,
        attempt=attempt,
        checkout=checkout,
        created=_int(order, "created_at", 0),
        description=description,
        customer_email=customer_email,
    )


def payment_from_entity(provider: str, payment: Json, order: Json | None = None) -> Payment:
    """The unified payment a webhook's payment entity (and order entity, if sent) describes."""
    order_id = payment.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise UnreadableObject("the payment belongs to no order (not one unipay created)")
    source = order if order is not None else payment
    return _unified(
        provider,
        order_id=order_id,
        amount=_int(source, "amount"),
        currency=_str(source, "currency"),
        notes=notes_of(source.get("notes")),
        attempt=payment,
        checkout=None,
        created=_int(source, "created_at", 0),
    )


def _unified(
    provider: str,
    *,
    order_id: str,
    amount: int,
    currency: str,
    notes: Mapping[str, str],
    attempt: Json | None,
    checkout: NextAction | None,
    created: int,
    description: str | None = None,
    customer_email: str | None = None,
) -> Payment:
    capture = (
        CaptureMethod.MANUAL if notes.get(CAPTURE_NOTE) == "manual" else CaptureMethod.AUTOMATIC
    )
    fields: dict[str, Any] = {
        "provider": provider,
        "provider_payment_id": order_id,
        "amount": amount,
        "currency": currency.upper(),
        "capture_method": capture,
        "metadata": metadata_of(notes),
        "description": description,
        "customer_email": customer_email,
        "created_at": datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC),
    }
    if attempt is None:
        return Payment(**fields, status=PaymentStatus.REQUIRES_ACTION, next_action=checkout)
    state = _str(attempt, "status")
    status = PAYMENT_STATUS.get(state)
    if status is None:
        raise UnreadableObject(f"unknown payment status {state[:40]!r}")
    email = attempt.get("email")
    if isinstance(email, str) and "@" in email and not customer_email:
        fields["customer_email"] = email
    paid = _int(attempt, "amount")
    if status is PaymentStatus.SUCCEEDED:
        refunded = _int(attempt, "amount_refunded", 0)
        return Payment(
            **fields, status=status, amount_received=paid, amount_refunded=min(refunded, paid)
        )
    if status is PaymentStatus.REQUIRES_CAPTURE:
        return Payment(**fields, status=status, amount_capturable=paid)
    if status is PaymentStatus.REQUIRES_PAYMENT_METHOD:
        # The customer may pay again in Checkout, on the same order.
        return Payment(
            **fields, status=status, next_action=checkout, decline_code=decline_code(attempt)
        )
    return Payment(**fields, status=status)


def decline_code(payment: Json) -> str:
    reason = payment.get("error_reason")
    if not isinstance(reason, str) or not reason:
        return "payment_failed"
    return DECLINE_CODES.get(reason, reason[:60])


def decline_message(payment: Json) -> str:
    description = payment.get("error_description")
    text = description if isinstance(description, str) and description else "Payment failed"
    return f"Razorpay declined the payment: {text[:200]} ({decline_code(payment)})."


def refund_from(provider: str, order_id: str, refund: Json) -> Refund:
    notes = notes_of(refund.get("notes"))
    state = _str(refund, "status")
    status = REFUND_STATUS.get(state)
    if status is None:
        raise UnreadableObject(f"unknown refund status {state[:40]!r}")
    reason = notes.get(REASON_NOTE)
    created = _int(refund, "created_at", 0)
    return Refund(
        provider=provider,
        provider_refund_id=_str(refund, "id"),
        payment_id=payment_id(provider, order_id),
        amount=_int(refund, "amount"),
        currency=_str(refund, "currency").upper(),
        status=status,
        reason=_reason(reason),
        metadata=metadata_of(notes),
        created_at=datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC),
    )


def _reason(value: str | None) -> RefundReason | None:
    try:
        return None if value is None else RefundReason(value)
    except ValueError:
        return None


def _str(obj: Json, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise UnreadableObject(f"its {key!r} is missing or not text")
    return value


def _int(obj: Json, key: str, default: int | None = None) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if default is not None and value is None:
            return default
        raise UnreadableObject(f"its {key!r} is missing or not an integer")
    return value
