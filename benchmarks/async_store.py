"""P3a: ``AsyncGateway`` over the SQL store, 1,000 concurrent creates, 50 ms provider latency.

The provider is a stub whose create awaits 50 ms natively (it yields ``Sleep(0.05)``, which the
async face awaits with ``asyncio.sleep``), so the provider costs no thread and no CPU: what is
left is the gateway and its store. Each measurement starts 1,000 creates at once (fresh
idempotency keys) and takes their throughput; a ticker task meanwhile sleeps 5 ms in a loop and
records how late it wakes, the event loop's worst stall.

Rows: SQLStore (a SQLite file; PostgreSQL at ``UNIPAY_TEST_POSTGRES_URL`` when reachable)
against ``MemoryStore``, paired (target: at least 0.5 of the memory store's throughput), and the
SQL runs' worst loop lag in ms (target: at most 20; the ratio column is that lag). What bounds
them (issue 19, problem 2: the async face runs a blocking store's calls with
``asyncio.to_thread``) is shown by two more rows: ``MemoryStore`` marked ``blocking = True``,
which pays the same thread hops with no database behind them, and the SQL store with the loop's
default executor at 32 threads instead of ``min(32, cpus + 4)``. And one row bounds what any
store can reach that commits each claim and each completion (SQLStore's design, and what makes
an idempotency key safe across processes): unipay's statements for a create, by hand, through
psycopg's own async connections (``BareSQLBurst``: no SQLAlchemy, no threads, no gateway).

    .venv/bin/python -m benchmarks.async_store [--quick]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._report import MIN_PAIRS, Pairs, Row, paired, paired_row, print_table
from benchmarks.gateway_overhead import StubProvider
from benchmarks.idempotency import (
    COMMIT,
    bare_create,
    connect_bare,
    driver_url,
    drop_tables,
    next_step,
    payload_of,
    prepare_bare,
)
from unipay import AsyncGateway, CallContext, Gateway
from unipay._flow import Sleep
from unipay.models import CreatePaymentRequest, Payment
from unipay.storage import MemoryStore, SQLStore
from unipay.storage.base import Store

LATENCY = 0.050
TICK = 0.005
POSTGRES_URL = os.environ.get(
    "UNIPAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
THROUGHPUT_TARGET = ">= 0.5"
LAG_TARGET = "<= 20"
#: The sweep's larger executor: Python's ceiling for the default one, as on a 28+ core host.
WIDE_EXECUTOR = 32
#: The bare async peer's connections: 6 and 16 gave the same rate here, 32 and 64 less.
BARE_CONNECTIONS = 16


class SleepyProvider(StubProvider):
    """Every create succeeds after 50 ms awaited on the loop (no thread, no CPU)."""

    name = "sleepy"

    def create_payment(
        self, request: CreatePaymentRequest, ctx: CallContext
    ) -> Generator[Any, Any, Payment]:
        yield Sleep(LATENCY)
        return self.succeeded(request, ctx)


class ThreadedMemoryStore(MemoryStore):
    """The memory store run as the SQL store is, each call through ``asyncio.to_thread``: the
    thread hops' cost without a database."""

    blocking = True


class Burst:
    """``creates`` concurrent creates (``_create``) on one loop, with a lag ticker."""

    def __init__(self, loop: asyncio.AbstractEventLoop, creates: int) -> None:
        self.loop = loop
        self.creates = creates
        self.lags: list[float] = []
        loop.run_until_complete(self._burst(32))  # warm-up: tables, connections, threads

    async def _create(self) -> None:
        raise NotImplementedError

    async def _burst(self, count: int) -> tuple[float, float]:
        worst = 0.0
        running = True

        async def ticker() -> None:
            nonlocal worst
            while running:
                start = time.perf_counter()
                await asyncio.sleep(TICK)
                worst = max(worst, time.perf_counter() - start - TICK)

        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        start = time.perf_counter()
        try:
            await asyncio.gather(*(self._create() for _ in range(count)))
            elapsed = time.perf_counter() - start
        finally:
            running = False
            await tick
        return count / elapsed, worst

    def __call__(self) -> float:
        """One burst: creates per second (a side of ``paired``); its worst lag is kept."""
        rate, lag = self.loop.run_until_complete(self._burst(self.creates))
        self.lags.append(lag)
        return rate

    def close(self) -> None:
        pass


