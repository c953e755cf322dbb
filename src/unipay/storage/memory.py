"""An in-process store: fast, thread- and task-safe, gone when the process ends."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from unipay.models import Payment, Refund
from unipay.storage.base import Claim, ClaimState, Store
from unipay.storage.progress import advance_payment, advance_refund, count_refunds


@dataclass(slots=True)
class _Record:
    fingerprint: str
    token: str | None
    lease_until: float
    expires_at: float
    result: str | None = None


class MemoryStore(Store):
    """The default store. Every method holds one lock for a few dict operations, so the async
    gateway calls it directly instead of through a thread.

    Its clock is monotonic: a wall clock stepped by NTP (or by hand) cannot expire a live claim.
    ``clock`` exists for tests that move time without sleeping.
    """

    blocking = False

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], _Record] = {}
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}
        #: Refund ids by payment id, in the order first seen (a dict as an ordered set).
        self._refund_ids: dict[str, dict[str, None]] = {}

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        with self._lock:
            now = self._clock()
            record = self._records.get((scope, key))
            if record is not None and record.expires_at <= now:
                record = None
            if record is not None:
                if record.fingerprint != fingerprint:
                    return Claim(ClaimState.MISMATCH)
                if record.result is not None:
                    return Claim(ClaimState.COMPLETED, result=record.result)
                if now < record.lease_until:
                    return Claim(ClaimState.IN_PROGRESS)
            token = uuid.uuid4().hex
            self._records[(scope, key)] = _Record(fingerprint, token, now + lease, now + retention)
            return Claim(ClaimState.CLAIMED, token=token)

    def complete(
        self,
        scope: str,
        key: str,
        token: str,
        result: str,
        *,
        payment: Payment | None = None,
        refund: Refund | None = None,
    ) -> None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.token == token:
                record.result, record.token = result, None
            if payment is not None:
                self._save_payment(payment)
            if refund is not None:
                self._save_refund(refund)

    def release(self, scope: str, key: str, token: str) -> None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.token == token and record.result is None:
                del self._records[(scope, key)]

    def get_result(self, scope: str, key: str) -> str | None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is None or record.expires_at <= self._clock():
                return None
            return record.result

    def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Removes expired records ``batch_size`` at a time, letting other threads in between."""
        purged = 0
        while True:
            with self._lock:
                now = self._clock()
                expired = [k for k, r in self._records.items() if r.expires_at <= now]
                for k in expired[:batch_size]:
                    del self._records[k]
            purged += min(len(expired), batch_size)
            if len(expired) <= batch_size:
                return purged

    def save_payment(self, payment: Payment) -> None:
        with self._lock:
            self._save_payment(payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        with self._lock:
            return self._payments.get(payment_id)

    def save_refund(self, refund: Refund) -> None:
        with self._lock:
            self._save_refund(refund)

    def get_refund(self, refund_id: str) -> Refund | None:
        with self._lock:
            return self._refunds.get(refund_id)

    def list_payments(
        self,
        *,
        provider: str | None = None,
        status: str | None = None,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> list[Payment]:
        """A sort of every stored payment per page: fine for a test double's thousands."""
        with self._lock:
            cursor = self._payments.get(starting_after) if starting_after is not None else None
            if starting_after is not None and cursor is None:
                return []
            matching = [
                p
                for p in self._payments.values()
                if (provider is None or p.provider == provider)
                and (status is None or p.status == status)
                and (cursor is None or (p.created_at, p.id) < (cursor.created_at, cursor.id))
            ]
        matching.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return matching[:limit]

    def list_refunds(self, payment_id: str) -> list[Refund]:
        with self._lock:
            refunds = self._refunds_of(payment_id)
        return sorted(refunds, key=lambda r: (r.created_at, r.id))

    # --- under the lock -----------------------------------------------------------------------

    def _save_payment(self, payment: Payment) -> None:
        forward = advance_payment(self._payments.get(payment.id), payment)
        if forward is not None:
            self._payments[payment.id] = forward

    def _save_refund(self, refund: Refund) -> None:
        stored = self._refunds.get(refund.id)
        forward = advance_refund(stored, refund)
        if forward is None:
            return
        self._refunds[refund.id] = forward
        # Indexed under its payment whenever saved: a provider may report one refund id under
        # another payment id later, and the refund then counts where it now says it belongs.
        self._refund_ids.setdefault(refund.payment_id, {})[refund.id] = None
        payment = self._payments.get(refund.payment_id)
        if payment is not None:
            counted = count_refunds(payment, self._refunds_of(refund.payment_id))
            if counted is not None:
                self._payments[payment.id] = counted

    def _refunds_of(self, payment_id: str) -> list[Refund]:
        return [
            refund
            for refund in map(self._refunds.__getitem__, self._refund_ids.get(payment_id, {}))
            if refund.payment_id == payment_id
        ]
