"""The activity log: what the dashboard's timelines, webhook list and metrics are made of.

One [`Activity`][unipay.activity.Activity] per finished gateway operation (replays and
declines included) and per webhook delivery, written to the gateway's store by
[`ActivityRecorder`][unipay.activity_recorder.ActivityRecorder], a plugin built on the public
observation hooks (``unipay_observe_operation``, ``unipay_observe_delivery``) like
``unipay.otel``. Stores keep the entries and, beside them, totals per hour (and, in SQL, per day
too) and latency histograms ([`ActivityTotals`][unipay.activity.ActivityTotals]), so that a
metrics page reads a few thousand rows whatever the log's size.

Nothing personal is logged: no e-mail address, payment-method token, metadata value or provider
message; an error is kept as its type and unipay's own message, which never holds a secret.
"""

from __future__ import annotations

import math
from collections import defaultdict
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

    model_config = ConfigDict(frozen=True, defer_build=True)

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
    """Activities summed over a whole window, for one combination of the grouping fields."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: ActivityKind
    provider: str
    operation: str | None
    currency: str | None
    outcome: Outcome
    decline_code: str | None
    count: int
    #: Sum of ``amount`` (minor units of ``currency``) over the activities that were not
    #: replays: a replay answers the same payment again, it moves no money twice.
    amount: int
    #: Sum of ``attempts``.
    attempts: int
    replays: int
    #: Provider calls beyond the first, summed over the activities that reached the provider.
    retries: int


class LatencyTotal(BaseModel):
    """How many of one provider's operations took a latency in one histogram bucket
    (``latency_bucket``), over a whole window: percentiles are read per window, so the
    histogram is not split by time bucket (that would multiply the rows a page reads)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    provider: str
    operation: str
    latency_bucket: int
    count: int


class VolumePoint(BaseModel):
    """Payments that succeeded in one time bucket, for one provider and currency: the
    ``create_payment`` calls that succeeded, replays left out."""

    model_config = ConfigDict(defer_build=True)

    bucket_start: datetime
    provider: str
    currency: str | None
    count: int
    #: Minor units of ``currency``.
    amount: int


class ActivityTotals(BaseModel):
    """What a store's ``activity_totals`` returns for a window: the totals over the whole
    window, and only the volume split into time buckets. A store sums in its own engine
    (SQL: three GROUP BYs) and returns a few hundred rows, whatever the log's size and the
    number of buckets: splitting every combination by bucket would return thousands."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    #: Per kind, provider, operation, currency, outcome and decline code.
    counts: list[ActivityTotal]
    #: Per bucket, provider and currency, oldest first.
    volume: list[VolumePoint]
    latencies: list[LatencyTotal]


#: What one entry adds to its totals, in the order of ``contribution``'s tuple.
SUMS = ("entries", "amount", "attempts", "replays", "retries")


def latency_key(entry: Activity) -> tuple[str, str, int] | None:
    """Where ``entry`` counts in the latency histograms (provider, operation, bucket), or None
    when it spent no time at the provider (a replay, a delivery)."""
    bucket = latency_bucket(entry.latency_ms)
    if bucket is None:
        return None
    return entry.provider, entry.operation or UNKNOWN_OPERATION, bucket


def contribution(entry: Activity) -> tuple[int, int, int, int, int]:
    """What ``entry`` adds to its totals (``SUMS``): every store sums with this."""
    retries = max(entry.attempts - 1, 0) if entry.latency_ms is not None else 0
    money = 0 if entry.replayed else entry.amount or 0
    return 1, money, entry.attempts, int(entry.replayed), retries


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


# --- metrics: what a dashboard draws, computed from totals alone ------------------------------

CREATE = "create_payment"
REFUND = "refund_payment"
#: What an operation without a name is counted as.
UNKNOWN_OPERATION = "unknown"


def is_paid(operation: str | None, outcome: Outcome) -> bool:
    """Whether an operation's totals are payments that succeeded: the volume's."""
    return operation == CREATE and outcome is Outcome.SUCCEEDED


class DeclineCount(BaseModel):
    model_config = ConfigDict(defer_build=True)

    decline_code: str | None
    count: int


class OperationStats(BaseModel):
    """One provider's operation over the whole window."""

    model_config = ConfigDict(defer_build=True)

    provider: str
    operation: str
    #: Every finished call, replays and failures included.
    count: int
    #: Latency percentiles of the calls that reached the provider (None when none did): the
    #: upper bound of the histogram bucket holding the percentile, so within 19 % above it.
    p50_ms: float | None
    p95_ms: float | None
    #: Provider calls beyond the first, summed over the calls that reached the provider.
    retries: int
    replays: int


