"""Idempotent ``create_payment`` throughput per store, next to its lower bound, 1 and 4 processes.

For SQLite and PostgreSQL the lower bound is the bare SQL a call needs: the claim (one upsert) and
the completion (update the record, upsert the payment: one transaction), issued directly through
SQLAlchemy on an engine configured the same way. For memory it is the mock provider called
directly. Each worker process makes calls with fresh keys; throughput = all calls / slowest worker.

Latency with many keys: the same call on two stores of the same database, one holding 1,000 keys
and one 1,000,000 (filled by one INSERT .. SELECT over a generated series), alternating calls;
the median per store must stay flat (ratio <= 1.2): every statement is a primary-key lookup.

    .venv/bin/python -m benchmarks.idempotency [--quick]   # PostgreSQL: UNIPAY_TEST_POSTGRES_URL
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

from sqlalchemy import Engine, text, update
from sqlalchemy.dialects import postgresql, sqlite

from benchmarks._report import Row, print_table
from unipay import CallContext, Gateway
from unipay._flow import run as run_flow
from unipay.models import CreatePaymentRequest, parse_request
from unipay.storage import SQLStore
from unipay_mock import MockProvider

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 1299,
    "currency": "USD",
    "payment_method": "pm_card_visa",
}
Work = Callable[[str], None]


def _gateway_work(url: str, prefix: str) -> Work:
    return _gateway_work_on(
        "memory://" if url == "memory://" else SQLStore(url, table_prefix=prefix)
    )


def _gateway_work_on(store: SQLStore | str) -> Work:
    gateway = Gateway(store=store, providers=[MockProvider()], load_installed=False)

    def work(key: str) -> None:
        gateway.create_payment(**CHARGE, idempotency_key=key)

    return work


def _provider_work(_url: str, _prefix: str) -> Work:
    mock = MockProvider()
    request = parse_request(CreatePaymentRequest, CHARGE)

    def work(key: str) -> None:
        run_flow(mock.create_payment(request, CallContext(key, 1)))

    return work


def _bare_sql_work(url: str, prefix: str) -> Work:
    """The store's two transactions, written out: what any SQL idempotency layer must pay."""
    store = SQLStore(url, table_prefix=prefix)  # for its engine settings and tables only
    engine: Engine = store.engine
    records = store.metadata.tables[f"{prefix}idempotency"]
    payments = store.metadata.tables[f"{prefix}payments"]
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    data = '{"payment":{}}'

    def work(key: str) -> None:
        now, token = time.time(), uuid.uuid4().hex
        claim = insert(records).values(
            scope="operation",
            key=key,
            fingerprint="f" * 64,
            token=token,
            locked_at=now,
            expires_at=now + 86400,
            result=None,
        )
        claim = claim.on_conflict_do_update(
            index_elements=["scope", "key"],
            set_={"token": claim.excluded.token},
            where=records.c.expires_at <= now,
        )
        with engine.begin() as connection:
            connection.execute(claim.returning(records.c.token)).scalar()
        payment = insert(payments).values(id=f"mock:{key}", data=data)
        with engine.begin() as connection:
            connection.execute(
                update(records)
                .where(records.c.scope == "operation", records.c.key == key)
                .where(records.c.token == token)
                .values(result=data, token=None)
            )
            connection.execute(
                payment.on_conflict_do_update(
                    index_elements=["id"], set_={"data": payment.excluded.data}
                )
            )

    return work


WORKS: dict[str, Callable[[str, str], Work]] = {
    "unipay": _gateway_work,
    "provider": _provider_work,
    "bare_sql": _bare_sql_work,
}


def _worker(
    kind: str,
    url: str,
    prefix: str,
    calls: int,
    barrier: Barrier,
    out: multiprocessing.Queue[float],
) -> None:
    work = WORKS[kind](url, prefix)
    for _ in range(20):  # warm up: connections, tables, imports
        work(uuid.uuid4().hex)
    barrier.wait()
    start = time.perf_counter()
    for _ in range(calls):
        work(uuid.uuid4().hex)
    out.put(time.perf_counter() - start)


