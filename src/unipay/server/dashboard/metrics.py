"""The metrics page: the store's activity totals over a window, summarized
(``unipay.activity.summarize``) and drawn as charts.

It reads the totals, never the log, so it costs the same at a million payments as at ten.
Totals are hourly, so the finest column is an hour.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.responses import Response

from unipay._flow import acall
from unipay.activity import ActivityTotals, Metrics, hour_of, summarize
from unipay.money import exponent
from unipay.server.dashboard.charts import Chart, Series, bar_chart, column_chart
from unipay.server.dashboard.render import Visit, _money, _ms, flush_recorder, problem_page

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Window:
    name: str
    label: str
    #: Columns, each ``bucket`` seconds long.
    columns: int
    bucket: int

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        """``[since, until)``: whole buckets, the current one last."""
        if self.bucket == DAY:
            end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            end = hour_of(now)
        until = end + timedelta(seconds=self.bucket)
        return until - timedelta(seconds=self.bucket * self.columns), until

    def tick(self, at: datetime) -> str:
        return at.strftime("%m-%d") if self.bucket == DAY else at.strftime("%H:00")


WINDOWS = {
    w.name: w
    for w in (
        # The hourly totals are the finest: the last hour is this hour and the one before.
        Window("hour", "Last hour", 2, HOUR),
        Window("day", "Last 24 hours", 24, HOUR),
        Window("30d", "Last 30 days", 30, DAY),
    )
}


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _amount(value: float, *, currency: str) -> str:
    return _money(int(value), currency)


def _amounts(currency: str) -> Callable[[float], str]:
    """A volume chart's figures, as ``_money`` writes them (``format_amount``), with the
    currency's exponent looked up once and integers instead of a ``Decimal`` per figure: a
    24-hour page writes a few hundred, and that was a fifth of its charts' time."""
    try:
        digits = exponent(currency)
    except (ValueError, KeyError):  # a currency this version does not know: _money's way
        return functools.partial(_amount, currency=currency)
    code, scale = currency.upper(), 10**digits

    def amount(value: float) -> str:
        minor = int(value)
        if not digits:
            return f"{minor} {code}"
        whole, part = divmod(abs(minor), scale)
        return f"{'-' if minor < 0 else ''}{whole}.{part:0{digits}d} {code}"

    return amount


def _latency(value: float) -> str:
    return _ms(value)


def _count(value: float) -> str:
    return f"{value:.0f}"


def charts(metrics: Metrics, window: Window, since: datetime) -> list[Chart]:
    """Every chart of the page, each with its numbers."""
    starts = [since + timedelta(seconds=window.bucket * i) for i in range(window.columns)]
    ticks = [window.tick(s) for s in starts]
    # A point's column: by its start (the same instant in any zone) and, for a start that is
    # not one of the columns' own (naive, or not on the second), by its Unix second.
    column = {s: i for i, s in enumerate(starts)}
    index = {int(s.timestamp()): i for i, s in enumerate(starts)}
    counts: dict[str, list[float]] = {}
    volumes: dict[str, dict[str, list[float]]] = {}
    for point in metrics.volume:
        i = column.get(point.bucket_start)
        if i is None:
            i = index.get(int(point.bucket_start.timestamp()))
            if i is None:
                continue
        currency = point.currency or "?"
        name = f"{point.provider} {currency}"
        count = counts.get(name)
        if count is None:
            count = counts[name] = [0.0] * len(starts)
        count[i] += point.count
        per = volumes.get(currency)
        if per is None:
            per = volumes[currency] = {}
        amount = per.get(point.provider)
        if amount is None:
            amount = per[point.provider] = [0.0] * len(starts)
        amount[i] += point.amount
    drawn = [
        column_chart(
            "Payments succeeded, per provider and currency",
            f"{window.label}: payments that succeeded at creation, per "
            f"{'day' if window.bucket == DAY else 'hour'}, stacked by provider and currency.",
            ticks,
            [Series(name, values) for name, values in sorted(counts.items())],
            fmt=_count,
        )
    ]
    for currency, per_provider in sorted(volumes.items()):
        drawn.append(
            column_chart(
                f"Volume in {currency}, per provider",
                f"{window.label}: the amount of succeeded payments in {currency}, stacked by "
                "provider.",
                ticks,
                [Series(name, values) for name, values in sorted(per_provider.items())],
                fmt=_amounts(currency),
            )
        )
    drawn.append(
        bar_chart(
            "Authorization and refund rates",
            "Authorization rate: succeeded payments over succeeded and declined ones. Refund "
            "rate: succeeded refunds over succeeded payments.",
            ["Authorization rate", "Refund rate"],
            [Series("rate", [metrics.authorization_rate or 0.0, metrics.refund_rate or 0.0])],
            fmt=_percent,
            maximum=1.0,
        )
    )
    drawn.append(
        bar_chart(
            "Decline codes, most frequent first",
            "Declined operations by the provider's decline code.",
            [d.decline_code or "(no code)" for d in metrics.declines],
            [Series("declines", [d.count for d in metrics.declines])],
            fmt=_count,
        )
    )
    timed = [op for op in metrics.operations if op.p50_ms is not None]
    drawn.append(
        bar_chart(
            "Provider latency per operation (p50, p95)",
            "Milliseconds spent in provider calls, all attempts of a call together; a "
            "percentile is read from a histogram and is at most 19% above the true one.",
            [f"{op.provider} {op.operation}" for op in timed],
            [
                Series("p50", [op.p50_ms or 0.0 for op in timed]),
                Series("p95", [op.p95_ms or 0.0 for op in timed]),
            ],
            fmt=_latency,
        )
    )
    drawn.append(
        bar_chart(
            "Retries and replays per operation",
            "Retries: provider calls beyond the first. Replays: answers given again from an "
            "idempotency key, without calling the provider.",
            [f"{op.provider} {op.operation}" for op in metrics.operations],
            [
                Series("retries", [op.retries for op in metrics.operations]),
                Series("replays", [op.replays for op in metrics.operations]),
            ],
            fmt=_count,
        )
    )
    drawn.append(
        bar_chart(
            "Webhook deliveries by provider and outcome",
            "Deliveries received at /webhooks/{provider}, by how they ended.",
            [f"{w.provider} {w.outcome.value}" for w in metrics.webhooks],
            [Series("deliveries", [w.count for w in metrics.webhooks])],
            fmt=_count,
        )
    )
    return drawn


async def metrics_page(visit: Visit) -> Response:
    name = visit.query("window") or "day"
    window = WINDOWS.get(name)
    if window is None:
        return problem_page(visit, 400, "Unknown window", "Pick hour, day or 30d.")
    since, until = window.span(datetime.now(UTC))
    await flush_recorder(visit)
    try:
        totals: ActivityTotals = await acall(
            visit.gateway.store.activity_totals,
            since=since,
            until=until,
            bucket_seconds=window.bucket,
        )
    except NotImplementedError:
        return problem_page(
            visit,
            200,
            "No metrics",
            "This store keeps no activity totals (it does not implement activity_totals).",
        )
    summary = summarize(totals)
    return visit.render(
        "metrics.html",
        window=window,
        windows=list(WINDOWS.values()),
        metrics=summary,
        charts=charts(summary, window, since),
        since=since,
        until=until,
    )
