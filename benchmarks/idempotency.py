"""P3: idempotent ``create_payment`` through unipay's ``SQLStore`` against real bare SQL.

unipay's side is ``Gateway.create_payment(idempotency_key=...)`` over the stub provider of the
gateway-overhead benchmark (it returns a payment and stores nothing), so the provider call is on
neither side and the ratio is what a user pays for an idempotent create: validation, fingerprint,
the claim, the completion. The bare side issues the same statements unipay issues for it, written
by hand and sent through ``sqlite3`` and ``psycopg`` directly, in the same two transactions: the
claim's upsert (``INSERT .. ON CONFLICT DO UPDATE .. WHERE <expired or lapsed> RETURNING token``);
then the completion ``UPDATE``, the payment's read (unipay's compare-and-swap reads before it
writes), its insert with the list columns, and its search terms. Its payloads are unipay's own
stored result and payment JSON (taken from one create), so both write the same bytes. It writes
to its own tables (PostgreSQL) or its own file (SQLite), made from unipay's own schema with the
same indexes (so both write the same index entries): nothing of unipay's is touched.

Each configuration (SQLite file or PostgreSQL; 1 or 4 processes) starts its worker processes
once; every worker holds both sides, and each measurement has every worker make ``calls`` creates
with fresh keys on one side (throughput = all calls / slowest worker). The two sides alternate
through :func:`benchmarks._report.paired`. Target: unipay / bare >= 0.6.

Latency with many keys: the same create on two stores, one holding 1,000 keys and one 1,000,000
(100,000 with ``--quick``), filled by one INSERT .. SELECT over a generated series; batches of
creates timed alternately (paired): every statement is a primary-key lookup, so <= 1.2.

    .venv/bin/python -m benchmarks.idempotency [--quick]   # PostgreSQL: UNIPAY_TEST_POSTGRES_URL
"""

# ruff: noqa: S608 - the SQL here is built from the benchmark's own table prefix, never input
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

from sqlalchemy import make_url, text

from benchmarks._report import MIN_PAIRS, Row, paired, paired_row, print_table, timed
from benchmarks.gateway_overhead import StubProvider
from unipay import Gateway
from unipay.storage import SQLStore
from unipay.storage.memory import search_terms
from unipay.storage.sql import build_metadata

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHARGE: dict[str, Any] = {"provider": "stub", "amount": 1299, "currency": "USD"}
Work = Callable[[str], None]
LEASE, RETENTION = 30.0, 86400.0


@dataclass(frozen=True)
class Payload:
    """What unipay stores for one create: the result (for replays) and the payment's JSON."""

    result: str
    data: str
    terms: int


def _gateway(store: SQLStore) -> Gateway:
    return Gateway(store=store, providers=[StubProvider()], load_installed=False)


def _unipay_work(url: str, prefix: str) -> Work:
    gateway = _gateway(SQLStore(url, table_prefix=prefix))

    def work(key: str) -> None:
        gateway.create_payment(**CHARGE, idempotency_key=key)

    return work


# --- the bare side: the same statements, by hand -------------------------------------------------

_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(extract(epoch FROM statement_timestamp()) AS DOUBLE PRECISION)",
}


def _statements(dialect: str, prefix: str) -> dict[str, str]:
    """unipay's claim and completion statements for ``dialect``, with ``%s``/``?`` placeholders."""
    now, mark = _NOW[dialect], "%s" if dialect == "postgresql" else "?"
    records, payments, terms = (f"{prefix}{t}" for t in _BARE_TABLES)
    return {
        "claim": f"INSERT INTO {records} (scope, key, fingerprint, token, locked_at, lease_until, "
        f"expires_at, result) VALUES ({mark}, {mark}, {mark}, {mark}, {now}, {now} + {mark}, "
        f"{now} + {mark}, NULL) ON CONFLICT (scope, key) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, token = excluded.token, "
        "locked_at = excluded.locked_at, "
        "lease_until = excluded.lease_until, expires_at = excluded.expires_at, result = NULL "
        f"WHERE {records}.expires_at <= {now} OR ({records}.result IS NULL AND "
        f"{records}.fingerprint = {mark} AND {records}.lease_until <= {now}) RETURNING token",
        "complete": f"UPDATE {records} SET result = {mark}, token = NULL "
        f"WHERE scope = {mark} AND key = {mark} AND token = {mark}",
        "read": f"SELECT data FROM {payments} WHERE id = {mark}",
        "insert": f"INSERT INTO {payments} (id, data, provider, status, created_at, currency) "
        f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT (id) DO NOTHING",
        "terms": f"INSERT INTO {terms} (term, payment_id) VALUES ({mark}, {mark}) "
        "ON CONFLICT (term, payment_id) DO NOTHING",
    }


#: The tables the bare side writes, made by unipay's own schema (``build_metadata``).
_BARE_TABLES = ("idempotency", "payments", "payment_terms")


