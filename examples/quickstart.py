"""The README's example, runnable: ``python examples/quickstart.py`` (needs unipay-mock installed).

Takes a payment with manual capture, captures part of it, refunds part, shows a safe retry and a
decline, then does the same create on the async face.
"""

from __future__ import annotations

import asyncio
import uuid

from unipay import AsyncGateway, Gateway
from unipay.errors import PaymentDeclined
from unipay.money import format_amount


def main() -> None:
    gateway = Gateway()  # installed providers, in-memory idempotency store
    order_key = f"order-42-{uuid.uuid4()}"

    payment = gateway.create_payment(
        provider="mock",
        amount=1299,  # minor units: $12.99
        currency="USD",
        payment_method="pm_card_visa",
        customer_email="demo@example.com",
        capture_method="manual",
        metadata={"order": "42"},
        idempotency_key=order_key,
    )
    print("created ", payment.id, payment.status, format_amount(payment.amount_capturable, "USD"))

    retried = gateway.create_payment(
        provider="mock",
        amount=1299,
        currency="USD",
        payment_method="pm_card_visa",
        customer_email="demo@example.com",
        capture_method="manual",
        metadata={"order": "42"},
        idempotency_key=order_key,
    )
    print("retried ", retried.id, "replayed" if retried.replayed else "NEW CHARGE")

    payment = gateway.capture_payment(payment.id, amount=1000)
    print("captured", payment.status, format_amount(payment.amount_received, "USD"))

    refund = gateway.refund_payment(payment.id, amount=500)
    print("refunded", refund.status, format_amount(refund.amount, "USD"))

    try:
        gateway.create_payment(
            provider="mock",
            amount=1299,
            currency="USD",
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
        )
    except PaymentDeclined as declined:
        print("declined", declined.decline_code)

    asyncio.run(checkout_async())


async def checkout_async() -> None:
    async with AsyncGateway() as gateway:
        payment = await gateway.create_payment(provider="mock", amount=500, currency="JPY")
        print("async   ", payment.status, format_amount(payment.amount_received, "JPY"))


if __name__ == "__main__":
    main()
