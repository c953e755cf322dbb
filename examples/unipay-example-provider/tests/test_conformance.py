"""Acme Pay passes unipay's provider conformance kit, on both faces, against the fake API."""

from __future__ import annotations

import pytest
from unipay_example import AcmeProvider

from unipay.testing import ProviderConformance


class TestAcmeConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, acme: AcmeProvider) -> AcmeProvider:
        return acme

    # Acme Pay's own test tokens, instead of the kit's Stripe-style defaults.
    @pytest.fixture
    def success_token(self) -> str:
        return "tok_acme_success"

    @pytest.fixture
    def decline_token(self) -> str:
        return "tok_acme_decline"

    @pytest.fixture
    def decline_code(self) -> str:
        return "do_not_honor"

    @pytest.fixture
    def authentication_token(self) -> str:
        return "tok_acme_3ds"
