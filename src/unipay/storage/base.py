"""The store interface: idempotency records, plus the latest state of payments and refunds.

A store is any object with these methods; subclassing [`Store`][unipay.storage.base.Store] is
optional but gives the defaults. ``blocking = True`` tells
[`AsyncGateway`][unipay.gateway.AsyncGateway] to run the methods in a worker thread; a store may
instead define ``async def a<method>`` (``aclaim``, ``acomplete``, ...), which the async gateway
awaits directly.

The records are keyed by ``(scope, key)``: scope ``"operation"`` for idempotency keys of gateway
calls and ``"webhook"`` for processed webhook events, so the two can never collide.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from unipay.activity import Activity, ActivityKind, ActivityTotals, Outcome
from unipay.models import Payment, Refund

#: The most a list call returns at once (Stripe's limit too).
MAX_LIST_LIMIT = 100


class ClaimState(StrEnum):
    #: The caller owns the key now and must ``complete`` or ``release`` it.
    CLAIMED = "claimed"
    #: A call with this key finished; ``Claim.result`` holds its stored outcome.
    COMPLETED = "completed"
    #: Another live call holds the key.
    IN_PROGRESS = "in_progress"
    #: The key is held or completed with another fingerprint (other operation or parameters).
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    #: Proof of ownership when CLAIMED; pass it to complete/release.
    token: str | None = None
    #: The stored outcome (JSON text) when COMPLETED.
    result: str | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One idempotency record as ``list_keys`` reports it: enough to see a stuck claim."""

    scope: str
    key: str
    #: Seconds since it was claimed, by the store's clock.
    age: float
    #: Seconds until the claimer's lease runs out, by the store's clock; 0 or less: it ran out
    #: (the claimer died or is slow, and the next caller with the key takes it over).
    lease_left: float
    finished: bool
    #: The stored outcome (JSON text) once finished.
    result: str | None = None


