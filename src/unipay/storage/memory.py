"""An in-process store: fast, thread- and task-safe, gone when the process ends."""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from unipay.activity import (
    SUMS,
    Activity,
    ActivityKind,
    ActivityTotal,
    ActivityTotals,
    LatencyTotal,
    Outcome,
    VolumePoint,
    contribution,
    hour_of,
    is_paid,
    latency_key,
)
from unipay.models import Payment, Refund
from unipay.storage.base import Claim, ClaimState, KeyRecord, Store
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
    claimed_at: float
    result: str | None = None


#: What hourly totals are grouped by: hour, kind, provider, operation, currency, outcome,
#: decline code.
_TotalKey = tuple[datetime, ActivityKind, str, str | None, str | None, Outcome, str | None]
#: What hourly latency histograms are grouped by: hour, provider, operation, latency bucket.
_LatencyKey = tuple[datetime, str, str, int]


class MemoryStore(Store):
    """The default store. Every method holds one lock for a few dict operations, so the async
    gateway calls it directly instead of through a thread.

    Its clock is monotonic: a wall clock stepped by NTP (or by hand) cannot expire a live claim.
    ``clock`` exists for tests that move time without sleeping.

    What it keeps, and for how long (it is the default of ``Gateway()``, so a long-running
    process must not grow without bound, nor lose what is still in use):

    - an idempotency record until its own retention runs out (``IdempotencyPolicy.retention``,
      given with each claim: 24 hours by default);
    - a payment, with the refunds saved under it, for ``payment_retention`` seconds (24 hours by
      default) after it or one of its refunds was last saved, and never before every
      idempotency record whose completion saved it has expired: a replay never names a payment
      the store forgot. ``payment_retention=None`` keeps payments and refunds for the life of
      the process, as before 0.4.

    Whatever expired is dropped a few entries at a time as new claims and saves arrive, from
    heaps ordered by expiry, so the store holds about one retention period's worth of traffic
    rather than all it ever saw; ``purge_expired`` drops the rest in O(expired x log n), never
    rescanning live entries, ``batch_size`` at a time with the lock released in between.
    """

    #: Expired entries a claim or save drops on its way (of each kind): enough to keep up with
    #: any rate of calls, few enough that no call waits long.
    DROPPED_PER_CLAIM = 8

    #: How long a payment and its refunds are kept after their last save, by default: as long
    #: as the default idempotency retention, and Stripe's idempotency window.
    PAYMENT_RETENTION = 24 * 3600.0

    blocking = False

    def __init__(
        self,
        *,
        payment_retention: float | None = PAYMENT_RETENTION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if payment_retention is not None and payment_retention <= 0:
            raise ValueError("payment_retention must be positive seconds, or None (keep all)")
        self._clock = clock
        self._payment_retention = payment_retention
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], _Record] = {}
        #: (expires_at, scope, key) per claim; an entry whose record was replaced or released
        #: since is skipped when it comes up.
        self._expiry: list[tuple[float, str, str]] = []
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}
        #: Refund ids by payment id, in the order first seen (a dict as an ordered set).
        self._refund_ids: dict[str, dict[str, None]] = {}
        #: When each payment id's group (the payment and the refunds saved under it) may go,
        #: and the heap of (time, payment id) that brings them up: one entry per group, moved
        #: later when it comes up and its group was saved since (so a save costs a dict write).
        self._kept_until: dict[str, float] = {}
        self._payment_expiry: list[tuple[float, str]] = []
        #: The activity log in insertion order, its hourly totals (``unipay.activity.SUMS``)
        #: and its hourly latency histograms.
        self._activity: dict[str, Activity] = {}
        self._totals: dict[_TotalKey, list[int]] = {}
        self._latencies: dict[_LatencyKey, int] = {}
        #: (at, id) of every entry, oldest first: a purge pops what it removes, never scanning
        #: the entries it keeps.
        self._activity_order: list[tuple[datetime, str]] = []

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        with self._lock:
            now = self._clock()
            self._drop_expired(now, self.DROPPED_PER_CLAIM)
            self._drop_expired_payments(now, self.DROPPED_PER_CLAIM)
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
            # 32 hex digits from the OS's random source, as uuid4().hex (2.1 us) but 0.5 us.
            token = os.urandom(16).hex()
            self._records[(scope, key)] = _Record(
                fingerprint, token, now + lease, now + retention, claimed_at=now
            )
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
            replayable_until = 0.0
            if record is not None and record.token == token:
                record.result, record.token = result, None
                replayable_until = record.expires_at
            if payment is not None:
                self._save_payment(payment, replayable_until)
            if refund is not None:
                self._save_refund(refund, replayable_until)

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
        """Removes expired records, and payments and refunds past their retention, ``batch_size``
        at a time, letting other threads in between; returns how many idempotency records went
        (as every store does). The work is in what expired, not in what is stored."""
        return sum(self._purging(batch_size))

    async def apurge_expired(self, *, batch_size: int = 1000) -> int:
        """`purge_expired` on the async face: the event loop runs other tasks between batches
        (the other methods are a few dict operations and run on the loop directly)."""
        import asyncio

        purged = 0
        for records in self._purging(batch_size):
            purged += records
            await asyncio.sleep(0)
        return purged

    def _purging(self, batch_size: int) -> Iterator[int]:
        """The purge one batch at a time: the idempotency records each batch dropped."""
        while True:
            records, more = self._purge_batch(batch_size)
            yield records
            if not more:
                return

    def save_payment(self, payment: Payment) -> None:
        with self._lock:
            self._save_payment(payment, 0.0)

    def get_payment(self, payment_id: str) -> Payment | None:
        with self._lock:
            return self._payments.get(payment_id)

    def save_refund(self, refund: Refund) -> None:
        with self._lock:
            self._save_refund(refund, 0.0)

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
        currency: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        search: str | None = None,
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
                and (currency is None or p.currency == currency)
                and (created_from is None or p.created_at >= created_from)
                and (created_to is None or p.created_at < created_to)
                and (search is None or search in search_terms(p))
                and (cursor is None or (p.created_at, p.id) < (cursor.created_at, cursor.id))
            ]
        matching.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return matching[:limit]

    def list_refunds(self, payment_id: str) -> list[Refund]:
        with self._lock:
            refunds = self._refunds_of(payment_id)
        return sorted(refunds, key=lambda r: (r.created_at, r.id))

    def list_keys(
        self, scope: str, *, finished: bool | None = None, limit: int = 100
    ) -> list[KeyRecord]:
        with self._lock:
            now = self._clock()
            found = [
                KeyRecord(
                    scope=scope,
                    key=key,
                    age=now - record.claimed_at,
                    lease_left=record.lease_until - now,
                    finished=record.result is not None,
                    result=record.result,
                )
                for (record_scope, key), record in self._records.items()
                if record_scope == scope
                and record.expires_at > now
                and (finished is None or finished is (record.result is not None))
            ]
        found.sort(key=lambda k: (-k.age, k.key))
        return found[:limit]

    # --- the activity log ---------------------------------------------------------------------

    def record_activity(self, entries: Sequence[Activity]) -> None:
        with self._lock:
            for entry in entries:
                if entry.id not in self._activity:
                    heapq.heappush(self._activity_order, (entry.at, entry.id))
                self._activity[entry.id] = entry
                hour = hour_of(entry.at)
                totals = self._totals.setdefault(_total_key(hour, entry), [0] * len(SUMS))
                for index, value in enumerate(contribution(entry)):
                    totals[index] += value
                latency = latency_key(entry)
                if latency is not None:
                    key = (hour, *latency)
                    self._latencies[key] = self._latencies.get(key, 0) + 1

    def list_activity(
        self,
        *,
        payment_id: str | None = None,
        kind: ActivityKind | None = None,
        provider: str | None = None,
        outcome: Outcome | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Activity]:
        with self._lock:
            cursor = self._activity.get(before) if before is not None else None
            if before is not None and cursor is None:
                return []
            matching = [
                a
                for a in self._activity.values()
                if (payment_id is None or a.payment_id == payment_id)
                and (kind is None or a.kind is kind)
                and (provider is None or a.provider == provider)
                and (outcome is None or a.outcome is outcome)
                and (cursor is None or (a.at, a.id) < (cursor.at, cursor.id))
            ]
        matching.sort(key=lambda a: (a.at, a.id), reverse=True)
        return matching[:limit]

    def activity_totals(
        self, *, since: datetime, until: datetime, bucket_seconds: int = 3600
    ) -> ActivityTotals:
        check_bucket(bucket_seconds)
        start, end = since.timestamp(), until.timestamp()
        summed: dict[tuple[object, ...], list[int]] = {}
        volume: dict[tuple[datetime, str, str | None], list[int]] = {}
        histogram: dict[tuple[str, str, int], int] = {}  # (provider, operation, bucket)
        with self._lock:
            for key, values in self._totals.items():
                at, kind, provider, operation, currency, outcome, _ = key
                hour = at.timestamp()
                if not start <= hour < end:
                    continue
                into = summed.setdefault(key[1:], [0] * len(SUMS))
                for index, value in enumerate(values):
                    into[index] += value
                if kind is ActivityKind.OPERATION and is_paid(operation, outcome):
                    bucket = datetime.fromtimestamp(hour - hour % bucket_seconds, UTC)
                    point = volume.setdefault((bucket, provider, currency), [0, 0])
                    point[0] += values[0] - values[3]  # replays moved no money
                    point[1] += values[1]
            for (at, provider, operation, latency), count in self._latencies.items():
                if start <= at.timestamp() < end:
                    where = (provider, operation, latency)
                    histogram[where] = histogram.get(where, 0) + count
        return ActivityTotals(
            counts=[_total(key, values) for key, values in sorted(summed.items(), key=_order)],
            volume=[
                VolumePoint(bucket_start=b, provider=p, currency=c, count=n, amount=a)
                for (b, p, c), (n, a) in sorted(volume.items(), key=_order)
            ],
            latencies=[
                LatencyTotal(provider=p, operation=o, latency_bucket=b, count=n)
                for (p, o, b), n in sorted(histogram.items())
            ],
        )

    def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int:
        """Pops the old entries from a heap by time: the cost is in what goes, not in the log's
        size (a rescan per batch made a large purge quadratic)."""
        purged = 0
        while True:
            with self._lock:
                old = self._pop_activity(older_than, batch_size)
                if len(old) < batch_size:
                    hour = hour_of(older_than)
                    for key in [key for key in self._totals if key[0] < hour]:
                        del self._totals[key]
                    for old_key in [k for k in self._latencies if k[0] < hour]:
                        del self._latencies[old_key]
            purged += len(old)
            if len(old) < batch_size:
                return purged

    # --- under the lock -----------------------------------------------------------------------

    def _purge_batch(self, batch_size: int) -> tuple[int, bool]:
        """One batch of a purge, under the lock: the records dropped, and whether more expired
        entries may remain."""
        with self._lock:
            now = self._clock()
            records = self._drop_expired(now, batch_size)
            payments = self._drop_expired_payments(now, batch_size)
            return records, records == batch_size or payments == batch_size

    def _pop_activity(self, older_than: datetime, most: int) -> list[str]:
        """Remove up to ``most`` log entries from before ``older_than``, oldest first."""
        order = self._activity_order
        removed: list[str] = []
        while order and len(removed) < most:
            at, activity_id = order[0]
            entry = self._activity.get(activity_id)
            if entry is not None and entry.at != at:  # logged again at another time: move it
                heapq.heapreplace(order, (entry.at, activity_id))
                continue
            if at >= older_than:
                break
            heapq.heappop(order)
            if entry is not None:
                del self._activity[activity_id]
                removed.append(activity_id)
        return removed

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

    def _drop_expired_payments(self, now: float, most: int) -> int:
        """Bring up at most ``most`` due groups of the payment heap, soonest first: a group
        saved since its entry was pushed is pushed again at its new time, the others go (the
        payment and the refunds saved under it). How many groups were brought up."""
        seen = 0
        expiry = self._payment_expiry
        while expiry and expiry[0][0] <= now and seen < most:
            _, payment_id = heapq.heappop(expiry)
            seen += 1
            until = self._kept_until[payment_id]
            if until > now:
                heapq.heappush(expiry, (until, payment_id))
                continue
            del self._kept_until[payment_id]
            self._payments.pop(payment_id, None)
            for refund_id in self._refund_ids.pop(payment_id, {}):
                refund = self._refunds.get(refund_id)
                if refund is not None and refund.payment_id == payment_id:
                    del self._refunds[refund_id]
        return seen

    def _keep(self, payment_id: str, replayable_until: float) -> None:
        """Keep a payment's group ``payment_retention`` from now, and at least until
        ``replayable_until`` (the expiry of the idempotency record that saved it)."""
        if self._payment_retention is None:
            return
        now = self._clock()
        self._drop_expired_payments(now, self.DROPPED_PER_CLAIM)
        until = max(now + self._payment_retention, replayable_until)
        kept = self._kept_until.get(payment_id)
        if kept is None:
            heapq.heappush(self._payment_expiry, (until, payment_id))
        elif kept >= until:
            return
        self._kept_until[payment_id] = until

    def _save_payment(self, payment: Payment, replayable_until: float) -> None:
        payment_id = payment.id  # a computed field: built anew on every read
        self._keep(payment_id, replayable_until)
        forward = advance_payment(self._payments.get(payment_id), payment)
        if forward is not None:
            self._payments[payment_id] = forward

    def _save_refund(self, refund: Refund, replayable_until: float) -> None:
        self._keep(refund.payment_id, replayable_until)
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


