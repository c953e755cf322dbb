"""Writes the activity log: a plugin on the observation hooks, and one writer thread.

``Gateway(record_activity=True)`` builds an
[`ActivityRecorder`][unipay.activity_recorder.ActivityRecorder] over the gateway's own store and
registers it. Each finished operation or webhook delivery becomes an
[`Activity`][unipay.activity.Activity] appended to a bounded buffer, in the caller's thread or
task, without any I/O; a daemon thread writes the buffer to the store in batches
(``store.record_activity``: one transaction per batch). So a payment never waits for its log
entry, the event loop never blocks on it, and a store that fails to take the log (or a full
buffer) costs log entries, logged, never a payment.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from unipay.activity import Activity, ActivityKind, Outcome
from unipay.errors import (
    OutcomeUnknown,
    PaymentDeclined,
    ProviderError,
    UnipayError,
    WebhookVerificationError,
)
from unipay.hookspecs import AttemptCall, OperationCall, StoreCall, hookimpl
from unipay.models import Payment, Refund, WebhookEvent
from unipay.storage.base import Store
from unipay.webhooks.delivery import DeliveryFailed, HandlerFailed

logger = logging.getLogger("unipay")

#: Entries in one ``record_activity`` call at most.
BATCH = 100
#: Seconds the writer waits for a batch to fill before writing what it has.
INTERVAL = 0.2
#: Entries waiting to be written at most; beyond it new ones are dropped and counted.
CAPACITY = 10_000

_NOTHING = nullcontext()
_sequence = itertools.count()
_process = os.urandom(3).hex()


def new_activity_id() -> str:
    """``act_`` and 32 hex digits: nanoseconds, then a per-process sequence and a per-process
    random part, so ids sort like their time within a process and never collide across."""
    return f"act_{time.time_ns():020x}{next(_sequence) % 0x1000000:06x}{_process}"


class ActivityRecorder:
    """The unipay plugin that logs operations and deliveries to ``store``.

    Args:
        store: where entries go (``record_activity``); the gateway's own store.
        batch: entries per write at most; a full batch is written at once.
        interval: seconds between writes of a partial batch.
        capacity: entries waiting at most (memory stays bounded if the store is down).
    """

    def __init__(
        self,
        store: Store,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL,
        capacity: int = CAPACITY,
    ) -> None:
        self.store = store
        self.batch = batch
        self.interval = interval
        self.capacity = capacity
        #: Entries dropped because the buffer was full or the store refused them.
        self.dropped = 0
        self._pending: deque[Activity] = deque()
        self._writing = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: A flush is waiting: write now rather than at the interval.
        self._urgent = False
        self._warned_full = False

    def __repr__(self) -> str:
        return f"<ActivityRecorder store={self.store!r} pending={len(self._pending)}>"

    # --- the hooks ----------------------------------------------------------------------------

    @hookimpl
    def unipay_observe_operation(self, call: OperationCall) -> _Operation:
        return _Operation(self, call)

    @hookimpl
    def unipay_observe_delivery(self, provider: str) -> _Delivery:
        return _Delivery(self, provider)

    # --- the buffer and its writer ------------------------------------------------------------

    def add(self, entry: Activity) -> None:
        """Queue ``entry`` for the writer; never blocks on I/O."""
        with self._changed:
            if self._closed:
                return
            if len(self._pending) >= self.capacity:
                self.dropped += 1
                if not self._warned_full:
                    self._warned_full = True
                    logger.warning(
                        "unipay's activity log buffer is full (%d entries): entries are dropped "
                        "until the store catches up (ActivityRecorder.dropped counts them)",
                        self.capacity,
                    )
                return
            self._pending.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="unipay-activity", daemon=True
                )
                self._thread.start()
            elif len(self._pending) >= self.batch:
                self._changed.notify_all()

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being written: a flush would return at once. Read under
        the lock, so never between the writer taking a batch and counting it as written."""
        with self._changed:
            return not self._pending and not self._writing

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued entry was written (or dropped); whether that happened within
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._urgent = True
            self._changed.notify_all()
            while self._pending or self._writing:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._changed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer. Entries added afterwards are ignored."""
        self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                if not (self._closed or self._urgent or len(self._pending) >= self.batch):
                    self._changed.wait(self.interval)
                if self._closed and not self._pending:
                    return
                taken = [
                    self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))
                ]
                self._writing = len(taken)
                self._urgent = bool(self._pending) and self._urgent
            try:
                if taken:
                    self.store.record_activity(taken)
            except Exception:
                self.dropped += len(taken)
                logger.exception(
                    "unipay could not write %d activity log entries to its store; they are lost "
                    "(payments are not affected)",
                    len(taken),
                )
            finally:
                with self._changed:
                    self._writing = 0
                    self._changed.notify_all()


# --- turning observations into entries ---------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _message(error: BaseException) -> str | None:
    """unipay's own message for ``error``: what a provider's plugin wrote (a decline's, a
    provider error's) may quote the provider, so it is left out."""
    if isinstance(error, PaymentDeclined | ProviderError) or not isinstance(error, UnipayError):
        return None
    return error.message


class _Operation:
    """One operation: its attempts' time, then one entry."""

    __slots__ = ("call", "latency", "recorder", "tries")

    def __init__(self, recorder: ActivityRecorder, call: OperationCall) -> None:
        self.recorder = recorder
        self.call = call
        self.tries = 0
        self.latency = 0.0

    def claimed(self) -> None:
        pass

    @contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.latency += time.perf_counter() - started

    def attempt(self, attempt: AttemptCall) -> Any:
        self.tries = attempt.attempt
        return self._timed()

    def store(self, call: StoreCall) -> Any:
        return _NOTHING

    def finished(
        self, result: Payment | Refund | None, error: BaseException | None, replayed: bool
    ) -> None:
        call = self.call
        fields: dict[str, Any] = {"payment_id": call.payment_id}
        request = call.request.__dict__ if call.request is not None else {}
        fields["amount"], fields["currency"] = request.get("amount"), request.get("currency")
        reported: Payment | Refund | None = result
        if error is None:
            outcome = Outcome.SUCCEEDED
        elif isinstance(error, PaymentDeclined):
            outcome = Outcome.DECLINED
            fields["decline_code"] = error.decline_code
            reported = error.payment
        elif isinstance(error, OutcomeUnknown):
            outcome = Outcome.UNKNOWN
        else:
            outcome = Outcome.FAILED
        if error is not None:
            fields["error_type"] = type(error).__name__
            fields["error_message"] = _message(error)
        if isinstance(reported, Refund):
            fields.update(refund_id=reported.id, payment_id=reported.payment_id)
        if reported is not None:
            if isinstance(reported, Payment):
                fields["payment_id"] = reported.id
            fields.update(
                amount=reported.amount,
                currency=reported.currency,
                status=reported.status.value,
            )
        self.recorder.add(
            Activity(
                id=new_activity_id(),
                at=_now(),
                kind=ActivityKind.OPERATION,
                provider=call.provider,
                operation=call.operation,
                outcome=outcome,
                key=call.idempotency_key,
                attempts=self.tries,
                replayed=replayed,
                latency_ms=self.latency * 1000 if self.tries else None,
                **fields,
            )
        )


class _Delivery:
    """One webhook delivery: an entry per event it carried (one, unless the provider batches),
    or a single one when it was refused before any was read."""

    __slots__ = ("events", "outcomes", "provider", "recorder")

    def __init__(self, recorder: ActivityRecorder, provider: str) -> None:
        self.recorder = recorder
        self.provider = provider
        self.events: list[WebhookEvent] = []
        #: Each event's own outcome, by ``id(event)`` (``events`` keeps them alive), once it
        #: ended without error.
        self.outcomes: dict[int, Outcome] = {}

    def verified(self, event: WebhookEvent) -> None:
        self.events.append(event)

    def event_finished(self, event: WebhookEvent, outcome: str) -> None:
        self.outcomes[id(event)] = Outcome(outcome)

    def store(self, call: StoreCall) -> Any:
        return _NOTHING

    def handlers(self, event: WebhookEvent) -> Any:
        return _NOTHING

    def finished(self, outcome: str | None, error: BaseException | None) -> None:
        fields: dict[str, Any] = {}
        if error is None:
            assert outcome is not None
            result = Outcome(outcome)
        elif isinstance(error, HandlerFailed | DeliveryFailed):
            result = Outcome.HANDLER_FAILED
        elif (isinstance(error, UnipayError) and error.retriable) or not isinstance(
            error, Exception
        ):
            result = Outcome.FAILED  # the store or the provider's API was down; redelivered
        else:
            result = Outcome.REJECTED  # a bad signature, or a delivery the plugin cannot read
        if error is not None:
            fields["error_type"] = type(error).__name__
            if isinstance(error, WebhookVerificationError):
                fields["error_message"] = error.message
        events: list[WebhookEvent | None] = [*self.events] or [None]
        for event in events:
            # An event that ended on its own keeps its outcome; the others (the one whose
            # handler failed, those a failure stopped) take the delivery's.
            own = None if event is None else self.outcomes.get(id(event))
            self.recorder.add(
                Activity(
                    id=new_activity_id(),
                    at=_now(),
                    kind=ActivityKind.WEBHOOK,
                    provider=self.provider,
                    outcome=result if own is None else own,
                    **(fields if own is None else {}),
                    **({} if event is None else _about(event)),
                )
            )


def _about(event: WebhookEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {"operation": event.type.value, "key": event.id}
    payment, refund = event.payment, event.refund
    if refund is not None:
        fields.update(refund_id=refund.id, payment_id=refund.payment_id)
    if payment is not None:
        fields["payment_id"] = payment.id
    reported = refund if refund is not None else payment
    if reported is not None and not event.partial:
        fields.update(
            status=reported.status.value, amount=reported.amount, currency=reported.currency
        )
    return fields
