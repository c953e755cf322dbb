"""What this process has learnt of its payments and refunds, because Adyen cannot be asked.

Adyen's Checkout API has no endpoint to read a payment, yet its captures and refunds must name
the amount and currency, and its notifications carry only part of a payment (no metadata on a
CAPTURE, no original amount on a REFUND). So the provider remembers the payments and refunds it
returned or read from a notification, bounded, and builds full unified objects from them.
Captures, cancels, refunds and confirms also get the stored payment from the gateway
(``CallContext.payment``), so another host or a restart still knows it; a notification read by a
process that never saw the payment is a partial event the store completes, and is not
remembered here (only whole payments are). ``amount_refunded`` counts a pending refund, as the
store does, until a failure gives it back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from unipay.models import Payment, Refund
from unipay.storage.progress import advance_payment, advance_refund

T = TypeVar("T")

#: Payments (and, apart, refunds) kept per provider instance: a few megabytes at most.
LIMIT = 50_000


class _Recent(Generic[T]):
    """The most recently used ``LIMIT`` values by id, thread-safe."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)


class Memory:
    """Payments by provider id (a pspReference, or unipay's reference before Adyen gave one) and
    refunds by their pspReference."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._payments: _Recent[Payment] = _Recent(limit)
        self._refunds: _Recent[Refund] = _Recent(limit)
        self._lock = threading.Lock()

    def payment(self, provider_payment_id: str) -> Payment | None:
        return self._payments.get(provider_payment_id)

    def refund(self, provider_refund_id: str) -> Refund | None:
        return self._refunds.get(provider_refund_id)

    def answered(self, payment: Payment, *also: str) -> None:
        """Adyen's answer to a call: it is the payment's state now (``also``: former ids)."""
        for key in (payment.provider_payment_id, *also):
            self._payments.put(key, payment)

    def notified(self, payment: Payment) -> None:
        """A notification's payment: kept only if it moves the known one forward (notifications
        arrive in any order), by the store's own rules."""
        with self._lock:
            known = self._payments.get(payment.provider_payment_id)
            forward = advance_payment(known, payment)
            if forward is not None:
                self._payments.put(payment.provider_payment_id, forward)

    def refund_settled(
        self, provider_payment_id: str, reference: str, amount: int, *, succeeded: bool
    ) -> None:
        """The payment's pending refund ``reference`` settled: no longer pending, and a failed
        one's amount given back (counted when asked for, as the store counts it). A redelivery
        finds it settled already and changes nothing."""
        with self._lock:
            payment = self._payments.get(provider_payment_id)
            if payment is None or all(p.provider_reference != reference for p in payment.pending):
                return
            refunded = payment.amount_refunded - (0 if succeeded else amount)
            update = {
                "pending": tuple(p for p in payment.pending if p.provider_reference != reference),
                "amount_refunded": max(0, refunded),
            }
            self._payments.put(provider_payment_id, payment.model_copy(update=update))

    def refunded(self, refund: Refund) -> None:
        with self._lock:
            forward = advance_refund(self._refunds.get(refund.provider_refund_id), refund)
            if forward is not None:
                self._refunds.put(refund.provider_refund_id, forward)
