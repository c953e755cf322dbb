"""Acme Pay's webhooks: Standard Webhooks signatures, checked with unipay's own helpers.

Acme Pay sends ``{"id": "evt_...", "type": "charge.paid", "created": <unix>, "data": {<charge or
refund>}}`` with the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers. The
signature check is :func:`unipay.webhooks.signatures.verify`; this module only knows Acme Pay's
event names and payload.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from unipay.errors import InvalidRequest, WebhookVerificationError
from unipay.models import Payment, WebhookEvent, WebhookEventType
from unipay.webhooks.signatures import WebhookSecret, sign_headers, verify
from unipay_example import api

#: Acme Pay's event types and their unified meaning; anything else is ``WebhookEventType.OTHER``.
EVENT_TYPES = {
    "charge.paid": WebhookEventType.PAYMENT_SUCCEEDED,
    "charge.failed": WebhookEventType.PAYMENT_FAILED,
    "charge.voided": WebhookEventType.PAYMENT_CANCELED,
    "charge.action_required": WebhookEventType.PAYMENT_REQUIRES_ACTION,
    "charge.authorized": WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
    "refund.succeeded": WebhookEventType.REFUND_SUCCEEDED,
    "refund.failed": WebhookEventType.REFUND_FAILED,
}


def verify_delivery(
    provider: str, body: bytes, headers: Mapping[str, str], keys: tuple[WebhookSecret, ...]
) -> WebhookEvent:
    """Check the signature first, then read the event; raise ``WebhookVerificationError``."""
    if not keys:
        raise WebhookVerificationError(
            "Webhook rejected: no signing secret is configured (set ACME_WEBHOOK_SECRET).",
            provider=provider,
        )
    delivery = verify(body, headers, keys, provider=provider)
    try:
        return to_event(provider, delivery.msg_id, json.loads(body))
    except (ValueError, KeyError, TypeError):
        # Never echo the body: the message says what is wrong, not what was sent.
        raise WebhookVerificationError(
            "Webhook rejected: the body is not an Acme Pay event.", provider=provider
        ) from None


def to_event(provider: str, event_id: str, payload: Mapping[str, Any]) -> WebhookEvent:
    """A verified Acme Pay event (parsed JSON) as a unified :class:`~unipay.WebhookEvent`."""
    kind = str(payload["type"])
    data = dict(payload["data"])
    unified = EVENT_TYPES.get(kind, WebhookEventType.OTHER)
    is_charge = data.get("object") == "charge" and kind.startswith("charge.")
    is_refund = data.get("object") == "refund" and kind.startswith("refund.")
    return WebhookEvent(
        id=event_id,
        provider=provider,
        type=unified,
        provider_type=kind,
        data=data,
        payment=api.read_charge(provider, data) if is_charge else None,
        refund=api.read_refund(provider, data) if is_refund else None,
        created_at=datetime.fromtimestamp(int(payload["created"]), UTC),
    )


def build_delivery(
    kind: str, data: Mapping[str, Any], *, secret: WebhookSecret
) -> tuple[bytes, dict[str, str]]:
    """A delivery signed as Acme Pay signs it: the sender's side, for tests and the CLI."""
    event_id = "evt_" + secrets.token_hex(12)
    now = int(time.time())
    event = {"id": event_id, "type": kind, "created": now, "data": dict(data)}
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = sign_headers(body, secret=secret, msg_id=event_id, timestamp=now)
    return body, {"content-type": "application/json", **headers}


def payment_delivery(
    event_type: WebhookEventType, payment: Payment, *, secret: WebhookSecret
) -> tuple[bytes, dict[str, str]]:
    """A signed Acme Pay event of the unified ``event_type`` about ``payment``."""
    kinds = [kind for kind, unified in EVENT_TYPES.items() if unified is event_type]
    if not kinds or not kinds[0].startswith("charge."):
        names = ", ".join(t.value for t in EVENT_TYPES.values() if t.value.startswith("payment."))
        raise InvalidRequest(
            f"Acme Pay sends no event for {event_type.value!r}; choose one of {names}.",
            param="event_type",
        )
    return build_delivery(kinds[0], api.charge_from_payment(payment), secret=secret)
