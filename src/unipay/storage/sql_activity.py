"""The activity log's tables in a SQL store: the log, and its hourly totals beside it.

The log (``<prefix>activity``) is read a page at a time through indexes that each end in
``(at, id)``, the order of a page, so a page costs the same at ten million rows as at ten. The
totals (``<prefix>activity_hourly``) hold one row per hour and combination of the grouping
fields, incremented by an upsert in the transaction that appends the entries: a metrics window
reads hundreds of rows, never the log. Their key columns cannot be NULL (they form the primary
key), so an absent text is stored as ``''`` and an absent latency bucket as ``-1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Index,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    or_,
    select,
)

from unipay.activity import Activity, ActivityKind, ActivityTotal, Outcome, hour_of, latency_bucket

#: Indexes of the log, one per filter the dashboard pages by, each ending in a page's order.
_LOG_INDEXES = {
    "at": ("at", "id"),
    "payment": ("payment_id", "at", "id"),
    "kind": ("kind", "at", "id"),
    "kind_provider": ("kind", "provider", "at", "id"),
    "kind_outcome": ("kind", "outcome", "at", "id"),
}
_GROUPS = (
    "kind",
    "provider",
    "operation",
    "currency",
    "outcome",
    "decline_code",
    "latency_bucket",
)
_SUMS = ("entries", "amount", "attempts", "replays")
_HOURLY = ("hour", *_GROUPS, *_SUMS)
_NO_TEXT = ""
_NO_BUCKET = -1


def add_activity_tables(metadata: MetaData, prefix: str) -> None:
    log = Table(
        f"{prefix}activity",
        metadata,
        Column("id", String(64), primary_key=True),
        # Unix seconds.
        Column("at", Double, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("provider", String(64), nullable=False),
        Column("operation", String(64), nullable=True),
        Column("outcome", String(32), nullable=False),
        Column("payment_id", String(255), nullable=True),
        Column("refund_id", String(255), nullable=True),
        Column("key", String(255), nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("replayed", Boolean, nullable=False),
        Column("status", String(32), nullable=True),
        Column("decline_code", String(128), nullable=True),
        Column("error_type", String(128), nullable=True),
        Column("error_message", Text, nullable=True),
        Column("latency_ms", Double, nullable=True),
        Column("amount", BigInteger, nullable=True),
        Column("currency", String(16), nullable=True),
    )
    for name, columns in _LOG_INDEXES.items():
        Index(f"{prefix}activity_{name}", *(log.c[c] for c in columns))
    Table(
        f"{prefix}activity_hourly",
        metadata,
        # Unix seconds of the hour's start.
        Column("hour", BigInteger, primary_key=True),
        Column("kind", String(16), primary_key=True),
        Column("provider", String(64), primary_key=True),
        Column("operation", String(64), primary_key=True),
        Column("currency", String(16), primary_key=True),
        Column("outcome", String(32), primary_key=True),
        Column("decline_code", String(128), primary_key=True),
        Column("latency_bucket", Integer, primary_key=True),
        *(Column(name, BigInteger, nullable=False) for name in _SUMS),
    )


class ActivityTables:
    """The log's statements, built once (SQLAlchemy then reuses each compiled form), and the
    work each store method does inside the store's transaction."""

    def __init__(
        self, metadata: MetaData, prefix: str, dialect_insert: Callable[[Table], Any]
    ) -> None:
        self.log = log = metadata.tables[f"{prefix}activity"]
        self.hourly = hourly = metadata.tables[f"{prefix}activity_hourly"]
        values: dict[str, Any] = {c.name: bindparam(f"h_{c.name}") for c in hourly.columns}
        insert: Any = dialect_insert(hourly).values(values)
        keys = [c.name for c in hourly.primary_key]
        self.add_totals: Insert = insert.on_conflict_do_update(
            index_elements=keys,
            set_={name: hourly.c[name] + insert.excluded[name] for name in _SUMS},
        )
        self.append: Insert = log.insert()
        self.cursor_of = select(log.c.at, log.c.id).where(log.c.id == bindparam("a_id"))

    def record(self, connection: Connection, entries: Sequence[Activity]) -> None:
        if not entries:
            return
        connection.execute(self.append, [_row(entry) for entry in entries])
        summed: dict[tuple[Any, ...], list[int]] = {}
        for entry in entries:
            sums = summed.setdefault(_group(entry), [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += 0 if entry.replayed else entry.amount or 0
            sums[2] += entry.attempts
            sums[3] += entry.replayed
        # In key order: two writers incrementing the same rows lock them in the same order, so
        # they wait for each other instead of deadlocking.
        rows = [
            {f"h_{name}": value for name, value in zip(_HOURLY, (*k, *s), strict=True)}
            for k, s in sorted(summed.items())
        ]
        connection.execute(self.add_totals, rows)

    def page(
        self,
        connection: Connection,
        filters: dict[str, Any],
        limit: int,
        before: str | None,
    ) -> list[Activity]:
        log = self.log
        query = select(log)
        for name, value in filters.items():
            if value is not None:
                query = query.where(log.c[name] == value)
        query = query.order_by(log.c.at.desc(), log.c.id.desc()).limit(limit)
        if before is not None:
            cursor = connection.execute(self.cursor_of, {"a_id": before}).first()
            if cursor is None:
                return []
            # As in list_payments: the first condition bounds the index range.
            query = query.where(
                log.c.at <= cursor.at, or_(log.c.at < cursor.at, log.c.id < cursor.id)
            )
        return [_entry(row._mapping) for row in connection.execute(query)]

    def totals(
        self, connection: Connection, since: datetime, until: datetime, bucket_seconds: int
    ) -> list[ActivityTotal]:
        hourly = self.hourly
        # Integer division: the hour's bucket, counted from the epoch.
        bucket = (hourly.c.hour // bucket_seconds * bucket_seconds).label("bucket")
        groups = [hourly.c[name] for name in _GROUPS]
        query = (
            select(bucket, *groups, *(func.sum(hourly.c[name]).label(name) for name in _SUMS))
            .where(hourly.c.hour >= _hour_at_or_after(since), hourly.c.hour < until.timestamp())
            .group_by(bucket, *groups)
            .order_by(bucket, *groups)
        )
        return [_total(row._mapping) for row in connection.execute(query)]

    def purge_batch(self, connection: Connection, older_than: datetime, batch_size: int) -> int:
        log = self.log
        old = select(log.c.id).where(log.c.at < older_than.timestamp()).limit(batch_size)
        ids = list(connection.scalars(old))
        if ids:
            connection.execute(delete(log).where(log.c.id.in_(ids)))
        return len(ids)

    def purge_totals(self, connection: Connection, older_than: datetime) -> None:
        hourly = self.hourly
        start = int(hour_of(older_than).timestamp())
        connection.execute(delete(hourly).where(hourly.c.hour < start))


def _hour_at_or_after(moment: datetime) -> int:
    """The first hour start at or after ``moment``: the totals of ``[since, until)`` are those
    of the hours that start in it."""
    seconds = moment.timestamp()
    return int(-(-seconds // 3600) * 3600)


def _row(entry: Activity) -> dict[str, Any]:
    row = entry.model_dump()
    row["at"] = entry.at.timestamp()
    row["kind"] = entry.kind.value
    row["outcome"] = entry.outcome.value
    return row


def _entry(row: Any) -> Activity:
    values = dict(row)
    values["at"] = datetime.fromtimestamp(values["at"], UTC)
    return Activity.model_validate(values)


def _group(entry: Activity) -> tuple[Any, ...]:
    bucket = latency_bucket(entry.latency_ms)
    return (
        int(hour_of(entry.at).timestamp()),
        entry.kind.value,
        entry.provider,
        entry.operation or _NO_TEXT,
        entry.currency or _NO_TEXT,
        entry.outcome.value,
        entry.decline_code or _NO_TEXT,
        _NO_BUCKET if bucket is None else bucket,
    )


def _total(row: Any) -> ActivityTotal:
    return ActivityTotal(
        bucket_start=datetime.fromtimestamp(row["bucket"], UTC),
        kind=ActivityKind(row["kind"]),
        provider=row["provider"],
        operation=row["operation"] or None,
        currency=row["currency"] or None,
        outcome=Outcome(row["outcome"]),
        decline_code=row["decline_code"] or None,
        latency_bucket=None if row["latency_bucket"] == _NO_BUCKET else row["latency_bucket"],
        count=int(row["entries"]),
        amount=int(row["amount"]),
        attempts=int(row["attempts"]),
        replays=int(row["replays"]),
    )