class WebhookCount(BaseModel):
    model_config = ConfigDict(defer_build=True)

    provider: str
    outcome: Outcome
    count: int


class Metrics(BaseModel):
    """What an operator watches, from [`summarize`][unipay.activity.summarize]. Replays are
    left out of counts of payments and refunds (they answer an earlier call again)."""

    model_config = ConfigDict(defer_build=True)

    #: Succeeded ``create_payment`` calls per bucket, provider and currency, oldest first.
    volume: list[VolumePoint]
    payments_succeeded: int
    payments_declined: int
    #: succeeded / (succeeded + declined) creates; None with neither.
    authorization_rate: float | None
    #: Declined operations by decline code, most frequent first.
    declines: list[DeclineCount]
    refunds_succeeded: int
    #: Succeeded refunds / succeeded creates; None with no succeeded create.
    refund_rate: float | None
    operations: list[OperationStats]
    webhooks: list[WebhookCount]


def summarize(totals: ActivityTotals) -> Metrics:
    """Metrics from a store's ``activity_totals`` (any store, any bucket size)."""
    succeeded = declined = refunds = 0
    declines: dict[str | None, int] = defaultdict(int)
    ops: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    latencies: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for latency in totals.latencies:
        latencies[(latency.provider, latency.operation)][latency.latency_bucket] += latency.count
    webhooks: dict[tuple[str, Outcome], int] = defaultdict(int)
    for total in totals.counts:
        if total.kind is ActivityKind.WEBHOOK:
            webhooks[(total.provider, total.outcome)] += total.count
            continue
        fresh = total.count - total.replays
        operation = total.operation or UNKNOWN_OPERATION
        if total.outcome is Outcome.DECLINED:
            declines[total.decline_code] += fresh
        if is_paid(operation, total.outcome):
            succeeded += fresh
        elif operation == CREATE and total.outcome is Outcome.DECLINED:
            declined += fresh
        elif operation == REFUND and total.outcome is Outcome.SUCCEEDED:
            refunds += fresh
        stats = ops[(total.provider, operation)]
        stats[0] += total.count
        stats[1] += total.retries
        stats[2] += total.replays
    return Metrics(
        volume=totals.volume,
        payments_succeeded=succeeded,
        payments_declined=declined,
        authorization_rate=_ratio(succeeded, succeeded + declined),
        declines=[
            DeclineCount(decline_code=code, count=count)
            for code, count in sorted(declines.items(), key=lambda i: (-i[1], i[0] or ""))
            if count
        ],
        refunds_succeeded=refunds,
        refund_rate=_ratio(refunds, succeeded),
        operations=[
            OperationStats(
                provider=provider,
                operation=operation,
                count=count,
                p50_ms=_percentile(latencies.get((provider, operation), {}), 0.50),
                p95_ms=_percentile(latencies.get((provider, operation), {}), 0.95),
                retries=retries,
                replays=replays,
            )
            for (provider, operation), (count, retries, replays) in sorted(ops.items())
        ],
        webhooks=[
            WebhookCount(provider=provider, outcome=outcome, count=count)
            for (provider, outcome), count in sorted(webhooks.items())
        ],
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(histogram: dict[int, int], quantile: float) -> float | None:
    """The upper bound of the bucket where the cumulative count reaches ``quantile``."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = math.ceil(quantile * total)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_upper_ms(bucket)
    raise AssertionError("unreachable")  # pragma: no cover
