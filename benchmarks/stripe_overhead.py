"""Overhead of unipay's Stripe path over calling ``stripe.StripeClient`` directly.

Both sides run create (manual capture) -> capture -> refund against the same respx-mocked HTTP
answers, so the ratio is unipay's own cost (validation, idempotency store, mapping) relative to
the SDK plus httpx. Sync and async, each an interleaved :func:`~benchmarks._report.paired`
measurement. Target (issue 19, P1): at most 1.00.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import respx
import stripe

from benchmarks._report import MIN_PAIRS, Pairs, Row, paired, paired_row, print_table
from unipay import AsyncGateway, Gateway
from unipay_stripe import StripeProvider

FIXTURES = Path(__file__).parents[1] / "plugins" / "unipay_stripe" / "tests" / "fixtures"
KEY = "sk_test_51QbZ0aLkdIwHu7ixBENCHMARKkey0"
TARGET = "<= 1.00"


def _answers() -> dict[str, bytes]:
    succeeded = json.loads((FIXTURES / "payment_intent.json").read_text())
    held = copy.deepcopy(succeeded)
    held.update(status="requires_capture", capture_method="manual", amount_capturable=2000,
                amount_received=0)  # fmt: skip
    held["latest_charge"].update(amount_captured=0, captured=False)
    refund = json.loads((FIXTURES / "refund.json").read_text())
    return {name: json.dumps(body).encode() for name, body in
            (("create", held), ("capture", succeeded), ("refund", refund))}  # fmt: skip


def _mock(router: respx.MockRouter) -> None:
    answers = _answers()
    headers = {"Content-Type": "application/json", "Request-Id": "req_bench"}
    for name, pattern in (
        ("create", r"/v1/payment_intents$"),
        ("capture", r"/v1/payment_intents/[^/]+/capture$"),
        ("refund", r"/v1/refunds$"),
    ):
        router.post(url__regex=pattern).mock(
            side_effect=lambda _r, body=answers[name]: httpx.Response(
                200, content=body, headers=headers
            )
        )


CREATE = {"amount": 2000, "currency": "usd", "capture_method": "manual", "confirm": True,
          "payment_method": "pm_card_visa", "expand": ["latest_charge"],
          "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}  # fmt: skip


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY, http_client=stripe.HTTPXClient(allow_sync_methods=True), max_network_retries=0
    )


def _direct_sync(client: stripe.StripeClient) -> None:
    key = uuid.uuid4().hex
    pi = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": key + "c"})
    client.v1.payment_intents.capture(pi.id, params={"expand": ["latest_charge"]},
                                      options={"idempotency_key": key + "k"})  # fmt: skip
    client.v1.refunds.create(params={"payment_intent": pi.id},
                             options={"idempotency_key": key + "r"})  # fmt: skip


async def _direct_async(client: stripe.StripeClient) -> None:
    key = uuid.uuid4().hex
    pi = await client.v1.payment_intents.create_async(
        params=CREATE, options={"idempotency_key": key + "c"}
    )
    await client.v1.payment_intents.capture_async(
        pi.id, params={"expand": ["latest_charge"]}, options={"idempotency_key": key + "k"}
    )
    await client.v1.refunds.create_async(
        params={"payment_intent": pi.id}, options={"idempotency_key": key + "r"}
    )


def _unipay_sync(gateway: Gateway) -> None:
    p = gateway.create_payment(provider="stripe", amount=2000, currency="USD",
                               payment_method="pm_card_visa", capture_method="manual")  # fmt: skip
    gateway.capture_payment(p.id)
    gateway.refund_payment(p.id)


async def _unipay_async(gateway: AsyncGateway) -> None:
    p = await gateway.create_payment(
        provider="stripe", amount=2000, currency="USD", payment_method="pm_card_visa",
        capture_method="manual",
    )  # fmt: skip
    await gateway.capture_payment(p.id)
    await gateway.refund_payment(p.id)


def _flows(n: int, flow: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            flow()

    return run


def _aflows(n: int, flow: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for _ in range(n):
            await flow()

    return run


def _side(router: respx.MockRouter, flows: Callable[[], object]) -> Callable[[], float]:
    """One side of :func:`paired`: the seconds ``flows`` takes, with respx's call log emptied and
    garbage collected first (the log grows with every request and would slow whichever side
    runs later)."""

    def measure() -> float:
        router.reset()
        gc.collect()
        start = time.perf_counter()
        flows()
        return time.perf_counter() - start

    return measure


def run(quick: bool = False) -> list[Row]:
    n, pairs = (20, MIN_PAIRS) if quick else (200, 9)
    rows = []
    with respx.mock(base_url="https://api.stripe.com") as router:
        _mock(router)
        client = _client()
        gateway = Gateway(providers=[StripeProvider(api_key=KEY)], load_installed=False)
        _flows(5, lambda: _direct_sync(client))()
        _flows(5, lambda: _unipay_sync(gateway))()
        measured = paired(
            _side(router, _flows(n, lambda: _unipay_sync(gateway))),
            _side(router, _flows(n, lambda: _direct_sync(client))),
            pairs,
        )
        rows.append(_row("sync", measured, n))

        # One event loop for every async measurement: each side runs its flows to completion on
        # it, so the two sides share the loop exactly as they share the wire.
        loop = asyncio.new_event_loop()
        try:
            aclient = _client()
            agateway = AsyncGateway(providers=[StripeProvider(api_key=KEY)], load_installed=False)
            aunipay = _aflows(n, lambda: _unipay_async(agateway))
            adirect = _aflows(n, lambda: _direct_async(aclient))
            loop.run_until_complete(_aflows(5, lambda: _direct_async(aclient))())
            loop.run_until_complete(_aflows(5, lambda: _unipay_async(agateway))())
            measured = paired(
                _side(router, lambda: loop.run_until_complete(aunipay())),
                _side(router, lambda: loop.run_until_complete(adirect())),
                pairs,
            )
            rows.append(_row("async", measured, n))
            loop.run_until_complete(agateway.aclose())
        finally:
            loop.close()
    return rows


def _row(face: str, measured: Pairs, n: int) -> Row:
    return paired_row(
        "stripe create->capture->refund",
        f"unipay {face} / stripe {face}",
        measured,
        TARGET,
        unit="us per flow",
        scale=1e6 / n,
    )


if __name__ == "__main__":
    print_table(run())


__all__: list[Any] = ["run"]
