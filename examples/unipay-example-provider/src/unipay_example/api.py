"""Acme Pay's wire format: one request per operation, and the readers of its answers.

Everything here is pure (no I/O), so the sync and the async face of :class:`AcmeProvider` share
every line of it; only sending differs between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

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
    RefundStatus,
    payment_id,
)

T = TypeVar("T", Payment, Refund)
Json = dict[str, Any]

#: Acme Pay's charge statuses and what they mean in unipay's (Stripe's) vocabulary.
CHARGE_STATUSES = {
    "created": PaymentStatus.REQUIRES_CONFIRMATION,
    "failed": PaymentStatus.REQUIRES_PAYMENT_METHOD,
    "action_required": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "authorized": PaymentStatus.REQUIRES_CAPTURE,
    "paid": PaymentStatus.SUCCEEDED,
    "voided": PaymentStatus.CANCELED,
}
REFUND_STATUSES = {
    "pending": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
}


@dataclass(frozen=True)
class ApiCall(Generic[T]):
    """One HTTP request to Acme Pay and how to read its answer."""

    method: str
    path: str
    read: Callable[[str, Mapping[str, Any]], T]
    body: Json | None = None
    #: Sent as ``Idempotency-Key``: Acme Pay answers a repeated key with the first answer.
    idempotency_key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Idempotency-Key": self.idempotency_key} if self.idempotency_key else {}


# --- requests: one builder per operation ----------------------------------------------------


def create_charge(request: CreatePaymentRequest, idempotency_key: str) -> ApiCall[Payment]:
    body: Json = {
        "amount": request.amount,
        "currency": request.currency.lower(),
        "capture": "manual" if request.capture_method is CaptureMethod.MANUAL else "auto",
        "confirm": request.confirm,
        "metadata": dict(request.metadata),
    }
    optional = {
        "source": request.payment_method,
        "email": request.customer_email,
        "description": request.description,
        "return_url": request.return_url,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return ApiCall("POST", "/v1/charges", read_charge, body, idempotency_key)


def confirm_charge(
    charge_id: str, request: ConfirmPaymentRequest, idempotency_key: str
) -> ApiCall[Payment]:
    optional = {"source": request.payment_method, "return_url": request.return_url}
    body = {name: value for name, value in optional.items() if value is not None}
    return ApiCall("POST", f"/v1/charges/{charge_id}/confirm", read_charge, body, idempotency_key)


def capture_charge(
    charge_id: str, request: CapturePaymentRequest, idempotency_key: str
) -> ApiCall[Payment]:
    body = {} if request.amount is None else {"amount": request.amount}
    return ApiCall("POST", f"/v1/charges/{charge_id}/capture", read_charge, body, idempotency_key)


def void_charge(
    charge_id: str, request: CancelPaymentRequest, idempotency_key: str
) -> ApiCall[Payment]:
    body = {} if request.reason is None else {"reason": request.reason.value}
    return ApiCall("POST", f"/v1/charges/{charge_id}/void", read_charge, body, idempotency_key)


def refund_charge(
    charge_id: str, request: RefundPaymentRequest, idempotency_key: str
) -> ApiCall[Refund]:
    body: Json = {"metadata": dict(request.metadata)}
    if request.amount is not None:
        body["amount"] = request.amount
    if request.reason is not None:
        body["reason"] = request.reason.value
    return ApiCall("POST", f"/v1/charges/{charge_id}/refunds", read_refund, body, idempotency_key)


def get_charge(charge_id: str) -> ApiCall[Payment]:
    return ApiCall("GET", f"/v1/charges/{charge_id}", read_charge)


# --- answers ----------------------------------------------------------------------------------


def read_charge(provider: str, charge: Mapping[str, Any]) -> Payment:
    """An Acme Pay charge as a unified :class:`~unipay.Payment`."""
    status = CHARGE_STATUSES[charge["status"]]
    redirect = charge.get("redirect_url")
    return Payment(
        provider=provider,
        provider_payment_id=charge["id"],
        status=status,
        amount=charge["amount"],
        currency=charge["currency"].upper(),
        amount_capturable=charge["amount_authorized"]
        if status is PaymentStatus.REQUIRES_CAPTURE
        else 0,
        amount_received=charge["amount_captured"],
        amount_refunded=charge["amount_refunded"],
        capture_method=CaptureMethod.MANUAL
        if charge["capture"] == "manual"
        else CaptureMethod.AUTOMATIC,
        customer_email=charge.get("email"),
        payment_method=charge.get("source"),
        description=charge.get("description"),
        metadata=charge.get("metadata") or {},
        next_action=(
            NextAction(redirect_url=redirect, return_url=charge.get("return_url"))
            if status is PaymentStatus.REQUIRES_ACTION and redirect
            else None
        ),
        decline_code=charge.get("failure_code"),
        created_at=datetime.fromtimestamp(charge["created"], UTC),
    )


def read_refund(provider: str, refund: Mapping[str, Any]) -> Refund:
    """An Acme Pay refund as a unified :class:`~unipay.Refund`."""
    return Refund(
        provider=provider,
        provider_refund_id=refund["id"],
        payment_id=payment_id(provider, refund["charge"]),
        amount=refund["amount"],
        currency=refund["currency"].upper(),
        status=REFUND_STATUSES[refund["status"]],
        reason=refund.get("reason"),
        metadata=refund.get("metadata") or {},
        created_at=datetime.fromtimestamp(refund["created"], UTC),
    )


def charge_from_payment(payment: Payment) -> Json:
    """The charge Acme Pay would send for ``payment``: for signed test deliveries."""
    status = {unified: acme for acme, unified in CHARGE_STATUSES.items()}[payment.status]
    return {
        "id": payment.provider_payment_id,
        "object": "charge",
        "status": status,
        "amount": payment.amount,
        "currency": payment.currency.lower(),
        "capture": "manual" if payment.capture_method is CaptureMethod.MANUAL else "auto",
        "amount_authorized": payment.amount_capturable + payment.amount_received,
        "amount_captured": payment.amount_received,
        "amount_refunded": payment.amount_refunded,
        "source": payment.payment_method,
        "email": payment.customer_email,
        "description": payment.description,
        "metadata": dict(payment.metadata),
        "redirect_url": payment.next_action.redirect_url if payment.next_action else None,
        "return_url": payment.next_action.return_url if payment.next_action else None,
        "failure_code": payment.decline_code,
        "created": int(payment.created_at.timestamp()),
    }
