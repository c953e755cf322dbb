"""P2: 1,000 concurrent payments against a Stripe-compatible server with 200 ms of latency.

The server is the stateful fake of Stripe from the unipay-stripe tests, behind a small ASGI app
that sleeps 200 ms before each answer, run by uvicorn in its own process on 127.0.0.1. Each
payment is create (manual capture, confirmed) -> capture -> refund, three requests. Three clients
run the same payments, each side reused across its bursts: unipay's ``AsyncGateway`` over
``StripeProvider(api_base=...)``; stripe-python's async client directly on the same transport
(target: unipay at most 1.05x its time, so the ratio is unipay's own cost); and stripe-python's
sync client in a pool of 32 threads (target: unipay async at least 3x faster). A fourth side,
the same three requests sent with httpx alone on the same kind of transport, is the async sides'
floor: what the HTTP stack reaches here without stripe-python or unipay. Each comparison
is paired (``_report.paired``: A B / B A, at least 5 pairs, median of the pairs' ratios).

Connection pools: unipay's StripeProvider spreads its async requests over pools of ten
connections (``unipay_stripe.transport``): httpcore 1.0's pool re-examines every connection
against every queued request whenever a request starts or ends, and with one pool of 100 that
bookkeeping used most of the CPU. At 200 ms per request, ``CONNECTIONS`` in flight cap the async
sides at ``CONNECTIONS / 0.2 / 3`` payments/s, and 32 threads cap the peer at 32 / 0.6 s.

The 32 threads each own a stripe client and its ``httpx.Client`` (see ``_ThreadClients``):
with one client shared by 32 threads, httpcore's sync pool closed connections under requests
(``httpx.ReadError: Bad file descriptor``, once in three runs). A transport error in the peer
is retried (the whole payment, at most ``RETRIES`` times), counted and printed in the row's
detail, never hidden; unipay's sides are not retried: an error there fails the run.

    .venv/bin/python -m benchmarks.concurrency [--quick]     # about 6 minutes; quick about 1
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import stripe

from benchmarks._report import MIN_PAIRS, Row, paired, paired_row, print_table
from benchmarks._serve import uvicorn
from benchmarks.stripe_overhead import KEY, _direct_async, _direct_sync, _unipay_async
from unipay import AsyncGateway
from unipay_stripe import StripeProvider
from unipay_stripe.transport import PooledHTTPXClient, ShardedAsyncTransport

LATENCY = 0.200
LATENCY_ENV = "UNIPAY_BENCH_LATENCY"
THREADS = 32
CONNECTIONS = 100
#: A payment whose request failed in the thread peer is run again at most this many times.
RETRIES = 3
#: ``stripe_overhead.CREATE`` as stripe-python form-encodes it.
RAW_CREATE = {"amount": "2000", "currency": "usd", "capture_method": "manual", "confirm": "true",
              "payment_method": "pm_card_visa", "expand[0]": "latest_charge",
              "automatic_payment_methods[enabled]": "true",
              "automatic_payment_methods[allow_redirects]": "never"}  # fmt: skip
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


def serve(latency: float) -> AbstractContextManager[int]:
    """``stripe_server`` under uvicorn on a free loopback port, ``latency`` late."""
    return uvicorn("benchmarks.concurrency:stripe_server", env={LATENCY_ENV: str(latency)})


# --- the clients ----------------------------------------------------------------------------


def _client(base: str, http: stripe.HTTPClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY, http_client=http, base_addresses={"api": base}, max_network_retries=0
    )


class _ThreadClients:
    """stripe-python's sync client in ``THREADS`` threads, each thread with a client and an
    ``httpx.Client`` of its own.

    One ``httpx.Client`` shared by 32 threads is what the issue's run crashed on: httpcore's
    sync pool can close a connection it has already handed to a waiting thread (a surplus
    keep-alive connection: httpx keeps 20 of its 100 alive by default), and that thread's read
    then fails with ``httpx.ReadError: [Errno 9] Bad file descriptor`` (encode/httpcore#1110,
    open against httpcore 1.0.9; related: #550). A thread that owns its client never shares a
    connection, and it is also how a threaded service is commonly written. Any transport error
    left is retried (the whole payment) and counted in ``retried``, so it shows in the table.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.local = threading.local()
        self.clients: list[stripe.HTTPXClient] = []
        self.lock = threading.Lock()
        self.retried = 0
        self.errors: set[str] = set()
        self.pool = ThreadPoolExecutor(THREADS)

    def _flow(self, _: int) -> None:
        client = getattr(self.local, "client", None)
        if client is None:
            http = stripe.HTTPXClient(allow_sync_methods=True)
            with self.lock:
                self.clients.append(http)
            client = self.local.client = _client(self.base, http)
        for attempt in range(RETRIES + 1):
            try:
                _direct_sync(client)
                return
            except (httpx.TransportError, stripe.APIConnectionError) as exc:
                if attempt == RETRIES:
                    raise
                with self.lock:
                    self.retried += 1
                    self.errors.add(f"{type(exc).__name__}: {exc}"[:80])

    def __call__(self, payments: int) -> float:
        start = time.perf_counter()
        list(self.pool.map(self._flow, range(payments)))
        return time.perf_counter() - start

    def close(self) -> None:
        self.pool.shutdown()
        for http in self.clients:
            http.close()  # type: ignore[no-untyped-call]


class _AsyncSides:
    """unipay's ``AsyncGateway`` and stripe-python's async client on one event loop, on the
    same sharded transport of ``CONNECTIONS`` connections."""

    def __init__(self, base: str) -> None:
        self.loop = asyncio.new_event_loop()
        provider = StripeProvider(api_key=KEY, api_base=base, max_connections=CONNECTIONS)
        self.gateway = AsyncGateway(providers=[provider], load_installed=False)
        self.http = PooledHTTPXClient(timeout=80, max_connections=CONNECTIONS)
        self.stripe = _client(base, self.http)
        self.raw = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {KEY}"},
            transport=ShardedAsyncTransport.pooled(max_connections=CONNECTIONS),
            timeout=80,
        )

    def _burst(self, payments: int, flow: Any) -> float:
        async def burst() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(flow() for _ in range(payments)))
            return time.perf_counter() - start

        return self.loop.run_until_complete(burst())

    def unipay(self, payments: int) -> float:
        return self._burst(payments, lambda: _unipay_async(self.gateway))

    def stripe_async(self, payments: int) -> float:
        return self._burst(payments, lambda: _direct_async(self.stripe))

    def raw_httpx(self, payments: int) -> float:
        return self._burst(payments, self._raw_payment)

    async def _raw_payment(self) -> None:
        """The same three requests with httpx alone, on a transport like the others': what the
        HTTP stack costs without stripe-python or unipay (the async sides' floor)."""
        key = uuid.uuid4().hex
        post = self.raw.post
        created = await post("/v1/payment_intents", data=RAW_CREATE,
                             headers={"Idempotency-Key": key + "c"})  # fmt: skip
        intent = created.raise_for_status().json()["id"]
        captured = await post(f"/v1/payment_intents/{intent}/capture",
                              data={"expand[0]": "latest_charge"},
                              headers={"Idempotency-Key": key + "k"})  # fmt: skip
        captured.raise_for_status()
        refunded = await post("/v1/refunds", data={"payment_intent": intent},
                              headers={"Idempotency-Key": key + "r"})  # fmt: skip
        refunded.raise_for_status()

    def close(self) -> None:
        self.loop.run_until_complete(self.gateway.aclose())
        self.loop.run_until_complete(self.http.close_async())  # type: ignore[no-untyped-call]
        self.loop.run_until_complete(self.raw.aclose())
        self.loop.close()


