"""The activity log: what the dashboard's timelines, webhook list and metrics are made of.

One [`Activity`][unipay.activity.Activity] per finished gateway operation (replays and
declines included) and per webhook delivery, written to the gateway's store by
[`ActivityRecorder`][unipay.activity.ActivityRecorder], a plugin built on the public observation
hooks (``unipay_observe_operation``, ``unipay_observe_delivery``) like ``unipay.otel``. Stores
keep the entries and, beside them, hourly totals ([`ActivityTotal`][unipay.activity.ActivityTotal])
so that a metrics page reads a few hundred rows whatever the log's size.

Nothing personal is logged: no e-mail address, payment-method token, metadata value or provider
message; an error is kept as its type and unipay's own message, which never holds a secret.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ActivityKind(StrEnum):
    OPERATION = "operation"
    WEBHOOK = "webhook"


class Outcome(StrEnum):
    """How an operation or a delivery ended."""

    #: Operations.
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"
    #: The provider may or may not have acted; ``unipay reconcile`` settles it.
    UNKNOWN = "unknown"
    #: Webhook deliveries.
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IN_PROGRESS = "in_progress"
    #: Refused before any handler ran (bad signature, unreadable body).
    REJECTED = "rejected"
    #: Verified, but a handler (or the ``unipay_webhook_event`` hook) raised: the provider
    #: will deliver it again.
    HANDLER_FAILED = "handler_failed"


class Activity(BaseModel):
    """One finished operation or webhook delivery."""

    model_config = ConfigDict(frozen=True)

    #: ``act_`` and 32 hex digits; sorts like ``at`` within one process.
    id: str
    #: When it finished (UTC, by the recording host's clock).
    at: datetime
    kind: ActivityKind
    provider: str
    #: ``create_payment``, ``capture_payment``...; for a webhook, the event type
    #: (``payment.succeeded``), or None when the delivery was refused before it was read.
    operation: str | None = None
    outcome: Outcome
    #: The unified payment id acted on or reported (None for a create that failed before the
    #: provider made one).
    payment_id: str | None = None
    refund_id: str | None = None
    #: The operation's idempotency key, or the webhook's event id.
    key: str | None = None
    #: Provider calls made (retries included); 0 for a replay or a delivery.
    attempts: int = 0
    replayed: bool = False
    #: The payment's status after the operation or event.
    status: str | None = None
    decline_code: str | None = None
    #: The exception's class name (``ProviderUnavailable``), or the rejection's.
    error_type: str | None = None
    #: unipay's message for the error (what to fix); never the provider's raw text.
    error_message: str | None = None
    #: Milliseconds spent in provider calls (all attempts), None for replays and deliveries.
    latency_ms: float | None = Field(default=None, ge=0)
    amount: int | None = None
    currency: str | None = None


class ActivityTotal(BaseModel):
    """Activities summed over one time bucket and one combination of the grouping fields:
    what a store's ``activity_totals`` returns."""

    model_config = ConfigDict(frozen=True)

    bucket_start: datetime
    kind: ActivityKind
    provider: str
    operation: str | None
    currency: str | None
    outcome: Outcome
    decline_code: str | None
    #: ``latency_bucket(latency_ms)`` of the activities summed here; None when they had none.
    latency_bucket: int | None
    count: int
    #: Sum of ``amount`` (minor units of ``currency``).
    amount: int
    #: Sum of ``attempts``.
    attempts: int
    replays: int


#: Latency histogram buckets grow by 2**(1/4) (19 %): a percentile read from them is within
#: 19 % of the true one, at 4 buckets per doubling (about 60 from 0.1 ms to 1 min).
_BUCKETS_PER_DOUBLING = 4


def latency_bucket(latency_ms: float | None) -> int | None:
    """The histogram bucket of a latency: bucket ``b`` holds latencies up to
    ``bucket_upper_ms(b)``."""
    if latency_ms is None:
        return None
    if latency_ms <= 0.1:
        return 0
    return max(0, math.ceil(math.log2(latency_ms / 0.1) * _BUCKETS_PER_DOUBLING))


def bucket_upper_ms(bucket: int) -> float:
    return 0.1 * 2 ** (bucket / _BUCKETS_PER_DOUBLING)


def hour_of(at: datetime) -> datetime:
    """The start of ``at``'s hour in UTC: the finest bucket the stores keep totals for."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
