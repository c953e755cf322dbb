"""Adyen's standard notifications: verified, then read into unified events, one per item.

A delivery is ``{"live": "false", "notificationItems": [{"NotificationRequestItem": {...}}, ...]}``.
Each item carries its own signature in ``additionalData.hmacSignature``: the base64 HMAC-SHA256,
under the endpoint's HMAC key given in hex, of ``pspReference:originalReference:
merchantAccountCode:merchantReference:value:currency:eventCode:success`` (empty fields empty), as
https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures documents. Every
item of a delivery must verify, and the endpoint's Basic auth too when it is configured, before
anything in it is read. Several keys may be configured while one is rolled.

A notification carries part of a payment only (a CAPTURE has no metadata, a REFUND no original
amount), so each event is built on what this process remembers of the payment
(`unipay_adyen.memory`). When it remembers nothing (another host, a restart), the event is
partial (`WebhookEvent.partial`): only what the notification reports is marked as set, and the
store keeps the rest of the payment as it has it (metadata, description, the authorised amount).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError
from unipay.models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookEventType,
    payment_id,
)
from unipay_adyen.currencies import to_adyen_amount
from unipay_adyen.mapping import CAPTURE_KEY, REFUSALS, Unreadable, decline_code, read_amount
from unipay_adyen.memory import Memory

logger = logging.getLogger("unipay.adyen")

HMAC_KEY_ENV = "ADYEN_HMAC_KEY"
#: The fields signed, in the order Adyen signs them (``value`` and ``currency`` are ``amount``'s).
SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)
_METADATA = "metadata."
_REASON_OF = {r.decline_code: r.reason for r in reversed(REFUSALS)}
#: Marked as set on every partial payment: who holds it, and its status.
_IDENTITY = ("provider", "provider_payment_id", "currency", "status")


def signing_string(item: Mapping[str, Any]) -> str:
    """The text Adyen signs for one ``NotificationRequestItem``."""
    amount = item.get("amount")
    amount = amount if isinstance(amount, Mapping) else {}
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}
    return ":".join(_field(values.get(name)) for name in SIGNED_FIELDS)


def _field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hmac_signature(item: Mapping[str, Any], key: bytes) -> str:
    """``additionalData.hmacSignature`` for ``item`` under ``key`` (the hex key, decoded)."""
    digest = hmac.new(key, signing_string(item).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def hmac_key(hex_key: str) -> bytes:
    """The key Adyen's Customer Area shows (hex), as bytes; ProviderNotConfigured otherwise,
    without repeating it."""
    try:
        key = binascii.unhexlify(hex_key.strip())
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ProviderNotConfigured(
            "adyen",
            HMAC_KEY_ENV,
            "It is the hexadecimal HMAC key of the webhook in Adyen's Customer Area "
            "(Developers > Webhooks); the value given is not hexadecimal.",
        )
    return key


@dataclass(frozen=True)
class _Item:
    """One verified notification item, its fields read."""

    raw: Mapping[str, Any]
    code: str
    success: bool
    psp: str
    original: str | None
    amount: int
    currency: str
    reason: str | None
    additional: Mapping[str, str]
    created: datetime


class Notifications:
    """Verifies deliveries and reads them into events; signs test deliveries the same way."""

    def __init__(
        self,
        provider: str,
        *,
        merchant_account: str,
        keys: Sequence[bytes],
        basic_auth: tuple[str, str] | None,
        live: bool,
        memory: Memory,
    ) -> None:
        self.provider = provider
        self.merchant_account = merchant_account
        self._keys = tuple(keys)
        self._basic_auth = basic_auth
        self.live = live
        self.memory = memory

    def __repr__(self) -> str:
        auth = "basic" if self._basic_auth else "none"
        return f"<Notifications {self.provider!r} keys={len(self._keys)} auth={auth}>"

    # --- verification -------------------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        if not self._keys:
            raise ProviderNotConfigured(
                self.provider,
                HMAC_KEY_ENV,
                "It is the hexadecimal HMAC key of the webhook in Adyen's Customer Area.",
            )
        self._check_basic_auth(headers)
        try:
            delivery = json.loads(body)
        except (ValueError, RecursionError):
            raise self._refuse("the body is not JSON") from None
        items = self._items(delivery)
        for raw in items:
            self._check_signature(raw)
        live = delivery.get("live")
        if live is not None and str(live).lower() != ("true" if self.live else "false"):
            mode = "live" if self.live else "test"
            raise self._refuse(f"it is not from Adyen's {mode} environment, as this provider is")
        try:
            read = [_read(raw) for raw in items]
        except Unreadable as error:
            raise self._refuse(f"a signed item cannot be read: {error}") from None
        return [self._event(item) for item in read]

    def _check_basic_auth(self, headers: Mapping[str, str]) -> None:
        if self._basic_auth is None:
            return
        given = _header(headers, "authorization") or ""
        scheme, _, encoded = given.partition(" ")
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            user, sep, password = "", "", ""
        want_user, want_password = self._basic_auth
        ok = (
            scheme.lower() == "basic"
            and bool(sep)
            and hmac.compare_digest(user.encode(), want_user.encode())
            and hmac.compare_digest(password.encode(), want_password.encode())
        )
        if not ok:
            raise self._refuse("its Basic authentication does not match the configured one")

    def _items(self, delivery: object) -> list[Mapping[str, Any]]:
        wrappers = delivery.get("notificationItems") if isinstance(delivery, Mapping) else None
        if not isinstance(wrappers, list) or not wrappers:
            raise self._refuse("it has no notificationItems")
        items = [
            w.get("NotificationRequestItem") if isinstance(w, Mapping) else None for w in wrappers
        ]
        if not all(isinstance(item, Mapping) for item in items):
            raise self._refuse("a notification item is not a NotificationRequestItem")
        return [item for item in items if isinstance(item, Mapping)]

    def _check_signature(self, item: Mapping[str, Any]) -> None:
        additional = item.get("additionalData")
        given = additional.get("hmacSignature") if isinstance(additional, Mapping) else None
        if not isinstance(given, str) or not given:
            raise self._refuse("an item has no additionalData.hmacSignature")
        if not any(
            hmac.compare_digest(hmac_signature(item, key).encode(), given.encode())
            for key in self._keys
        ):
            raise self._refuse("an item's HMAC signature does not match")

    def _refuse(self, reason: str) -> WebhookVerificationError:
        return WebhookVerificationError(
            f"Adyen webhook refused: {reason}. Pass the raw request body and headers unchanged, "
            "and check ADYEN_HMAC_KEY (and ADYEN_WEBHOOK_USERNAME/PASSWORD when set).",
            provider=self.provider,
        )

    # --- events -------------------------------------------------------------------------------

    def _event(self, item: _Item) -> WebhookEvent:
        kind, payment, refund = WebhookEventType.OTHER, None, None
        if item.raw.get("merchantAccountCode") == self.merchant_account:
            kind, payment, refund = self._unified(item)
        else:
            logger.warning(
                "Adyen notification %s for another merchant account delivered as 'other'",
                item.psp[:40],
            )
        # A payment this process does not remember is built from the notification alone.
        partial = payment is not None and self.memory.payment(payment.provider_payment_id) is None
        partial_refund = (
            refund is not None and self.memory.refund(refund.provider_refund_id) is None
        )
        if payment is not None and not partial:
            # Only whole records are remembered: one built from a notification alone would
            # make the next notification of it a whole (and wrong) snapshot.
            self.memory.notified(payment)
        if refund is not None and not partial_refund:
            self.memory.refunded(refund)
        return WebhookEvent(
            id=f"{item.psp}:{item.code}:{'true' if item.success else 'false'}",
            provider=self.provider,
            type=kind,
            provider_type=item.code,
            data=dict(item.raw),
            payment=payment,
            refund=refund,
            created_at=item.created,
            partial=partial or partial_refund,
        )

    def _unified(self, item: _Item) -> tuple[WebhookEventType, Payment | None, Refund | None]:
        code, target = item.code, item.original or item.psp
        if code == "AUTHORISATION":
            return self._authorisation(item)
        if code == "CANCEL_OR_REFUND" and item.additional.get("modification.action") == "refund":
            code = "REFUND"
        if code in ("REFUND", "REFUND_FAILED"):
            succeeded = code == "REFUND" and item.success
            return self._refund(item, target, succeeded)
        if code == "CAPTURE" and item.success:
            return WebhookEventType.PAYMENT_SUCCEEDED, self._captured(item, target), None
        if code in ("CANCELLATION", "CANCEL_OR_REFUND", "TECHNICAL_CANCEL") and item.success:
            return WebhookEventType.PAYMENT_CANCELED, self._canceled(item, target), None
        if code in ("CAPTURE", "CAPTURE_FAILED", "CANCELLATION"):
            # The modification failed: the payment is held for capture as it was.
            known = self.memory.payment(target)
            if known is not None:
                payment = _settled(known, item.psp, {})
            else:
                bare = self._bare(item, target, capture=CaptureMethod.MANUAL)
                held = bare.model_copy(update={"status": PaymentStatus.REQUIRES_CAPTURE})
                payment = _reporting(held, "pending")
            return WebhookEventType.PAYMENT_REQUIRES_CAPTURE, payment, None
        return WebhookEventType.OTHER, None, None

    def _authorisation(self, item: _Item) -> tuple[WebhookEventType, Payment, None]:
        known = self.memory.payment(item.psp)
        metadata = {
            key.removeprefix(_METADATA): value
            for key, value in item.additional.items()
            if key.startswith(_METADATA)
        }
        echoed = bool(metadata)
        if metadata or known is None:
            manual = metadata.pop(CAPTURE_KEY, None) == CaptureMethod.MANUAL.value
        else:
            manual = known.capture_method is CaptureMethod.MANUAL
            metadata = dict(known.metadata)
        base = known or self._bare(item, item.psp)
        update: dict[str, Any] = {
            "amount": item.amount,
            "currency": item.currency,
            "capture_method": CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
            "metadata": metadata,
            "next_action": None,
        }
        email = item.additional.get("shopperEmail")
        if email:
            update["customer_email"] = email
        if not item.success:
            update |= {
                "status": PaymentStatus.REQUIRES_PAYMENT_METHOD,
                "decline_code": decline_code(None, item.reason),
            }
            kind = WebhookEventType.PAYMENT_FAILED
        else:
            update["decline_code"] = None
            if manual:
                update |= {
                    "status": PaymentStatus.REQUIRES_CAPTURE,
                    "amount_capturable": item.amount,
                }
                kind = WebhookEventType.PAYMENT_REQUIRES_CAPTURE
            else:
                update |= {"status": PaymentStatus.SUCCEEDED, "amount_received": item.amount}
                kind = WebhookEventType.PAYMENT_SUCCEEDED
        payment = base.model_copy(update=update)
        if known is not None:
            return kind, payment, None
        # The authorised amount is the payment's; metadata only when Adyen echoed some (an
        # empty echo cannot be told from none, and the store's then stands).
        reported = {*update} - ({"metadata"} if not echoed else set())
        return kind, _reporting(payment, *reported), None

    def _captured(self, item: _Item, target: str) -> Payment:
        known = self.memory.payment(target)
        base = known or self._bare(item, target, capture=CaptureMethod.MANUAL)
        received = {
            "status": PaymentStatus.SUCCEEDED,
            "amount_capturable": 0,
            "amount_received": max(base.amount_received, item.amount),
        }
        payment = _settled(base, item.psp, received)
        # A CAPTURE's amount is what was captured, not the payment's: `amount` is not reported
        # (the store's stands; the captured amount is only the guess of a payment it lacks).
        return payment if known is not None else _reporting(payment, *received, "pending")

    def _canceled(self, item: _Item, target: str) -> Payment:
        known = self.memory.payment(target)
        base = known or self._bare(item, target)
        canceled = {"status": PaymentStatus.CANCELED, "amount_capturable": 0, "next_action": None}
        payment = _settled(base, item.psp, canceled)
        return payment if known is not None else _reporting(payment, *canceled, "pending")

    def _refund(
        self, item: _Item, target: str, succeeded: bool
    ) -> tuple[WebhookEventType, None, Refund]:
        status = RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED
        known = self.memory.refund(item.psp)
        refund = (
            known.model_copy(update={"status": status})
            if known is not None
            # A refund another process made: report what the notification says, and let the
            # store keep its reason and metadata (a partial event; a store lacking it saves it).
            else Refund.model_construct(
                {"provider", "provider_refund_id", "payment_id", "amount", "status"},
                **Refund(
                    provider=self.provider,
                    provider_refund_id=item.psp,
                    payment_id=payment_id(self.provider, target),
                    amount=item.amount,
                    currency=item.currency,
                    status=status,
                    created_at=item.created,
                ).__dict__,
            )
        )
        self.memory.refund_settled(target, item.psp, refund.amount, succeeded=succeeded)
        kind = WebhookEventType.REFUND_SUCCEEDED if succeeded else WebhookEventType.REFUND_FAILED
        return kind, None, refund

    def _bare(
        self, item: _Item, target: str, capture: CaptureMethod = CaptureMethod.AUTOMATIC
    ) -> Payment:
        """A payment from the notification alone, for one this process never saw: what the
        event carries when the store does not know the payment either."""
        return Payment(
            provider=self.provider,
            provider_payment_id=target,
            status=PaymentStatus.PROCESSING,
            amount=item.amount,
            currency=item.currency,
            capture_method=capture,
            created_at=item.created,
        )

    # --- test deliveries ----------------------------------------------------------------------

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery of one item announcing ``event_type`` for ``payment``, signed with the
        first configured key as Adyen signs it (with the endpoint's Basic auth, if set)."""
        if not self._keys:
            raise ProviderNotConfigured(self.provider, HMAC_KEY_ENV)
        item = self._test_item(event_type, payment)
        item["additionalData"]["hmacSignature"] = hmac_signature(item, self._keys[0])
        delivery = {
            "live": "true" if self.live else "false",
            "notificationItems": [{"NotificationRequestItem": item}],
        }
        headers = {"content-type": "application/json"}
        if self._basic_auth is not None:
            token = base64.b64encode(":".join(self._basic_auth).encode()).decode()
            headers["authorization"] = f"Basic {token}"
        return json.dumps(delivery, separators=(",", ":")).encode(), headers

    def _test_item(self, event_type: WebhookEventType, payment: Payment) -> dict[str, Any]:
        psp, original = payment.provider_payment_id, ""
        amount, success, reason = payment.amount, "true", ""
        additional: dict[str, str] = {}
        manual = payment.capture_method is CaptureMethod.MANUAL
        authorisation = (
            WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
            WebhookEventType.PAYMENT_FAILED,
        )
        if event_type in authorisation or (
            event_type is WebhookEventType.PAYMENT_SUCCEEDED and not manual
        ):
            code = "AUTHORISATION"
            metadata = dict(payment.metadata)
            if event_type is WebhookEventType.PAYMENT_REQUIRES_CAPTURE:
                metadata[CAPTURE_KEY] = CaptureMethod.MANUAL.value
            additional = {_METADATA + key: value for key, value in metadata.items()}
            if payment.customer_email:
                additional["shopperEmail"] = payment.customer_email
            if event_type is WebhookEventType.PAYMENT_FAILED:
                success = "false"
                reason = _REASON_OF.get(payment.decline_code or "", "Refused")
        elif event_type is WebhookEventType.PAYMENT_SUCCEEDED:
            code, original = "CAPTURE", psp
            psp = self._pending_reference(payment, "capture") or _new_psp()
            amount = payment.amount_received or payment.amount
        elif event_type is WebhookEventType.PAYMENT_CANCELED:
            code, original = "CANCELLATION", psp
            psp = self._pending_reference(payment, "cancel") or _new_psp()
        else:
            raise InvalidRequest(
                f"Adyen sends no notification for {event_type.value!r}; use payment.succeeded, "
                "payment.requires_capture, payment.failed or payment.canceled.",
                param="event_type",
            )
        value = to_adyen_amount(amount, payment.currency)
        return {
            "additionalData": additional,
            "amount": {"value": value, "currency": payment.currency},
            "eventCode": code,
            "eventDate": datetime.now(UTC).isoformat(timespec="seconds"),
            "merchantAccountCode": self.merchant_account,
            "merchantReference": "unipay-test-delivery",
            "originalReference": original,
            "pspReference": psp,
            "reason": reason,
            "success": success,
        }

    def _pending_reference(self, payment: Payment, operation: str) -> str | None:
        """The pspReference of a pending ``operation`` of the payment, as given or remembered,
        so that a test delivery settles that very modification."""
        known = self.memory.payment(payment.provider_payment_id)
        for pending in (*payment.pending, *(() if known is None else known.pending)):
            if pending.operation == operation and pending.provider_reference:
                return pending.provider_reference
        return None


