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

from unipay._flow import acall
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

    # --- idempotency: keys --------------------------------------------------------------------

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        return self.keys.claim(scope, key, fingerprint, lease=lease, retention=retention)

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
        try:
            if payment is not None:
                self.records.save_payment(payment)
            if refund is not None:
                self.records.save_refund(refund)
        finally:
            self.keys.complete(scope, key, token, result)

    def release(self, scope: str, key: str, token: str) -> None:
        self.keys.release(scope, key, token)

    def get_result(self, scope: str, key: str) -> str | None:
        return self.keys.get_result(scope, key)

    def purge_expired(self, *, batch_size: int = 1000) -> int:
        """The key store's purge, plus the record store's when it is a whole store (a SQL
        database that once held keys too)."""
        purged = self.keys.purge_expired(batch_size=batch_size)
        if isinstance(self.records, Store):
            purged += self.records.purge_expired(batch_size=batch_size)
        return purged

    # --- payments and refunds: records --------------------------------------------------------

    def save_payment(self, payment: Payment) -> None:
        self.records.save_payment(payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        return self.records.get_payment(payment_id)

    def save_refund(self, refund: Refund) -> None:
        self.records.save_refund(refund)

    def get_refund(self, refund_id: str) -> Refund | None:
        return self.records.get_refund(refund_id)

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
        return self.records.list_payments(
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

    def list_refunds(self, payment_id: str) -> list[Refund]:
        return self.records.list_refunds(payment_id)

    # --- the activity log: records; keys: keys ------------------------------------------------

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

    def close(self) -> None:
        try:
            self.keys.close()
        finally:
            self.records.close()

    # --- the async face: each part's own a<method>, or its blocking method in a thread --------

    async def aclaim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        claim: Claim = await acall(
            self.keys.claim, scope, key, fingerprint, lease=lease, retention=retention
        )
        return claim

    async def acomplete(
        self,
        scope: str,
        key: str,
        token: str,
        result: str,
        *,
        payment: Payment | None = None,
        refund: Refund | None = None,
    ) -> None:
        try:
            if payment is not None:
                await acall(self.records.save_payment, payment)
            if refund is not None:
                await acall(self.records.save_refund, refund)
        finally:
            await acall(self.keys.complete, scope, key, token, result)

    async def arelease(self, scope: str, key: str, token: str) -> None:
        await acall(self.keys.release, scope, key, token)

    async def aget_result(self, scope: str, key: str) -> str | None:
        found: str | None = await acall(self.keys.get_result, scope, key)
        return found

    async def apurge_expired(self, *, batch_size: int = 1000) -> int:
        purged: int = await acall(self.keys.purge_expired, batch_size=batch_size)
        if isinstance(self.records, Store):
            purged += await acall(self.records.purge_expired, batch_size=batch_size)
        return purged

    async def asave_payment(self, payment: Payment) -> None:
        await acall(self.records.save_payment, payment)

    async def aget_payment(self, payment_id: str) -> Payment | None:
        found: Payment | None = await acall(self.records.get_payment, payment_id)
        return found

    async def asave_refund(self, refund: Refund) -> None:
        await acall(self.records.save_refund, refund)

    async def aget_refund(self, refund_id: str) -> Refund | None:
        found: Refund | None = await acall(self.records.get_refund, refund_id)
        return found

    async def alist_payments(
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
        page: list[Payment] = await acall(
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
        return page

    async def alist_refunds(self, payment_id: str) -> list[Refund]:
        refunds: list[Refund] = await acall(self.records.list_refunds, payment_id)
        return refunds

    async def aclose(self) -> None:
        try:
            await acall(self.keys.close)
        finally:
            await acall(self.records.close)


def _given(**filters: Any) -> dict[str, Any]:
    """The filters given: a record store written before them is called as before."""
    return {name: value for name, value in filters.items() if value is not None}
