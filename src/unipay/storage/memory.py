"""An in-process store: fast, thread- and task-safe, gone when the process ends."""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from unipay.models import Payment, Refund
from unipay.storage.base import Claim, ClaimState, Store
from unipay.storage.progress import (
    advance_payment,
    advance_refund,
    count_refunds,
    no_longer_counted,
)


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

    Expired idempotency records are dropped as new claims arrive (a few per claim, from a heap
    ordered by expiry), so a long-running process keeps about one retention period's worth of
    keys rather than every key it ever saw; ``purge_expired`` drops the rest in
    O(expired x log n), never rescanning live records.
    """

    #: Expired records a claim drops on its way: enough to keep up with any claim rate, few
    #: enough that no claim waits long.
    DROPPED_PER_CLAIM = 8

    blocking = False

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], _Record] = {}
        #: (expires_at, scope, key) per claim; an entry whose record was replaced or released
        #: since is skipped when it comes up.
        self._expiry: list[tuple[float, str, str]] = []
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}
        #: Refund ids by payment id, in the order first seen (a dict as an ordered set).
        self._refund_ids: dict[str, dict[str, None]] = {}

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        with self._lock:
            now = self._clock()
            self._drop_expired(now, self.DROPPED_PER_CLAIM)
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
            heapq.heappush(self._expiry, (now + retention, scope, key))
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
                dropped = self._drop_expired(self._clock(), batch_size)
            purged += dropped
            if dropped < batch_size:
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

    def _drop_expired(self, now: float, most: int) -> int:
        """Drop up to ``most`` expired records, soonest expiry first; how many went."""
        dropped = 0
        expiry = self._expiry
        while expiry and expiry[0][0] <= now and dropped < most:
            expires_at, scope, key = heapq.heappop(expiry)
            record = self._records.get((scope, key))
            if record is not None and record.expires_at == expires_at:
                del self._records[(scope, key)]
                dropped += 1
        return dropped

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
            counted = count_refunds(
                payment, self._refunds_of(refund.payment_id), no_longer_counted(stored, forward)
            )
            if counted is not None:
                self._payments[payment.id] = counted

    def _refunds_of(self, payment_id: str) -> list[Refund]:
        return [
            refund
            for refund in map(self._refunds.__getitem__, self._refund_ids.get(payment_id, {}))
            if refund.payment_id == payment_id
        ]
