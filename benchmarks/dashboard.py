"""The dashboard's pages at a million payments on PostgreSQL, against a bare ``SELECT`` of each.

The page is the server's time for one ``GET`` through the real application: ``create_app``
with the dashboard mounted, over an ``AsyncGateway`` that records activity (as ``unipay serve``
does), called in-process through ``httpx.ASGITransport``. It is timed inside the application
(from the request's arrival to its last byte), so the client's own work is left out. What it
contains: routing, the dashboard's checks, the store call in a worker thread (SQLAlchemy, a
transaction, the rows validated into ``Payment`` or ``ActivityTotal``), the metrics summed
and drawn, the HTML rendered.

The bare ``SELECT`` is the very statement the store sends for that page (the metrics page
sends two: the counts, the latency histogram), captured from the store's engine during a
warm-up request with its parameters, run with psycopg on a connection
of its own in autocommit, its rows fetched and nothing else: what the database must do for the
page in any case. A next page's store call first reads its cursor row; the bare side is given
the cursor's position and runs the page's statement alone. The rows of both sides are
checked to be the same.

Two more rows say where a page's time goes: the store call alone (``list_payments``, or
``activity_totals`` then ``summarize``) against the same bare statement, and the floor, a
``GET /health`` through the same application (routing and middleware, no database), against
the first list page's statement.

Method: interleaved pairs (page then SELECT, SELECT then page next time, so drift hits both
sides alike), at least five; each side of a pair is the median of a batch of calls; the figure
is the median of the pairs' ratios, with their range. Targets (issue 16): a page at most 2x its
bare query, and under 100 ms.

Data: 1,000,000 payments (100,000 with ``--quick``) over the last 30 days, four providers,
every status, four currencies, and their activity log (about 2.4 entries per payment) with its
totals (per hour and per day), written by ``benchmarks/_dashboard_data.py`` into tables
prefixed ``bench_dash_`` (``bench_dash_quick_``) and kept for the next run. The database:
``UNIPAY_BENCH_POSTGRES_URL``, else ``UNIPAY_TEST_POSTGRES_URL``, else the test server at
127.0.0.1:5432.

    .venv/bin/python -m benchmarks --only dashboard [--quick]
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from sqlalchemy import event
from starlette.types import ASGIApp, Receive, Scope, Send

from benchmarks._dashboard_data import conninfo, populate, present
from benchmarks._report import Pairs, Row, paired, paired_row, print_table
from unipay import AsyncGateway
from unipay.activity import summarize
from unipay.server import ServerSettings, create_app
from unipay.server.dashboard.metrics import WINDOWS
from unipay.server.dashboard.render import PAGE_SIZE
from unipay.storage import SQLStore
from unipay_mock import MockProvider

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAIRS = 7
TARGET_RATIO = "<= 2x"
TARGET_MS = 100.0
#: The payment ids a list page links to, in order.
LINKED = re.compile(r'href="/dashboard/payment\?id=([^"]+)"')
NEXT = re.compile(r'href="([^"]+)" rel="next"')


class ServerClock:
    """Wraps the application: how long it took to answer the last request, in seconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - started


@dataclass
class Case:
    name: str
    #: The page's path and query.
    path: str
    #: The store's tables (or the start of their names) the page's statements read: for a
    #: list page its table, whose last statement is the page's (not the cursor lookup before
    #: it); for the metrics page the totals tables, every statement of which is the page's.
    tables: tuple[str, ...]
    #: Keep every statement that reads ``tables`` (the metrics page), not the last of each.
    every: bool = False
    #: What the page asks of the store, called directly (no thread, no page), or None.
    store_call: Callable[[], object] | None = None
    #: The captured statements and their parameters, filled by ``capture``.
    statements: list[tuple[str, Any]] = field(default_factory=list)


