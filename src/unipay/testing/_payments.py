"""Checks of payments: creating, retrieving, confirming, next actions, capturing, canceling."""

from __future__ import annotations

import pytest

from unipay.errors import InvalidPaymentState, PaymentNotFound
from unipay.models import Payment, PaymentStatus
from unipay.provider import Provider
from unipay.testing._expect import (
    CAPABILITIES,
    ERRORS,
    GUARANTEES,
    OPERATIONS,
    expect,
    raises,
    refused,
)
from unipay.testing._harness import RETURN_URL, _check, _On, _pending, _require
from unipay.testing.faces import Face


class PaymentChecks:
    """A payment's life before any refund, as the capabilities declare it."""

    def test_payment_succeeds_when_created(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token, metadata={"order": "42"})
            expect(
                payment.status is PaymentStatus.SUCCEEDED,
                f"create_payment with success_token ({success_token!r}) must return a "
                f"succeeded payment, not {payment.status.value}.",
                OPERATIONS,
            )
            expect(
                (payment.amount, payment.currency, payment.amount_received)
                == (on.amount, on.currency, on.amount),
                f"A succeeded payment of {on.amount} {on.currency} must say so and have received "
                f"it all; got amount={payment.amount}, currency={payment.currency}, "
                f"amount_received={payment.amount_received}.",
                OPERATIONS,
            )
            expect(
                payment.provider == on.name
                and payment.id == f"{on.name}:{payment.provider_payment_id}",
                f"Payments must name their provider ({on.name!r}); got {payment.provider!r}.",
                OPERATIONS,
            )
            expect(
                payment.metadata == {"order": "42"},
                f"A payment must carry the metadata it was created with; got {payment.metadata}.",
                OPERATIONS,
            )
            expect(not payment.replayed, "A new payment is not a replay.", GUARANTEES)
            now = await on.current(payment.id)
            expect(
                (now.id, now.status, now.amount) == (payment.id, payment.status, payment.amount),
                f"Retrieving {payment.id} must give the same payment; got {now.id} "
                f"({now.status.value}, {now.amount}).",
                OPERATIONS,
            )

        _check(on, check)

    def test_unknown_payment_is_not_found(self, face: Face, provider: Provider) -> None:
        on = _On(face, provider)

        async def check() -> None:
            await raises(
                on.refund(on.unknown()),
                PaymentNotFound,
                f"Refunding a payment the provider does not know ({on.unknown()}) must raise "
                "PaymentNotFound.",
                ERRORS,
            )
            if on.caps.retrieve:
                await raises(
                    on("retrieve_payment", on.unknown()),
                    PaymentNotFound,
                    f"Retrieving a payment the provider does not know ({on.unknown()}) must "
                    "raise PaymentNotFound.",
                    ERRORS,
                )

        _check(on, check)

    def test_retrieve_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            if on.caps.retrieve:
                fetched = await on("retrieve_payment", payment.id)
                expect(
                    (fetched.id, fetched.status, fetched.amount_received)
                    == (payment.id, payment.status, payment.amount_received),
                    f"retrieve_payment must return the payment as the provider has it; got "
                    f"{fetched.id} ({fetched.status.value}) for {payment.id}.",
                    OPERATIONS,
                )
                return
            refusal = await refused(
                on("retrieve_payment", payment.id),
                "Without capabilities.retrieve the gateway must refuse retrieve_payment.",
            )
            expect(
                "stored_payment" in refusal.message,
                "The refusal must point to Gateway.stored_payment.",
                CAPABILITIES,
            )
            stored = await on("stored_payment", payment.id)
            expect(
                stored is not None and stored.status is PaymentStatus.SUCCEEDED,
                "Gateway.stored_payment must return the payment as it was created.",
                GUARANTEES,
            )

        _check(on, check)

    def test_confirmation_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            if not on.caps.confirmation:
                await refused(
                    on.create(success_token, confirm=False),
                    "Without capabilities.confirmation the gateway must refuse "
                    "create_payment(confirm=False).",
                )
                if on.caps.next_actions:
                    return  # confirm_payment completes next actions (test_next_action_* checks)
                await refused(
                    on("confirm_payment", on.unknown()),
                    "Without capabilities.confirmation or next_actions the gateway must refuse "
                    "confirm_payment.",
                )
                return
            created = await on.create(success_token, confirm=False)
            waiting = {PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.REQUIRES_PAYMENT_METHOD}
            expect(
                created.status in waiting and created.amount_received == 0,
                "create_payment(confirm=False) must leave the payment unattempted "
                f"(requires_confirmation or requires_payment_method); got "
                f"{created.status.value}, amount_received={created.amount_received}.",
                OPERATIONS,
            )
            method = (
                success_token if created.status is PaymentStatus.REQUIRES_PAYMENT_METHOD else None
            )
            confirmed = await on("confirm_payment", created.id, payment_method=method)
            expect(
                confirmed.status is PaymentStatus.SUCCEEDED
                and confirmed.amount_received == on.amount,
                f"confirm_payment must attempt the payment: with success_token it succeeds; "
                f"got {confirmed.status.value}, amount_received={confirmed.amount_received}.",
                OPERATIONS,
            )

        _check(on, check)

    def test_next_actions_match_declaration(
        self, face: Face, provider: Provider, authentication_token: str
    ) -> None:
        on = _On(face, provider)
        if not on.caps.next_actions:
            pytest.skip("capabilities.next_actions is empty: payments never wait on the customer")

        async def check() -> None:
            payment = await on.create(
                authentication_token, return_url=RETURN_URL, pay_checkout=False
            )
            kinds = ", ".join(sorted(on.caps.next_actions))
            expect(
                payment.status is PaymentStatus.REQUIRES_ACTION
                and payment.next_action is not None
                and payment.amount_received == 0,
                f"With next_actions ({kinds}) declared, authentication_token "
                f"({authentication_token!r}) must give a requires_action payment with its "
                f"next_action and nothing received; got {payment.status.value}, "
                f"next_action={payment.next_action}.",
                OPERATIONS,
            )

        _check(on, check)

    def test_manual_capture_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            if not on.caps.manual_capture:
                await refused(
                    on.create(success_token, capture_method="manual"),
                    "Without capabilities.manual_capture the gateway must refuse "
                    "capture_method='manual'.",
                )
                await refused(
                    on("capture_payment", on.unknown()),
                    "Without capabilities.manual_capture the gateway must refuse capture_payment.",
                )
                return
            held = await on.create(success_token, capture_method="manual")
            expect(
                held.status is PaymentStatus.REQUIRES_CAPTURE
                and (held.amount_capturable, held.amount_received) == (on.amount, 0),
                f"capture_method='manual' must hold the whole amount ({on.amount}) for capture; "
                f"got {held.status.value}, amount_capturable={held.amount_capturable}, "
                f"amount_received={held.amount_received}.",
                OPERATIONS,
            )
            captured = await on("capture_payment", held.id)
            self._expect_captured(on, captured, on.amount)

        _check(on, check)

    @staticmethod
    def _expect_captured(on: _On, captured: Payment, amount: int) -> None:
        if on.caps.settles("capture"):
            expect(
                _pending(captured, "capture") in ([amount], [None])
                and captured.status is PaymentStatus.REQUIRES_CAPTURE,
                f"With settles_later, a capture of {amount} must be answered pending: the "
                "payment still requires_capture and lists the capture in `pending`; got "
                f"{captured.status.value}, pending={list(captured.pending)}.",
                OPERATIONS,
            )
            return
        expect(
            captured.status is PaymentStatus.SUCCEEDED
            and (captured.amount_capturable, captured.amount_received) == (0, amount)
            and not captured.pending,
            f"A capture of {amount} must succeed at once (captures do not settle later) and "
            f"release the rest; got {captured.status.value}, amount_received="
            f"{captured.amount_received}, amount_capturable={captured.amount_capturable}, "
            f"pending={list(captured.pending)}.",
            OPERATIONS,
        )

    def test_partial_capture_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "manual_capture", ": there is nothing to capture in part")

        async def check() -> None:
            held = await on.create(success_token, capture_method="manual")
            part = on.amount // 2
            if not on.caps.partial_capture:
                await refused(
                    on("capture_payment", held.id, amount=part),
                    "Without capabilities.partial_capture the gateway must refuse a capture "
                    "of part of an authorization.",
                )
                return
            captured = await on("capture_payment", held.id, amount=part)
            self._expect_captured(on, captured, part)

        _check(on, check)

    def test_capturing_a_succeeded_payment_is_a_state_error(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "manual_capture", ": nothing is ever captured")

        async def check() -> None:
            payment = await on.create(success_token)
            await raises(
                on("capture_payment", payment.id),
                InvalidPaymentState,
                "Capturing a payment that already succeeded must raise InvalidPaymentState.",
                ERRORS,
            )

        _check(on, check)

    def test_cancel_matches_declaration(
        self, face: Face, provider: Provider, success_token: str, authentication_token: str
    ) -> None:
        on = _On(face, provider)
        caps = on.caps
        if caps.cancel and not (caps.manual_capture or caps.confirmation or caps.next_actions):
            pytest.skip(
                "nothing can wait to be canceled: manual_capture, confirmation and next_actions "
                "are all undeclared"
            )

        async def check() -> None:
            if not caps.cancel:
                await refused(
                    on("cancel_payment", on.unknown()),
                    "Without capabilities.cancel the gateway must refuse cancel_payment.",
                )
                return
            if caps.manual_capture:
                target = await on.create(success_token, capture_method="manual")
            elif caps.confirmation:
                target = await on.create(success_token, confirm=False)
            else:
                target = await on.create(
                    authentication_token, return_url=RETURN_URL, pay_checkout=False
                )
            canceled = await on("cancel_payment", target.id, reason="requested_by_customer")
            if caps.settles("cancel") and target.status is PaymentStatus.REQUIRES_CAPTURE:
                expect(
                    _pending(canceled, "cancel") and canceled.status is target.status,
                    "With settles_later, canceling an authorization must be answered pending: "
                    f"the cancel listed in `pending`; got {canceled.status.value}, "
                    f"pending={list(canceled.pending)}.",
                    OPERATIONS,
                )
                return
            expect(
                canceled.status is PaymentStatus.CANCELED and canceled.amount_capturable == 0,
                f"cancel_payment of a {target.status.value} payment must cancel it and release "
                f"what was held; got {canceled.status.value}, amount_capturable="
                f"{canceled.amount_capturable}.",
                OPERATIONS,
            )
            now = await on.current(target.id)
            expect(
                now.status is PaymentStatus.CANCELED,
                f"A canceled payment must stay canceled; got {now.status.value}.",
                OPERATIONS,
            )

        _check(on, check)
