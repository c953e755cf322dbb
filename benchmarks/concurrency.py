"""1,000 concurrent payments against a Stripe-compatible server with 50 ms of latency per request.

The server is the stateful fake of Stripe from the unipay-stripe tests, behind a small ASGI app
that sleeps 50 ms before each answer, run by uvicorn in its own process on 127.0.0.1. Each payment
is create (manual capture, confirmed) -> capture -> refund, three requests. Three clients run the
same 1,000 payments: unipay's ``AsyncGateway`` over ``StripeProvider(api_base=...)``,
stripe-python's async client directly (target: unipay at most 1.15x its time), and stripe-python's
sync client in a pool of 32 threads (target: unipay async at least 3x faster).

Connection pools: unipay's StripeProvider spreads its async requests over ten pools of ten
connections (``unipay_stripe.transport``): httpcore 1.0's pool re-examines every connection
against every queued request whenever a request starts or ends, and with one pool of 100 that
bookkeeping used most of the CPU. stripe-python's async client is measured on the same transport,
so that ratio is unipay's own cost, and once more on its stock HTTPXClient (one pool of 100).

On this 2-core machine all the clients are CPU-bound at 50 ms, the server included (it shares the
cores): 32 threads already reach the rate at which the CPU saturates, so async cannot be 3x
faster here. A second run against a 200 ms server, where 32 threads are bound by latency
(32 / 0.2 s = 160 requests/s), shows the gap async closes.

    .venv/bin/python -m benchmarks.concurrency [--quick]     # about 30 s
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import stripe

from benchmarks._report import Row, print_table
from benchmarks.stripe_overhead import KEY, _direct_async, _direct_sync, _unipay_async
from benchmarks.webhooks import serve
from unipay import AsyncGateway
from unipay_stripe import StripeProvider
from unipay_stripe.transport import PooledHTTPXClient

LATENCY = 0.050
#: A second, slower server shows where 32 threads are bound by latency rather than by CPU.
SLOW_LATENCY = 0.200
LATENCY_ENV = "UNIPAY_BENCH_LATENCY"
THREADS = 32
CONNECTIONS = 100
FAKE = Path(__file__).parents[1] / "plugins" / "unipay_stripe" / "tests" / "fake_stripe.py"


# --- the server (a uvicorn --factory target) -------------------------------------------------


def _fake_stripe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_stripe", FAKE)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stripe_server() -> Any:
    """An ASGI app answering as Stripe would (the tests' FakeStripe), 50 ms late."""
    fake = _fake_stripe().FakeStripe()
    latency = float(os.environ.get(LATENCY_ENV, LATENCY))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query = scope["query_string"].decode()
        request = httpx.Request(
            scope["method"],
            f"https://api.stripe.com{scope['path']}" + (f"?{query}" if query else ""),
            headers=scope["headers"],
            content=body,
        )
        fake.requests.clear()  # its request log would only grow
        await asyncio.sleep(latency)
        response = fake.handle(request)
        headers = [(k.encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": response.content})

    return app


# --- the clients ----------------------------------------------------------------------------


def pooled(http: stripe.HTTPXClient, connections: int) -> stripe.HTTPXClient:
    """Give stripe's HTTPXClient an async pool of ``connections``, all kept alive."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    http._client_async = httpx.AsyncClient(limits=limits)
    return http


def _client(base: str, http: stripe.HTTPXClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY, http_client=http, base_addresses={"api": base}, max_network_retries=0
    )


async def _unipay(base: str, payments: int) -> float:
    provider = StripeProvider(api_key=KEY, api_base=base, max_connections=CONNECTIONS)
    async with AsyncGateway(providers=[provider], load_installed=False) as gateway:
        await asyncio.gather(*(_unipay_async(gateway) for _ in range(THREADS)))  # warm up
        start = time.perf_counter()
        await asyncio.gather(*(_unipay_async(gateway) for _ in range(payments)))
        return time.perf_counter() - start


async def _stripe_async(base: str, payments: int, *, stock: bool = False) -> float:
    """stripe-python's async client on the same sharded pool as unipay's (so the ratio is
    unipay's own cost), or with ``stock`` on its stock HTTPXClient, one pool of 100."""
    http = (
        pooled(stripe.HTTPXClient(), CONNECTIONS)
        if stock
        else PooledHTTPXClient(timeout=80, max_connections=CONNECTIONS)
    )
    client = _client(base, http)
    await asyncio.gather(*(_direct_async(client) for _ in range(THREADS)))
    start = time.perf_counter()
    await asyncio.gather(*(_direct_async(client) for _ in range(payments)))
    elapsed = time.perf_counter() - start
    await http.close_async()  # type: ignore[no-untyped-call]
    return elapsed


def _stripe_threads(base: str, payments: int) -> float:
    http = stripe.HTTPXClient(allow_sync_methods=True)  # httpx.Client: 100 connections >= 32
    client = _client(base, http)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda _: _direct_sync(client), range(THREADS)))
        start = time.perf_counter()
        list(pool.map(lambda _: _direct_sync(client), range(payments)))
        elapsed = time.perf_counter() - start
    http.close()  # type: ignore[no-untyped-call]
    return elapsed


def _race(payments: int, latency: float) -> tuple[float, float, float, float]:
    """Seconds for ``payments`` through each client, against a server ``latency`` late."""
    os.environ[LATENCY_ENV] = str(latency)  # read by the server process at start
    try:
        with serve("benchmarks.concurrency:stripe_server") as port:
            base = f"http://127.0.0.1:{port}"
            unipay = asyncio.run(_unipay(base, payments))
            stripe_async = asyncio.run(_stripe_async(base, payments))
            stock = asyncio.run(_stripe_async(base, payments, stock=True))
            threads = _stripe_threads(base, payments)
    finally:
        del os.environ[LATENCY_ENV]
    return unipay, stripe_async, stock, threads


def run(quick: bool = False) -> list[Row]:
    payments = 200 if quick else 1000
    unipay, stripe_async, stock, threads = _race(payments, LATENCY)
    slow_payments = payments // 2
    slow_unipay, _, _, slow_threads = _race(slow_payments, SLOW_LATENCY)

    def rate(count: int, seconds: float) -> str:
        return f"{count / seconds:,.0f} payments/s"

    name = f"{payments} payments, 50 ms/request"
    slow = f"{slow_payments} payments, 200 ms/request"
    return [
        Row(name, "unipay async / stripe async", unipay / stripe_async, "<= 1.15",
            f"{rate(payments, unipay)} vs {rate(payments, stripe_async)}"),
        Row(name, f"stripe sync {THREADS} threads / unipay async", threads / unipay, ">= 3x",
            f"{rate(payments, threads)} vs {rate(payments, unipay)}"),
        Row(name, "stripe async, one pool of 100 / unipay async", stock / unipay, "",
            f"{rate(payments, stock)} vs {rate(payments, unipay)}"),
        Row(slow, f"stripe sync {THREADS} threads / unipay async", slow_threads / slow_unipay, "",
            f"{rate(slow_payments, slow_threads)} vs {rate(slow_payments, slow_unipay)}"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