class GatewayBurst(Burst):
    """Creates through one ``AsyncGateway`` over ``store`` and the 50 ms provider."""

    def __init__(self, loop: asyncio.AbstractEventLoop, store: Store, creates: int) -> None:
        self.gateway = AsyncGateway(providers=[SleepyProvider()], store=store, load_installed=False)
        super().__init__(loop, creates)

    async def _create(self) -> None:
        await self.gateway.create_payment(
            provider="sleepy", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.gateway.aclose())


class BareSQLBurst(Burst):
    """The bound of a store that runs each claim and each completion as a transaction of its own,
    one round trip a statement, as SQLStore does: unipay's statements for a create
    (``benchmarks.idempotency.bare_create``) sent through psycopg's own async connections, with
    no SQLAlchemy, thread or gateway. A create holds one of ``BARE_CONNECTIONS`` connections
    while it runs SQL, not during the provider's 50 ms.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, creates: int) -> None:
        import psycopg

        self.loop, self.url = loop, url
        self.prefix = f"p3a{uuid.uuid4().hex[:8]}_"
        self.connections: list[psycopg.AsyncConnection[Any]] = []
        self.pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        try:
            self.payload = payload_of(url, self.prefix)
            setup, _ = connect_bare(url)
            try:
                self.sql = prepare_bare(setup, "postgresql", self.prefix)
            finally:
                setup.close()
            for _ in range(BARE_CONNECTIONS):
                connection = loop.run_until_complete(
                    psycopg.AsyncConnection.connect(driver_url(url))
                )
                self.connections.append(connection)
                self.pool.put_nowait(connection)
            super().__init__(loop, creates)
        except BaseException:
            self.close()
            raise

    async def _create(self) -> None:
        flow = bare_create(self.sql, self.payload, uuid.uuid4().hex)
        answer, connection = None, await self.pool.get()
        try:
            while (step := next_step(flow, answer)) is not None:
                answer = None
                if connection is None:  # the claim is committed: the provider's call, then on
                    await asyncio.sleep(LATENCY)
                    connection = await self.pool.get()
                if step is COMMIT:
                    await connection.commit()
                    self.pool.put_nowait(connection)
                    connection = None
                elif step.many:
                    async with connection.cursor() as cursor:
                        await cursor.executemany(step.sql, step.params)
                else:
                    cursor = await connection.execute(step.sql, step.params)
                    answer = None if cursor.description is None else await cursor.fetchone()
        except BaseException:
            if connection is not None:  # mid-transaction: never back into the pool
                await connection.close()
            raise

    def close(self) -> None:
        async def disconnect() -> None:
            for connection in self.connections:
                await connection.close()

        try:
            self.loop.run_until_complete(disconnect())
        finally:
            drop_tables(self.url, self.prefix)


@contextmanager
def _loop(executor_threads: int | None = None) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    executor = None
    if executor_threads is not None:
        executor = ThreadPoolExecutor(executor_threads)
        loop.set_default_executor(executor)
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def _stores(directory: Path) -> Iterator[tuple[str, Callable[[], Store]]]:
    yield "sqlite", lambda: SQLStore(f"sqlite:///{directory / 'p3a.db'}")
    yield "postgresql", lambda: SQLStore(POSTGRES_URL)


#: A burst on a loop, of so many creates.
MakeBurst = Callable[[asyncio.AbstractEventLoop, int], Burst]


def _through(store: Callable[[], Store]) -> MakeBurst:
    return lambda loop, creates: GatewayBurst(loop, store(), creates)


def _compare(
    make: MakeBurst,
    creates: int,
    pairs: int,
    executor_threads: int | None = None,
) -> tuple[Pairs, list[float], list[float]]:
    """Throughput of ``make``'s bursts against the memory store's, paired; both worst lags."""
    with _loop(executor_threads) as loop:
        sql = make(loop, creates)
        try:
            memory = GatewayBurst(loop, MemoryStore(), creates)
            try:
                measured = paired(sql, memory, pairs)
            finally:
                memory.close()
        finally:
            sql.close()
    return measured, sql.lags, memory.lags


def _sequential(store: Store, creates: int) -> Callable[[], float]:
    """Creates per second of a plain loop through the sync ``Gateway`` over a stub provider
    that answers at once: the store's own cost per create, no threads, no latency."""
    gateway = Gateway(providers=[StubProvider()], store=store, load_installed=False)

    def side() -> float:
        start = time.perf_counter()
        for _ in range(creates):
            gateway.create_payment(
                provider="stub", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
            )
        return creates / (time.perf_counter() - start)

    side()  # warm-up
    return side


