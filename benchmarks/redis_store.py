"""Idempotent ``create_payment`` through the Redis key store (unipay-redis), against its bound.

The bound is bare redis-py doing the same round trips around the same provider call: the claim
script (EVALSHA), the mock provider's ``create_payment``, the completion script with the
payment's JSON, on a client configured alike. What unipay adds on top is its own work
(validation, the fingerprint, the flow, the outcome's encoding, the record saved in memory).
Target: unipay at least 0.8 of the bound, with 1 process and with 4.

The async face is then measured against the sync one: 1,000 concurrent ``create_payment`` on
one ``AsyncGateway`` (redis.asyncio, no worker threads) against 1,000 spread over 32 threads on
one ``Gateway``.

Method: interleaved pairs (A then B, B then A next time, so drift hits both sides alike), at
least five; the figure is the median of the pairs' ratios, with their range. Each process makes
its calls with fresh keys; throughput = all calls / slowest process. Redis is a private
``redis-server`` on a free port (never a shared one), or UNIPAY_BENCH_REDIS_URL.

    .venv/bin/python -m benchmarks.redis_store [--quick]
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis
from unipay_redis import RedisStore
from unipay_redis.store import CLAIM, COMPLETE
from unipay_redis.testing import RedisServer, require_binaries, start_server

from benchmarks._report import Pairs, Row, paired, paired_row, print_table
from unipay import AsyncGateway, CallContext, Gateway
from unipay._flow import run as run_flow
from unipay.models import CreatePaymentRequest, parse_request
from unipay.storage import MemoryStore, SplitStore
from unipay_mock import MockProvider

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 1299,
    "currency": "USD",
    "payment_method": "pm_card_visa",
}
Work = Callable[[str], None]
PAIRS = 5


def _store(url: str, prefix: str) -> SplitStore:
    return SplitStore(keys=RedisStore(url, prefix=prefix), records=MemoryStore())


def _unipay_work(url: str, prefix: str) -> Work:
    gateway = Gateway(store=_store(url, prefix), providers=[MockProvider()], load_installed=False)

    def work(key: str) -> None:
        gateway.create_payment(**CHARGE, idempotency_key=key)

    return work


def _bare_work(url: str, prefix: str) -> Work:
    """The same two round trips and the same provider call, written out with redis-py."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    claim, complete = client.script_load(CLAIM), client.script_load(COMPLETE)
    mock = MockProvider()
    request = parse_request(CreatePaymentRequest, CHARGE)

    def work(key: str) -> None:
        token, record = uuid.uuid4().hex, f"{prefix}{{operation:{key}}}"
        client.evalsha(claim, 1, record, "f" * 64, token, 60_000, 86_400_000)
        payment = run_flow(mock.create_payment(request, CallContext(key, 1)))
        client.evalsha(complete, 1, record, token, payment.model_dump_json())

    return work


WORKS: dict[str, Callable[[str, str], Work]] = {"unipay": _unipay_work, "bare": _bare_work}


def _worker(url: str, prefix: str, calls: int, pipe: Connection) -> None:
    """Builds both works once, then runs whichever the parent names, at the moment it names."""
    works = {name: make(url, prefix) for name, make in WORKS.items()}
    for work in works.values():
        for _ in range(50):  # warm up: connections, scripts, imports
            work(uuid.uuid4().hex)
    pipe.send("ready")
    while (order := pipe.recv()) is not None:
        name, start_at = order
        work = works[name]
        keys = [uuid.uuid4().hex for _ in range(calls)]
        time.sleep(max(0.0, start_at - time.time()))
        start = time.perf_counter()
        for key in keys:
            work(key)
        pipe.send(time.perf_counter() - start)


class Pool:
    """``size`` worker processes that run one kind of work at a time, all at once."""

    def __init__(self, url: str, prefix: str, size: int, calls: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.calls = calls
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(size):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker, args=(url, prefix, calls, theirs))
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def rate(self, name: str) -> float:
        start_at = time.time() + 0.05
        for pipe in self.pipes:
            pipe.send((name, start_at))
        slowest = max(pipe.recv() for pipe in self.pipes)
        return len(self.pipes) * self.calls / slowest

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(30)


def _row(comparison: str, measured: Pairs, target: str, unit: str) -> Row:
    return paired_row("redis key store", comparison, measured, target, unit=unit)


def faces(url: str, prefix: str, concurrent: int, threads: int, pairs: int) -> Row:
    """1,000 concurrent creates on the async face against the same on the sync face in
    ``threads`` threads, one process each, interleaved."""
    mock = MockProvider()
    sync = Gateway(store=_store(url, prefix), providers=[mock], load_installed=False)
    pool = ThreadPoolExecutor(threads)
    loop = asyncio.new_event_loop()
    agateway = AsyncGateway(store=_store(url, prefix), providers=[mock], load_installed=False)

    async def burst() -> None:
        keys = [uuid.uuid4().hex for _ in range(concurrent)]
        await asyncio.gather(
            *(agateway.create_payment(**CHARGE, idempotency_key=key) for key in keys)
        )

    def async_rate() -> float:
        start = time.perf_counter()
        loop.run_until_complete(burst())
        return concurrent / (time.perf_counter() - start)

    def sync_rate() -> float:
        keys = [uuid.uuid4().hex for _ in range(concurrent)]
        start = time.perf_counter()
        list(pool.map(lambda key: sync.create_payment(**CHARGE, idempotency_key=key), keys))
        return concurrent / (time.perf_counter() - start)

    try:
        async_rate(), sync_rate()  # warm up: connections and scripts on both faces
        measured = paired(async_rate, sync_rate, pairs)
    finally:
        loop.run_until_complete(agateway.aclose())
        loop.close()
        pool.shutdown()
        sync.close()
    return _row(
        f"async {concurrent} concurrent / sync {threads} threads", measured, "", "creates/s"
    )


def run(quick: bool = False) -> list[Row]:
    calls = 300 if quick else 1500
    pairs = PAIRS
    server: RedisServer | None = None
    url = os.environ.get("UNIPAY_BENCH_REDIS_URL")
    if not url:
        problem = require_binaries()
        if problem:
            print(f"redis_store skipped: {problem} (or set UNIPAY_BENCH_REDIS_URL)")
            return []
        server = start_server(Path(tempfile.mkdtemp(prefix="unipay-bench-redis-")))
        url = server.url
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    rows = []
    try:
        for size in (1, 4):
            pool = Pool(url, prefix, size, calls)
            try:
                measured = paired(
                    functools.partial(pool.rate, "unipay"),
                    functools.partial(pool.rate, "bare"),
                    pairs,
                )
            finally:
                pool.close()
            rows.append(
                _row(f"{size} proc: unipay / bare redis-py", measured, ">= 0.8", "creates/s")
            )
        rows.append(faces(url, prefix, 200 if quick else 1000, 32, pairs))
    finally:
        if server is not None:
            server.stop()
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
