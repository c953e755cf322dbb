"""The activity log's tables in a SQL store: the log, and its totals beside it.

The log (``<prefix>activity``) is read a page at a time through indexes that each end in
``(at, id)``, the order of a page, so a page costs the same at ten million rows as at ten.

The totals are four rollups, each incremented by an upsert in the transaction that appends the
entries, so a metrics window reads them and never the log:

- ``activity_hour`` and ``activity_day``: counts and sums per hour (per day) and combination of
  kind, provider, operation, currency, outcome and decline code;
- ``latency_hour`` and ``latency_day``: the latency histogram per hour (per day), provider,
  operation and bucket.

Measured at a million payments over 30 days (``python -m benchmarks --only dashboard``): one
table grouped by hour and latency bucket held 277,000 rows and its 30-day GROUP BY took 592 ms;
the day tables hold 6,500 and 7,100 rows and a 30-day window's three GROUP BYs (the counts over
the window, the volume per day, the latency histogram) take 8 to 16 ms and return 775 rows. A
window reads whole days from the day tables and the hours at its edges from the hour tables.
Key columns cannot be NULL (they form the primary key), so an absent text is stored as ``''``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Double,
    Index,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    union_all,
)

from unipay.activity import (
    CREATE,
    SUMS,
    Activity,
    ActivityKind,
    ActivityTotals,
    Outcome,
    contribution,
    latency_key,
)

#: Indexes of the log, one per filter the dashboard pages by, each ending in a page's order.
_LOG_INDEXES = {
    "at": ("at", "id"),
    "payment": ("payment_id", "at", "id"),
    "kind": ("kind", "at", "id"),
    "kind_provider": ("kind", "provider", "at", "id"),
    "kind_outcome": ("kind", "outcome", "at", "id"),
}
HOUR = 3600
DAY = 24 * HOUR
_COUNT_GROUPS = ("kind", "provider", "operation", "currency", "outcome", "decline_code")
_LATENCY_GROUPS = ("provider", "operation", "latency_bucket")
_LATENCY_SUMS = ("entries",)
_NO_TEXT = ""


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
    for period in ("hour", "day"):
        Table(
            f"{prefix}activity_{period}",
            metadata,
            # Unix seconds of the period's start.
            Column("start", BigInteger, primary_key=True),
            Column("kind", String(16), primary_key=True),
            Column("provider", String(64), primary_key=True),
            Column("operation", String(64), primary_key=True),
            Column("currency", String(16), primary_key=True),
            Column("outcome", String(32), primary_key=True),
            Column("decline_code", String(128), primary_key=True),
            *(Column(name, BigInteger, nullable=False) for name in SUMS),
        )
        Table(
            f"{prefix}latency_{period}",
            metadata,
            Column("start", BigInteger, primary_key=True),
            Column("provider", String(64), primary_key=True),
            Column("operation", String(64), primary_key=True),
            Column("latency_bucket", Integer, primary_key=True),
            *(Column(name, BigInteger, nullable=False) for name in _LATENCY_SUMS),
        )


@dataclass(frozen=True)
class Rollup:
    """One table of totals: what an entry adds to it, and under which key."""

    table: Table
    #: Seconds: an hour or a day.
    period: int
    groups: tuple[str, ...]
    sums: tuple[str, ...]
    #: An entry's key in the groups and what it adds to the sums; None when it adds nothing.
    keyed: Callable[[Activity], tuple[tuple[Any, ...], tuple[int, ...]] | None]
    upsert: Insert

    @property
    def columns(self) -> tuple[str, ...]:
        return ("start", *self.groups, *self.sums)

    def add(self, summed: dict[tuple[Any, ...], list[int]], entries: Sequence[Activity]) -> None:
        """Sum ``entries`` into ``summed`` (key -> sums), as the upsert will add them."""
        for entry in entries:
            keyed = self.keyed(entry)
            if keyed is None:
                continue
            start = int(entry.at.timestamp()) // self.period * self.period
            into = summed.setdefault((start, *keyed[0]), [0] * len(self.sums))
            for index, value in enumerate(keyed[1]):
                into[index] += value


class ActivityTables:
    """The log's statements, built once (SQLAlchemy then reuses each compiled form), and the
    work each store method does inside the store's transaction."""

    def __init__(
        self, metadata: MetaData, prefix: str, dialect_insert: Callable[[Table], Any]
    ) -> None:
        self.log = log = metadata.tables[f"{prefix}activity"]
        self.append: Insert = log.insert()
        self.cursor_of = select(log.c.at, log.c.id).where(log.c.id == bindparam("a_id"))

        def rollup(name: str, period: int) -> Rollup:
            table = metadata.tables[f"{prefix}{name}_{'hour' if period == HOUR else 'day'}"]
            counts = name == "activity"
            sums = SUMS if counts else _LATENCY_SUMS
            values: dict[str, Any] = {c.name: bindparam(f"r_{c.name}") for c in table.columns}
            insert: Any = dialect_insert(table).values(values)
            upsert = insert.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key],
                set_={s: table.c[s] + insert.excluded[s] for s in sums},
            )
            groups = _COUNT_GROUPS if counts else _LATENCY_GROUPS
            return Rollup(table, period, groups, sums, _counted if counts else _timed, upsert)

        #: In the order every writer updates them (see ``record``).
        self.rollups = [rollup(n, p) for n in ("activity", "latency") for p in (HOUR, DAY)]
        self._queries: dict[tuple[int, int], tuple[Select[Any], ...]] = {}

    def record(self, connection: Connection, entries: Sequence[Activity]) -> None:
        if not entries:
            return
        connection.execute(self.append, [_row(entry) for entry in entries])
        for rollup in self.rollups:
            summed: dict[tuple[Any, ...], list[int]] = {}
            rollup.add(summed, entries)
            # Tables in one order, rows in key order: two writers incrementing the same rows
            # lock them in the same order, so they wait for each other instead of deadlocking.
            bound = [f"r_{name}" for name in rollup.columns]
            rows = [dict(zip(bound, (*k, *v), strict=True)) for k, v in sorted(summed.items())]
            if rows:
                connection.execute(rollup.upsert, rows)

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
        return [_entry(row._mapping) for row in connection.execute(query).all()]

    def totals(
        self, connection: Connection, since: datetime, until: datetime, bucket_seconds: int
    ) -> ActivityTotals:
        hours, days = _ranges(since, until, bucket_seconds)
        queries = self._totals_queries(len(hours), len(days))
        params: dict[str, Any] = {"t_bucket": bucket_seconds}
        for prefix, ranges in (("t_h", hours), ("t_d", days)):
            for index, (first, end) in enumerate(ranges):
                params[f"{prefix}{index}_from"], params[f"{prefix}{index}_to"] = first, end
        counts, volume, latencies = (connection.execute(q, params).all() for q in queries)
        # Plain dicts validated in one call into pydantic's core: a model built per row (and an
        # enum looked up per row) was 1.7 ms of a 24-hour page's 12; the sums are ``int()``ed
        # here (PostgreSQL's SUM is a numeric, a Decimal) because pydantic reads a Decimal as an
        # int more slowly than ``int()`` does.
        return ActivityTotals.model_validate(
            {
                "counts": [_total(*row) for row in counts],
                "volume": [
                    {
                        "bucket_start": datetime.fromtimestamp(start, UTC),
                        "provider": provider,
                        "currency": currency or None,
                        "count": int(entries),
                        "amount": int(amount),
                    }
                    for start, provider, currency, entries, amount in volume
                ],
                "latencies": [
                    {
                        "provider": provider,
                        "operation": operation,
                        "latency_bucket": bucket,
                        "count": int(entries),
                    }
                    for provider, operation, bucket, entries in latencies
                ],
            }
        )

    def _totals_queries(self, hour_ranges: int, day_ranges: int) -> tuple[Select[Any], ...]:
        """The counts, volume and latency queries for a window read as ``hour_ranges`` ranges
        of the hour tables and ``day_ranges`` of the day tables, built once per shape (there
        are four): building them per call cost a third of the store's own time for a page."""
        shape = (hour_ranges, day_ranges)
        built = self._queries.get(shape)
        if built is not None:
            return built
        counts_hour, counts_day, latency_hour, latency_day = self.rollups
        counted = _window(counts_hour, hour_ranges, counts_day, day_ranges)
        groups = [counted.c[name] for name in _COUNT_GROUPS]
        count_query: Select[Any] = (
            select(*groups, *(func.sum(counted.c[name]).label(name) for name in SUMS))
            .group_by(*groups)
            .order_by(*groups)
        )
        size = bindparam("t_bucket", type_=BigInteger)
        bucket = (counted.c.start // size * size).label("bucket")
        paid = (counted.c.provider, counted.c.currency)
        volume_query: Select[Any] = (
            select(
                bucket,
                *paid,
                (func.sum(counted.c.entries) - func.sum(counted.c.replays)).label("entries"),
                func.sum(counted.c.amount).label("amount"),
            )
            .where(
                counted.c.kind == ActivityKind.OPERATION.value,
                counted.c.operation == CREATE,
                counted.c.outcome == Outcome.SUCCEEDED.value,
            )
            .group_by(bucket, *paid)
            .order_by(bucket, *paid)
        )
        timed = _window(latency_hour, hour_ranges, latency_day, day_ranges)
        where = [timed.c[name] for name in _LATENCY_GROUPS]
        latency_query: Select[Any] = (
            select(*where, func.sum(timed.c.entries).label("entries"))
            .group_by(*where)
            .order_by(*where)
        )
        built = self._queries[shape] = (count_query, volume_query, latency_query)
        return built

    def purge_batch(self, connection: Connection, older_than: datetime, batch_size: int) -> int:
        log = self.log
        old = select(log.c.id).where(log.c.at < older_than.timestamp()).limit(batch_size)
        ids = list(connection.scalars(old))
        if ids:
            connection.execute(delete(log).where(log.c.id.in_(ids)))
        return len(ids)

    def purge_totals(self, connection: Connection, older_than: datetime) -> None:
        """Drop the totals of the hours (days) that ended before ``older_than``'s hour (day)."""
        moment = int(older_than.timestamp())
        for rollup in self.rollups:
            start = moment // rollup.period * rollup.period
            connection.execute(delete(rollup.table).where(rollup.table.c.start < start))


def _ranges(
    since: datetime, until: datetime, bucket_seconds: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The ``[start, end)`` ranges of period starts to read from the hour tables and from the
    day tables: whole days from the day tables when a bucket holds whole days, the hours at
    the window's edges (and every hour otherwise) from the hour tables. The totals of
    ``[since, until)`` are those of the hours that start in it. Whole seconds: a period starts
    on one, so ``start < until`` is ``start < ceil(until)``, and the bounds bind as the
    column's own type (a float would make PostgreSQL cast the column, not use its index)."""
    first = -(-math.ceil(since.timestamp()) // HOUR) * HOUR
    end = math.ceil(until.timestamp())
    if bucket_seconds % DAY == 0:
        first_day, last_day = -(-first // DAY) * DAY, end // DAY * DAY
        if first_day < last_day:
            edges = [(first, first_day), (last_day, end)]
            return [(a, b) for a, b in edges if a < b], [(first_day, last_day)]
    return [(first, end)], []


def _window(hourly: Rollup, hour_ranges: int, daily: Rollup, day_ranges: int) -> Any:
    """The rows of both tables whose periods start in the ranges (bound as ``t_h<i>_from``,
    ``t_h<i>_to``, ``t_d<i>_from``...), as one subquery."""
    parts: list[Select[Any]] = []
    for rollup, prefix, ranges in ((hourly, "t_h", hour_ranges), (daily, "t_d", day_ranges)):
        if not ranges:
            continue
        start = rollup.table.c.start
        spans: list[ColumnElement[bool]] = [
            and_(
                start >= bindparam(f"{prefix}{i}_from", type_=BigInteger),
                start < bindparam(f"{prefix}{i}_to", type_=BigInteger),
            )
            for i in range(ranges)
        ]
        columns = [rollup.table.c[name] for name in rollup.columns]
        parts.append(select(*columns).where(or_(*spans)))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


def _count_key(entry: Activity) -> tuple[Any, ...]:
    return (
        entry.kind.value,
        entry.provider,
        entry.operation or _NO_TEXT,
        entry.currency or _NO_TEXT,
        entry.outcome.value,
        entry.decline_code or _NO_TEXT,
    )


def _counted(entry: Activity) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    return _count_key(entry), contribution(entry)


def _timed(entry: Activity) -> tuple[tuple[Any, ...], tuple[int, ...]] | None:
    where = latency_key(entry)
    return None if where is None else (where, (1,))


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


def _total(
    kind: str,
    provider: str,
    operation: str,
    currency: str,
    outcome: str,
    decline_code: str,
    count: int,
    amount: int,
    attempts: int,
    replays: int,
    retries: int,
) -> dict[str, Any]:
    """A row of the counts query (the groups, then ``SUMS`` in order) as an ``ActivityTotal``'s
    fields, for ``totals`` to validate with the others."""
    return {
        "kind": kind,
        "provider": provider,
        "operation": operation or None,
        "currency": currency or None,
        "outcome": outcome,
        "decline_code": decline_code or None,
        "count": int(count),
        "amount": int(amount),
        "attempts": int(attempts),
        "replays": int(replays),
        "retries": int(retries),
    }
