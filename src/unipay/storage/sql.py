"""A store in a SQL database (SQLite file or PostgreSQL) through SQLAlchemy 2 Core.

Every decision to take a key is one atomic statement: an ``INSERT .. ON CONFLICT (scope, key) DO
UPDATE .. WHERE <expired or abandoned>``. Of any number of concurrent callers, in any number of
processes or hosts, the database lets exactly one insert or update the row; the others change
nothing and then only read who holds it. There is no read-then-write window.

Time is the database's (``statement_timestamp()`` in PostgreSQL, ``julianday('now')`` in SQLite),
so the hosts sharing a database agree on whether a lease has run out whatever their own clocks
say. Payments and refunds change by compare-and-swap on their stored JSON, so two writers (a
refund and a webhook, two refunds) never lose each other's update, on any dialect.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    inspect,
    make_url,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql.expression import ColumnElement, Executable

from unipay.activity import Activity, ActivityKind, ActivityTotals, Outcome
from unipay.errors import InvalidRequest, StoreUnavailable
from unipay.models import Payment, Refund
from unipay.storage.base import Claim, ClaimState, KeyRecord, Store
from unipay.storage.memory import check_bucket, search_terms
from unipay.storage.progress import (
    advance_payment,
    advance_refund,
    count_refunds,
    no_longer_counted,
)
from unipay.storage.sql_activity import ActivityTables, add_activity_tables

DEFAULT_PREFIX = "unipay_"
_DIALECTS = ("postgresql", "sqlite")
#: Table creation is retried this often: several processes may create the tables at once.
_DDL_ATTEMPTS = 10
T = TypeVar("T")
#: One index per filter combination of ``list_payments``, each ending in its sort order.
_PAYMENT_LIST_INDEXES = {
    "created": ("created_at", "id"),
    "provider_created": ("provider", "created_at", "id"),
    "status_created": ("status", "created_at", "id"),
    "provider_status_created": ("provider", "status", "created_at", "id"),
    "currency_created": ("currency", "created_at", "id"),
}
#: The list columns that ``_add_list_columns`` adds to tables created by older versions
#: (0.2 had none; ``currency`` came with the dashboard's filters).
_PAYMENT_LIST_COLUMNS = {
    "provider": String(64),
    "status": String(32),
    "created_at": Double(),
    "currency": String(16),
}
#: Rows per transaction when ``_add_list_columns`` fills the new columns from the JSON.
_BACKFILL_BATCH = 1000


def build_metadata(prefix: str = DEFAULT_PREFIX) -> MetaData:
    """The tables of a [`SQLStore`][unipay.storage.sql.SQLStore] named with ``prefix`` first."""
    metadata = MetaData()
    records = Table(
        f"{prefix}idempotency",
        metadata,
        Column("scope", String(32), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("token", String(32), nullable=True),
        # Store-clock seconds: when the claim was taken, when its claimer's lease runs out, and
        # when the record (claimed or completed) is forgotten.
        Column("locked_at", Double, nullable=False),
        Column("lease_until", Double, nullable=False, server_default="0"),
        Column("expires_at", Double, nullable=False),
        Column("result", Text, nullable=True),
    )
    Index(f"{prefix}idempotency_expires_at", records.c.expires_at)
    payments = Table(
        f"{prefix}payments",
        metadata,
        Column("id", String(255), primary_key=True),
        Column("data", Text, nullable=False),
        # Copies of the JSON's fields, for lists: filtered and ordered by these indexes alone,
        # newest first with the id as tie-break (keyset pagination; never OFFSET).
        Column("provider", String(64), nullable=True),
        Column("status", String(32), nullable=True),
        Column("created_at", Double, nullable=True),
        Column("currency", String(16), nullable=True),
    )
    for name, columns in _PAYMENT_LIST_INDEXES.items():
        Index(f"{prefix}payments_{name}", *(payments.c[c] for c in columns))
    # What ``list_payments(search=...)`` finds a payment by (its ids, e-mail, metadata values),
    # rewritten whenever a save changes them: a search is a probe of the primary key's index.
    terms = Table(
        f"{prefix}payment_terms",
        metadata,
        Column("term", String(512), primary_key=True),
        Column("payment_id", String(255), primary_key=True),
    )
    Index(f"{prefix}payment_terms_payment_id", terms.c.payment_id)
    refunds = Table(
        f"{prefix}refunds",
        metadata,
        Column("id", String(255), primary_key=True),
        Column("payment_id", String(255), nullable=False),
        Column("data", Text, nullable=False),
    )
    Index(f"{prefix}refunds_payment_id", refunds.c.payment_id)
    add_activity_tables(metadata, prefix)
    return metadata


#: The default tables, for ``target_metadata`` in your Alembic ``env.py``.
metadata = build_metadata()


class SQLStore(Store):
    """Idempotency records, payments and refunds in SQLite or PostgreSQL.

    ``SQLStore("sqlite:///unipay.db")``, ``SQLStore("postgresql+psycopg://user:pw@host/db")``, or
    ``SQLStore(engine)``. Several processes and hosts may share one database: that is the point.
    The async gateway runs these calls in a worker thread (``blocking = True``).
    """

    blocking = True

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        *,
        create_tables: bool = True,
        table_prefix: str = DEFAULT_PREFIX,
        busy_timeout: float = 30.0,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        """Open (and by default create) the store's tables in the database given.

        Args:
            url_or_engine: a SQLAlchemy URL or an Engine you configured (then you dispose it).
            create_tables: create the tables on first use if missing; False when your
                migrations (e.g. Alembic with `metadata`) own them.
            table_prefix: table names start with it, so several apps can share a schema.
            busy_timeout: SQLite only: seconds a writer waits for another's lock.
            engine_options: extra keyword arguments for ``create_engine`` (pool size, ...).
        """
        self._owns_engine = not isinstance(url_or_engine, Engine)
        self.engine = (
            _make_engine(url_or_engine, busy_timeout, engine_options or {})
            if not isinstance(url_or_engine, Engine)
            else url_or_engine
        )
        dialect = self.engine.dialect.name
        if dialect not in _DIALECTS:
            raise InvalidRequest(
                f"SQLStore supports SQLite and PostgreSQL, not {dialect!r}; "
                "pass a sqlite:/// or postgresql+psycopg:// URL, or write a Store for it",
                param="store",
            )
        self.table_prefix = table_prefix
        self.metadata = build_metadata(table_prefix)
        tables = self.metadata.tables
        self._records = tables[f"{table_prefix}idempotency"]
        self._payments = tables[f"{table_prefix}payments"]
        self._refunds = tables[f"{table_prefix}refunds"]
        self._terms = tables[f"{table_prefix}payment_terms"]
        self._tables_ready = not create_tables
        self._tables_lock = threading.Lock()
        self._now = _store_clock(dialect)
        self._take = self._claim_statement()
        self._statements = self._build_statements()
        self._read_data = {t.name: _read_data(t) for t in (self._payments, self._refunds)}
        self._swap_data = {t.name: _swap_data(t) for t in (self._payments, self._refunds)}
        self._insert_new = {t.name: self._insert_row(t) for t in (self._payments, self._refunds)}
        terms_of = self._terms.c.payment_id == bindparam("t_payment_id")
        self._drop_terms = delete(self._terms).where(terms_of)
        refunds_of = self._refunds.c.payment_id == bindparam("r_payment_id")
        self._refunds_of = select(self._refunds.c.data).where(refunds_of)
        self._activity = ActivityTables(self.metadata, table_prefix, self._dialect_insert)
        #: Built once, like the claim: a statement built per save costs more than its execution.
        self._add_terms = self._upsert(
            self._terms,
            {"term": bindparam("t_term"), "payment_id": bindparam("t_payment_id")},
            only_new=True,
        )

    def __repr__(self) -> str:
        return f"SQLStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # --- idempotency records ------------------------------------------------------------------

    def claim(
        self, scope: str, key: str, fingerprint: str, *, lease: float, retention: float
    ) -> Claim:
        token = uuid.uuid4().hex
        params = {
            "p_scope": scope,
            "p_key": key,
            "p_fingerprint": fingerprint,
            "p_token": token,
            "p_lease": lease,
            "p_retention": retention,
        }
        who = self._statements["who"]
        while True:
            if self._transact(lambda c: c.execute(self._take, params).scalar()) == token:
                return Claim(ClaimState.CLAIMED, token=token)
            row = self._transact(lambda c: c.execute(who, params).first())
            if row is None:
                continue  # released between the two statements: try again
            if row.fingerprint != fingerprint:
                return Claim(ClaimState.MISMATCH)
            if row.result is not None:
                return Claim(ClaimState.COMPLETED, result=row.result)
            return Claim(ClaimState.IN_PROGRESS)

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
        fenced = {"p_scope": scope, "p_key": key, "p_token": token, "p_result": result}

        def work(connection: Connection) -> None:
            connection.execute(self._statements["complete"], fenced)
            if payment is not None:
                self._save_payment(connection, payment)
            if refund is not None:
                self._save_refund(connection, refund)

        self._transact(work)

    def release(self, scope: str, key: str, token: str) -> None:
        params = {"p_scope": scope, "p_key": key, "p_token": token}
        self._transact(lambda c: c.execute(self._statements["release"], params))

    def get_result(self, scope: str, key: str) -> str | None:
        params = {"p_scope": scope, "p_key": key}
        query = self._statements["result"]
        found: str | None = self._transact(lambda c: c.execute(query, params).scalar())
        return found

    def purge_expired(self, *, batch_size: int = 1000) -> int:
        records = self._records
        expired = records.c.expires_at <= self._now
        batch = select(records.c.scope, records.c.key).where(expired).limit(batch_size)

        def purge_batch(connection: Connection) -> int:
            # Materialise the batch first: SQLite cannot delete by tuple IN a subquery.
            keys = [tuple(row) for row in connection.execute(batch)]
            if keys:
                connection.execute(
                    delete(records).where(tuple_(records.c.scope, records.c.key).in_(keys), expired)
                )
            return len(keys)

        purged = 0
        while True:
            count = self._transact(purge_batch)
            purged += count
            if count < batch_size:
                return purged

    # --- payments and refunds -----------------------------------------------------------------

    def save_payment(self, payment: Payment) -> None:
        self._transact(lambda c: self._save_payment(c, payment))

    def get_payment(self, payment_id: str) -> Payment | None:
        data = self._get(self._payments, payment_id)
        return None if data is None else Payment.model_validate_json(data)

    def save_refund(self, refund: Refund) -> None:
        self._transact(lambda c: self._save_refund(c, refund))

    def get_refund(self, refund_id: str) -> Refund | None:
        data = self._get(self._refunds, refund_id)
        return None if data is None else Refund.model_validate_json(data)

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
        """One indexed range scan: the filters and the cursor select a range of one of the
        ``payments_*_created`` indexes, read newest first, ``limit`` rows. A search reads the
        few payments its term names (``payment_terms``' primary key) and sorts those."""
        payments = self._payments
        query = select(payments.c.data)
        if provider is not None:
            query = query.where(payments.c.provider == provider)
        if status is not None:
            query = query.where(payments.c.status == status)
        if currency is not None:
            query = query.where(payments.c.currency == currency)
        if created_from is not None:
            query = query.where(payments.c.created_at >= created_from.timestamp())
        if created_to is not None:
            query = query.where(payments.c.created_at < created_to.timestamp())
        if search is not None:
            terms = self._terms
            named = select(terms.c.payment_id).where(terms.c.term == search)
            query = query.where(payments.c.id.in_(named))
        query = query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)
        cursor_of = select(payments.c.created_at, payments.c.id).where(
            payments.c.id == starting_after
        )

        def page(connection: Connection) -> list[str]:
            paged = query
            if starting_after is not None:
                cursor = connection.execute(cursor_of).first()
                if cursor is None or cursor.created_at is None:
                    return []
                created, row_id = cursor.created_at, cursor.id
                # The first condition bounds the index range; the second drops the cursor's
                # equals. (A bare OR of the two, though equivalent, makes SQLite scan from the top.)
                paged = query.where(
                    payments.c.created_at <= created,
                    or_(payments.c.created_at < created, payments.c.id < row_id),
                )
            return list(connection.scalars(paged))

        return [Payment.model_validate_json(data) for data in self._transact(page)]

    def list_refunds(self, payment_id: str) -> list[Refund]:
        refunds = self._refunds
        query = select(refunds.c.data).where(refunds.c.payment_id == payment_id)
        found = [
            Refund.model_validate_json(data)
            for data in self._transact(lambda c: list(c.scalars(query)))
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def list_keys(
        self, scope: str, *, finished: bool | None = None, limit: int = 100
    ) -> list[KeyRecord]:
        """A scan of the scope's unexpired records (there is no index by claim time: it would
        cost every claim a write for an operator's occasional look)."""
        records, now = self._records, self._now
        query = (
            select(
                records.c.key,
                records.c.result,
                (now - records.c.locked_at).label("age"),
                (records.c.lease_until - now).label("lease_left"),
            )
            .where(records.c.scope == scope, records.c.expires_at > now)
            .order_by(records.c.locked_at, records.c.key)
            .limit(limit)
        )
        if finished is not None:
            done = records.c.result.is_not(None)
            query = query.where(done if finished else records.c.result.is_(None))
        rows = self._transact(lambda c: c.execute(query).all())
        return [
            KeyRecord(
                scope=scope,
                key=row.key,
                age=float(row.age),
                lease_left=float(row.lease_left),
                finished=row.result is not None,
                result=row.result,
            )
            for row in rows
        ]

    # --- the activity log (see unipay.storage.sql_activity) -----------------------------------

    def record_activity(self, entries: Sequence[Activity]) -> None:
        self._transact(lambda c: self._activity.record(c, entries))

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
        filters = {
            "payment_id": payment_id,
            "kind": None if kind is None else kind.value,
            "provider": provider,
            "outcome": None if outcome is None else outcome.value,
        }
        return self._transact(lambda c: self._activity.page(c, filters, limit, before))

    def activity_totals(
        self, *, since: datetime, until: datetime, bucket_seconds: int = 3600
    ) -> ActivityTotals:
        """Two GROUP BYs over the totals of the window, whole days from the day tables: the
        log is never read."""
        check_bucket(bucket_seconds)
        return self._transact(lambda c: self._activity.totals(c, since, until, bucket_seconds))

    def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int:
        purged = 0
        while True:
            count = self._transact(lambda c: self._activity.purge_batch(c, older_than, batch_size))
            purged += count
            if count < batch_size:
                break
        self._transact(lambda c: self._activity.purge_totals(c, older_than))
        return purged

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # --- machinery ----------------------------------------------------------------------------

    def _claim_statement(self) -> Insert:
        """The claim's upsert, built once with bound parameters: building it per call cost about
        a fifth of a SQLite call (SQLAlchemy then finds the compiled form in its cache).

        Every time in it is the database's: the lease's end is written by the claimer, and a
        takeover compares the record's own lease with the database's clock."""
        records = self._records
        now = self._now
        fresh: dict[str, Any] = {
            "scope": bindparam("p_scope"),
            "key": bindparam("p_key"),
            "fingerprint": bindparam("p_fingerprint"),
            "token": bindparam("p_token"),
            "locked_at": now,
            "lease_until": now + bindparam("p_lease", type_=Double),
            "expires_at": now + bindparam("p_retention", type_=Double),
            "result": None,
        }
        where = or_(
            records.c.expires_at <= now,
            and_(
                records.c.result.is_(None),
                records.c.fingerprint == bindparam("p_fingerprint"),
                records.c.lease_until <= now,
            ),
        )
        return self._upsert(records, fresh, where=where).returning(records.c.token)

    def _build_statements(self) -> dict[str, Executable]:
        """Every statement with bound parameters, built once: SQLAlchemy then finds each
        compiled form in its cache instead of coercing a new statement per call."""
        records = self._records
        this_key = and_(
            records.c.scope == bindparam("p_scope"), records.c.key == bindparam("p_key")
        )
        statements: dict[str, Executable] = {
            "who": select(records.c.fingerprint, records.c.result).where(this_key),
            "complete": update(records)
            .where(this_key, records.c.token == bindparam("p_token"))
            .values(result=bindparam("p_result"), token=None),
            "release": delete(records).where(
                this_key, records.c.token == bindparam("p_token"), records.c.result.is_(None)
            ),
            "result": select(records.c.result).where(this_key, records.c.expires_at > self._now),
        }
        return statements

    def _save_payment(self, connection: Connection, payment: Payment) -> None:
        #: The stored payment's search terms and what the swap wrote, from its last try.
        before: list[set[str] | None] = [None]
        written: list[Payment | None] = [None]

        def change(old: str | None) -> Payment | None:
            stored = None if old is None else Payment.model_validate_json(old)
            before[0] = None if stored is None else search_terms(stored)
            written[0] = advance_payment(stored, payment)
            return written[0]

        if self._swap(connection, self._payments, payment.id, change) and written[0] is not None:
            self._write_terms(connection, written[0], before[0])

    def _write_terms(
        self, connection: Connection, payment: Payment, before: set[str] | None
    ) -> None:
        """Make the search terms of ``payment`` what it now holds; no statement at all when a
        save changed none of them (a capture, a status change)."""
        now = search_terms(payment)
        if before == now:
            return
        if before is not None:
            connection.execute(self._drop_terms, {"t_payment_id": payment.id})
        rows = [{"t_term": term[:512], "t_payment_id": payment.id} for term in sorted(now)]
        connection.execute(self._add_terms, rows)

    def _save_refund(self, connection: Connection, refund: Refund) -> None:
        uncounted: list[Refund | None] = [None]

        def change(old: str | None) -> Refund | None:
            stored = None if old is None else Refund.model_validate_json(old)
            forward = advance_refund(stored, refund)
            uncounted[0] = None if forward is None else no_longer_counted(stored, forward)
            return forward

        if not self._swap(connection, self._refunds, refund.id, change):
            return
        listed = {"r_payment_id": refund.payment_id}

        def count(old: str | None) -> Payment | None:
            if old is None:
                return None  # the payment is not known here: nothing to count against
            rows = connection.scalars(self._refunds_of, listed)
            known = [Refund.model_validate_json(data) for data in rows]
            return count_refunds(Payment.model_validate_json(old), known, uncounted[0])

        self._swap(connection, self._payments, refund.payment_id, count)

    def _swap(
        self,
        connection: Connection,
        table: Table,
        row_id: str,
        change: Callable[[str | None], Payment | Refund | None],
    ) -> bool:
        """Compare-and-swap one row's JSON: read it, let ``change`` decide the new record (None:
        leave it), and write it (with its list columns) only if nobody wrote in between, else
        read again. Whether it wrote.

        Optimistic rather than ``SELECT .. FOR UPDATE``: SQLite has no row locks, and on
        PostgreSQL a lost race costs one more read, which is rare."""
        while True:
            old: str | None = connection.execute(
                self._read_data[table.name], {"r_id": row_id}
            ).scalar()
            record = change(old)
            if record is None:
                return False
            values = {f"c_{name}": value for name, value in _columns(record).items()}
            values["r_id"], values["r_new"] = row_id, _dump(record)
            statement: Executable
            if old is None:
                statement = self._insert_new[table.name]
            else:
                statement, values["r_old"] = self._swap_data[table.name], old
            written = connection.execute(statement, values).rowcount
            if written:
                return True

    def _insert_row(self, table: Table) -> Insert:
        """Insert a new payment or refund row (nothing if its id is there): its id, JSON and
        list columns bound as ``r_id``, ``r_new`` and ``c_<column>``, like the swap's."""
        row: dict[str, Any] = {c.name: bindparam(_bound_name(c.name)) for c in table.columns}
        return self._upsert(table, row, only_new=True)

    def _upsert(
        self,
        table: Table,
        values: dict[str, Any],
        where: ColumnElement[bool] | None = None,
        *,
        only_new: bool = False,
    ) -> Insert:
        """INSERT, or on a primary-key conflict UPDATE the other columns (only ``where`` holds),
        or with ``only_new`` do nothing.

        Each dialect's own ``insert`` renders its ON CONFLICT clause."""
        keys = [column.name for column in table.primary_key]
        statement = self._dialect_insert(table).values(values)
        if only_new:
            return statement.on_conflict_do_nothing(index_elements=keys)
        changes = {name: statement.excluded[name] for name in values if name not in keys}
        return statement.on_conflict_do_update(index_elements=keys, set_=changes, where=where)

    def _dialect_insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's own ``insert``, which renders ON CONFLICT clauses."""
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _get(self, table: Table, row_id: str) -> str | None:
        query = self._read_data[table.name]
        data: str | None = self._transact(lambda c: c.execute(query, {"r_id": row_id}).scalar())
        return data

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction; driver and connection failures become
        ``StoreUnavailable``.

        A pooled connection that the server closed (a restart, an idle timeout) fails on first
        use; SQLAlchemy then discards it and the pool's other connections, and the work runs
        once more on a fresh one. Every piece of work here is safe to repeat: a claim that did
        commit before the failure was reported is found held, and fails closed."""
        for attempt in (1, 2):
            try:
                self._ensure_tables()
                with self.engine.begin() as connection:
                    return work(connection)
            except DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    continue
                raise self._unavailable(exc) from exc
            except SQLAlchemyError as exc:  # pool timeouts and the like
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_tables(self) -> None:
        if self._tables_ready:
            return
        with self._tables_lock:
            if self._tables_ready:
                return
            for attempt in range(1, _DDL_ATTEMPTS + 1):
                try:
                    with self.engine.begin() as connection:
                        self.metadata.create_all(connection)
                        self._add_lease_column(connection)
                        self._add_list_columns(connection)
                    break
                except DBAPIError:
                    # Another process created a table or an index between the check and the
                    # CREATE (PostgreSQL may report it as a unique violation in pg_type): look
                    # again; by then the table is there and the check skips it.
                    if attempt == _DDL_ATTEMPTS:
                        raise
                    time.sleep(0.02 * attempt)
            self._tables_ready = True

    def _add_lease_column(self, connection: Connection) -> None:
        """Tables created by unipay 0.1 lack ``lease_until``: add it (their claims then count as
        lapsed, as 0.1 would have judged them after its lock timeout)."""
        records = self._records
        columns = {column["name"] for column in inspect(connection).get_columns(records.name)}
        if "lease_until" not in columns:
            kind = Double().compile(dialect=connection.dialect)
            name = connection.dialect.identifier_preparer.format_table(records)
            connection.execute(
                text(f"ALTER TABLE {name} ADD COLUMN lease_until {kind} NOT NULL DEFAULT 0")
            )

    def _add_list_columns(self, connection: Connection) -> None:
        """Payments tables created by unipay 0.2 lack the list columns and their indexes: add
        them. Then fill them, from each row's JSON, wherever they are empty: every row at the
        upgrade, and at each later start the rows a 0.2 process still sharing the database
        saved meanwhile (found through the ``created_at`` index, so a start with nothing to
        fill costs one index probe). All in the table-creation transaction; another process
        doing the same meanwhile makes this one retry, as for any DDL race."""
        payments = self._payments
        present = {column["name"] for column in inspect(connection).get_columns(payments.name)}
        missing = [name for name in _PAYMENT_LIST_COLUMNS if name not in present]
        if missing:
            table = connection.dialect.identifier_preparer.format_table(payments)
            for name in missing:
                kind = _PAYMENT_LIST_COLUMNS[name].compile(dialect=connection.dialect)
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
            for index in payments.indexes:
                index.create(connection, checkfirst=True)
        # A payment always has a currency, so an empty one marks a row saved by an older
        # version: no list columns, or no currency and no search terms.
        unfilled = (
            select(payments.c.id, payments.c.data)
            .where(payments.c.currency.is_(None))
            .limit(_BACKFILL_BATCH)
        )
        while rows := connection.execute(unfilled).all():
            for row in rows:
                payment = Payment.model_validate_json(row.data)
                connection.execute(
                    update(payments).where(payments.c.id == row.id).values(**_columns(payment))
                )
                self._write_terms(connection, payment, set())

    def _unavailable(self, exc: SQLAlchemyError) -> StoreUnavailable:
        url = self.engine.url
        cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
        reason = (str(cause).strip().splitlines() or [""])[0]
        if url.password:
            reason = reason.replace(str(url.password), "***")
        return StoreUnavailable(
            f"The unipay store {url.render_as_string(hide_password=True)} failed "
            f"({type(cause).__name__}: {reason}). Check that the database is running and "
            "reachable, that the URL's credentials and database are right, and that the tables "
            "exist (SQLStore(create_tables=True) or your migrations)."
        )


def _store_clock(dialect: str) -> ColumnElement[float]:
    """The database's own clock in Unix seconds, evaluated once per statement."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()), Double)
    return (func.julianday("now") - 2440587.5) * 86400.0


def _read_data(table: Table) -> Select[Any]:
    return select(table.c.data).where(table.c.id == bindparam("r_id"))


#: The bound names of a row's id and JSON; its other columns are bound as ``c_<column>``.
_BOUND = {"id": "r_id", "data": "r_new"}


def _bound_name(column: str) -> str:
    return _BOUND.get(column, f"c_{column}")


def _swap_data(table: Table) -> Update:
    """Compare-and-swap of one row's JSON with its list columns (``c_<column>``), all bound.

    Built once, like the insert beside it (``_insert_row``): SQLAlchemy then finds the compiled
    form in its cache. Built per save (a ``.values(**columns)`` and an INSERT .. ON CONFLICT per
    call, 15 ``coercions.expect`` per create + complete), ``complete`` took 3.1 ms of CPU under
    cProfile on SQLite; with both built once, 1.8 ms (2,000 create + complete cycles)."""
    written: dict[str, Any] = {
        c.name: bindparam(_bound_name(c.name)) for c in table.columns if c.name != "id"
    }
    return (
        update(table)
        .where(table.c.id == bindparam("r_id"), table.c.data == bindparam("r_old"))
        .values(written)
    )


def _dump(record: Payment | Refund) -> str:
    return record.model_dump_json()


def _columns(record: Payment | Refund) -> dict[str, Any]:
    """The columns stored beside a record's JSON: what lists filter and sort by."""
    if isinstance(record, Refund):
        return {"payment_id": record.payment_id}
    return {
        "provider": record.provider,
        "status": record.status.value,
        "created_at": record.created_at.timestamp(),
        "currency": record.currency,
    }


def _make_engine(url: str | URL, busy_timeout: float, options: dict[str, Any]) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidRequest(
            "store URL not understood; use a SQLAlchemy URL such as 'sqlite:///unipay.db' or "
            "'postgresql+psycopg://user:password@host/dbname'",
            param="store",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise InvalidRequest(
                "SQLStore needs a SQLite file such as 'sqlite:///unipay.db' (an in-memory SQLite "
                "database is private to one connection); use MemoryStore for memory",
                param="store",
            )
        options = {"connect_args": {"timeout": busy_timeout}, **options}
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError) as exc:
        raise InvalidRequest(
            f"no database driver for {parsed.drivername!r}: install it (for PostgreSQL, "
            "`pip install 'unipay[postgres]'` and use postgresql+psycopg://)",
            param="store",
        ) from exc
    except SQLAlchemyError as exc:
        raise InvalidRequest(
            f"cannot use store URL {parsed.render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}",
            param="store",
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; foreign processes share the file safely."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
