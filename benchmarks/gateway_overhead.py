"""P5: what the gateway itself costs, over a stub provider that does nothing.

The stub answers a succeeded ``Payment`` at once: no ledger, no I/O. Measured over the mock
instead (as before issue 19), the mock's own SQLite ledger was most of the denominator and the
ratio read 1.9x where the gateway's share was 4.2x. Both sides build the same validated request
and a fresh idempotency key per payment; the difference is what the gateway adds: validation,
routing, the idempotency claim and completion in the default memory store, hooks and the flow
driver. Sides interleaved (``paired``), in slices of ``PAYMENTS`` creates.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator
from typing import Any, NoReturn

from benchmarks._report import MIN_PAIRS, Row, paired, paired_row, print_table, timed
from unipay import AsyncGateway, CallContext, Gateway
from unipay._flow import run as run_flow
from unipay.models import CreatePaymentRequest, Payment, PaymentStatus, RefundPaymentRequest
from unipay.provider import Provider
from unipay.storage import MemoryStore

TARGET = "<= 3"


class StubProvider(Provider):
    """Does nothing: every create succeeds at once, with nothing stored anywhere."""

    name = "stub"

    def create_payment(
        self, request: CreatePaymentRequest, ctx: CallContext
    ) -> Generator[Any, Any, Payment]:
        return self.succeeded(request, ctx)
        yield  # a flow without effects

    def succeeded(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        return Payment(
            provider=self.name,
            provider_payment_id=ctx.reference,
            status=PaymentStatus.SUCCEEDED,
            amount=request.amount,
            currency=request.currency,
            amount_received=request.amount,
        )

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> NoReturn:
        raise NotImplementedError


def run(quick: bool = False) -> list[Row]:
    payments = 300 if quick else 2000
    pairs = MIN_PAIRS if quick else 9
    stub = StubProvider()
    gateway = Gateway(providers=[stub], store=MemoryStore(), load_installed=False)
    agateway = AsyncGateway(providers=[stub], store=MemoryStore(), load_installed=False)
    loop = asyncio.new_event_loop()

    def direct() -> None:
        for _ in range(payments):
            request = CreatePaymentRequest(provider="stub", amount=1299, currency="USD")
            run_flow(stub.create_payment(request, CallContext(uuid.uuid4().hex)))

    def through_gateway() -> None:
        for _ in range(payments):
            gateway.create_payment(
                provider="stub", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
            )

    async def creates() -> None:
        for _ in range(payments):
            await agateway.create_payment(
                provider="stub", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
            )

    try:
        direct(), through_gateway(), loop.run_until_complete(creates())  # warm-up
        sync = paired(timed(through_gateway), timed(direct), pairs)
        asynchronous = paired(
            timed(lambda: loop.run_until_complete(creates())), timed(direct), pairs
        )
    finally:
        loop.close()
    per = 1e6 / payments
    return [
        paired_row(
            "gateway overhead",
            "Gateway / stub direct",
            sync,
            TARGET,
            unit="us per create",
            scale=per,
        ),
        paired_row(
            "gateway overhead",
            "AsyncGateway / stub direct",
            asynchronous,
            TARGET,
            unit="us per create",
            scale=per,
        ),
    ]


if __name__ == "__main__":
    print_table(run())
