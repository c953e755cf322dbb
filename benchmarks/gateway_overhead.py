"""In-process gateway overhead: the mock through Gateway/AsyncGateway vs the mock object itself.

Both sides build the same validated request and use a fresh idempotency key per payment; the
difference is what the gateway adds: validation, routing, the idempotency claim and completion in
the memory store, hooks and the flow driver.
"""

from __future__ import annotations

import asyncio
import uuid

from benchmarks._report import Row, best_of, print_table
from unipay import AsyncGateway, CallContext, Gateway
from unipay._flow import run as run_flow
from unipay.models import CreatePaymentRequest
from unipay.storage import MemoryStore
from unipay_mock import Ledger, MockProvider


def run(quick: bool = False) -> list[Row]:
    payments = 300 if quick else 3000
    repeats = 3 if quick else 5
    mock = MockProvider(ledger=Ledger())
    gateway = Gateway(providers=[mock], store=MemoryStore(), load_installed=False)
    agateway = AsyncGateway(providers=[mock], store=MemoryStore(), load_installed=False)

    def direct() -> None:
        for _ in range(payments):
            request = CreatePaymentRequest(provider="mock", amount=1299, currency="USD")
            run_flow(mock.create_payment(request, CallContext(uuid.uuid4().hex)))

    def through_gateway() -> None:
        for _ in range(payments):
            gateway.create_payment(
                provider="mock", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
            )

    async def through_async_gateway() -> None:
        for _ in range(payments):
            await agateway.create_payment(
                provider="mock", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
            )

    base = best_of(repeats, direct)
    sync = best_of(repeats, through_gateway)
    loop = asyncio.new_event_loop()
    try:
        asynchronous = best_of(repeats, lambda: loop.run_until_complete(through_async_gateway()))
    finally:
        loop.close()
    per = 1e6 / payments
    return [
        Row(
            "gateway overhead",
            "Gateway / mock direct",
            sync / base,
            detail=f"{sync * per:.0f} us vs {base * per:.0f} us per create",
        ),
        Row(
            "gateway overhead",
            "AsyncGateway / mock direct",
            asynchronous / base,
            detail=f"{asynchronous * per:.0f} us vs {base * per:.0f} us per create",
        ),
    ]


if __name__ == "__main__":
    print_table(run())