class Bench:
    def __init__(self, url: str, store: SQLStore, batch: int) -> None:
        self.store = store
        self.batch = batch
        self.bare = psycopg.connect(conninfo(url), autocommit=True)
        self.gateway = AsyncGateway(
            store=store, providers=[MockProvider()], load_installed=False, record_activity=True
        )
        # Not the lifespan: its hourly purge would delete the benchmark's older entries.
        settings = ServerSettings(database_url=SecretStr(url), unipay_api_key=None)
        self.clock = ServerClock(create_app(settings, gateway=self.gateway))
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=self.clock)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")

    def get(self, path: str) -> httpx.Response:
        response = self.loop.run_until_complete(self.client.get(path))
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response

    def capture(self, case: Case) -> httpx.Response:
        """Request the page once, keeping the statements the store sent for it: every one that
        reads the case's tables, or (a list page) the last one reading each (the page's own,
        not the cursor lookup before it)."""
        seen: list[tuple[str, str, Any]] = []  # (table, statement, parameters)

        def keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
            if sql.lstrip().upper().startswith("SELECT"):
                read = [table for table in case.tables if f"FROM {table}" in sql]
                if read:
                    seen.append((read[0], sql, params))

        event.listen(self.store.engine, "before_cursor_execute", keep)
        try:
            response = self.get(case.path)
        finally:
            event.remove(self.store.engine, "before_cursor_execute", keep)
        if case.every:
            case.statements = [(sql, params) for _, sql, params in seen]
        else:
            last = {table: (sql, params) for table, sql, params in seen}
            case.statements = [last[table] for table in case.tables]
        return response

    def page_ms(self, case: Case) -> float:
        samples = []
        for _ in range(self.batch):
            self.get(case.path)
            samples.append(self.clock.last * 1000)
        return statistics.median(samples)

    def call_ms(self, call: Callable[[], object]) -> float:
        samples = []
        for _ in range(self.batch):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    def select(self, case: Case) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for sql, params in case.statements:
            rows += self.bare.execute(sql, params).fetchall()
        return rows

    def select_ms(self, case: Case) -> float:
        return self.call_ms(lambda: self.select(case))

    def plan(self, case: Case) -> str:
        lines = []
        for sql, params in case.statements:
            explain = f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"
            lines += [row[0] for row in self.bare.execute(explain, params).fetchall()]
        return "\n      ".join(lines)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.gateway.aclose())
        self.loop.close()
        self.bare.close()


def _check_same_rows(bench: Bench, case: Case, page: httpx.Response) -> None:
    """The bare statement returns the rows the page shows (payments: the same ids in the same
    order; metrics: as many totals as the store reads)."""
    rows = bench.select(case)
    if case.tables == (bench.store._payments.name,):
        shown = LINKED.findall(page.text)
        selected = [_payment_id(row[0]) for row in rows][: len(shown)]
        if not shown or shown != selected:
            raise RuntimeError(
                f"{case.name}: the page shows {shown[:3]}..., the SELECT {selected[:3]}..."
            )
    elif not rows:
        raise RuntimeError(f"{case.name}: the SELECT found no totals in the window")


def _payment_id(data: str) -> str:
    match = re.search(r'"id":"([^"]+)"', data)
    assert match is not None
    return match.group(1).replace(":", "%3A")


def _metrics(store: SQLStore, window: str) -> Callable[[], object]:
    """What the metrics page asks of the store for ``window``, and sums in Python."""

    def call() -> object:
        since, until = WINDOWS[window].span(datetime.now(UTC))
        bucket = WINDOWS[window].bucket
        return summarize(store.activity_totals(since=since, until=until, bucket_seconds=bucket))

    return call


def cases(bench: Bench) -> list[Case]:
    store = bench.store
    payments = (store._payments.name,)
    # The hour tables, the day tables or both: activity_hour, activity_day, latency_...
    totals = tuple(f"{store.table_prefix}{name}_" for name in ("activity", "latency"))
    first = Case(
        "payments, no filter",
        "/dashboard/",
        payments,
        store_call=lambda: store.list_payments(limit=PAGE_SIZE + 1),
    )
    found = [first]
    page = bench.capture(first)
    following = NEXT.search(page.text)
    assert following is not None, "the first page links to no next page"
    found.append(Case("payments, next page", following.group(1).replace("&amp;", "&"), payments))
    found += [
        Case("payments, stripe + requires_capture",
             "/dashboard/?provider=stripe&status=requires_capture", payments),
        Case("payments, search by e-mail",
             "/dashboard/?search=customer42%40example.com", payments),
        Case("metrics, 30 days", "/dashboard/metrics?window=30d", totals, every=True,
             store_call=_metrics(store, "30d")),
        Case("metrics, 24 hours", "/dashboard/metrics?window=day", totals, every=True),
    ]  # fmt: skip
    return found


