"""Which actions a payment's page offers, from the provider's capabilities and the payment's
status and amounts (``allowed_actions``)."""

from __future__ import annotations

import pytest

from unipay import AsyncGateway
from unipay.models import (
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    PendingModification,
    Refund,
    RefundPaymentRequest,
)
from unipay.provider import CallContext, Capabilities, Provider
from unipay.server.dashboard.actions import allowed_actions


class Declared(Provider):
    """A provider that is only its capabilities: the offers never call it."""

    def __init__(self, capabilities: Capabilities) -> None:
        self.name = "declared"
        self.capabilities = capabilities

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        raise NotImplementedError

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        raise NotImplementedError


EVERYTHING = Capabilities(
    manual_capture=True,
    partial_capture=True,
    partial_refunds=True,
    multiple_refunds=True,
    cancel=True,
)


def _payment(status: PaymentStatus, **fields: object) -> Payment:
    values: dict[str, object] = {
        "provider": "declared",
        "provider_payment_id": "p1",
        "status": status,
        "amount": 1000,
        "currency": "EUR",
    }
    return Payment.model_validate(values | fields)


@pytest.mark.parametrize(
    ("capabilities", "payment", "offered"),
    [
        (
            EVERYTHING,
            _payment(PaymentStatus.REQUIRES_CAPTURE, amount_capturable=1000),
            [("capture", 1000, True), ("cancel", None, False)],
        ),
        (
            Capabilities(manual_capture=True),
            _payment(PaymentStatus.REQUIRES_CAPTURE, amount_capturable=1000),
            [("capture", 1000, False)],
        ),
        (
            EVERYTHING,
            _payment(PaymentStatus.SUCCEEDED, amount_received=1000, amount_refunded=300),
            [("refund", 700, True)],
        ),
        (
            Capabilities(partial_refunds=True),
            _payment(PaymentStatus.SUCCEEDED, amount_received=1000, amount_refunded=300),
            [],  # one refund per payment, and it was made
        ),
        (
            Capabilities(),
            _payment(PaymentStatus.SUCCEEDED, amount_received=1000),
            [("refund", 1000, False)],
        ),
        (EVERYTHING, _payment(PaymentStatus.CANCELED), []),
        (EVERYTHING, _payment(PaymentStatus.PROCESSING), []),
        (
            EVERYTHING,
            _payment(
                PaymentStatus.REQUIRES_CAPTURE,
                amount_capturable=1000,
                pending=(PendingModification(operation="capture"),),
            ),
            [],  # a capture is settling: neither another nor a cancel
        ),
    ],
)
async def test_offers(
    capabilities: Capabilities, payment: Payment, offered: list[tuple[str, int | None, bool]]
) -> None:
    async with AsyncGateway(providers=[Declared(capabilities)], load_installed=False) as gateway:
        offers = allowed_actions(gateway, payment)
    assert [(o.action, o.amount, o.partial) for o in offers] == offered


async def test_nothing_is_offered_for_a_provider_this_server_cannot_use() -> None:
    async with AsyncGateway(load_installed=False) as gateway:
        assert allowed_actions(gateway, _payment(PaymentStatus.SUCCEEDED, amount_received=5)) == []
