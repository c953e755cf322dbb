"""Verified webhook deliveries per second: ``WebhookApp`` against a hand-written Starlette
endpoint calling ``stripe.Webhook.construct_event``, and against a bare ASGI endpoint answering
200 without looking at the request (the server's ceiling).

Each app runs in its own uvicorn process on 127.0.0.1 with the same settings; a small raw
HTTP/1.1 client (keep-alive, a fixed number of connections, a bounded number of requests) posts
pre-signed, distinct deliveries so that every one is verified and none is a duplicate.
WebhookApp does more per delivery than the hand-written endpoint: it also claims and completes
the event id in the store, keeps the payment record, and dispatches to a handler.

    .venv/bin/python -m benchmarks.webhooks            # about half a minute
    .venv/bin/python -m benchmarks.webhooks --quick
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks._report import Row, print_table

MOCK_SECRET = "whsec_YmVuY2htYXJrLW9ubHktbW9jay13ZWJob29rLXNlY3JldA=="  # noqa: S105 - a test value
STRIPE_SECRET = "whsec_benchmark_only_stripe_endpoint_secret"  # noqa: S105 - a test value
CONNECTIONS = 16
STARTUP_TIMEOUT = 15.0

Request = tuple[str, bytes, dict[str, str]]


# --- the three apps (uvicorn --factory targets) -----------------------------------------------


def unipay_app() -> Any:
    from unipay import Gateway, WebhookEvent
    from unipay.webhooks import WebhookApp
    from unipay_mock import MockProvider

    gateway = Gateway(providers=[MockProvider(webhook_secret=MOCK_SECRET)], load_installed=False)
    app = WebhookApp(gateway)

    @app.on("*")
    async def handle(event: WebhookEvent) -> None:
        return None

    return app


def stripe_app() -> Any:
    import stripe
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def webhook(request: StarletteRequest) -> JSONResponse:
        body = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("stripe-signature", ""), STRIPE_SECRET
            )
        except (ValueError, stripe.SignatureVerificationError):
            return JSONResponse({"error": "bad signature"}, status_code=400)
        return JSONResponse({"received": True, "id": event.id})

    return Starlette(routes=[Route("/stripe", webhook, methods=["POST"])])


def bare_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"{}"})

    return app


# --- deliveries -----------------------------------------------------------------------------


def mock_deliveries(count: int) -> list[Request]:
    from unipay import Payment
    from unipay_mock.webhooks import build_delivery, payment_event

    payment = Payment(
        provider="mock",
        provider_payment_id="pi_bench",
        status="succeeded",
        amount=1299,
        currency="USD",
        amount_received=1299,
    )
    event = payment_event("payment.succeeded", payment)
    return [
        ("/mock", *build_delivery({**event, "id": f"evt_bench_{n}"}, secret=MOCK_SECRET))
        for n in range(count)
    ]


def stripe_deliveries(count: int) -> list[Request]:
    intent = {
        "id": "pi_bench",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 1299,
        "currency": "usd",
        "amount_received": 1299,
    }
    requests = []
    for n in range(count):
        event = {
            "id": f"evt_bench_{n}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": intent},
        }
        body = json.dumps(event).encode()
        stamp = int(time.time())
        digest = hmac.new(STRIPE_SECRET.encode(), b"%d.%s" % (stamp, body), hashlib.sha256)
        header = f"t={stamp},v1={digest.hexdigest()}"
        requests.append(
            ("/stripe", body, {"content-type": "application/json", "stripe-signature": header})
        )
    return requests


# --- serving and loading --------------------------------------------------------------------


@contextmanager
def serve(factory: str) -> Iterator[int]:
    """Run ``uvicorn --factory benchmarks.webhooks:<factory>`` (or ``module:factory``) on a free
    loopback port."""
    target = factory if ":" in factory else f"benchmarks.webhooks:{factory}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"uvicorn for {factory} did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(STARTUP_TIMEOUT)


async def _connection(port: int, requests: Sequence[Request]) -> list[int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    for path, body, headers in requests:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
            f"{head}\r\n".encode()
            + body
        )
        response_head = await reader.readuntil(b"\r\n\r\n")
        lines = response_head.decode("latin-1").split("\r\n")
        statuses.append(int(lines[0].split()[1]))
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        await reader.readexactly(length)
    writer.close()
    return statuses


async def _load(port: int, requests: Sequence[Request]) -> float:
    """Deliveries per second, every one answered 200."""
    shares = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]
    started = time.perf_counter()
    results = await asyncio.gather(*(_connection(port, share) for share in shares))
    elapsed = time.perf_counter() - started
    failed = [s for statuses in results for s in statuses if s != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} deliveries were not accepted (e.g. {failed[0]})")
    return len(requests) / elapsed


def measure(factory: str, requests: list[Request], rounds: int) -> float:
    """Best rate over ``rounds`` rounds, each with fresh deliveries, after a warm-up."""
    size = len(requests) // (rounds + 1)
    with serve(factory) as port:
        asyncio.run(_load(port, requests[:size]))
        return max(
            asyncio.run(_load(port, requests[size * (r + 1) : size * (r + 2)]))
            for r in range(rounds)
        )


def run(quick: bool = False) -> list[Row]:
    per_round, rounds = (500, 2) if quick else (3000, 3)
    total = per_round * (rounds + 1)
    mock, stripe = mock_deliveries(total), stripe_deliveries(total)
    unipay_rate = measure("unipay_app", mock, rounds)
    stripe_rate = measure("stripe_app", stripe, rounds)
    ceiling = measure("bare_app", mock, rounds)
    return [
        Row(
            "webhooks",
            "unipay WebhookApp / Starlette + stripe.construct_event",
            unipay_rate / stripe_rate,
            ">= 0.80",
            f"{unipay_rate:,.0f}/s vs {stripe_rate:,.0f}/s",
        ),
        Row(
            "webhooks",
            "unipay WebhookApp / bare ASGI 200 (ceiling)",
            unipay_rate / ceiling,
            "",
            f"{unipay_rate:,.0f}/s vs {ceiling:,.0f}/s",
        ),
        Row(
            "webhooks",
            "Starlette + stripe / bare ASGI 200 (ceiling)",
            stripe_rate / ceiling,
            "",
            f"{stripe_rate:,.0f}/s vs {ceiling:,.0f}/s",
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