def run(quick: bool = False) -> list[Row]:
    payments = 200 if quick else 1000
    with serve(LATENCY) as port:
        base = f"http://127.0.0.1:{port}"
        sides, threads = _AsyncSides(base), _ThreadClients(base)
        try:
            sides.unipay(THREADS), sides.stripe_async(THREADS), threads(THREADS)  # warm-up
            sides.raw_httpx(THREADS)
            threaded = paired(lambda: threads(payments), lambda: sides.unipay(payments), MIN_PAIRS)
            floor = paired(lambda: threads(payments), lambda: sides.raw_httpx(payments),
                           MIN_PAIRS)  # fmt: skip
            own = paired(lambda: sides.unipay(payments), lambda: sides.stripe_async(payments),
                         MIN_PAIRS)  # fmt: skip
        finally:
            sides.close()
            threads.close()
    name = f"{payments} payments, 200 ms/request"
    retried = f"; thread peer: {threads.retried} payments retried" + (
        f" ({'; '.join(sorted(threads.errors))})" if threads.errors else ""
    )
    return [
        paired_row(name, "unipay async / stripe async", own, "<= 1.05",
                   unit="s per burst"),
        paired_row(name, f"stripe sync {THREADS} threads / unipay async", threaded, ">= 3",
                   unit="s per burst", note=retried),
        paired_row(name, f"stripe sync {THREADS} threads / httpx alone, async", floor,
                   unit="s per burst"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