def throughput(kind: str, url: str, prefix: str, workers: int, calls: int) -> float:
    """Calls per second of ``workers`` processes doing ``calls`` each."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(workers), context.Queue()
    procs = [
        context.Process(target=_worker, args=(kind, url, prefix, calls, barrier, out))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    slowest: float = max(out.get(timeout=300) for _ in procs)
    for proc in procs:
        proc.join()
    return workers * calls / slowest


_SERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
    "SELECT i FROM n",
    "postgresql": "SELECT generate_series(1, :count) AS i",
}


def fill(store: SQLStore, count: int) -> None:
    """``count`` completed keys in the store's table, in one INSERT .. SELECT."""
    store.get_payment("mock:none")  # creates the tables
    table = f"{store.table_prefix}idempotency"
    now = time.time()
    series = _SERIES[store.engine.dialect.name]
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {table} (scope, key, fingerprint, token, locked_at, expires_at, "  # noqa: S608 - our own prefix
                f"result) SELECT 'operation', 'filler-' || i, :print, NULL, :now, :expires, "
                f"'{{\"payment\":{{}}}}' FROM ({series}) AS series"
            ),
            {"count": count, "print": "f" * 64, "now": now, "expires": now + 86400},
        )


def latency_flat(url: str, prefix: str, calls: int) -> Row:
    """Median create_payment latency with 1,000,000 keys stored over that with 1,000."""
    small, large = (SQLStore(url, table_prefix=f"{prefix}{n}_") for n in ("k", "m"))
    try:
        fill(small, 1_000)
        fill(large, 1_000_000)
        works = [_gateway_work_on(store) for store in (small, large)]
        times: list[list[float]] = [[], []]
        for n in range(calls + 20):
            for side, work in enumerate(works):
                start = time.perf_counter()
                work(uuid.uuid4().hex)
                if n >= 20:  # the first calls warm connections and caches
                    times[side].append(time.perf_counter() - start)
        fewer, more = (statistics.median(t) for t in times)
    finally:
        for store in (small, large):
            store.metadata.drop_all(store.engine)
            store.close()
    return Row(
        "idempotent create_payment",
        f"{small.engine.dialect.name}: latency 1M keys / 1k keys",
        more / fewer,
        "<= 1.2",
        f"median {more * 1e6:,.0f} us vs {fewer * 1e6:,.0f} us",
    )


def run(quick: bool = False) -> list[Row]:
    calls = 100 if quick else 400
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    directory = tempfile.mkdtemp(prefix="unipay-bench-")
    stores = {"memory": "memory://", "sqlite": f"sqlite:///{directory}/bench.db"}
    postgres = os.environ.get("UNIPAY_BENCH_POSTGRES_URL") or os.environ.get(
        "UNIPAY_TEST_POSTGRES_URL"
    )
    if postgres:
        stores["postgresql"] = postgres
    rows = []
    try:
        for name, url in stores.items():
            bound = "provider" if name == "memory" else "bare_sql"
            for workers in (1, 4):
                ours = throughput("unipay", url, prefix, workers, calls)
                floor = throughput(bound, url, prefix, workers, calls)
                rows.append(
                    Row(
                        "idempotent create_payment",
                        f"{name}, {workers} proc: unipay / {bound.replace('_', ' ')}",
                        ours / floor,
                        detail=f"{ours:,.0f} vs {floor:,.0f} calls/s",
                    )
                )
            if name != "memory":
                rows.append(latency_flat(url, prefix, calls))
    finally:
        if postgres:
            drop = SQLStore(postgres, table_prefix=prefix)
            drop.metadata.drop_all(drop.engine)
            drop.close()
    if not postgres:
        print("PostgreSQL skipped: set UNIPAY_TEST_POSTGRES_URL (or UNIPAY_BENCH_POSTGRES_URL)")
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
