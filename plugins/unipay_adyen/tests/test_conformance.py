"""The Adyen provider passes the provider conformance suite against the fake Checkout API.

One check is replaced: the kit reads ``Capabilities.confirmation`` as "create(confirm=False), then
confirm_payment". Adyen has no unconfirmed payment; it declares ``confirmation`` because the
gateway lets ``confirm_payment`` through only with it, and that is how a 3-D Secure or redirect
action is completed (``/payments/details``). The replacement holds the provider to both halves:
``confirm=False`` is refused before any request, and ``confirm_payment`` completes an action.
"""

from __future__ import annotations

import pytest

from unipay.errors import InvalidRequest
from unipay.models import PaymentStatus
from unipay.testing.faces import Face
from unipay.testing.provider import ProviderConformance, _check, _On, expect, expect_raises
from unipay_adyen import AdyenProvider

from .fake_adyen import FakeAdyen

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

    def test_confirmation_matches_declaration(  # type: ignore[override]
        self,
        face: Face,
        provider: AdyenProvider,
        success_token: str,
        authentication_token: str,
        fake_adyen: FakeAdyen,
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            sent = len(fake_adyen.requests)
            with expect_raises(
                InvalidRequest, "create_payment(confirm=False) must be refused.", "adyen.md"
            ) as refused:
                await on.create(success_token, confirm=False)
            expect(refused.value.param == "confirm", "The refusal names `confirm`.", "adyen.md")
            expect(len(fake_adyen.requests) == sent, "Nothing reaches Adyen.", "adyen.md")
            waiting = await on.create(authentication_token)
            assert waiting.next_action is not None and waiting.next_action.redirect_url
            result = fake_adyen.redirect_result(waiting.next_action.redirect_url)
            confirmed = await on(
                "confirm_payment", waiting.id, payment_method={"redirectResult": result}
            )
            expect(
                confirmed.status is PaymentStatus.SUCCEEDED
                and confirmed.amount_received == on.amount
                and confirmed.id == waiting.id,
                f"confirm_payment must complete the 3-D Secure action: got {confirmed!r}.",
                "adyen.md",
            )

        _check(on, check)