class Store(ABC):
    """Base class of idempotency and record stores.

    Time is the store's own: a claim's lease and a record's retention are measured by the store's
    clock (the database's for SQL, a monotonic clock in memory), never by the caller's. Hosts
    whose clocks disagree, or gateways configured with different lock timeouts, therefore agree
    on whether a claim is live: the claimer wrote its lease's end with the claim.
    """

    blocking: bool = True

    @abstractmethod
    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        """Atomically take the key, or report who has it.

        A new key, or one whose record expired (``retention`` seconds after it was claimed, by
        the store's clock), is CLAIMED, with a lease of ``lease`` seconds written into the record.
        An unfinished record whose own lease has run out belonged to a caller that died: it is
        taken over (CLAIMED, new token) when the fingerprint matches. The caller's lease never
        shortens anyone else's. The decision is atomic: of many concurrent callers, exactly one
        gets CLAIMED.
        """

    @abstractmethod
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
        """Store the outcome for replays and, in the same transaction, the payment/refund state.

        The outcome is kept only if ``token`` still owns the key (fencing: a caller whose claim
        was taken over never completes it). The payment and refund are saved either way, since
        they are what the provider reported, by the rules of
        [`save_payment`][unipay.storage.base.Store.save_payment] and
        [`save_refund`][unipay.storage.base.Store.save_refund].
        """

    @abstractmethod
    def release(self, scope: str, key: str, token: str) -> None:
        """Forget an unfinished claim so the key can run again; a no-op if ``token`` lost it."""

    @abstractmethod
    def get_result(self, scope: str, key: str) -> str | None:
        """The stored outcome of a completed, unexpired key (e.g. a processed webhook event id)."""

    @abstractmethod
    def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Delete every record past its retention, ``batch_size`` rows per transaction so a large
        purge never holds long locks; return how many went."""

    @abstractmethod
    def save_payment(self, payment: Payment) -> None:
        """Save ``payment`` unless that would move the stored one backwards
        (`unipay.storage.progress.advance_payment`), atomically per payment."""

    @abstractmethod
    def get_payment(self, payment_id: str) -> Payment | None: ...

    @abstractmethod
    def save_refund(self, refund: Refund) -> None:
        """Save ``refund`` unless that reopens a settled one, and raise its stored payment's
        ``amount_refunded`` to what the payment's refunds add up to
        (`unipay.storage.progress.count_refunds`), atomically per payment."""

    @abstractmethod
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
    ) -> list[Payment]:
        """Stored payments, newest first (``created_at``, then id, both descending), for a
        Stripe-style list; filtered by ``provider``, ``status`` and ``currency`` when given,
        and by creation time in ``[created_from, created_to)``.

        ``search`` matches a payment exactly by its unified id, its provider's payment id, its
        customer's e-mail or any of its metadata values (the dashboard's search box); a SQL
        store keeps these terms in an indexed table so a search stays fast at a million
        payments.

        ``starting_after`` is the id of a payment from an earlier page: the page starts right
        after it (keyset pagination, so a page costs the same at a million payments as at ten
        and a payment saved meanwhile never shifts a page). An unknown ``starting_after`` gives
        an empty list. Callers that need ``has_more`` ask for ``limit + 1``.

        Not abstract so that stores written before 0.3 keep working; they cannot list.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot list payments; implement Store.list_payments "
            "(MemoryStore and SQLStore do)"
        )

    def list_refunds(self, payment_id: str) -> list[Refund]:
        """The stored refunds of one payment, oldest first (``created_at``, then id).

        Not abstract so that stores written before 0.3 keep working; they cannot list.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot list refunds; implement Store.list_refunds "
            "(MemoryStore and SQLStore do)"
        )

    # --- the activity log (the dashboard's timelines and metrics) -----------------------------
    #
    # Not abstract so that stores written before the activity log keep working: a gateway
    # records activity only when built with ``record_activity=True``.

    def record_activity(self, entries: Sequence[Activity]) -> None:
        """Append ``entries`` to the activity log and add them to its totals, all in one
        transaction (the totals never disagree with the log they sum)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot record activity; implement Store.record_activity "
            "(MemoryStore, SQLStore and SplitStore do) or build the gateway without "
            "record_activity=True"
        )

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
        """Logged activity, newest first (``at``, then id, both descending), filtered by the
        arguments given. ``before`` is an activity id from an earlier page: the page starts
        right after it (keyset pagination); an unknown ``before`` gives an empty list."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot list activity; implement Store.list_activity "
            "(MemoryStore, SQLStore and SplitStore do)"
        )

    def activity_totals(
        self, *, since: datetime, until: datetime, bucket_seconds: int = 3600
    ) -> ActivityTotals:
        """The totals of the hours in ``[since, until)``: counts summed into buckets of
        ``bucket_seconds`` (a multiple of 3600) counted from the Unix epoch, one per bucket and
        grouping fields, and the latency histogram of the whole window. Reads totals only,
        never the log, so it costs the same whatever the log's size;
        ``unipay.activity.summarize`` makes metrics of it."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot sum activity; implement Store.activity_totals "
            "(MemoryStore, SQLStore and SplitStore do)"
        )

    def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int:
        """Delete log entries from before ``older_than``, ``batch_size`` per transaction, and
        the totals of the hours before its hour; return how many entries went.

        The log grows with every operation: call it periodically with your retention (the
        dashboard's server does; 30 to 90 days is typical, longer than any metrics window you
        show)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot purge activity; implement Store.purge_activity "
            "(MemoryStore, SQLStore and SplitStore do)"
        )

    def list_keys(
        self, scope: str, *, finished: bool | None = None, limit: int = 100
    ) -> list[KeyRecord]:
        """Unexpired idempotency records of ``scope``, oldest claim first; only the finished
        (or, with False, the unfinished: claims in progress or abandoned) when ``finished`` is
        given. For operators: a claim whose lease ran out long ago is a crashed caller."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot list idempotency keys; implement Store.list_keys "
            "(MemoryStore, SQLStore and SplitStore do)"
        )

    def close(self) -> None:  # noqa: B027 - optional: a memory store holds nothing to release
        """Release connections."""
