"""The Razorpay provider against unipay's provider conformance suite, with fixtures only.

Razorpay takes no payment method from the server: the customer pays in Checkout. The kit's
``complete_checkout`` fixture pays the fake's Checkout with the test token, as a customer would,
and hands the kit Checkout's signed answer; the kit confirms with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from unipay.models import Payment
from unipay.testing.provider import CompleteCheckout, ProviderConformance
from unipay_razorpay import RazorpayProvider

from .fake_razorpay import SUCCEEDS, FakeRazorpay


class TestRazorpayConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, razorpay: RazorpayProvider) -> RazorpayProvider:
        return razorpay

    @pytest.fixture
    def success_token(self) -> str:
        return SUCCEEDS

    @pytest.fixture
    def authentication_token(self) -> str:
        return SUCCEEDS  # every Razorpay payment waits on its Checkout

    @pytest.fixture
    def complete_checkout(self, fake: FakeRazorpay) -> CompleteCheckout:
        def pay(payment: Payment, token: str) -> dict[str, Any]:
            return dict(fake.pay(payment.provider_payment_id, token))

        return pay