def _tables(dialect: str, prefix: str) -> list[str]:
    """The DDL of the bare side's tables, compiled from unipay's own schema: the same columns
    and the same indexes (the payments' five list indexes, the terms' and the claims' expiry
    index), so each side's statements write the same index entries. Tables without them made
    the bare side's writes cheaper than any store that lists or purges can have (SQLite:
    0.43 of it with the indexes missing)."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    compiled = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    metadata = build_metadata(prefix)
    statements = []
    for name in _BARE_TABLES:
        table = metadata.tables[f"{prefix}{name}"]
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=compiled)))
        statements += [
            str(CreateIndex(index, if_not_exists=True).compile(dialect=compiled))
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
    return statements


def connect_bare(url: str) -> tuple[Any, str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection: Any = sqlite3.connect(f"{parsed.database}.bare", timeout=30.0)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection, "sqlite"
    import psycopg

    return psycopg.connect(driver_url(url)), "postgresql"


def driver_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg's own ``connect`` takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Statement:
    """One statement of a bare create, with its parameters; ``many`` runs it once per row."""

    sql: str
    params: Any = None
    many: bool = False


#: Where a bare create commits. Between its claim and its completion the provider is called: the
#: async peer in ``benchmarks.async_store`` gives its connection back and waits meanwhile.
COMMIT = Statement("COMMIT")


def bare_create(
    sql: dict[str, str], payload: Payload, key: str
) -> Generator[Statement, tuple[Any, ...] | None, None]:
    """unipay's statements for one idempotent create, as steps that are each sent back the
    statement's first row (or None): one flow for the sync driver here (``_bare_work``) and
    the async one in ``benchmarks.async_store``."""
    token, payment_id, fingerprint = uuid.uuid4().hex, f"stub:{key}", "f" * 64
    claim = ("operation", key, fingerprint, token, LEASE, RETENTION, fingerprint)
    claimed = yield Statement(sql["claim"], claim)
    if claimed is None or claimed[0] != token:
        raise AssertionError("a fresh key was not claimed")
    yield COMMIT
    yield Statement(sql["complete"], (payload.result, "operation", key, token))
    if (yield Statement(sql["read"], (payment_id,))) is None:
        row = (payment_id, payload.data, "stub", "succeeded", time.time(), "USD")
        yield Statement(sql["insert"], row)
        terms = [(f"{n}:{key}", payment_id) for n in range(payload.terms)]
        yield Statement(sql["terms"], terms, many=True)
    yield COMMIT


def prepare_bare(connection: Any, dialect: str, prefix: str) -> dict[str, str]:
    """The bare side's tables under ``prefix`` (made if missing), and its statements."""
    for statement in _tables(dialect, f"{prefix}bare_"):
        connection.execute(statement)
    connection.commit()
    return _statements(dialect, f"{prefix}bare_")


def first_row(cursor: Any) -> tuple[Any, ...] | None:
    """The first row of what a statement returned; None when it returns no rows at all."""
    row: tuple[Any, ...] | None = None if cursor.description is None else cursor.fetchone()
    return row


def _bare_work(url: str, prefix: str, payload: Payload) -> Work:
    connection, dialect = connect_bare(url)
    sql = prepare_bare(connection, dialect, prefix)

    def work(key: str) -> None:
        flow = bare_create(sql, payload, key)
        answer = None
        while (step := next_step(flow, answer)) is not None:
            answer = None
            if step is COMMIT:
                connection.commit()
            elif step.many:
                connection.cursor().executemany(step.sql, step.params)
            else:
                answer = first_row(connection.execute(step.sql, step.params))

    return work


def next_step(
    flow: Generator[Statement, tuple[Any, ...] | None, None], answer: tuple[Any, ...] | None
) -> Statement | None:
    """The flow's next statement, sent ``answer``; None when it is done."""
    try:
        return flow.send(answer)
    except StopIteration:
        return None


# --- the workers ---------------------------------------------------------------------------------


def _worker(
    url: str,
    prefix: str,
    payload: Payload,
    barrier: Barrier,
    orders: multiprocessing.Queue[tuple[str, int] | None],
    out: multiprocessing.Queue[float],
) -> None:
    works = {"unipay": _unipay_work(url, prefix), "bare": _bare_work(url, prefix, payload)}
    for work in works.values():
        for _ in range(20):  # warm up: connections, tables, compiled statements
            work(uuid.uuid4().hex)
    while (order := orders.get()) is not None:
        kind, calls = order
        work = works[kind]
        barrier.wait()
        start = time.perf_counter()
        for _ in range(calls):
            work(uuid.uuid4().hex)
        out.put(time.perf_counter() - start)