def measure(bench: Bench, case: Case, pairs: int) -> list[Row]:
    page = bench.capture(case)
    _check_same_rows(bench, case, page)
    for _ in range(3):  # warm up both sides: caches, prepared statements, templates
        bench.get(case.path)
        bench.select(case)
    measured = paired(lambda: bench.page_ms(case), lambda: bench.select_ms(case), pairs)
    page_median = statistics.median(measured.a)
    select_median = statistics.median(measured.b)
    print(f"  {case.name}: page {page_median:.1f} ms, bare SELECT {select_median:.1f} ms "
          f"({len(bench.select(case))} rows)\n      {bench.plan(case)}", flush=True)  # fmt: skip
    rows = [
        paired_row(
            "dashboard", f"{case.name}: page / bare SELECT", measured, TARGET_RATIO, unit="ms"
        ),
        Row(
            "dashboard",
            f"{case.name}: page ms / {TARGET_MS:.0f} ms",
            page_median / TARGET_MS,
            "<= 1",
            f"page {page_median:.1f} ms (median of {pairs} batches of {bench.batch})",
        ),
    ]
    if case.store_call is not None:
        call = case.store_call
        measured = paired(lambda: bench.call_ms(call), lambda: bench.select_ms(case), pairs)
        rows.append(_row(f"{case.name}: store call / bare SELECT", measured))
    return rows


def floor(bench: Bench, case: Case, pairs: int) -> Row:
    """The least any page of this application costs: ``GET /health`` (no database)."""

    def health() -> float:
        samples = []
        for _ in range(bench.batch):
            bench.get("/health")
            samples.append(bench.clock.last * 1000)
        return statistics.median(samples)

    measured = paired(health, lambda: bench.select_ms(case), pairs)
    return _row(f"floor: GET /health / bare SELECT of {case.name}", measured)


def _row(comparison: str, measured: Pairs) -> Row:
    return paired_row("dashboard", comparison, measured, unit="ms")


def database_url() -> str | None:
    url = (
        os.environ.get("UNIPAY_BENCH_POSTGRES_URL")
        or os.environ.get("UNIPAY_TEST_POSTGRES_URL")
        or DEFAULT_URL
    )
    try:
        psycopg.connect(conninfo(url), connect_timeout=3).close()
    except psycopg.OperationalError as error:
        print(f"dashboard skipped: no PostgreSQL at {url.split('@')[-1]} ({error})")
        return None
    return url


def run(quick: bool = False) -> list[Row]:
    url = database_url()
    if url is None:
        return []
    payments = 100_000 if quick else 1_000_000
    store = SQLStore(url, table_prefix="bench_dash_quick_" if quick else "bench_dash_")
    with psycopg.connect(conninfo(url)) as connection:
        why = present(connection, store, payments)
        if why is None:
            print(f"dashboard: reusing {payments:,} stored payments ({store.table_prefix}*)")
        else:
            print(f"dashboard: writing {payments:,} payments ({why})", flush=True)
            started = time.perf_counter()
            populate(connection, store, payments)
            print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)
    bench = Bench(url, store, batch=5 if quick else 15)
    rows: list[Row] = []
    try:
        since, until = WINDOWS["30d"].span(datetime.now(UTC))
        print(f"dashboard: metrics window {since:%Y-%m-%d} to {until:%Y-%m-%d}")
        pairs = 5 if quick else PAIRS
        found = cases(bench)
        for case in found:
            rows += measure(bench, case, pairs)
        rows.append(floor(bench, found[0], pairs))
    finally:
        bench.close()
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
