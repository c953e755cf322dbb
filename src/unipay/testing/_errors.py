"""Checks of what fails and what must not happen twice: declines, amounts, idempotency
keys, at-most-once calls in doubt, lookup by reference."""

from __future__ import annotations

import uuid

import pytest

from unipay.errors import InvalidRequest, OutcomeUnknown, PaymentDeclined
from unipay.models import Payment, PaymentStatus, Refund
from unipay.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from unipay.provider import CallContext, Provider
from unipay.storage import MemoryStore
from unipay.testing._expect import (
    CAPABILITIES,
    ERRORS,
    GUARANTEES,
    OPERATIONS,
    expect,
    expect_no_error,
    raises,
    refused,
)
from unipay.testing._harness import FailAfterActing, _Calls, _check, _On, _require
from unipay.testing.faces import Face


class ErrorChecks:
    """Declines and the declared amounts and currencies."""

    def test_decline_matches_declaration(
        self, face: Face, provider: Provider, decline_token: str, decline_code: str
    ) -> None:
        on = _On(face, provider)
        if getattr(face, "complete_checkout", None) is not None:
            pytest.skip(
                "payments are paid in the provider's client checkout: a decline happens there, "
                "before the server hears of it (the provider's own tests cover its checkout)"
            )

        async def check() -> None:
            declined = await raises(
                on.create(decline_token),
                PaymentDeclined,
                f"decline_token ({decline_token!r}) must raise PaymentDeclined.",
                ERRORS,
            )
            expect(
                declined.decline_code == decline_code,
                f"PaymentDeclined.decline_code must be the provider's reason, {decline_code!r} "
                f"for decline_token; got {declined.decline_code!r}.",
                ERRORS,
            )
            payment = declined.payment
            expect(
                payment is not None or not on.caps.declines_include_payment,
                "capabilities.declines_include_payment is declared: PaymentDeclined.payment "
                "must be the declined payment.",
                ERRORS,
            )
            if payment is None:
                return
            expect(
                payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
                and payment.provider == on.name
                and payment.amount_received == 0,
                "The payment a decline carries must be the declined one: "
                "requires_payment_method, nothing received; got "
                f"{payment.status.value}, amount_received={payment.amount_received}.",
                ERRORS,
            )

        _check(on, check)

    def test_amounts_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        caps = on.caps

        async def check() -> None:
            for currency in sorted(caps.currencies or {on.currency}):
                least = caps.minimum_amounts.get(currency, 1)
                payment = await on.create(success_token, amount=least, currency=currency)
                expect(
                    payment.status is PaymentStatus.SUCCEEDED and payment.currency == currency,
                    f"The provider must accept what it declares: {least} {currency} (its "
                    f"minimum) gave {payment.status.value} in {payment.currency}.",
                    CAPABILITIES,
                )
                if least > 1:
                    await raises(
                        on.create(success_token, amount=least - 1, currency=currency),
                        InvalidRequest,
                        f"The gateway must refuse {least - 1} {currency}, below the minimum.",
                        CAPABILITIES,
                    )
            if caps.maximum_amount < MAX_AMOUNT:
                await raises(
                    on.create(success_token, amount=caps.maximum_amount + 1),
                    InvalidRequest,
                    "The gateway must refuse more than maximum_amount.",
                    CAPABILITIES,
                )
            if caps.currencies is not None:
                other = min(CURRENCY_EXPONENTS.keys() - caps.currencies)
                await refused(
                    on.create(success_token, currency=other),
                    f"The gateway must refuse {other}, a currency not in capabilities.currencies.",
                )

        _check(on, check)