def _reachable(factory: Callable[[], Store]) -> bool:
    try:
        with _loop() as loop:
            GatewayBurst(loop, factory(), 1).close()
    except Exception:  # no server (or no driver): its rows are skipped, and said so
        return False
    return True


def _bare_bound(creates: int, pairs: int) -> Row:
    """What any store committing each claim and completion can reach here, on the driver's
    own async connections: the bound of the SQLStore rows' target."""
    bare, lags, _ = _compare(
        lambda loop, count: BareSQLBurst(loop, POSTGRES_URL, count), creates, pairs
    )
    comparison = f"postgresql: bare async SQL ({BARE_CONNECTIONS} connections) / MemoryStore"
    note = f"; worst lag {_ms(lags):.0f} ms (range {min(lags) * 1e3:.0f}-{max(lags) * 1e3:.0f})"
    return paired_row(
        f"async store, {creates} concurrent creates, 50 ms provider",
        comparison,
        bare,
        unit="creates/s",
        note=note,
    )


def _ms(lags: list[float]) -> float:
    return statistics.median(lags) * 1e3


def run(quick: bool = False) -> list[Row]:
    creates = 300 if quick else 1000
    pairs = MIN_PAIRS
    rows: list[Row] = []
    name = f"async store, {creates} concurrent creates, 50 ms provider"
    with tempfile.TemporaryDirectory() as tmp:
        for label, factory in _stores(Path(tmp)):
            if not _reachable(factory):
                print(f"async_store: {label} unreachable, its rows skipped", file=sys.stderr)
                continue
            measured, lags, memory_lags = _compare(_through(factory), creates, pairs)
            rows.append(paired_row(name, f"{label}: SQLStore / MemoryStore", measured,
                                   THROUGHPUT_TARGET, unit="creates/s"))  # fmt: skip
            rows.append(Row(name, f"{label}: SQLStore worst loop lag, ms", _ms(lags), LAG_TARGET,
                            f"range {min(lags) * 1e3:.0f}-{max(lags) * 1e3:.0f} ms; "
                            f"MemoryStore {_ms(memory_lags):.0f} ms"))  # fmt: skip
            if label == "postgresql":
                rows.append(_bare_bound(creates, pairs))
            with _loop() as loop:
                burst = GatewayBurst(loop, factory(), creates)
                try:
                    loop_bound = paired(burst, _sequential(factory(), creates // 3), pairs)
                finally:
                    burst.close()
            rows.append(paired_row(name, f"{label}: async burst / sync sequential loop",
                                   loop_bound, unit="creates/s"))  # fmt: skip
            wide, wide_lags, _ = _compare(_through(factory), creates, pairs, WIDE_EXECUTOR)
            rows.append(paired_row(name, f"{label}, executor of {WIDE_EXECUTOR}: SQLStore / "
                                   "MemoryStore", wide, unit="creates/s",
                                   note=f"; worst lag {_ms(wide_lags):.0f} ms"))  # fmt: skip
        hop, hop_lags, _ = _compare(_through(ThreadedMemoryStore), creates, pairs)
        lag = f"; worst lag {_ms(hop_lags):.0f} ms"
        rows.append(paired_row(name, "MemoryStore in threads (hops only) / MemoryStore", hop,
                               unit="creates/s", note=lag))  # fmt: skip
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