class Fleet:
    """``workers`` processes that each hold both sides, started once per configuration."""

    def __init__(self, url: str, prefix: str, payload: Payload, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier, self.out = context.Barrier(workers), context.Queue()
        self.orders = [context.Queue() for _ in range(workers)]
        self.procs = [
            context.Process(target=_worker, args=(url, prefix, payload, self.barrier, q, self.out))
            for q in self.orders
        ]
        for proc in self.procs:
            proc.start()

    def throughput(self, kind: str, calls: int) -> float:
        """Creates per second of all workers making ``calls`` each on side ``kind``."""
        for queue in self.orders:
            queue.put((kind, calls))
        slowest: float = max(self.out.get(timeout=600) for _ in self.procs)
        return len(self.procs) * calls / slowest

    def close(self) -> None:
        for queue in self.orders:
            queue.put(None)
        for proc in self.procs:
            proc.join(timeout=60)


def payload_of(url: str, prefix: str) -> Payload:
    """unipay's stored result and payment JSON for one create through the stub."""
    store = SQLStore(url, table_prefix=prefix)
    payment = _gateway(store).create_payment(**CHARGE, idempotency_key=uuid.uuid4().hex)
    with store.engine.connect() as connection:
        result = connection.execute(
            text(f"SELECT result FROM {prefix}idempotency WHERE result IS NOT NULL LIMIT 1")
        ).scalar_one()
        data = connection.execute(
            text(f"SELECT data FROM {prefix}payments WHERE id = :id"),
            {"id": payment.id},
        ).scalar_one()
    store.close()
    return Payload(result, data, len(search_terms(payment)))


# --- latency with many keys ----------------------------------------------------------------------

_SERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
    "SELECT i FROM n",
    "postgresql": "SELECT generate_series(1, :count) AS i",
}


def fill(store: SQLStore, count: int) -> None:
    """``count`` completed keys in the store's table, in one INSERT .. SELECT."""
    store.get_payment("stub:none")  # creates the tables
    table = f"{store.table_prefix}idempotency"
    now = time.time()
    series = _SERIES[store.engine.dialect.name]
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {table} (scope, key, fingerprint, token, locked_at, expires_at, "
                f"result) SELECT 'operation', 'filler-' || i, :print, NULL, :now, :expires, "
                f"'{{\"payment\":{{}}}}' FROM ({series}) AS series"
            ),
            {"count": count, "print": "f" * 64, "now": now, "expires": now + 86400},
        )


def latency_flat(url: str, prefix: str, many: int, pairs: int) -> Row:
    """Time of a batch of creates with ``many`` keys stored over that with 1,000, paired."""
    small, large = (SQLStore(url, table_prefix=f"{prefix}{n}_") for n in ("k", "m"))
    try:
        fill(small, 1_000)
        fill(large, many)
        few, lots = (_gateway(store) for store in (small, large))

        def batch(gateway: Gateway) -> Callable[[], object]:
            def creates() -> None:
                for _ in range(50):
                    gateway.create_payment(**CHARGE, idempotency_key=uuid.uuid4().hex)

            return creates

        batch(few)(), batch(lots)()  # warm connections and caches
        measured = paired(timed(batch(lots)), timed(batch(few)), pairs)
    finally:
        for store in (small, large):
            store.metadata.drop_all(store.engine)
            store.close()
    return paired_row(
        "idempotent create_payment (P3)",
        f"{small.engine.dialect.name}: latency {many:,} keys / 1,000 keys",
        measured,
        "<= 1.2",
        unit="us per create",
        scale=1e6 / 50,
    )


# --- the run -------------------------------------------------------------------------------------


def _drop_bare(url: str, prefix: str) -> None:
    connection, _ = connect_bare(url)
    for table in _BARE_TABLES:
        connection.execute(f"DROP TABLE IF EXISTS {prefix}bare_{table}")
    connection.commit()
    connection.close()


def drop_tables(url: str, prefix: str) -> None:
    """unipay's tables and the bare side's, under ``prefix``."""
    cleanup = SQLStore(url, table_prefix=prefix)
    cleanup.metadata.drop_all(cleanup.engine)
    cleanup.close()
    _drop_bare(url, prefix)


def run(quick: bool = False) -> list[Row]:
    calls, pairs = (150, MIN_PAIRS) if quick else (600, 9)
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    directory = tempfile.mkdtemp(prefix="unipay-bench-")
    postgres = os.environ.get("UNIPAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    stores = {"sqlite": f"sqlite:///{directory}/bench.db", "postgresql": postgres}
    rows = []
    for name, url in stores.items():
        try:
            payload = payload_of(url, prefix)
            for workers in (1, 4):
                fleet = Fleet(url, prefix, payload, workers)
                try:
                    measured = paired(
                        lambda f=fleet: f.throughput("unipay", calls),
                        lambda f=fleet: f.throughput("bare", calls),
                        pairs,
                    )
                finally:
                    fleet.close()
                rows.append(
                    paired_row(
                        "idempotent create_payment (P3)",
                        f"{name}, {workers} proc: unipay / bare SQL",
                        measured,
                        ">= 0.6",
                        unit="creates/s",
                        note=f"; payload {len(payload.result)} + {len(payload.data)} bytes",
                    )
                )
            rows.append(latency_flat(url, prefix, 100_000 if quick else 1_000_000, pairs))
        finally:
            drop_tables(url, prefix)
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
