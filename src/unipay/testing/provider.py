"""``ProviderConformance``: the behaviour every unipay provider owes its users, as pytest tests.

Subclass it in your plugin's tests and override the ``provider`` fixture; the rest is optional::

    from unipay.testing import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        @pytest.fixture
        def provider(self):
            return AcmeProvider(api_key="ak_test_...")  # pointed at a fake or sandbox API

Fixtures you may override:

* ``provider``: a configured provider instance (required). A fresh one per test keeps tests apart.
* ``gateway`` / ``async_gateway``: the two faces over ``provider``, in-memory store.
* ``success_token``, ``decline_token`` + ``decline_code``, ``authentication_token``: test payment
  methods; the defaults are Stripe's (``pm_card_visa``, ...).
* ``signed_delivery``: ``payment -> (body, headers)``, a signed "payment succeeded" delivery. The
  default uses [`Provider.sign_test_delivery`][unipay.provider.Provider.sign_test_delivery] when the
  provider implements it; otherwise the webhook checks are skipped, saying so.

Every check that depends on a declared capability is skipped, with the reason, when the
capability is not declared, and a declared capability is held to its word. Async checks run
through ``AsyncGateway`` with ``asyncio.run``, so no async pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    UnsupportedOperation,
    WebhookVerificationError,
)
from unipay.gateway import AsyncGateway, Gateway
from unipay.models import Payment, PaymentStatus, RefundStatus, WebhookEventType
from unipay.provider import Capabilities, Provider
from unipay.storage import MemoryStore

#: ``signed_delivery(payment)`` -> ``(body, headers)``: a correctly signed delivery of the
#: provider's own "payment succeeded" event for ``payment``.
SignedDelivery = Callable[[Payment], tuple[bytes, dict[str, str]]]

T = TypeVar("T")

AMOUNT = 2000
CURRENCY = "USD"
_SETTLED = {RefundStatus.SUCCEEDED, RefundStatus.PENDING}


def _implements_test_deliveries(provider: Provider) -> bool:
    return type(provider).sign_test_delivery is not Provider.sign_test_delivery


def _run(awaitable: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await awaitable()

    return asyncio.run(main())


class ProviderConformance:
    """Lifecycle, declines, idempotency, webhooks and capabilities, sync and async."""

    # --- fixtures to override ------------------------------------------------------------------

    @pytest.fixture
    def provider(self) -> Provider:
        """Override: a configured provider instance, fresh for each test."""
        pytest.fail("override the `provider` fixture with a configured provider instance")

    @pytest.fixture
    def gateway(self, provider: Provider) -> Iterator[Gateway]:
        with Gateway(providers=[provider], load_installed=False) as gateway:
            yield gateway

    @pytest.fixture
    def async_gateway(self, provider: Provider) -> AsyncGateway:
        """Closed by the async checks themselves, inside their event loop."""
        return AsyncGateway(providers=[provider], load_installed=False)

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
    def signed_delivery(self, provider: Provider) -> SignedDelivery:
        if not _implements_test_deliveries(provider):
            pytest.skip(
                "the provider does not implement sign_test_delivery(); override the "
                "`signed_delivery` fixture to run the webhook checks"
            )
        return functools.partial(provider.sign_test_delivery, WebhookEventType.PAYMENT_SUCCEEDED)

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _caps(gateway: Gateway | AsyncGateway, provider: Provider) -> Capabilities:
        return gateway.providers.get(provider.name).capabilities

    @staticmethod
    def _require(caps: Capabilities, feature: str) -> None:
        if not getattr(caps, feature):
            pytest.skip(f"the provider does not declare capabilities.{feature}")

    @staticmethod
    def _create(gateway: Gateway, provider: Provider, token: str, **kw: Any) -> Payment:
        return gateway.create_payment(
            provider=provider.name, amount=AMOUNT, currency=CURRENCY, payment_method=token, **kw
        )

    # --- declarations --------------------------------------------------------------------------

    def test_provider_is_named_and_declares_capabilities(self, provider: Provider) -> None:
        assert provider.name, "a provider needs a name to route unified ids"
        assert isinstance(provider.capabilities, Capabilities)
        assert repr(provider)

    # --- the lifecycle, sync -------------------------------------------------------------------

    def test_automatic_capture_succeeds_and_retrieves(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        payment = self._create(gateway, provider, success_token, metadata={"order": "42"})
        assert payment.status is PaymentStatus.SUCCEEDED
        assert (payment.amount, payment.currency) == (AMOUNT, CURRENCY)
        assert payment.amount_received == AMOUNT
        assert payment.provider == provider.name
        assert payment.id == f"{provider.name}:{payment.provider_payment_id}"
        assert payment.metadata == {"order": "42"}
        assert not payment.replayed
        fetched = gateway.retrieve_payment(payment.id)
        assert (fetched.id, fetched.status, fetched.amount) == (payment.id, payment.status, AMOUNT)

    def test_create_unconfirmed_then_confirm(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        created = self._create(gateway, provider, success_token, confirm=False)
        assert created.status in {
            PaymentStatus.REQUIRES_CONFIRMATION,
            PaymentStatus.REQUIRES_PAYMENT_METHOD,
        }
        assert created.amount_received == 0
        confirmed = gateway.confirm_payment(created.id)
        assert confirmed.status is PaymentStatus.SUCCEEDED
        assert confirmed.amount_received == AMOUNT

    def test_manual_capture_in_full(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        self._require(self._caps(gateway, provider), "manual_capture")
        held = self._create(gateway, provider, success_token, capture_method="manual")
        assert held.status is PaymentStatus.REQUIRES_CAPTURE
        assert (held.amount_capturable, held.amount_received) == (AMOUNT, 0)
        captured = gateway.capture_payment(held.id)
        assert captured.status is PaymentStatus.SUCCEEDED
        assert (captured.amount_capturable, captured.amount_received) == (0, AMOUNT)

    def test_partial_capture_matches_declaration(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        caps = self._caps(gateway, provider)
        self._require(caps, "manual_capture")
        held = self._create(gateway, provider, success_token, capture_method="manual")
        if not caps.partial_capture:
            with pytest.raises(UnsupportedOperation):
                gateway.capture_payment(held.id, amount=AMOUNT // 2)
            return
        captured = gateway.capture_payment(held.id, amount=AMOUNT // 2)
        assert captured.status is PaymentStatus.SUCCEEDED
        assert captured.amount_received == AMOUNT // 2

    def test_capturing_a_succeeded_payment_is_a_state_error(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        self._require(self._caps(gateway, provider), "manual_capture")
        payment = self._create(gateway, provider, success_token)
        with pytest.raises(InvalidPaymentState):
            gateway.capture_payment(payment.id)

    def test_cancel_releases_an_authorization(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        caps = self._caps(gateway, provider)
        self._require(caps, "cancel")
        manual = "manual" if caps.manual_capture else "automatic"
        held = self._create(
            gateway, provider, success_token, capture_method=manual, confirm=caps.manual_capture
        )
        canceled = gateway.cancel_payment(held.id, reason="requested_by_customer")
        assert canceled.status is PaymentStatus.CANCELED
        assert canceled.amount_capturable == 0
        assert gateway.retrieve_payment(held.id).status is PaymentStatus.CANCELED

    def test_cancel_matches_declaration(self, gateway: Gateway, provider: Provider) -> None:
        if self._caps(gateway, provider).cancel:
            pytest.skip("cancel is declared; test_cancel_releases_an_authorization covers it")
        with pytest.raises(UnsupportedOperation):
            gateway.cancel_payment(f"{provider.name}:unknown")

    def test_full_refund(self, gateway: Gateway, provider: Provider, success_token: str) -> None:
        payment = self._create(gateway, provider, success_token)
        refund = gateway.refund_payment(payment.id)
        assert refund.payment_id == payment.id
        assert (refund.amount, refund.currency) == (AMOUNT, CURRENCY)
        assert refund.status in _SETTLED
        assert refund.provider == provider.name
        assert gateway.retrieve_payment(payment.id).amount_refunded == AMOUNT

    def test_partial_and_multiple_refunds_match_declaration(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        caps = self._caps(gateway, provider)
        payment = self._create(gateway, provider, success_token)
        if not caps.partial_refunds:
            with pytest.raises(UnsupportedOperation):
                gateway.refund_payment(payment.id, amount=AMOUNT // 4)
            return
        first = gateway.refund_payment(payment.id, amount=AMOUNT // 4)
        assert first.amount == AMOUNT // 4
        if not caps.multiple_refunds:
            with pytest.raises(UnsupportedOperation):
                gateway.refund_payment(payment.id, amount=AMOUNT // 4)
            return
        second = gateway.refund_payment(payment.id, amount=AMOUNT // 4)
        assert second.id != first.id
        assert gateway.retrieve_payment(payment.id).amount_refunded == AMOUNT // 2

    def test_refunding_more_than_is_left_is_refused(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        self._require(self._caps(gateway, provider), "partial_refunds")
        payment = self._create(gateway, provider, success_token)
        with pytest.raises(InvalidRequest):
            gateway.refund_payment(payment.id, amount=AMOUNT + 1)

    def test_decline_raises_with_code_and_payment(
        self, gateway: Gateway, provider: Provider, decline_token: str, decline_code: str
    ) -> None:
        with pytest.raises(PaymentDeclined) as caught:
            self._create(gateway, provider, decline_token)
        declined = caught.value
        assert declined.decline_code == decline_code
        assert declined.payment is not None
        assert declined.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert declined.payment.provider == provider.name
        assert declined.payment.amount_received == 0

    def test_authentication_required_gives_next_action(
        self, gateway: Gateway, provider: Provider, authentication_token: str
    ) -> None:
        payment = self._create(
            gateway, provider, authentication_token, return_url="https://shop.example/return"
        )
        assert payment.status is PaymentStatus.REQUIRES_ACTION
        assert payment.next_action is not None
        assert payment.amount_received == 0

    def test_unknown_payment_is_not_found(self, gateway: Gateway, provider: Provider) -> None:
        with pytest.raises(PaymentNotFound):
            gateway.retrieve_payment(f"{provider.name}:pi_doesnotexist000")

    # --- idempotency ---------------------------------------------------------------------------

    def test_same_key_replays_the_same_payment(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        key = str(uuid.uuid4())
        first = self._create(gateway, provider, success_token, idempotency_key=key)
        again = self._create(gateway, provider, success_token, idempotency_key=key)
        assert again.id == first.id
        assert again.replayed

    def test_provider_honours_the_key_without_the_gateway_store(
        self, provider: Provider, success_token: str
    ) -> None:
        """Two gateways with separate stores (a crash lost the first store's record): the same
        key reaches the provider twice and must not charge twice."""
        key = str(uuid.uuid4())
        payments = []
        for _ in range(2):
            gateway = Gateway(providers=[provider], store=MemoryStore(), load_installed=False)
            payments.append(self._create(gateway, provider, success_token, idempotency_key=key))
        assert payments[0].provider_payment_id == payments[1].provider_payment_id
        assert payments[1].status is PaymentStatus.SUCCEEDED

    # --- the async face ------------------------------------------------------------------------

    def test_async_lifecycle(
        self, async_gateway: AsyncGateway, provider: Provider, success_token: str
    ) -> None:
        caps = self._caps(async_gateway, provider)

        async def lifecycle() -> None:
            gw = async_gateway
            try:
                manual = caps.manual_capture
                payment = await gw.create_payment(
                    provider=provider.name,
                    amount=AMOUNT,
                    currency=CURRENCY,
                    payment_method=success_token,
                    capture_method="manual" if manual else "automatic",
                )
                if manual:
                    assert payment.status is PaymentStatus.REQUIRES_CAPTURE
                    amount = AMOUNT // 2 if caps.partial_capture else None
                    payment = await gw.capture_payment(payment.id, amount=amount)
                assert payment.status is PaymentStatus.SUCCEEDED
                refund = await gw.refund_payment(payment.id)
                assert refund.amount == payment.amount_received
                fetched = await gw.retrieve_payment(payment.id)
                assert fetched.amount_refunded == payment.amount_received
            finally:
                await gw.aclose()

        _run(lifecycle)

    def test_async_decline_and_idempotency(
        self,
        async_gateway: AsyncGateway,
        provider: Provider,
        success_token: str,
        decline_token: str,
        decline_code: str,
    ) -> None:
        async def checks() -> None:
            gw = async_gateway
            try:
                with pytest.raises(PaymentDeclined) as caught:
                    await gw.create_payment(
                        provider=provider.name,
                        amount=AMOUNT,
                        currency=CURRENCY,
                        payment_method=decline_token,
                    )
                assert caught.value.decline_code == decline_code
                key = str(uuid.uuid4())
                ids = set()
                for _ in range(2):
                    payment = await gw.create_payment(
                        provider=provider.name,
                        amount=AMOUNT,
                        currency=CURRENCY,
                        payment_method=success_token,
                        idempotency_key=key,
                    )
                    ids.add(payment.id)
                assert len(ids) == 1
            finally:
                await gw.aclose()

        _run(checks)

    # --- webhooks ------------------------------------------------------------------------------

    def test_webhooks_match_declaration(self, provider: Provider) -> None:
        if provider.capabilities.webhooks:
            pytest.skip("webhooks are declared; the signed_delivery checks cover them")
        with pytest.raises(UnsupportedOperation):
            provider.verify_webhook(b"{}", {})

    def test_signed_delivery_is_verified_and_unified(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
    ) -> None:
        payment = self._create(gateway, provider, success_token)
        body, headers = signed_delivery(payment)
        event = provider.verify_webhook(body, headers)
        assert event.provider == provider.name
        assert event.type is WebhookEventType.PAYMENT_SUCCEEDED
        assert event.id
        assert event.payment is not None
        assert event.payment.id == payment.id
        assert event.data, "the provider's own payload is kept in `data`"

    def test_tampered_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
    ) -> None:
        payment = self._create(gateway, provider, success_token)
        body, headers = signed_delivery(payment)
        tampered = body.replace(str(AMOUNT).encode(), str(AMOUNT * 100).encode(), 1)
        assert tampered != body, "the delivery should mention the amount"
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(tampered, headers)

    def test_unsigned_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
    ) -> None:
        payment = self._create(gateway, provider, success_token)
        body, _ = signed_delivery(payment)
        with pytest.raises(WebhookVerificationError):
            provider.verify_webhook(body, {"content-type": "application/json"})

    def test_test_deliveries_round_trip_for_every_payment_event(
        self, gateway: Gateway, provider: Provider, success_token: str
    ) -> None:
        """What ``unipay webhooks sign`` prints must be accepted by the provider's own check."""
        if not _implements_test_deliveries(provider):
            pytest.skip("the provider does not implement sign_test_delivery()")
        payment = self._create(gateway, provider, success_token)
        signed = 0
        for event_type in WebhookEventType:
            if not event_type.value.startswith("payment."):
                continue
            try:
                body, headers = provider.sign_test_delivery(event_type, payment)
            except InvalidRequest:
                continue  # an event type this provider never sends
            event = provider.verify_webhook(body, headers)
            assert event.type is event_type
            assert event.payment is not None
            assert event.payment.id == payment.id
            signed += 1
        assert signed, "sign_test_delivery should sign at least payment.succeeded"
