"""Stripe webhook deliveries: verified with stripe's own ``WebhookSignature.verify_header``, then
turned into unified :class:`~unipay.models.WebhookEvent` objects.

Nothing in a payload is read before its signature checks out. Several secrets are tried in turn
(rolling a secret leaves two valid for a while), and one header may carry several ``v1``
signatures; stripe's check accepts the delivery when any of them matches.

A signed event is never a crash: an event of a type unipay maps whose object it cannot read (a
status it does not know, a missing currency) is refused with that reason, so the endpoint answers
400 and the log says why; an event of any other type is delivered as ``other`` without a unified
payment or refund when its object cannot be read.
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

import stripe

from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError
from unipay.models import Payment, Refund, WebhookEvent, WebhookEventType
from unipay.webhooks.reading import UNREADABLE, unified_objects
from unipay_stripe import mapping

logger = logging.getLogger("unipay.stripe")

#: Seconds a signature stays valid (stripe's default, stated here so it is visible).
TOLERANCE = 300
SIGNATURE_HEADER = "stripe-signature"

EVENT_TYPES: dict[str, WebhookEventType] = {
    "payment_intent.succeeded": WebhookEventType.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": WebhookEventType.PAYMENT_FAILED,
    "payment_intent.canceled": WebhookEventType.PAYMENT_CANCELED,
    "payment_intent.requires_action": WebhookEventType.PAYMENT_REQUIRES_ACTION,
    "payment_intent.amount_capturable_updated": WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
    "payment_intent.processing": WebhookEventType.PAYMENT_PROCESSING,
    "charge.refunded": WebhookEventType.REFUND_SUCCEEDED,
    "refund.created": WebhookEventType.REFUND_UPDATED,
    "refund.updated": WebhookEventType.REFUND_UPDATED,
    "charge.refund.updated": WebhookEventType.REFUND_UPDATED,
    "refund.failed": WebhookEventType.REFUND_FAILED,
}


#: The Stripe event type sent for each unified payment event (for signed test deliveries).
PAYMENT_EVENT_TYPES: dict[WebhookEventType, str] = {
    unified: stripe_type
    for stripe_type, unified in EVENT_TYPES.items()
    if stripe_type.startswith("payment_intent.")
}


class WebhookVerifier:
    """Checks deliveries against the endpoint's signing secrets (never shown anywhere)."""

    def __init__(self, provider: str, secrets: Sequence[str]) -> None:
        self.provider = provider
        self._secrets = tuple(secrets)

    def __repr__(self) -> str:
        return f"<WebhookVerifier {self.provider!r} secrets={len(self._secrets)}>"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self._secrets:
            raise ProviderNotConfigured(
                self.provider,
                "STRIPE_WEBHOOK_SECRET",
                "It is the endpoint's signing secret (whsec_...) from the Stripe dashboard or "
                "`stripe listen`.",
            )
        header = _header(headers, SIGNATURE_HEADER)
        if not header:
            raise self._refuse("the Stripe-Signature header is missing")
        reasons = set()
        for secret in self._secrets:
            try:
                stripe.WebhookSignature.verify_header(body, header, secret, TOLERANCE)
                break
            except stripe.SignatureVerificationError as error:
                reasons.add(error.user_message or "signature mismatch")
            except UnicodeDecodeError:
                raise self._refuse("the body is not UTF-8 text") from None
        else:
            raise self._refuse("; ".join(sorted(reasons)))
        return self._event(body)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        """A ``payment_intent.*`` event about ``payment``, signed with the newest secret the way
        Stripe signs (``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``), like ``stripe trigger``."""
        stripe_type = PAYMENT_EVENT_TYPES.get(event_type)
        if stripe_type is None:
            raise InvalidRequest(
                f"Stripe sends no payment_intent event for {event_type.value!r}; use one of "
                f"{', '.join(sorted(t.value for t in PAYMENT_EVENT_TYPES))}",
                param="event_type",
            )
        if not self._secrets:
            raise ProviderNotConfigured(self.provider, "STRIPE_WEBHOOK_SECRET")
        now = int(time.time())
        event = {
            "id": f"evt_test_{secrets.token_hex(12)}",
            "object": "event",
            "type": stripe_type,
            "created": now,
            "livemode": False,
            "data": {"object": mapping.intent_from_payment(payment)},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = sign(body, self._secrets[0], timestamp=now)
        return body, {"content-type": "application/json", SIGNATURE_HEADER: signature}

    def _refuse(self, reason: str) -> WebhookVerificationError:
        return WebhookVerificationError(
            f"Stripe webhook refused: {reason}. Pass the raw request body and the "
            "Stripe-Signature header unchanged, and check the endpoint's signing secret.",
            provider=self.provider,
        )

    def _event(self, body: bytes) -> WebhookEvent:
        try:
            event = json.loads(body)
            kind, event_id, obj = event["type"], event["id"], event["data"]["object"]
            created = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
        except (*UNREADABLE, RecursionError):
            raise self._refuse("the signed body is not a Stripe event") from None
        if not (isinstance(kind, str) and isinstance(event_id, str) and isinstance(obj, Mapping)):
            raise self._refuse("the signed body is not a Stripe event")
        unified = EVENT_TYPES.get(kind, WebhookEventType.OTHER)
        payment, refund = unified_objects(
            lambda: self._unified(obj),
            provider=self.provider,
            label="Stripe",
            event_id=event_id,
            kind=kind,
            unified=unified,
            advice="unipay-stripe reads objects as API versions from 2019-02-11 on write them: "
            "check the API version of the webhook endpoint in the Stripe dashboard, or report the "
            "event to unipay.",
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

    def _unified(self, obj: Mapping[str, Any]) -> tuple[Payment | None, Refund | None]:
        """The payment and refund an event's object describes, when it is one Stripe models."""
        kind = obj.get("object")
        if kind == "payment_intent":
            return mapping.payment_from_intent(self.provider, obj), None
        if kind == "refund":
            return None, mapping.refund_from_stripe(self.provider, obj)
        if kind == "charge":
            refund = mapping.refund_of_charge(self.provider, obj)
            return mapping.payment_from_charge(self.provider, obj), refund
        return None, None


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` value for ``body``, made as Stripe makes it:
    ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the endpoint secret>``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