class IdempotencyChecks:
    """Keys replay, a provider deduplicates, a call in doubt is never sent twice."""

    def test_same_key_replays_the_same_payment(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            key = str(uuid.uuid4())
            first = await on.create(success_token, idempotency_key=key)
            again = await on.create(success_token, idempotency_key=key)
            expect(
                again.id == first.id and again.replayed,
                f"The same idempotency key must replay the same payment ({first.id}, "
                f"replayed=True); got {again.id}, replayed={again.replayed}.",
                GUARANTEES,
            )

        _check(on, check)

    def test_provider_deduplicates_by_key(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        """Two gateways with separate stores (a crash lost the first store's record): the same
        key reaches the provider twice and must not charge twice."""
        on = _On(face, provider)
        _require(
            on.caps,
            "idempotency_keys",
            ": the gateway never re-sends a call in doubt "
            "(test_a_call_in_doubt_is_never_sent_twice checks it)",
        )

        async def check() -> None:
            key = str(uuid.uuid4())
            payments = []
            for _ in range(2):
                # Not closed: that would close the provider the check's own gateway shares.
                fresh = type(face.gateway)(
                    providers=[provider], store=MemoryStore(), load_installed=False
                )
                other = _On(Face(fresh), provider, on.checkout)
                payments.append(await other.create(success_token, idempotency_key=key))
            first, second = payments
            expect(
                first.provider_payment_id == second.provider_payment_id
                and second.status is PaymentStatus.SUCCEEDED,
                "capabilities.idempotency_keys is declared: the provider must answer a repeated "
                f"idempotency key with the same payment ({first.provider_payment_id}), not a "
                f"new charge ({second.provider_payment_id}). Send CallContext.idempotency_key "
                "as the provider's own key.",
                GUARANTEES,
            )  # fmt: skip

        _check(on, check)

    def test_a_call_in_doubt_is_never_sent_twice(
        self,
        face: Face,
        provider: Provider,
        success_token: str,
        fail_after_acting: FailAfterActing,
    ) -> None:
        on = _On(face, provider)
        if on.caps.idempotency_keys:
            pytest.skip(
                "capabilities.idempotency_keys is declared: a call in doubt is retried with the "
                "same key (test_provider_deduplicates_by_key checks the provider's part)"
            )

        async def check() -> None:
            fail_after_acting("create_payment")
            calls = _Calls.of(provider, "create_payment")
            key = str(uuid.uuid4())
            if on.caps.lookup_by_reference:
                with expect_no_error(
                    "With lookup_by_reference, a payment whose answer was lost must be found by "
                    "its reference. A provider reports a lost answer as "
                    "ProviderUnavailable(request_sent=True) (HttpClient does), never as a "
                    "settled error.",
                    GUARANTEES,
                ):
                    payment = await on.create(success_token, idempotency_key=key)
                expect(
                    payment.status is PaymentStatus.SUCCEEDED,
                    "With lookup_by_reference, a payment whose answer was lost must be found "
                    f"by its reference; got {payment.status.value}.",
                    GUARANTEES,
                )
                again = await on.create(success_token, idempotency_key=key)
                expect(
                    again.id == payment.id,
                    f"The key must then replay {payment.id}; got {again.id}.",
                    GUARANTEES,
                )
            else:
                for attempt in ("the call", "the same key again"):
                    await raises(
                        on.create(success_token, idempotency_key=key),
                        OutcomeUnknown,
                        f"Without idempotency keys or lookup, {attempt} after a lost answer "
                        "must raise OutcomeUnknown. A provider reports a lost answer as "
                        "ProviderUnavailable(request_sent=True).",
                        GUARANTEES,
                    )
            found_nothing = (
                " lookup found nothing, so the gateway took the call for never made: lookup must "
                "find what a call with ctx.reference did."
                if on.caps.lookup_by_reference
                else ""
            )
            expect(
                len(calls.contexts) == 1,
                "Without idempotency keys a call in doubt must never reach the provider again; "
                f"create_payment was called {len(calls.contexts)} times.{found_nothing}",
                GUARANTEES,
            )

        _check(on, check)

    def test_lookup_finds_a_call_by_its_reference(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "lookup_by_reference")

        async def check() -> None:
            created = _Calls.of(provider, "create_payment")
            refunded = _Calls.of(provider, "refund_payment")
            payment = await on.create(success_token)
            refund = await on.refund(payment.id)
            create_ctx, refund_ctx = created.contexts[-1], refunded.contexts[-1]
            expect(
                create_ctx is not None and refund_ctx is not None,
                "The gateway must pass a CallContext to every provider operation.",
                OPERATIONS,
            )
            assert create_ctx is not None  # for mypy: checked above
            assert refund_ctx is not None
            found = await on.ask("lookup", "create_payment", None, create_ctx)
            expect(
                isinstance(found, Payment)
                and found.provider_payment_id == payment.provider_payment_id,
                f"lookup('create_payment', None, ctx) must find the payment created with "
                f"ctx.reference ({create_ctx.reference}): {payment.id}; got {found!r}. Send "
                "ctx.reference as the provider's own reference field.",
                GUARANTEES,
            )
            found = await on.ask(
                "lookup", "refund_payment", payment.provider_payment_id, refund_ctx
            )
            expect(
                isinstance(found, Refund) and found.provider_refund_id == refund.provider_refund_id,
                f"lookup('refund_payment', payment, ctx) must find the refund made with "
                f"ctx.reference ({refund_ctx.reference}): {refund.id}; got {found!r}.",
                GUARANTEES,
            )
            never = CallContext(uuid.uuid4().hex, 1, "unipay-" + uuid.uuid4().hex)
            nothing = await on.ask("lookup", "create_payment", None, never)
            expect(
                nothing is None,
                "lookup must return None for a reference the provider never saw (the gateway "
                f"then knows a new call is safe); got {nothing!r}.",
                GUARANTEES,
            )

        _check(on, check)
