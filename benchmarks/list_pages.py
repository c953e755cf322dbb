"""How long one page of ``Store.list_payments`` takes at a million payments, in SQLite and (with
``UNIPAY_TEST_POSTGRES_URL``) PostgreSQL: the first page, a page deep in the list, and filtered
pages, each with the query plan the database chose.

    .venv/bin/python -m benchmarks.list_pages [--rows 1000000]

Rows are inserted directly (the JSON and the list columns ``SQLStore`` writes), in bulk: saving a
million payments one by one would measure the saves, not the lists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from unipay.models import Payment, PaymentStatus
from unipay.storage import SQLStore

STATUSES = [PaymentStatus.SUCCEEDED] * 8 + [PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.CANCELED]
PROVIDERS = ["mock", "mock", "mock", "stripe"]
BATCH = 20_000


def fill(store: SQLStore, rows: int) -> str:
    """``rows`` payments, one a second from 2026-01-01; the id of the one in the middle."""
    template = Payment(
        provider="mock", provider_payment_id="pi_0", status=PaymentStatus.SUCCEEDED,
        amount=1299, currency="USD", amount_received=1299,
    )  # fmt: skip
    base = template.model_dump(mode="json", exclude={"replayed", "id", "amount_refundable"})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    table = store._payments
    store.list_payments(limit=1)  # creates the tables
    middle = ""
    with store.engine.begin() as connection:
        for first in range(0, rows, BATCH):
            values: list[dict[str, Any]] = []
            for n in range(first, min(first + BATCH, rows)):
                provider, status = PROVIDERS[n % 4], STATUSES[n % 10]
                created = start + timedelta(seconds=n)
                payment = Payment.model_validate(
                    {**base, "provider": provider, "provider_payment_id": f"pi_{n:08d}",
                     "status": status, "created_at": created}
                )  # fmt: skip
                if n == rows // 2:
                    middle = payment.id
                values.append({
                    "id": payment.id, "data": payment.model_dump_json(), "provider": provider,
                    "status": status.value, "created_at": created.timestamp(),
                })  # fmt: skip
            connection.execute(insert(table), values)
    return middle


def timed(call: Callable[[], object], repeat: int = 20) -> float:
    """The median milliseconds of ``call``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def plan(store: SQLStore, where: str) -> str:
    table = store._payments.name
    order = "ORDER BY created_at DESC, id DESC LIMIT 11"
    query = f"SELECT data FROM {table} WHERE {where} {order}"  # noqa: S608 - our own constants
    dialect = store.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as connection:
        rows = connection.execute(text(prefix + query)).all()
    return " | ".join(str(row[-1]) for row in rows)


def run(name: str, store: SQLStore, rows: int) -> None:
    started = time.perf_counter()
    middle = fill(store, rows)
    print(f"\n{name}: {rows} payments inserted in {time.perf_counter() - started:.1f} s")
    cases: dict[str, Callable[[], object]] = {
        "first page": lambda: store.list_payments(limit=11),
        "page after the middle": lambda: store.list_payments(limit=11, starting_after=middle),
        "provider=stripe": lambda: store.list_payments(provider="stripe", limit=11),
        "status=canceled, after the middle": lambda: store.list_payments(
            status="canceled", limit=11, starting_after=middle
        ),
        "stripe + requires_capture": lambda: store.list_payments(
            provider="stripe", status="requires_capture", limit=11
        ),
    }
    for label, call in cases.items():
        print(f"  {label:36} {timed(call):7.2f} ms per page of 11")
    print("  plan, no filter:        ", plan(store, "1=1"))
    print("  plan, provider + status:", plan(store, "provider='stripe' AND status='canceled'"))
    keyset = "created_at <= 1.8e9 AND (created_at < 1.8e9 OR id < 'mock:pi_5')"
    print("  plan, after a cursor:   ", plan(store, keyset))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        store = SQLStore(f"sqlite:///{Path(directory) / 'unipay.db'}")
        try:
            run("SQLite", store, args.rows)
        finally:
            store.close()
    url = os.environ.get("UNIPAY_TEST_POSTGRES_URL")
    if url:
        store = SQLStore(url, table_prefix=f"bench{uuid.uuid4().hex[:8]}_")
        try:
            run("PostgreSQL", store, args.rows)
        finally:
            store.metadata.drop_all(store.engine)
            store.close()


if __name__ == "__main__":
    main()
