"""A store in two parts: idempotency keys in one place, payments and refunds in another.

Keys and records ask different things of a database. Keys are small, hot and short-lived: every
mutating call claims one and completes it, and each expires after the retention period; an
in-memory server with native expiry (Redis) serves them well. Records are the durable history
that lists, dashboards and refund checks read: they belong in a database that keeps what it
acknowledged (SQL). ``SplitStore(keys=RedisStore(...), records=SQLStore(...))`` is one store to
the gateway, with the idempotency methods going to ``keys`` and the record methods to
``records``, on both faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from unipay._flow import Flow, call, faces
from unipay.activity import Activity, ActivityKind, ActivityTotals, Outcome
from unipay.models import Payment, Refund
from unipay.storage.base import Claim, KeyRecord, Store


class KeyStore(Protocol):
    """The idempotency half of :class:`~unipay.storage.Store`: what ``keys`` must offer.

    Every :class:`~unipay.storage.Store` is one; so is a store that keeps keys only (the
    ``unipay-redis`` plugin's ``RedisStore``). The semantics are :class:`Store`'s: the store's
    own clock, the claimer's lease, fencing by token. ``async def a<method>`` variants are
    awaited by :class:`SplitStore`'s async face when present.
    """

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim: ...

    def complete(self, scope: str, key: str, token: str, result: str) -> None: ...

    def release(self, scope: str, key: str, token: str) -> None: ...

    def get_result(self, scope: str, key: str) -> str | None: ...

    def purge_expired(self, *, batch_size: int = 1000) -> int: ...

    def close(self) -> None: ...


class RecordStore(Protocol):
    """The record half of :class:`~unipay.storage.Store`: what ``records`` must offer (every
    :class:`~unipay.storage.Store` is one)."""

    def save_payment(self, payment: Payment) -> None: ...

    def get_payment(self, payment_id: str) -> Payment | None: ...

    def save_refund(self, refund: Refund) -> None: ...

    def get_refund(self, refund_id: str) -> Refund | None: ...

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
    ) -> list[Payment]: ...

    def list_refunds(self, payment_id: str) -> list[Refund]: ...

    def record_activity(self, entries: Sequence[Activity]) -> None: ...

    def list_activity(
        self,
        *,
        payment_id: str | None = None,
        kind: ActivityKind | None = None,
        provider: str | None = None,
        outcome: Outcome | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Activity]: ...

    def activity_totals(
        self, *, since: datetime, until: datetime, bucket_seconds: int = 3600
    ) -> ActivityTotals: ...

    def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int: ...

    def close(self) -> None: ...


class SplitStore(Store):
    """Idempotency keys in ``keys``, payments and refunds in ``records``.

    ``complete`` cannot be one transaction across two databases, so it saves the records first
    and completes the key in any case: a crash in between leaves the key claimed (its lease runs
    out and a retry re-sends the key, which the provider deduplicates, as after any crash before
    completion), never a completed key without its record. If the records fail to save, the key
    is still completed (a retry replays the outcome instead of calling the provider again) and
    the failure is raised.
    """

    #: Every method the gateway calls has an ``a<method>`` twin, so the async gateway never
    #: consults this; the dashboard's reads (activity, keys) run in a worker thread.
    blocking = True

    def __init__(self, *, keys: KeyStore, records: RecordStore) -> None:
        self.keys = keys
        self.records = records

    def __repr__(self) -> str:
        return f"SplitStore(keys={self.keys!r}, records={self.records!r})"

    # Each method is written once, as a flow that yields its part's call (see `unipay._flow`);
    # `faces` derives both faces from it, below: the sync face calls the part's method, the
    # async face awaits the part's ``a<method>`` or runs the blocking one in a worker thread.

    # --- idempotency: keys --------------------------------------------------------------------

    def _claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Flow[Claim]:
        return (
            yield from call(
                self.keys.claim, scope, key, fingerprint, lease=lease, retention=retention
            )
        )

    def _complete(
        self,
        /,
        scope: str,
        key: str,
        token: str,
        result: str,
        *,
        payment: Payment | None = None,
        refund: Refund | None = None,
    ) -> Flow[None]:
        try:
            if payment is not None:
                yield from call(self.records.save_payment, payment)
            if refund is not None:
                yield from call(self.records.save_refund, refund)
        finally:
            yield from call(self.keys.complete, scope, key, token, result)

    def _release(self, scope: str, key: str, token: str) -> Flow[None]:
        yield from call(self.keys.release, scope, key, token)

    def _get_result(self, scope: str, key: str) -> Flow[str | None]:
        return (yield from call(self.keys.get_result, scope, key))

    def _purge_expired(self, *, batch_size: int = 1000) -> Flow[int]:
        """The key store's purge, plus the record store's when it is a whole store (a SQL
        database that once held keys too)."""
        purged = yield from call(self.keys.purge_expired, batch_size=batch_size)
        if isinstance(self.records, Store):
            purged += yield from call(self.records.purge_expired, batch_size=batch_size)
        return purged

    # --- payments and refunds: records --------------------------------------------------------

    def _save_payment(self, payment: Payment) -> Flow[None]:
        yield from call(self.records.save_payment, payment)

    def _get_payment(self, payment_id: str) -> Flow[Payment | None]:
        return (yield from call(self.records.get_payment, payment_id))

    def _save_refund(self, refund: Refund) -> Flow[None]:
        yield from call(self.records.save_refund, refund)

    def _get_refund(self, refund_id: str) -> Flow[Refund | None]:
        return (yield from call(self.records.get_refund, refund_id))

    def _list_payments(
        self,
        /,
        *,
        provider: str | None = None,
        status: str | None = None,
        limit: int = 10,
        starting_after: str | None = None,
        currency: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        search: str | None = None,
    ) -> Flow[list[Payment]]:
        return (
            yield from call(
                self.records.list_payments,
                provider=provider,
                status=status,
                limit=limit,
                starting_after=starting_after,
                **_given(
                    currency=currency,
                    created_from=created_from,
                    created_to=created_to,
                    search=search,
                ),
            )
        )

    def _list_refunds(self, payment_id: str) -> Flow[list[Refund]]:
        return (yield from call(self.records.list_refunds, payment_id))

    def _close(self) -> Flow[None]:
        try:
            yield from call(self.keys.close)
        finally:
            yield from call(self.records.close)

    claim, aclaim = faces(_claim)
    complete, acomplete = faces(_complete)
    release, arelease = faces(_release)
    get_result, aget_result = faces(_get_result)
    purge_expired, apurge_expired = faces(_purge_expired)
    save_payment, asave_payment = faces(_save_payment)
    get_payment, aget_payment = faces(_get_payment)
    save_refund, asave_refund = faces(_save_refund)
    get_refund, aget_refund = faces(_get_refund)
    list_payments, alist_payments = faces(_list_payments)
    list_refunds, alist_refunds = faces(_list_refunds)
    close, aclose = faces(_close)

    # --- the activity log and the key list: read by the dashboard in a worker thread ----------

    def record_activity(self, entries: Sequence[Activity]) -> None:
        self.records.record_activity(entries)

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
        return self.records.list_activity(
            payment_id=payment_id,
            kind=kind,
            provider=provider,
            outcome=outcome,
            limit=limit,
            before=before,
        )

    def activity_totals(
        self, *, since: datetime, until: datetime, bucket_seconds: int = 3600
    ) -> ActivityTotals:
        return self.records.activity_totals(since=since, until=until, bucket_seconds=bucket_seconds)

    def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int:
        return self.records.purge_activity(older_than=older_than, batch_size=batch_size)

    def list_keys(
        self, scope: str, *, finished: bool | None = None, limit: int = 100
    ) -> list[KeyRecord]:
        """The key store's ``list_keys``, when it has one."""
        list_keys = getattr(self.keys, "list_keys", None)
        if list_keys is None:
            raise NotImplementedError(
                f"{type(self.keys).__name__} cannot list idempotency keys; implement list_keys "
                "on it (MemoryStore and SQLStore do)"
            )
        found: list[KeyRecord] = list_keys(scope, finished=finished, limit=limit)
        return found


def _given(**filters: Any) -> dict[str, Any]:
    """The filters given: a record store written before them is called as before."""
    return {name: value for name, value in filters.items() if value is not None}
