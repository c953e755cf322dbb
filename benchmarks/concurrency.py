"""1,000 concurrent payments against a Stripe-compatible server with 50 ms of latency per request.

The server is the stateful fake of Stripe from the unipay-stripe tests, behind a small ASGI app
that sleeps 50 ms before each answer, run by uvicorn in its own process on 127.0.0.1. Each payment
is create (manual capture, confirmed) -> capture -> refund, three requests. Three clients run the
same 1,000 payments: unipay's ``AsyncGateway`` over ``StripeProvider(api_base=...)``,
stripe-python's async client directly (target: unipay at most 1.15x its time), and stripe-python's
sync client in a pool of 32 threads (target: unipay async at least 3x faster).

Connection pools: stripe's ``HTTPXClient`` builds its ``httpx.AsyncClient`` with httpx's default
limits, 100 connections of which only 20 are kept alive, so under load every returned connection
beyond 20 idle ones is closed and the next request reconnects. Both async clients get the same
pool of 100 connections, all kept alive (``pooled``; stripe's HTTPXClient takes no limits). Not
more: httpcore 1.0's pool does work proportional to idle connections x all connections, and to
queued requests x connections, each time a request starts or ends; that bookkeeping, not unipay
nor stripe, is what the async clients spend most of their CPU on here, and 1,000 connections were
slower than 100 (41 vs 47 payments/s). See docs/performance.md.

    .venv/bin/python -m benchmarks.concurrency [--quick]     # about 30 s
"""

from __future__ import annotations

import asyncio
import importlib.util
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

LATENCY = 0.050
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
        await asyncio.sleep(LATENCY)
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
    provider = StripeProvider(api_key=KEY, api_base=base)
    pooled(provider._http, CONNECTIONS)
    async with AsyncGateway(providers=[provider], load_installed=False) as gateway:
        await asyncio.gather(*(_unipay_async(gateway) for _ in range(THREADS)))  # warm up
        start = time.perf_counter()
        await asyncio.gather(*(_unipay_async(gateway) for _ in range(payments)))
        return time.perf_counter() - start


async def _stripe_async(base: str, payments: int) -> float:
    http = pooled(stripe.HTTPXClient(), CONNECTIONS)
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


def run(quick: bool = False) -> list[Row]:
    payments = 200 if quick else 1000
    with serve("benchmarks.concurrency:stripe_server") as port:
        base = f"http://127.0.0.1:{port}"
        unipay = asyncio.run(_unipay(base, payments))
        stripe_async = asyncio.run(_stripe_async(base, payments))
        threads = _stripe_threads(base, payments)

    def rate(seconds: float) -> str:
        return f"{payments / seconds:,.0f} payments/s"

    name = f"{payments} payments, 50 ms/request"
    return [
        Row(name, "unipay async / stripe async", unipay / stripe_async, "<= 1.15",
            f"{rate(unipay)} vs {rate(stripe_async)}"),
        Row(name, f"stripe sync {THREADS} threads / unipay async", threads / unipay, ">= 3x",
            f"{rate(threads)} vs {rate(unipay)}"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
