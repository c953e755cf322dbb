"""The dashboard benchmark's data: a million payments and their activity log in PostgreSQL.

Rows are written with ``COPY`` in exactly the shape ``SQLStore`` writes them: each payment is a
real ``Payment`` whose JSON, list columns (``unipay.storage.sql._columns``) and search terms
(``unipay.storage.memory.search_terms``) are the store's own; each log entry is a real
``Activity`` turned into its row by the function ``SQLStore.record_activity`` uses
(``unipay.storage.sql_activity._row``) and summed into the four rollup tables by the store's own
``Rollup.add``, as its upserts sum them. Saving a million payments through the store one by one
would take an hour and measure the saves, not the pages.

The data is kept between runs (a marker table says what was written and when) and written
again when it is missing, of another size, or older than ``STALE_AFTER``: the metrics page's
windows end now, so older data would leave its 30 days partly empty.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from unipay.activity import Activity, ActivityKind, Outcome
from unipay.models import CaptureMethod, NextAction, Payment, PaymentStatus
from unipay.storage import SQLStore
from unipay.storage.memory import search_terms
from unipay.storage.sql import _columns
from unipay.storage.sql_activity import Rollup, _row

#: Bump when the generated data changes shape: older data is then written again.
VERSION = 2
SPAN = timedelta(days=30)
STALE_AFTER = timedelta(days=2)
BATCH = 20_000
#: (provider, weight, currencies, median provider latency in ms).
PROVIDERS = (
    ("mock", 4, ("USD", "EUR"), 2.0),
    ("stripe", 3, ("USD", "EUR", "GBP"), 350.0),
    ("adyen", 2, ("EUR", "GBP", "USD"), 450.0),
    ("razorpay", 1, ("INR",), 600.0),
)
DECLINES = (
    "card_declined",
    "insufficient_funds",
    "do_not_honor",
    "expired_card",
    "incorrect_cvc",
    "fraudulent",
)
#: The processing id in each generated activity id (a recorder's is random per process).
_PROCESS = "bd0001"


@dataclass
class Generated:
    """One batch: the rows of each table."""

    payments: list[tuple[Any, ...]] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)
    log: list[tuple[Any, ...]] = field(default_factory=list)


class Generator:
    """Payments one after the other in time, each with the log entries its life would leave:
    the create (some declined, retried, replayed or failed), a capture, cancel or refund, and
    the provider's webhook deliveries (a few duplicated or rejected)."""

    def __init__(
        self, rows: int, anchor: datetime, log_columns: list[str], rollups: list[Rollup]
    ) -> None:
        self.rows = rows
        self.start = anchor - SPAN
        self.anchor = anchor
        self.step = SPAN.total_seconds() / rows
        self.random = random.Random(20260101)
        self.log_columns = log_columns
        self.sequence = 0
        #: Each rollup table's rows (key -> sums), summed as ActivityTables.record sums them.
        self.rollups = rollups
        self.totals: list[dict[tuple[Any, ...], list[int]]] = [{} for _ in rollups]
        self.weighted = [p for p in PROVIDERS for _ in range(p[1])]
        #: About five payments per customer e-mail, whatever the size.
        self.customers = max(1, rows // 5)

    def batches(self) -> Iterator[Generated]:
        for first in range(0, self.rows, BATCH):
            batch = Generated()
            for n in range(first, min(first + BATCH, self.rows)):
                self._payment(n, batch)
            yield batch

    def _payment(self, n: int, batch: Generated) -> None:
        rng = self.random
        provider, _, currencies, median = rng.choice(self.weighted)
        currency = rng.choice(currencies)
        amount = rng.randrange(100, 100_000)
        created = self.start + timedelta(seconds=(n + rng.random()) * self.step)
        fields: dict[str, Any] = {
            "provider": provider,
            "provider_payment_id": f"pi_{n:08d}{rng.getrandbits(48):012x}",
            "amount": amount,
            "currency": currency,
            "customer_email": f"customer{rng.randrange(self.customers)}@example.com",
            "payment_method": "pm_card_visa",
            "metadata": {"order_id": f"ord_{n:08d}"},
            "created_at": created,
        }
        later: list[tuple[str, str]] = []  # (operation, webhook event) after the create
        roll = rng.random()
        create = Outcome.SUCCEEDED
        if roll < 0.05:
            create = Outcome.DECLINED
            fields.update(status=PaymentStatus.REQUIRES_PAYMENT_METHOD)
            fields["decline_code"] = rng.choice(DECLINES)
        elif roll < 0.08:
            fields.update(status=PaymentStatus.REQUIRES_ACTION)
            fields["next_action"] = NextAction(
                type="redirect_to_url", redirect_url=f"https://{provider}.example/3ds/{n}"
            )
        elif roll < 0.13:
            fields.update(
                status=PaymentStatus.REQUIRES_CAPTURE,
                capture_method=CaptureMethod.MANUAL,
                amount_capturable=amount,
            )
        elif roll < 0.16:
            fields.update(status=PaymentStatus.CANCELED, capture_method=CaptureMethod.MANUAL)
            later.append(("cancel_payment", "payment.canceled"))
        elif roll < 0.18:
            fields.update(status=PaymentStatus.PROCESSING)
        else:
            fields.update(status=PaymentStatus.SUCCEEDED, amount_received=amount)
            if rng.random() < 0.15:
                fields["capture_method"] = CaptureMethod.MANUAL
                later.append(("capture_payment", "payment.succeeded"))
            if rng.random() < 0.06:
                fields["amount_refunded"] = amount if rng.random() < 0.7 else amount // 2
                later.append(("refund_payment", "refund.succeeded"))
        payment = Payment(**fields)
        columns = _columns(payment)
        batch.payments.append(
            (payment.id, payment.model_dump_json(), columns["provider"], columns["status"],
             columns["created_at"], columns["currency"])
        )  # fmt: skip
        batch.terms.extend((term[:512], payment.id) for term in sorted(search_terms(payment)))
        self._life(payment, create, median, later, batch)

    def _life(
        self,
        payment: Payment,
        create: Outcome,
        median: float,
        later: list[tuple[str, str]],
        batch: Generated,
    ) -> None:
        rng, provider = self.random, payment.provider
        at = payment.created_at
        attempts = 2 if rng.random() < 0.02 else 1
        if rng.random() < 0.005:  # a create that failed before the provider made a payment
            self._log(batch, at, provider, "create_payment", Outcome.FAILED, None, attempts=3,
                      latency=median * 3, error_type="ProviderUnavailable")  # fmt: skip
        self._log(batch, at, provider, "create_payment", create, payment, attempts=attempts,
                  latency=median * attempts, decline_code=payment.decline_code)  # fmt: skip
        if rng.random() < 0.03:  # the client sent the same key again
            self._log(batch, at + timedelta(seconds=rng.uniform(1, 60)), provider,
                      "create_payment", create, payment, attempts=0, replayed=True)  # fmt: skip
        if create is Outcome.SUCCEEDED:
            self._webhook(batch, at, payment, f"payment.{payment.status.value}")
        for operation, event in later:
            when = min(at + timedelta(seconds=rng.uniform(60, 3 * 86400)), self.anchor)
            refund = None
            if operation == "refund_payment":
                refund = f"{provider}:re_{payment.provider_payment_id.removeprefix('pi_')}"
            self._log(batch, when, provider, operation, Outcome.SUCCEEDED, payment, attempts=1,
                      latency=median, refund_id=refund)  # fmt: skip
            self._webhook(batch, when, payment, event, refund)

    def _webhook(
        self,
        batch: Generated,
        at: datetime,
        payment: Payment,
        event: str,
        refund_id: str | None = None,
    ) -> None:
        rng = self.random
        when = min(at + timedelta(seconds=rng.uniform(1, 5)), self.anchor)
        if rng.random() < 0.003:  # a delivery with a bad signature, refused unread
            self._log(batch, when, payment.provider, None, Outcome.REJECTED, None,
                      error_type="WebhookVerificationError")  # fmt: skip
        self._log(batch, when, payment.provider, event, Outcome.PROCESSED, payment,
                  refund_id=refund_id)  # fmt: skip
        if rng.random() < 0.02:  # the provider delivered it twice
            self._log(batch, when + timedelta(seconds=30), payment.provider, event,
                      Outcome.DUPLICATE, payment, refund_id=refund_id)  # fmt: skip

    def _log(
        self,
        batch: Generated,
        at: datetime,
        provider: str,
        operation: str | None,
        outcome: Outcome,
        payment: Payment | None,
        *,
        attempts: int = 0,
        replayed: bool = False,
        latency: float | None = None,
        decline_code: str | None = None,
        error_type: str | None = None,
        refund_id: str | None = None,
    ) -> None:
        """One entry, as the recorder would make it, into the log rows and the totals."""
        rng = self.random
        self.sequence += 1
        webhook = operation is None or "." in operation
        if latency is not None and not replayed:
            latency = rng.lognormvariate(0, 0.35) * latency
        at = min(at + timedelta(milliseconds=latency or 0), self.anchor)
        entry = Activity(
            id=f"act_{int(at.timestamp() * 1e9):020x}{self.sequence % 0x1000000:06x}{_PROCESS}",
            at=at,
            kind=ActivityKind.WEBHOOK if webhook else ActivityKind.OPERATION,
            provider=provider,
            operation=operation,
            outcome=outcome,
            payment_id=None if payment is None else payment.id,
            refund_id=refund_id,
            key=f"{rng.getrandbits(128):032x}",
            attempts=attempts,
            replayed=replayed,
            status=None if payment is None else payment.status.value,
            decline_code=decline_code,
            error_type=error_type,
            latency_ms=None if replayed or webhook else latency,
            amount=None if payment is None else payment.amount,
            currency=None if payment is None else payment.currency,
        )
        row = _row(entry)
        batch.log.append(tuple(row[name] for name in self.log_columns))
        for rollup, summed in zip(self.rollups, self.totals, strict=True):
            rollup.add(summed, [entry])


def conninfo(url: str) -> str:
    """A libpq connection string for psycopg from the store's SQLAlchemy URL."""
    from sqlalchemy import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _marker(store: SQLStore) -> str:
    return f"{store.table_prefix}bench_marker"


def present(connection: psycopg.Connection[Any], store: SQLStore, rows: int) -> str | None:
    """Why the stored data cannot be reused, or None when it can."""
    marker = _marker(store)
    found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (marker,)).fetchone()
    if not found or not found[0]:
        return "no data yet"
    mark = connection.execute(f"SELECT rows, version, written FROM {marker}").fetchone()  # noqa: S608
    if mark is None or mark[0] != rows or mark[1] != VERSION:
        return "data of another size or version"
    age = datetime.now(UTC) - mark[2]
    if age > STALE_AFTER:
        return f"data written {age.days} days ago (the metrics windows end now)"
    counted = connection.execute(
        f"SELECT count(*) FROM {store._payments.name}"  # noqa: S608
    ).fetchone()
    if counted is None or counted[0] != rows:
        return f"{counted[0] if counted else 0} payments stored, not {rows}"
    return None


