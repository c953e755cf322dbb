"""The kit's fixtures, and the checks of what a provider declares."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from unipay.gateway import AsyncGateway, Gateway
from unipay.models import WebhookEventType
from unipay.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from unipay.provider import Capabilities, Provider
from unipay.testing._expect import CAPABILITIES, OPERATIONS, TESTING, expect
from unipay.testing._harness import (
    CompleteCheckout,
    FailAfterActing,
    SignedDelivery,
    _implements,
    _lose_answers,
    _require,
)
from unipay.testing.faces import Face

#: Each optional operation and the capability that declares it.
_DECLARED_BY = {
    "confirmation": "confirm_payment",
    "manual_capture": "capture_payment",
    "cancel": "cancel_payment",
    "retrieve": "retrieve_payment",
    "lookup_by_reference": "lookup",
    "webhooks": "verify_webhook",
}


class Fixtures:
    """The fixtures a plugin's suite overrides: the provider, its tokens, its deliveries."""

    @pytest.fixture
    def provider(self) -> Provider:
        """Override: a configured provider instance, fresh for each test."""
        pytest.fail(f"Override the `provider` fixture with a configured provider. See {TESTING}.")

    @pytest.fixture
    def gateway(self, provider: Provider) -> Iterator[Gateway]:
        with Gateway(providers=[provider], load_installed=False) as gateway:
            yield gateway

    @pytest.fixture
    def async_gateway(self, provider: Provider) -> AsyncGateway:
        """Closed by each check itself, inside its event loop."""
        return AsyncGateway(providers=[provider], load_installed=False)

    @pytest.fixture(params=["Gateway", "AsyncGateway"])
    def face(
        self, request: pytest.FixtureRequest, complete_checkout: CompleteCheckout | None
    ) -> Face:
        """Each check that calls the gateway runs on both faces."""
        name = "gateway" if request.param == "Gateway" else "async_gateway"
        face = Face(request.getfixturevalue(name))
        face.complete_checkout = complete_checkout  # type: ignore[attr-defined]
        return face

    @pytest.fixture
    def complete_checkout(self) -> CompleteCheckout | None:
        """Override for a provider whose payments are paid in its client checkout (a
        ``client_checkout`` next action): ``(payment, token) -> action_result``, paying the
        checkout with the test token as a customer would (in your fake), and returning what
        the checkout hands back. The kit then confirms with it wherever it expects a payment
        attempted at once."""
        return None

    @pytest.fixture
    def success_token(self) -> str:
        return "tok_success"

    @pytest.fixture
    def decline_token(self) -> str:
        return "tok_decline"

    @pytest.fixture
    def decline_code(self) -> str:
        return "card_declined"

    @pytest.fixture
    def authentication_token(self) -> str:
        return "tok_authentication"

    @pytest.fixture
    def signed_delivery(self, provider: Provider) -> SignedDelivery:
        _require(provider.capabilities, "webhooks", ": test_webhooks_match_declaration covers it")
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip(
                "the provider does not implement sign_test_delivery(); override the "
                "`signed_delivery` fixture to run the webhook checks"
            )
        return functools.partial(provider.sign_test_delivery, WebhookEventType.PAYMENT_SUCCEEDED)

    @pytest.fixture
    def fail_after_acting(self, provider: Provider) -> FailAfterActing:
        """Loses the answer above the provider; override to lose it in your fake API."""
        return _lose_answers(provider)


class DeclarationChecks:
    """The provider's name and capabilities, and the operations they declare."""

    def test_declares_a_name_and_consistent_capabilities(self, provider: Provider) -> None:
        name, caps = provider.name, provider.capabilities
        expect(
            name
            and name[0].isalpha()
            and name.islower()
            and len(name) <= 40
            and all(c.isalnum() or c in "-_" for c in name),
            f"A provider needs a name of lower-case letters, digits, '-' and '_' (at most 40, "
            f"starting with a letter): it routes unified ids and webhooks. Got {name!r}.",
            OPERATIONS,
        )
        expect(
            isinstance(caps, Capabilities),
            f"`capabilities` must be a unipay.provider.Capabilities, not {type(caps).__name__}.",
            CAPABILITIES,
        )
        expect(
            caps.manual_capture or not caps.partial_capture,
            "partial_capture is declared without manual_capture: only an authorization held "
            "for manual capture can be captured in part.",
            CAPABILITIES,
        )
        expect(
            caps.partial_refunds or not caps.multiple_refunds,
            "multiple_refunds is declared without partial_refunds: after one full refund there "
            "is nothing left to refund.",
            CAPABILITIES,
        )
        expect(
            caps.webhooks or not caps.settles_later,
            "settles_later is declared without webhooks: settlements arrive by webhook.",
            CAPABILITIES,
        )
        unknown = sorted(set(caps.currencies or ()) - CURRENCY_EXPONENTS.keys())
        expect(
            not unknown, f"currencies lists codes unipay does not know: {unknown}.", CAPABILITIES
        )
        declared = caps.minimum_amounts.keys() if caps.currencies is None else caps.currencies
        stray = sorted(caps.minimum_amounts.keys() - declared)
        expect(not stray, f"minimum_amounts names undeclared currencies: {stray}.", CAPABILITIES)
        expect(
            all(1 <= m <= caps.maximum_amount for m in caps.minimum_amounts.values())
            and 1 <= caps.maximum_amount <= MAX_AMOUNT,
            f"Minimums must be at least 1 and at most maximum_amount, itself at most {MAX_AMOUNT}.",
            CAPABILITIES,
        )

    def test_declared_operations_are_implemented(self, provider: Provider) -> None:
        caps = provider.capabilities
        for capability, method in _DECLARED_BY.items():
            declared = getattr(caps, capability) or (
                capability == "confirmation" and bool(caps.next_actions)  # confirm completes them
            )
            expect(
                not declared or _implements(provider, method),
                f"capabilities.{capability} is declared (True is the default for confirmation "
                f"and retrieve) but {type(provider).__name__} does not implement {method}: "
                f"implement it, or declare Capabilities({capability}=False).",
                CAPABILITIES,
            )
