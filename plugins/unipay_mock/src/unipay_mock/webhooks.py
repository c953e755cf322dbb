"""The mock's webhooks: Standard Webhooks signed, in the spec's recommended payload shape.

A mock event is ``{"id": "evt_...", "type": "payment.succeeded", "timestamp": "<ISO 8601>",
"data": {...}}``. The mock names its event types after the unified ones (it has no history of its
own to keep), ``data`` is the payment or refund as unipay serialises it, and the delivery's
``webhook-id`` is the event id, identical on every redelivery, which is what deduplication keys on.

    body, headers = build_delivery(payment_event("payment.succeeded", payment), secret=SECRET)
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from unipay.errors import InvalidRequest, WebhookVerificationError
from unipay.models import Payment, Refund, WebhookEvent, WebhookEventType
from unipay.webhooks.signatures import StandardWebhooks, WebhookSecret

#: The mock's signing secret when none is configured. Test-only: it is public, in this file.
DEFAULT_WEBHOOK_SECRET = "whsec_dW5pcGF5LW1vY2stdGVzdC1vbmx5LXdlYmhvb2sta2V5"  # noqa: S105
#: The setting that configures the secret(s).
SECRET_SETTING = "UNIPAY_MOCK_WEBHOOK_SECRET"  # noqa: S105 - a variable's name

_PAYMENT_TYPES = frozenset(t.value for t in WebhookEventType if t.value.startswith("payment."))
_REFUND_TYPES = frozenset(t.value for t in WebhookEventType if t.value.startswith("refund."))


def payment_event(event_type: str | WebhookEventType, payment: Payment) -> dict[str, Any]:
    """A mock event about ``payment``, e.g. ``payment_event("payment.succeeded", p)``."""
    return _event(_checked(event_type, _PAYMENT_TYPES), {"object": "payment", **_dump(payment)})


def refund_event(event_type: str | WebhookEventType, refund: Refund) -> dict[str, Any]:
    """A mock event about ``refund``, e.g. ``refund_event("refund.succeeded", r)``."""
    return _event(_checked(event_type, _REFUND_TYPES), {"object": "refund", **_dump(refund)})


def build_delivery(
    event: dict[str, Any],
    *,
    secret: str | WebhookSecret,
    timestamp: int | None = None,
    msg_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a correctly signed delivery of ``event``.

    ``msg_id`` defaults to the event's id (so building the same event twice is a redelivery);
    ``timestamp`` to now.
    """
    signer = StandardWebhooks("mock", secret, setting=SECRET_SETTING)
    return signer.sign(event, msg_id=msg_id or event.get("id"), timestamp=timestamp)


def verify_delivery(
    webhooks: StandardWebhooks, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> WebhookEvent:
    """Check the signature, then turn the mock's event JSON into a unified event."""
    event_id, payload = webhooks.verify(body, headers, now=now)
    try:
        return to_event(webhooks.provider, event_id, payload)
    except (ValueError, TypeError, KeyError, ValidationError):
        # The pydantic text repeats the input; the message says only what is wrong.
        raise WebhookVerificationError(
            "Webhook rejected: the body is not a mock event ({'type', 'timestamp', 'data'}).",
            provider=webhooks.provider,
        ) from None


def to_event(provider: str, event_id: str, payload: Any) -> WebhookEvent:
    """Map a verified mock event (parsed JSON) to a ``WebhookEvent``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise TypeError("a mock event is an object with an object 'data'")
    provider_type = payload["type"]
    if not isinstance(provider_type, str):
        raise TypeError("'type' must be a string")
    data: dict[str, Any] = payload["data"]
    unified = (
        WebhookEventType(provider_type)
        if provider_type in WebhookEventType._value2member_map_
        else WebhookEventType.OTHER
    )
    payment = refund = None
    fields = {k: v for k, v in data.items() if k not in ("object", "id")}
    if data.get("object") == "payment" and provider_type in _PAYMENT_TYPES:
        payment = Payment.model_validate({**fields, "provider": provider})
    elif data.get("object") == "refund" and provider_type in _REFUND_TYPES:
        refund = Refund.model_validate({**fields, "provider": provider})
    created = payload.get("timestamp")
    return WebhookEvent(
        id=event_id,
        provider=provider,
        type=unified,
        provider_type=provider_type,
        data=data,
        payment=payment,
        refund=refund,
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else _now(),
    )


def _checked(event_type: str | WebhookEventType, allowed: frozenset[str]) -> str:
    name = str(event_type.value if isinstance(event_type, WebhookEventType) else event_type)
    if name not in allowed:
        raise InvalidRequest(
            f"event type must be one of {', '.join(sorted(allowed))}", param="event_type"
        )
    return name


def _event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_" + _random.token_hex(12),
        "type": event_type,
        "timestamp": _now().isoformat(),
        "data": data,
    }


def _dump(result: Payment | Refund) -> dict[str, Any]:
    return result.model_dump(mode="json", exclude={"replayed"})


def _now() -> datetime:
    return datetime.now(UTC)
