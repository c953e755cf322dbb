"""The Adyen provider passes the provider conformance suite against the fake Checkout API, with
fixtures only: the kit chooses its checks by the provider's capabilities."""

from __future__ import annotations

import pytest

from unipay.testing.provider import ProviderConformance
from unipay_adyen import AdyenProvider

SHOPPER = "shopper-4242"


class TestAdyenConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, adyen_provider: AdyenProvider) -> AdyenProvider:
        return adyen_provider

    @pytest.fixture
    def success_token(self) -> str:
        return f"{SHOPPER}:tok_success"

    @pytest.fixture
    def decline_token(self) -> str:
        return f"{SHOPPER}:tok_decline"

    @pytest.fixture
    def authentication_token(self) -> str:
        return f"{SHOPPER}:tok_authentication"
