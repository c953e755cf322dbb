"""How far along a payment is, so that no write ever moves a stored record backwards.

Every store applies these rules inside its own atomic section (a lock, a transaction), so
concurrent writers (a webhook, a refund, a retrieve) cannot interleave a read and a write.
Providers deliver at least once and in no guaranteed order: ``payment.succeeded`` can arrive
before the ``payment.processing`` that preceded it. Statuses are ranked once, here, along the
path a payment intent takes; an event's payment replaces the stored one only when its status
ranks at least as far along. Succeeded and canceled are terminal and share the last rank, so
neither overwrites the other. With equal statuses the newer snapshot wins, except that the
amounts received and refunded, which only ever grow, keep their larger value.

The cost of the rule: a failed attempt (``requires_action`` back to ``requires_payment_method``)
is not recorded over the further-along status, since an out-of-order stale event looks the same.
Handlers still receive the ``payment.failed`` event, and ``retrieve_payment`` returns the
provider's own current state.
"""

from __future__ import annotations

from collections.abc import Iterable

from unipay.models import Payment, PaymentStatus, Refund, RefundStatus

PAYMENT_STATUS_ORDER: dict[PaymentStatus, int] = {
    PaymentStatus.REQUIRES_PAYMENT_METHOD: 0,
    PaymentStatus.REQUIRES_CONFIRMATION: 1,
    PaymentStatus.REQUIRES_ACTION: 2,
    PaymentStatus.PROCESSING: 3,
    PaymentStatus.REQUIRES_CAPTURE: 4,
    PaymentStatus.SUCCEEDED: 5,
    PaymentStatus.CANCELED: 5,
}

_REFUND_SETTLED = frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED})


def advance_payment(stored: Payment | None, incoming: Payment) -> Payment | None:
    """The payment to store after ``incoming`` arrived, or None when the stored one stands."""
    if stored is None:
        return incoming
    old, new = PAYMENT_STATUS_ORDER[stored.status], PAYMENT_STATUS_ORDER[incoming.status]
    if new < old or (new == old and incoming.status is not stored.status):
        return None
    merged = incoming.model_copy(
        update={
            "amount_received": max(stored.amount_received, incoming.amount_received),
            "amount_refunded": max(stored.amount_refunded, incoming.amount_refunded),
        }
    )
    return None if merged == stored else merged


def advance_refund(stored: Refund | None, incoming: Refund) -> Refund | None:
    """The refund to store, or None: a settled refund is never reopened by a late event."""
    if stored is None:
        return incoming
    if stored.status in _REFUND_SETTLED and incoming.status is not stored.status:
        return None
    return None if incoming == stored else incoming


_REFUND_COUNTED = frozenset(
    {RefundStatus.PENDING, RefundStatus.REQUIRES_ACTION, RefundStatus.SUCCEEDED}
)


def count_refunds(
    payment: Payment, refunds: Iterable[Refund], uncounted: Refund | None = None
) -> Payment | None:
    """The payment with ``amount_refunded`` raised to what its known refunds add up to, or None
    when it already says as much.

    The total is recomputed from the refunds themselves (each counted once, by id) rather than
    added to, so a refund that is saved twice, or that a webhook reported first, is never
    counted twice; and it only ever raises the stored figure, which may include refunds made
    outside unipay. The one exception is ``uncounted``: a refund that was counted (pending) and
    has just failed, whose amount goes back, down to no less than the refunds still counted."""
    total = sum(refund.amount for refund in refunds if refund.status in _REFUND_COUNTED)
    if uncounted is not None:
        lowered = max(total, payment.amount_refunded - uncounted.amount)
        if lowered < payment.amount_refunded:
            return payment.model_copy(update={"amount_refunded": lowered})
    if total <= payment.amount_refunded:
        return None
    return payment.model_copy(update={"amount_refunded": total})


def no_longer_counted(stored: Refund | None, saved: Refund) -> Refund | None:
    """``saved`` if it was counted in its payment's refunded amount and now is not (a pending
    refund that failed): the store then gives its amount back."""
    counted_before = stored is not None and stored.status in _REFUND_COUNTED
    return saved if counted_before and saved.status not in _REFUND_COUNTED else None