def search_terms(payment: Payment) -> set[str]:
    """What ``list_payments(search=...)`` matches exactly: the unified id, the provider's id,
    the customer's e-mail and every metadata value."""
    terms = {payment.id, payment.provider_payment_id, *payment.metadata.values()}
    if payment.customer_email:
        terms.add(payment.customer_email)
    return terms


def check_bucket(bucket_seconds: int) -> None:
    if bucket_seconds <= 0 or bucket_seconds % 3600:
        from unipay.errors import InvalidRequest

        raise InvalidRequest(
            f"bucket_seconds must be a positive multiple of 3600 (stores keep hourly totals), "
            f"not {bucket_seconds}",
            param="bucket_seconds",
        )


def _total_key(hour: datetime, entry: Activity) -> _TotalKey:
    return (
        hour,
        entry.kind,
        entry.provider,
        entry.operation,
        entry.currency,
        entry.outcome,
        entry.decline_code,
    )


def _order(item: tuple[tuple[Any, ...], object]) -> tuple[object, ...]:
    """Totals in key order, None sorting first within each field."""
    return tuple((value is not None, value if value is not None else 0) for value in item[0])


def _total(key: tuple[Any, ...], values: list[int]) -> ActivityTotal:
    kind, provider, operation, currency, outcome, code = key
    count, amount, attempts, replays, retries = values
    return ActivityTotal(
        kind=kind,
        provider=provider,
        operation=operation,
        currency=currency,
        outcome=outcome,
        decline_code=code,
        count=count,
        amount=amount,
        attempts=attempts,
        replays=replays,
        retries=retries,
    )
