"""An in-process store: fast, thread- and task-safe, gone when the process ends."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from unipay.models import Payment, Refund
from unipay.storage.base import Claim, ClaimState, Store


@dataclass(slots=True)
class _Record:
    fingerprint: str
    token: str | None
    locked_at: float
    expires_at: float
    result: str | None = None


class MemoryStore(Store):
    """The default store. Every method holds one lock for a few dict operations, so the async
    gateway calls it directly instead of through a thread."""

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], _Record] = {}
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}

    def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        now: float,
        lock_timeout: float,
        retention: float,
    ) -> Claim:
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.expires_at <= now:
                record = None
            if record is not None:
                if record.fingerprint != fingerprint:
                    return Claim(ClaimState.MISMATCH)
                if record.result is not None:
                    return Claim(ClaimState.COMPLETED, result=record.result)
                if now - record.locked_at < lock_timeout:
                    return Claim(ClaimState.IN_PROGRESS)
            token = uuid.uuid4().hex
            self._records[(scope, key)] = _Record(fingerprint, token, now, now + retention)
            return Claim(ClaimState.CLAIMED, token=token)

    def complete(
        self,
        scope: str,
        key: str,
        token: str,
        result: str,
        *,
        now: float,
        payment: Payment | None = None,
        refund: Refund | None = None,
    ) -> None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.token == token:
                record.result, record.token = result, None
            if payment is not None:
                self._payments[payment.id] = payment
            if refund is not None:
                self._refunds[refund.id] = refund

    def release(self, scope: str, key: str, token: str) -> None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.token == token and record.result is None:
                del self._records[(scope, key)]

    def get_result(self, scope: str, key: str, *, now: float | None = None) -> str | None:
        with self._lock:
            record = self._records.get((scope, key))
            if record is None or (now is not None and record.expires_at <= now):
                return None
            return record.result

    def purge_expired(self, *, now: float, batch_size: int = 1000) -> int:
        """Removes expired records ``batch_size`` at a time, letting other threads in between."""
        purged = 0
        while True:
            with self._lock:
                expired = [k for k, r in self._records.items() if r.expires_at <= now]
                for k in expired[:batch_size]:
                    del self._records[k]
            purged += min(len(expired), batch_size)
            if len(expired) <= batch_size:
                return purged

    def save_payment(self, payment: Payment) -> None:
        with self._lock:
            self._payments[payment.id] = payment

    def get_payment(self, payment_id: str) -> Payment | None:
        with self._lock:
            return self._payments.get(payment_id)

    def save_refund(self, refund: Refund) -> None:
        with self._lock:
            self._refunds[refund.id] = refund

    def get_refund(self, refund_id: str) -> Refund | None:
        with self._lock:
            return self._refunds.get(refund_id)
