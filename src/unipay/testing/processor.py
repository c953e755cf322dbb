"""A reference payment processor: the state machine a plugin's fake provider API sits on.

A fake of a provider's HTTP API has two jobs: speak the provider's wire format, and behave like a
payment processor (which status allows a capture, how much is still refundable, what a repeated
idempotency key answers). The second job is the same for every provider and easy to get subtly
wrong, so it lives here, once, tested; a fake only maps JSON and status names onto it. Statuses
are the values of `unipay.models.PaymentStatus` and `RefundStatus`. Pure Python, no I/O,
thread-safe (one lock around every operation). A fake's route, e.g. with httpx::

    processor = ReferenceProcessor(id_prefix="ch", behaviour=acme_behaviour)

    def create_charge(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        try:
            payment = processor.create(body["amount"], body["currency"],
                payment_method=body.get("source"), capture=body.get("capture", "automatic"),
                idempotency_key=request.headers.get("Idempotency-Key"))
        except ProcessorError as error:
            return httpx.Response(error.status, json={"error": {"code": error.code}})
        return httpx.Response(200, json={"id": payment.id, "status": STATUS[payment.status]})

Every change leaves a `ProcessorEvent` in `ReferenceProcessor.events`, for a fake's webhooks.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

__all__ = [
    "Behaviour",
    "Pending",
    "ProcessorError",
    "ProcessorEvent",
    "ProcessorPayment",
    "ProcessorRefund",
    "ReferenceProcessor",
    "default_behaviour",
]

Capture = Literal["automatic", "manual"]
PendingKind = Literal["capture", "cancel", "refund"]
_Op = TypeVar("_Op", bound=Callable[..., Any])
_UNAUTHORISED = ("requires_payment_method", "requires_confirmation", "requires_action")
_STATUS = {"card_declined": 402, "invalid_state": 409, "idempotency_key_reused": 409}


@dataclass(frozen=True)
class Behaviour:
    """How a payment method behaves when confirmed: its action first (if any), then its decline
    (if any) or success."""

    decline_code: str | None = None
    action: str | None = None


def default_behaviour(payment_method: str) -> Behaviour:
    """Neutral words in the token: ``insufficient_funds`` and ``decline`` decline,
    ``authentication`` and ``3ds`` ask for 3-D Secure (then decline, if both); else success."""
    token = payment_method.lower()
    words = {"insufficient_funds": "insufficient_funds", "decline": "card_declined"}
    decline = next((code for word, code in words.items() if word in token), None)
    action = "three_d_secure" if "authentication" in token or "3ds" in token else None
    return Behaviour(decline_code=decline, action=action)


@dataclass(frozen=True)
class Pending:
    """A capture, cancel or refund answered but not settled yet (``settles_later=True``)."""

    id: str
    kind: PendingKind
    payment_id: str
    amount: int


@dataclass(frozen=True)
class ProcessorPayment:
    id: str
    amount: int
    currency: str
    status: str
    capture: Capture
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0
    payment_method: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    decline_code: str | None = None
    #: What the customer must do (``three_d_secure``) while ``requires_action``.
    action: str | None = None
    pending: tuple[Pending, ...] = ()


@dataclass(frozen=True)
class ProcessorRefund:
    id: str
    payment_id: str
    amount: int
    status: Literal["pending", "succeeded", "failed"]
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessorEvent:
    """``payment.<status>`` (and ``payment.created``, ``payment.failed`` on a decline),
    ``refund.<status>``, ``capture.failed``, ``cancel.failed``; ``object`` is the snapshot."""

    id: str
    type: str
    object: ProcessorPayment | ProcessorRefund


class ProcessorError(Exception):
    """The one error. ``status`` is the HTTP status to answer: 402 for ``card_declined``, 404 for
    ``*_not_found``, 409 for ``invalid_state`` and ``idempotency_key_reused``, else 400."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        decline_code: str | None = None,
        payment: ProcessorPayment | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message
        self.decline_code, self.payment = decline_code, payment
        default = 404 if code.endswith("_not_found") else _STATUS.get(code, 400)
        self.status = default if status is None else status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _operation(method: _Op) -> _Op:
    """Run an operation under the lock, at most once per idempotency key (when keys are on)."""
    signature = inspect.signature(method)
    name = method.__name__

    @functools.wraps(method)
    def run(self: ReferenceProcessor, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        key = bound.arguments.pop("idempotency_key")
        request = (name, {k: v for k, v in bound.arguments.items() if k != "self"})
        with self._lock:
            if key is None or not self.idempotency_keys:
                self.calls[name] += 1
                return method(self, *args, **kwargs)
            if key in self._answers:
                first, answer = self._answers[key]
                if first != request:
                    raise ProcessorError(
                        "idempotency_key_reused", f"{key!r} was used for another request"
                    )
                self.replays[name] += 1
                if isinstance(answer, ProcessorError):
                    raise copy.copy(answer)
                return answer
            self.calls[name] += 1
            try:
                result = method(self, *args, **kwargs)
            except ProcessorError as error:
                self._answers[key] = (request, error)
                raise
            self._answers[key] = (request, result)
            return result

    return cast(_Op, run)


def _positive(amount: int) -> int:
    if amount <= 0:
        raise ProcessorError("invalid_amount", f"amounts are positive integers, not {amount}")
    return amount


class ReferenceProcessor:
    """Payments and refunds in memory, under the rules card processors share. ``calls`` counts
    the operations that acted (refused ones too); ``replays`` those answered from a stored key."""

    def __init__(
        self,
        *,
        idempotency_keys: bool = True,
        partial_capture: bool = True,
        partial_refunds: bool = True,
        multiple_refunds: bool = True,
        settles_later: bool = False,
        id_prefix: str = "pay",
        behaviour: Callable[[str], Behaviour] | None = None,
    ) -> None:
        self.idempotency_keys, self.settles_later = idempotency_keys, settles_later
        self.partial_capture, self.partial_refunds = partial_capture, partial_refunds
        self.multiple_refunds, self.id_prefix = multiple_refunds, id_prefix
        self.behaviour = behaviour or default_behaviour
        self.calls: Counter[str] = Counter()
        self.replays: Counter[str] = Counter()
        self.events: list[ProcessorEvent] = []  # append-only
        self._lock = threading.Lock()
        self._payments: dict[str, ProcessorPayment] = {}
        self._refunds: dict[str, ProcessorRefund] = {}
        self._pending: dict[str, Pending] = {}
        self._answers: dict[str, tuple[object, object]] = {}
        self._serial = 0

    @_operation
    def create(
        self,
        amount: int,
        currency: str,
        *,
        payment_method: str | None = None,
        capture: Capture = "automatic",
        confirm: bool = True,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> ProcessorPayment:
        """``confirm=True`` authorises at once (and raises ``card_declined`` on a decline)."""
        _positive(amount)
        if confirm and payment_method is None:
            raise ProcessorError("missing_payment_method", "confirm=True needs a payment_method")
        status = "requires_confirmation" if payment_method else "requires_payment_method"
        payment = ProcessorPayment(
            self._new_id(self.id_prefix), amount, currency, status, capture,
            payment_method=payment_method, reference=reference,
            metadata=MappingProxyType(dict(metadata or {})),
        )  # fmt: skip
        self._save(payment, "payment.created")
        return self._authorise(payment) if confirm else payment

    @_operation
    def confirm(
        self,
        payment_id: str,
        *,
        payment_method: str | None = None,
        idempotency_key: str | None = None,
    ) -> ProcessorPayment:
        payment = self._get(
            payment_id, "confirm", "requires_payment_method", "requires_confirmation"
        )
        method = payment_method or payment.payment_method
        if method is None:
            raise ProcessorError("missing_payment_method", f"{payment_id} has no payment method")
        return self._authorise(replace(payment, payment_method=method))

    @_operation
    def complete_action(
        self, payment_id: str, *, succeed: bool = True, idempotency_key: str | None = None
    ) -> ProcessorPayment:
        """The customer finished (or failed) 3-D Secure or a redirect. A decline is returned
        (``requires_payment_method`` with a ``decline_code``), not raised: nobody asked."""
        payment = self._get(payment_id, "complete_action", "requires_action")
        if succeed:
            return self._authorise(payment, after_action=True)
        return self._declined(payment, "authentication_failed")

    @_operation
    def capture(
        self, payment_id: str, amount: int | None = None, *, idempotency_key: str | None = None
    ) -> ProcessorPayment:
        """Capture all (by default) or part; a partial capture releases the rest."""
        payment = self._get(payment_id, "capture", "requires_capture")
        capturable = payment.amount_capturable
        wanted = capturable if amount is None else _positive(amount)
        if wanted > capturable:
            raise ProcessorError("amount_too_large", f"{wanted} exceeds capturable {capturable}")
        if wanted < capturable and not self.partial_capture:
            raise ProcessorError("partial_capture_unsupported", f"capture all {capturable}")
        if self.settles_later:
            return self._add_pending(payment, "capture", wanted)
        return self._captured(payment, wanted)

    @_operation
    def cancel(self, payment_id: str, *, idempotency_key: str | None = None) -> ProcessorPayment:
        """With ``settles_later``, voiding an authorisation (``requires_capture``) is pending;
        canceling a payment never authorised is immediate."""
        payment = self._get(payment_id, "cancel", *_UNAUTHORISED, "requires_capture")
        if self.settles_later and payment.status == "requires_capture":
            return self._add_pending(payment, "cancel", payment.amount_capturable)
        return self._canceled(payment)

    @_operation
    def refund(
        self,
        payment_id: str,
        amount: int | None = None,
        *,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> ProcessorRefund:
        """Refund all that is left (by default) or part; pending refunds count as refunded."""
        payment = self._get(payment_id, "refund", "succeeded")
        earlier = [r for r in self._refunds.values() if r.payment_id == payment_id]
        if not self.multiple_refunds and any(r.status != "failed" for r in earlier):
            raise ProcessorError("multiple_refunds_unsupported", f"{payment_id} has a refund")
        in_flight = sum(r.amount for r in earlier if r.status == "pending")
        refundable = payment.amount_received - payment.amount_refunded - in_flight
        wanted = refundable if amount is None else _positive(amount)
        if wanted > refundable or refundable == 0:
            raise ProcessorError("amount_too_large", f"{wanted} exceeds refundable {refundable}")
        if wanted < payment.amount_received and not self.partial_refunds:
            raise ProcessorError("partial_refunds_unsupported", "refund the whole payment")
        status: Literal["pending", "succeeded"] = "pending" if self.settles_later else "succeeded"
        meta = MappingProxyType(dict(metadata or {}))
        refund = ProcessorRefund(self._new_id("ref"), payment_id, wanted, status, reference, meta)
        self._refunds[refund.id] = refund
        if self.settles_later:
            self._add_pending(payment, "refund", wanted, refund.id)
        else:
            self._save(replace(payment, amount_refunded=payment.amount_refunded + wanted))
        self._emit(f"refund.{status}", refund)
        return refund

    def settle(
        self, modification_id: str, succeed: bool = True
    ) -> ProcessorPayment | ProcessorRefund:
        """Settle a pending capture, cancel or refund (its `Pending.id`; a refund's is the refund's
        id). Success applies it; failure leaves the payment as it was and the refund ``failed``.
        Returns the payment, or the refund."""
        with self._lock:
            if modification_id not in self._pending:
                raise ProcessorError(
                    "modification_not_found", f"nothing pending: {modification_id}"
                )
            self.calls["settle"] += 1
            pending = self._pending.pop(modification_id)
            payment = self._payments[pending.payment_id]
            payment = replace(payment, pending=tuple(p for p in payment.pending if p != pending))
            if pending.kind == "refund":
                refund = replace(
                    self._refunds[pending.id], status="succeeded" if succeed else "failed"
                )
                self._refunds[refund.id] = refund
                refunded = payment.amount_refunded + (pending.amount if succeed else 0)
                self._save(replace(payment, amount_refunded=refunded))
                self._emit(f"refund.{refund.status}", refund)
                return refund
            if not succeed:
                return self._save(payment, f"{pending.kind}.failed")
            if pending.kind == "capture":
                return self._captured(payment, pending.amount)
            return self._canceled(payment)

    def payment(self, payment_id: str) -> ProcessorPayment:
        with self._lock:
            return self._get(payment_id)

    def refund_of(self, refund_id: str) -> ProcessorRefund:
        with self._lock:
            if refund_id not in self._refunds:
                raise ProcessorError("refund_not_found", f"no refund {refund_id}")
            return self._refunds[refund_id]

    def find_by_reference(self, reference: str) -> ProcessorPayment | None:
        """The first payment created with this reference, if any."""
        with self._lock:
            return next((p for p in self._payments.values() if p.reference == reference), None)

    # --- internals, called with the lock held ---------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_{self._serial}"

    def _get(self, payment_id: str, op: str = "", *statuses: str) -> ProcessorPayment:
        """The payment, if found and (for ``op``) in one of ``statuses`` with nothing pending."""
        payment = self._payments.get(payment_id)
        if payment is None:
            raise ProcessorError("payment_not_found", f"no payment {payment_id}")
        if op and payment.status not in statuses:
            allowed = " or ".join(statuses)
            raise ProcessorError(
                "invalid_state", f"{op} needs {allowed}; {payment_id} is {payment.status}"
            )
        busy = [p.kind for p in payment.pending if p.kind != "refund"]
        if op and busy:
            raise ProcessorError("invalid_state", f"a {busy[0]} of {payment_id} is pending")
        return payment

    def _emit(self, kind: str, obj: ProcessorPayment | ProcessorRefund) -> None:
        self.events.append(ProcessorEvent(f"evt_{len(self.events) + 1}", kind, obj))

    def _save(self, payment: ProcessorPayment, event: str | None = None) -> ProcessorPayment:
        self._payments[payment.id] = payment
        if event is not None:
            self._emit(event, payment)
        return payment

    def _authorise(
        self, payment: ProcessorPayment, *, after_action: bool = False
    ) -> ProcessorPayment:
        """Run the payment method's behaviour; raises ``card_declined`` unless ``after_action``."""
        assert payment.payment_method is not None
        behaviour = self.behaviour(payment.payment_method)
        payment = replace(payment, action=None, decline_code=None)
        if behaviour.action and not after_action:
            waiting = replace(payment, status="requires_action", action=behaviour.action)
            return self._save(waiting, "payment.requires_action")
        if behaviour.decline_code:
            declined = self._declined(payment, behaviour.decline_code)
            if after_action:
                return declined
            message = f"the payment method was declined ({behaviour.decline_code})"
            raise ProcessorError(
                "card_declined", message, decline_code=behaviour.decline_code, payment=declined
            )
        if payment.capture == "manual":
            held = replace(payment, status="requires_capture", amount_capturable=payment.amount)
            return self._save(held, "payment.requires_capture")
        paid = replace(payment, status="succeeded", amount_received=payment.amount)
        return self._save(paid, "payment.succeeded")

    def _declined(self, payment: ProcessorPayment, code: str) -> ProcessorPayment:
        declined = replace(
            payment, status="requires_payment_method", action=None, decline_code=code
        )
        return self._save(declined, "payment.failed")

    def _captured(self, payment: ProcessorPayment, amount: int) -> ProcessorPayment:
        paid = replace(payment, status="succeeded", amount_received=amount, amount_capturable=0)
        return self._save(paid, "payment.succeeded")

    def _canceled(self, payment: ProcessorPayment) -> ProcessorPayment:
        canceled = replace(payment, status="canceled", amount_capturable=0, action=None)
        return self._save(canceled, "payment.canceled")

    def _add_pending(
        self, payment: ProcessorPayment, kind: PendingKind, amount: int, pending_id: str = ""
    ) -> ProcessorPayment:
        pending = Pending(pending_id or self._new_id("mod"), kind, payment.id, amount)
        self._pending[pending.id] = pending
        return self._save(replace(payment, pending=(*payment.pending, pending)))
