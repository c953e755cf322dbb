"""The mock provider passes the provider conformance suite that third-party plugins run."""

from __future__ import annotations

import pytest

from unipay.models import Payment
from unipay.testing.provider import ProviderConformance, SignedDelivery
from unipay_mock import MockProvider, cards
from unipay_mock.webhooks import build_delivery, payment_event

WEBHOOK_SECRET = "whsec_" + "bW9jay13ZWJob29rLXNlY3JldA=="


class TestMockConformance(ProviderConformance):
    @pytest.fixture
    def provider(self) -> MockProvider:
        return MockProvider(webhook_secret=WEBHOOK_SECRET)  # its own books: nothing leaks

    # Stripe's test tokens, as the mock takes them (the kit's defaults are neutral ones).
    @pytest.fixture
    def success_token(self) -> str:
        return cards.DEFAULT_CARD

    @pytest.fixture
    def decline_token(self) -> str:
        return "pm_card_chargeDeclinedInsufficientFunds"

    @pytest.fixture
    def decline_code(self) -> str:
        return "insufficient_funds"

    @pytest.fixture
    def authentication_token(self) -> str:
        return cards.AUTHENTICATION_REQUIRED

    @pytest.fixture
    def signed_delivery(self) -> SignedDelivery:
        def deliver(payment: Payment) -> tuple[bytes, dict[str, str]]:
            return build_delivery(
                payment_event("payment.succeeded", payment), secret=WEBHOOK_SECRET
            )

        return deliver