def populate(connection: psycopg.Connection[Any], store: SQLStore, rows: int) -> None:
    """Empty the store's tables and write ``rows`` payments and their log; the totals last."""
    store.list_payments(limit=1)  # creates the tables and indexes, as the store would
    tables = store.metadata.tables
    prefix = store.table_prefix
    log = tables[f"{prefix}activity"]
    rollups = store._activity.rollups
    names = [t.name for t in store.metadata.sorted_tables]
    marker = _marker(store)
    connection.execute(f"DROP TABLE IF EXISTS {marker}")
    connection.execute(f"TRUNCATE {', '.join(names)}")
    connection.commit()
    anchor = datetime.now(UTC)
    generator = Generator(rows, anchor, [c.name for c in log.columns], rollups)
    payment_columns = "id, data, provider, status, created_at, currency"
    started, written, entries = time.perf_counter(), 0, 0
    for batch in generator.batches():
        with connection.cursor() as cursor:
            _copy(cursor, f"{store._payments.name} ({payment_columns})", batch.payments)
            _copy(cursor, f"{store._terms.name} (term, payment_id)", batch.terms)
            _copy(cursor, f"{log.name} ({', '.join(generator.log_columns)})", batch.log)
        connection.commit()
        written += len(batch.payments)
        entries += len(batch.log)
        if written % 200_000 == 0 or written == rows:
            print(f"  {written:,} payments, {entries:,} log entries "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    with connection.cursor() as cursor:
        for rollup, summed in zip(rollups, generator.totals, strict=True):
            rows_of = [(*key, *sums) for key, sums in summed.items()]
            _copy(cursor, f"{rollup.table.name} ({', '.join(rollup.columns)})", rows_of)
    connection.execute(f"CREATE TABLE {marker} (rows bigint, version int, written timestamptz)")
    connection.execute(f"INSERT INTO {marker} VALUES (%s, %s, %s)", (rows, VERSION, anchor))  # noqa: S608
    connection.commit()
    sizes = ", ".join(
        f"{len(summed):,} {rollup.table.name.removeprefix(prefix)}"
        for rollup, summed in zip(rollups, generator.totals, strict=True)
    )
    print(f"  totals: {sizes}; vacuum and analyze", flush=True)
    connection.autocommit = True
    for name in names:
        connection.execute(f"VACUUM ANALYZE {name}")
    connection.autocommit = False


def _copy(cursor: psycopg.Cursor[Any], target: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