def _reporting(payment: Payment, *reported: str) -> Payment:
    """``payment`` (whole and valid, built from a notification alone) with only ``reported``
    and `_IDENTITY` marked as set, pydantic's ``model_fields_set``: for a partial event, the
    store keeps every other field as it has it; a store that lacks the payment saves it whole.
    ``pending`` is reported empty when the notification settles a modification: which others
    are pending is not known here (docs/providers/adyen.md, limits)."""
    values = {name: getattr(payment, name) for name in Payment.model_fields}
    return Payment.model_construct(_fields_set={*_IDENTITY, *reported}, **values)


def _settled(payment: Payment, reference: str, update: Mapping[str, Any]) -> Payment:
    """``payment`` without the pending modification ``reference`` (Adyen's pspReference of the
    capture, cancel or refund), with ``update`` applied."""
    pending = tuple(p for p in payment.pending if p.provider_reference != reference)
    return payment.model_copy(update={**update, "pending": pending})


def _read(raw: Mapping[str, Any]) -> _Item:
    code, success, psp = raw.get("eventCode"), raw.get("success"), raw.get("pspReference")
    if not isinstance(code, str) or not code or not isinstance(psp, str) or not psp:
        raise Unreadable("eventCode and pspReference must be non-empty strings")
    amount = read_amount(raw)
    if amount is None:
        raise Unreadable("it has no amount")
    additional = raw.get("additionalData")
    additional = additional if isinstance(additional, Mapping) else {}
    original = raw.get("originalReference")
    reason = raw.get("reason")
    return _Item(
        raw=raw,
        code=code,
        success=_field(success).lower() == "true",
        psp=psp,
        original=original if isinstance(original, str) and original else None,
        amount=amount[0],
        currency=amount[1],
        reason=reason if isinstance(reason, str) and reason else None,
        additional={k: v for k, v in additional.items() if isinstance(v, str)},
        created=_date(raw.get("eventDate")),
    )


def _date(value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _new_psp() -> str:
    return secrets.token_hex(8).upper()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
