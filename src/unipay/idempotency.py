"""Idempotency: fingerprints, policies, and how outcomes are stored and replayed.

The semantics follow Stripe and the IETF Idempotency-Key draft; ``docs/idempotency.md`` explains
each decision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from unipay._flow import Flow, call
from unipay.errors import InvalidRequest, OutcomeUnknown, PaymentDeclined
from unipay.models import Payment, Refund

if TYPE_CHECKING:
    from unipay.storage.base import Store

logger = logging.getLogger("unipay")

KEY_MAX_LENGTH = 255
OPERATION_SCOPE = "operation"
WEBHOOK_SCOPE = "webhook"
#: Per-payment locks that serialize refunds and captures whose checks read the stored payment.
PAYMENT_SCOPE = "payment"
#: Marks an operation key whose provider call has begun, for providers without idempotency keys:
#: a caller that takes over the key (its first holder died) knows the call may have happened.
ATTEMPT_SCOPE = "attempt"
#: What ``Gateway.reconcile`` learned about an operation key whose outcome was unknown.
RESOLVED_SCOPE = "resolved"


@dataclass(frozen=True)
class IdempotencyPolicy:
    #: How long a completed key replays its result (Stripe keeps keys 24 hours).
    retention: float = 24 * 3600.0
    #: The lease this gateway writes with each claim: if the call has not finished when it runs
    #: out (by the store's clock), its process is presumed dead and another caller may take the
    #: key over. Other gateways' settings never shorten it. Keep it above your longest provider
    #: call; retries stop at half of it.
    lock_timeout: float = 60.0
    #: How long a call waits for a concurrent call with the same key before raising
    #: ``IdempotencyInProgress``; 0 raises at once.
    wait: float = 0.0
    poll_interval: float = 0.05

    def __post_init__(self) -> None:
        _require(self.lock_timeout > 0, "lock_timeout", "must be positive")
        _require(
            self.retention >= self.lock_timeout,
            "retention",
            "must be at least lock_timeout, or a running call's key could expire under it",
        )
        _require(self.wait >= 0, "wait", "must be 0 (raise at once) or more seconds")
        _require(self.poll_interval > 0, "poll_interval", "must be positive")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient provider failures, always with the same idempotency key."""

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0

    def __post_init__(self) -> None:
        _require(self.attempts >= 1, "attempts", "must be at least 1 (1 means no retry)")
        _require(0 <= self.base_delay <= self.max_delay, "base_delay", "must be 0..max_delay")

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _require(condition: bool, param: str, rule: str) -> None:
    if not condition:
        raise InvalidRequest(f"{param} {rule}", param=param)


def release_claim(store: Store, scope: str, key: str, token: str) -> Flow[None]:
    """Give a claimed key back so a retry runs again. A store that fails here is logged, not
    raised: the caller's own error matters more, and the claim unlocks after the lock timeout."""
    try:
        yield from call(store.release, scope, key, token)
    except Exception:
        logger.warning(
            "could not release %s key %r; it unlocks after the lock timeout",
            scope,
            key,
            exc_info=True,
        )


#: What a key may hold (docs/idempotency.md, "What a key may contain"): what an HTTP header
#: carries unchanged (no control characters; outer spaces would be trimmed) and every store keeps.
KEY_RULE = (
    f"1 to {KEY_MAX_LENGTH} printable ASCII characters (letters, digits, punctuation, and "
    "spaces between them), without control characters, line breaks or non-ASCII characters"
)


def check_key(key: str) -> str:
    """The key, if every store and transport can carry it; else InvalidRequest, which no retry
    fixes. The message says what is wrong and what is allowed, never the key itself."""
    if not isinstance(key, str):
        problem = f"it is a {type(key).__name__}, not a string"
    elif not 1 <= len(key) <= KEY_MAX_LENGTH:
        problem = f"it has {len(key)} characters"
    elif not key.isascii():
        problem = "it holds a non-ASCII character"
    elif not key.isprintable():  # for ASCII: 0x00-0x1F and 0x7F (NUL, tab, CR, LF, ...)
        problem = "it holds a control character or a line break"
    elif key[0] == " " or key[-1] == " ":
        problem = "it starts or ends with a space"
    else:
        return key
    raise InvalidRequest(
        f"idempotency_key must be {KEY_RULE}; {problem}. A UUID4 is a good choice.",
        param="idempotency_key",
    )


