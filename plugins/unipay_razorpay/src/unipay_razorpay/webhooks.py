"""Razorpay webhook deliveries: ``X-Razorpay-Signature`` checked over the raw body, then turned
into unified events.

Razorpay signs the request body exactly as sent: the hex HMAC-SHA256 of the raw bytes keyed by the
endpoint's webhook secret (docs: webhooks, validate and test). Verifying a re-serialized body
fails whenever a JSON round trip changes a byte (key order, spacing, escapes), which is the
classic cause of "signature mismatch" reports against Razorpay's SDKs; here only the bytes
received are signed and compared, and nothing is parsed before the signature checks out. Several
secrets are tried in turn: Razorpay signs its retries of older events with the secret they were
first sent with, so the old one stays valid while a secret is rolled.

The event id is the ``X-Razorpay-Event-Id`` header (the payload has none); unipay deduplicates
deliveries by it. The header is not covered by the signature: a replayed body with a made-up id
is dispatched again, and the store keeps such a repeat from moving any record backwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError
from unipay.models import Payment, Refund, WebhookEvent, WebhookEventType
from unipay.webhooks.reading import UNREADABLE, unified_objects
from unipay_razorpay import mapping

logger = logging.getLogger("unipay.razorpay")

SIGNATURE_HEADER = "x-razorpay-signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
WEBHOOK_SECRET_ENV = "RAZORPAY_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret

#: Razorpay event -> unified event type; any other event is delivered as ``other``.
EVENT_TYPES: dict[str, WebhookEventType] = {
    "payment.authorized": WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
    "payment.captured": WebhookEventType.PAYMENT_SUCCEEDED,
    "payment.failed": WebhookEventType.PAYMENT_FAILED,
    "order.paid": WebhookEventType.PAYMENT_SUCCEEDED,
    "refund.created": WebhookEventType.REFUND_UPDATED,
    "refund.speed_changed": WebhookEventType.REFUND_UPDATED,
    "refund.processed": WebhookEventType.REFUND_SUCCEEDED,
    "refund.failed": WebhookEventType.REFUND_FAILED,
}
#: The payment event (and the payment's status) sent for each unified type by test deliveries.
TEST_EVENTS: dict[WebhookEventType, tuple[str, str]] = {
    WebhookEventType.PAYMENT_SUCCEEDED: ("payment.captured", "captured"),
    WebhookEventType.PAYMENT_REQUIRES_CAPTURE: ("payment.authorized", "authorized"),
    WebhookEventType.PAYMENT_FAILED: ("payment.failed", "failed"),
}


def sign(body: bytes, secret: str) -> str:
    """``X-Razorpay-Signature`` for ``body``: hex HMAC-SHA256 of the raw bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookVerifier:
    """Checks deliveries against the endpoint's webhook secrets (never shown anywhere)."""

    def __init__(self, provider: str, webhook_secrets: Sequence[str]) -> None:
        self.provider = provider
        self._secrets = tuple(webhook_secrets)

    def __repr__(self) -> str:
        return f"<WebhookVerifier {self.provider!r} secrets={len(self._secrets)}>"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self._secrets:
            raise self._not_configured()
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise self._refuse("the X-Razorpay-Signature header is missing")
        if not any(hmac.compare_digest(sign(body, s), signature.strip()) for s in self._secrets):
            raise self._refuse("the signature does not match the body")
        event_id = _header(headers, EVENT_ID_HEADER)
        if not event_id:
            raise self._refuse("the X-Razorpay-Event-Id header is missing (deliveries are "
                               "deduplicated by it)")  # fmt: skip
        return self._event(body, event_id.strip())

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        """A ``payment.*`` event about ``payment`` signed with the newest secret, as Razorpay
        signs it, with the headers Razorpay sends."""
        test = TEST_EVENTS.get(event_type)
        if test is None:
            raise InvalidRequest(
                f"Razorpay sends no payment event for {event_type.value!r}; use one of "
                f"{', '.join(sorted(t.value for t in TEST_EVENTS))}",
                param="event_type",
            )
        if not self._secrets:
            raise self._not_configured()
        kind, status = test
        now = int(time.time())
        event = {
            "entity": "event",
            "account_id": "acc_unipayTestDelivery",
            "event": kind,
            "contains": ["payment"],
            "payload": {"payment": {"entity": payment_entity(payment, status, now)}},
            "created_at": now,
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        return body, {
            "content-type": "application/json",
            "X-Razorpay-Signature": sign(body, self._secrets[0]),
            "X-Razorpay-Event-Id": _random_id(),
        }

    def _not_configured(self) -> ProviderNotConfigured:
        return ProviderNotConfigured(
            self.provider,
            WEBHOOK_SECRET_ENV,
            "It is the secret entered when the webhook was set up on the Razorpay Dashboard "
            "(Account & Settings, Webhooks).",
        )

    def _refuse(self, reason: str) -> WebhookVerificationError:
        return WebhookVerificationError(
            f"Razorpay webhook refused: {reason}. Pass the raw request body, unparsed, and the "
            "X-Razorpay-Signature and X-Razorpay-Event-Id headers unchanged, and check the "
            "webhook secret.",
            provider=self.provider,
        )

    def _event(self, body: bytes, event_id: str) -> WebhookEvent:
        try:
            event = json.loads(body)
            kind, payload = event["event"], event["payload"]
            created = datetime.fromtimestamp(int(event.get("created_at") or 0), UTC)
        except (*UNREADABLE, RecursionError):
            raise self._refuse("the signed body is not a Razorpay event") from None
        if not isinstance(kind, str) or not isinstance(payload, Mapping):
            raise self._refuse("the signed body is not a Razorpay event")
        unified = EVENT_TYPES.get(kind, WebhookEventType.OTHER)
        payment, refund = unified_objects(
            lambda: self._unified(payload),
            provider=self.provider,
            label="Razorpay",
            event_id=event_id,
            kind=kind,
            unified=unified,
            advice="Report the event to unipay.",
            logger=logger,
        )
        return WebhookEvent(
            id=event_id,
            provider=self.provider,
            type=unified,
            provider_type=kind,
            data=event,
            payment=payment,
            refund=refund,
            created_at=created,
        )

    def _unified(self, payload: Mapping[str, Any]) -> tuple[Payment | None, Refund | None]:
        payment_entity_ = _entity(payload, "payment")
        order_entity = _entity(payload, "order")
        refund_entity = _entity(payload, "refund")
        if payment_entity_ is None:
            return None, None
        if not payment_entity_.get("order_id"):
            # Paid outside an order (not through unipay): the event still reaches handlers.
            logger.info("Razorpay payment event without an order: no unified payment")
            return None, None
        payment = mapping.payment_from_entity(self.provider, payment_entity_, order_entity)
        refund = None
        if refund_entity is not None:
            refund = mapping.refund_from(self.provider, payment.provider_payment_id, refund_entity)
        return payment, refund


def payment_entity(payment: Payment, status: str, now: int) -> dict[str, Any]:
    """A Razorpay payment entity (as its webhooks carry it) for a unified payment."""
    failed = status == "failed"
    captured = status == "captured"
    refunded = payment.amount_refunded if captured else 0
    reason = payment.decline_code or "payment_failed"
    return {
        "id": "pay_" + _random_id(),
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": status,
        "order_id": payment.provider_payment_id,
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": refunded,
        "refund_status": None
        if not refunded
        else "full"
        if refunded >= payment.amount
        else "partial",
        "captured": captured,
        "description": payment.description,
        "email": payment.customer_email,
        "notes": {**payment.metadata, mapping.CAPTURE_NOTE: payment.capture_method.value},
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment failed" if failed else None,
        "error_source": "bank" if failed else None,
        "error_step": "payment_authorization" if failed else None,
        "error_reason": reason if failed else None,
        "created_at": now,
    }


def _entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    wrapper = payload.get(name)
    if wrapper is None:
        return None
    entity = wrapper["entity"]
    if not isinstance(entity, Mapping):
        raise TypeError(name)
    return entity


def _random_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(14))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
