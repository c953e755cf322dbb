"""The Stripe provider passes the provider conformance suite against a stateful fake Stripe."""

from __future__ import annotations

import pytest

from unipay.models import Payment
from unipay.testing.provider import ProviderConformance, SignedDelivery
from unipay_stripe import StripeProvider

from .conftest import signed_event
from .fake_stripe import FakeStripe, fixture


class TestStripeConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, stripe_provider: StripeProvider) -> StripeProvider:
        return stripe_provider

    # Stripe's own test payment methods (the kit's defaults are neutral tokens).
    @pytest.fixture
    def success_token(self) -> str:
        return "pm_card_visa"

    @pytest.fixture
    def decline_token(self) -> str:
        return "pm_card_chargeDeclined"

    @pytest.fixture
    def decline_code(self) -> str:
        return "generic_decline"

    @pytest.fixture
    def authentication_token(self) -> str:
        return "pm_card_authenticationRequired"

    @pytest.fixture
    def signed_delivery(self, fake_stripe: FakeStripe) -> SignedDelivery:
        def deliver(payment: Payment) -> tuple[bytes, dict[str, str]]:
            event = fixture("event_payment_intent_succeeded")
            intent = dict(fake_stripe.intents[payment.provider_payment_id])
            intent["latest_charge"] = intent["latest_charge"]["id"]
            event["data"]["object"] = intent
            return signed_event(event)

        return deliver