def fingerprint(operation: str, provider: str, target: str | None, request: BaseModel) -> str:
    """Hash of the operation and its canonical parameters: key order never matters.

    Request models serialize their fields in declaration order, and the one mapping they hold
    (``metadata``) is sorted when validated, so pydantic's own JSON is already canonical: no
    second pass through ``json.dumps(sort_keys=True)`` on every call.
    """
    digest = hashlib.sha256(f"{operation}\0{provider}\0{target or ''}\0".encode())
    digest.update(request.__pydantic_serializer__.to_json(request))
    return digest.hexdigest()


def encode_result(result: Payment | Refund | PaymentDeclined) -> str:
    """The JSON kept for replays: a payment, a refund, or a decline with its payment."""
    body: dict[str, Any]
    if isinstance(result, PaymentDeclined):
        body = {
            "declined": {
                "message": result.message,
                "decline_code": result.decline_code,
                "provider_code": result.provider_code,
                "request_id": result.request_id,
                "payment": result.payment.model_dump(mode="json") if result.payment else None,
            }
        }
        return json.dumps(body, separators=(",", ":"))
    # The hot path: pydantic-core writes the JSON, no intermediate dict, and is called directly
    # (model_dump_json's keyword handling was a sixth of this function).
    kind = "refund" if isinstance(result, Refund) else "payment"
    return f'{{"{kind}":{result.__pydantic_serializer__.to_json(result).decode()}}}'


@dataclass(frozen=True)
class Unknown:
    """An operation whose outcome is in doubt: what ``reconcile`` needs to settle it."""

    operation: str
    provider: str
    payment_id: str | None
    reference: str
    key: str

    def encode(self) -> str:
        return json.dumps({"unknown": self.__dict__}, separators=(",", ":"))

    def error(self) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"{self.provider!r} may or may not have done {self.operation} for idempotency key "
            f"{self.key!r} (merchant reference {self.reference}). It does not deduplicate "
            "requests, so unipay will not send it again: run Gateway.reconcile(key) or "
            "`unipay reconcile KEY` once the provider answers.",
            idempotency_key=self.key,
            provider=self.provider,
        )


#: A reconciled unknown that the provider never acted on.
_ABSENT = '{"absent":true}'


def encode_absent() -> str:
    return _ABSENT


def unknown_of(text: str) -> Unknown | None:
    """The unknown outcome stored as ``text``, if that is what it is."""
    if not text.startswith('{"unknown"'):
        return None
    return Unknown(**json.loads(text)["unknown"])


def decode_result(text: str, *, replayed: bool = True) -> Payment | Refund:
    """Rebuild a stored outcome, marked ``replayed``; a stored decline or unknown outcome is
    raised again."""
    body = json.loads(text)
    if "unknown" in body:
        raise Unknown(**body["unknown"]).error()
    if "absent" in body:
        raise InvalidRequest(
            "Reconciled: the provider never acted on the call made with this idempotency key. "
            "Send it again with a new key.",
            param="idempotency_key",
        )
    if "payment" in body:
        return Payment.model_validate({**body["payment"], "replayed": replayed})
    if "refund" in body:
        return Refund.model_validate({**body["refund"], "replayed": replayed})
    declined = body["declined"]
    stored = declined["payment"]
    payment = Payment.model_validate({**stored, "replayed": replayed}) if stored else None
    raise PaymentDeclined(
        declined["message"],
        decline_code=declined["decline_code"],
        payment=payment,
        provider=payment.provider if payment else None,
        provider_code=declined["provider_code"],
        request_id=declined["request_id"],
    )
