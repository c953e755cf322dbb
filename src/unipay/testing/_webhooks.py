"""Checks of webhooks: settlements arriving later, signed, tampered and unsigned deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from unipay.errors import InvalidRequest, WebhookVerificationError
from unipay.gateway import Gateway
from unipay.models import Payment, PaymentStatus, WebhookEventType
from unipay.provider import Provider
from unipay.testing._expect import CAPABILITIES, WEBHOOKS, expect, expect_raises
from unipay.testing._harness import (
    CompleteCheckout,
    SignedDelivery,
    _check,
    _deliver,
    _implements,
    _On,
    _one_event,
    _require,
)
from unipay.testing.faces import Face


def _paid(
    gateway: Gateway, provider: Provider, token: str, checkout: CompleteCheckout | None
) -> tuple[_On, Payment]:
    """A payment paid with ``token`` through ``gateway``, for the checks of deliveries about it."""
    on = _On(Face(gateway), provider, checkout)
    return on, asyncio.run(on.create(token))


def _refuses(provider: Provider, body: bytes, headers: Mapping[str, str], must: str) -> None:
    """``verify_webhook`` must refuse this delivery with `WebhookVerificationError`."""
    __tracebackhide__ = True
    with expect_raises(WebhookVerificationError, must, WEBHOOKS):
        provider.verify_webhook(body, headers)


class SettlementChecks:
    """A settlement's delivery moves the stored payment forward."""

    def test_settlement_delivery_moves_the_record_forward(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        if not on.caps.settles("capture"):
            pytest.skip("captures do not settle later (capabilities.settles_later)")
        _require(on.caps, "manual_capture", ": this check settles a capture")
        _require(on.caps, "webhooks")
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip("the provider does not implement sign_test_delivery()")

        async def check() -> None:
            held = await on.create(success_token, capture_method="manual")
            captured = await on("capture_payment", held.id)
            settled = captured.model_copy(
                update={
                    "status": PaymentStatus.SUCCEEDED,
                    "amount_capturable": 0,
                    "amount_received": on.amount,
                    "pending": (),
                }
            )
            body, headers = provider.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, settled)
            status = await _deliver(face.gateway, on.name, body, headers)
            expect(
                status == 200,
                f"A signed payment.succeeded delivery must be accepted; the app answered {status}.",
                WEBHOOKS,
            )
            stored = await on.current_stored(held.id)
            expect(
                stored.status is PaymentStatus.SUCCEEDED
                and stored.amount_received == on.amount
                and not stored.pending,
                "The settlement's delivery must move the stored payment forward: succeeded, "
                f"{on.amount} received, nothing pending; got {stored.status.value}, "
                f"amount_received={stored.amount_received}, pending={list(stored.pending)}.",
                WEBHOOKS,
            )

        _check(on, check)


class WebhookChecks:
    """Deliveries are verified and unified, or refused."""

    def test_webhooks_match_declaration(self, gateway: Gateway, provider: Provider) -> None:
        if provider.capabilities.webhooks:
            _refuses(
                provider,
                b"{}",
                {"content-type": "application/json"},
                "With capabilities.webhooks, verify_webhook must refuse an unsigned delivery "
                "with WebhookVerificationError.",
            )
            return
        status = asyncio.run(_deliver(gateway, provider.name, b"{}", {}))
        expect(
            status == 404,
            f"Without capabilities.webhooks the webhook app must answer 404; it answered {status}.",
            CAPABILITIES,
        )

    def test_signed_delivery_is_verified_and_unified(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        on, payment = _paid(gateway, provider, success_token, complete_checkout)
        body, headers = signed_delivery(payment)
        event = _one_event(provider.verify_webhook(body, headers))
        expect(
            event.provider == on.name and event.type is WebhookEventType.PAYMENT_SUCCEEDED,
            f"A payment.succeeded delivery must give a {on.name!r} event of type "
            f"payment.succeeded; got {event.provider!r}, {event.type.value}.",
            WEBHOOKS,
        )
        expect(
            event.id,
            "An event needs the provider's event id (deliveries are deduplicated by it).",
            WEBHOOKS,
        )
        expect(
            event.payment is not None and event.payment.id == payment.id,
            f"The event must carry the payment it is about ({payment.id}).",
            WEBHOOKS,
        )
        expect(event.data, "The provider's own payload must be kept in `data`.", WEBHOOKS)

    def test_tampered_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        on, payment = _paid(gateway, provider, success_token, complete_checkout)
        body, headers = signed_delivery(payment)
        tampered = body.replace(str(on.amount).encode(), str(on.amount * 100).encode(), 1)
        expect(tampered != body, "The delivery's body should mention the amount.", WEBHOOKS)
        _refuses(
            provider,
            tampered,
            headers,
            "A delivery whose body was changed after signing must raise WebhookVerificationError.",
        )

    def test_unsigned_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        _, payment = _paid(gateway, provider, success_token, complete_checkout)
        body, _ = signed_delivery(payment)
        _refuses(
            provider,
            body,
            {"content-type": "application/json"},
            "A delivery without its signature headers must raise WebhookVerificationError.",
        )

    def test_test_deliveries_round_trip_for_every_payment_event(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        """What ``unipay webhooks sign`` prints must be accepted by the provider's own check."""
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip("the provider does not implement sign_test_delivery()")
        _, payment = _paid(gateway, provider, success_token, complete_checkout)
        signed = 0
        for event_type in WebhookEventType:
            if not event_type.value.startswith("payment."):
                continue
            try:
                body, headers = provider.sign_test_delivery(event_type, payment)
            except InvalidRequest:
                continue  # an event type this provider never sends
            event = _one_event(provider.verify_webhook(body, headers))
            expect(
                event.type is event_type
                and event.payment is not None
                and event.payment.id == payment.id,
                f"sign_test_delivery({event_type.value}) must give a delivery that "
                f"verify_webhook reads back as {event_type.value} about {payment.id}; got "
                f"{event.type.value} about {event.payment.id if event.payment else 'no payment'}.",
                WEBHOOKS,
            )
            signed += 1
        expect(signed, "sign_test_delivery must sign at least payment.succeeded.", WEBHOOKS)
