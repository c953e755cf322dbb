"""The Adyen provider passes the provider conformance suite against the fake Checkout API.

One check is replaced: the kit reads ``Capabilities.confirmation`` as "create(confirm=False), then
confirm_payment". Adyen has no unconfirmed payment; it declares ``confirmation`` because the
gateway lets ``confirm_payment`` through only with it, and that is how a 3-D Secure or redirect
action is completed (``/payments/details``). The replacement holds the provider to both halves:
``confirm=False`` is refused before any request, and ``confirm_payment`` completes an action.
"""

from __future__ import annotations

import asyncio

import pytest

from unipay import AsyncGateway
from unipay.errors import InvalidRequest
from unipay.models import PaymentStatus
from unipay.testing.faces import Face
from unipay.testing.provider import ProviderConformance
from unipay_adyen import AdyenProvider

from .fake_adyen import FakeAdyen

SHOPPER = "shopper-4242"
AMOUNT = 2000


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

    @pytest.fixture(params=["Gateway", "AsyncGateway"])
    def either_face(self, request: pytest.FixtureRequest) -> Face:
        name = "gateway" if request.param == "Gateway" else "async_gateway"
        return Face(request.getfixturevalue(name))

    def test_confirmation_matches_declaration(  # type: ignore[override]
        self,
        either_face: Face,
        success_token: str,
        authentication_token: str,
        fake_adyen: FakeAdyen,
    ) -> None:
        face = either_face

        async def check() -> None:
            sent = len(fake_adyen.requests)
            with pytest.raises(InvalidRequest) as refused:
                await face(
                    "create_payment", provider="adyen", amount=AMOUNT, currency="EUR",
                    payment_method=success_token, confirm=False,
                )  # fmt: skip
            assert refused.value.param == "confirm", "the refusal names `confirm`"
            assert len(fake_adyen.requests) == sent, "nothing reaches Adyen"
            waiting = await face(
                "create_payment", provider="adyen", amount=AMOUNT, currency="EUR",
                payment_method=authentication_token,
            )  # fmt: skip
            assert waiting.status is PaymentStatus.REQUIRES_ACTION
            assert waiting.next_action is not None and waiting.next_action.redirect_url
            result = fake_adyen.redirect_result(waiting.next_action.redirect_url)
            confirmed = await face(
                "confirm_payment", waiting.id, payment_method={"redirectResult": result}
            )
            assert confirmed.id == waiting.id
            assert confirmed.status is PaymentStatus.SUCCEEDED
            assert confirmed.amount_received == AMOUNT
            if isinstance(face.gateway, AsyncGateway):
                await face.gateway.aclose()

        asyncio.run(check())
