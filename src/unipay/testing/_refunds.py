"""Checks of refunds: full, partial, several, and more than is left."""

from __future__ import annotations

import pytest

from unipay.errors import InvalidRequest
from unipay.models import Payment, Refund, RefundStatus
from unipay.provider import Provider
from unipay.testing._expect import ERRORS, OPERATIONS, expect, raises, refused
from unipay.testing._harness import _check, _On, _require
from unipay.testing.faces import Face


class RefundChecks:
    """Refunds, answered final or pending as the capabilities declare."""

    @staticmethod
    def _expect_refunded(on: _On, refund: Refund, payment: Payment, amount: int) -> None:
        expect(
            (refund.payment_id, refund.amount, refund.currency, refund.provider)
            == (payment.id, amount, payment.currency, on.name),
            f"A refund of {amount} {payment.currency} of {payment.id} must say so; got "
            f"payment_id={refund.payment_id}, amount={refund.amount}, "
            f"currency={refund.currency}, provider={refund.provider}.",
            OPERATIONS,
        )
        later = on.caps.settles("refund")
        settled = RefundStatus.PENDING if later else RefundStatus.SUCCEEDED
        expect(
            refund.status is settled,
            f"A refund must be answered {settled.value} (settles_later is "
            f"{'' if later else 'not '}declared); got {refund.status.value}.",
            OPERATIONS,
        )

    async def _expect_refunded_total(self, on: _On, payment: Payment, total: int) -> None:
        if on.caps.settles("refund"):
            return  # the provider counts a refund once it settles, by webhook
        now = await on.current(payment.id)
        expect(
            now.amount_refunded == total,
            f"After refunds of {total} in all, {payment.id} must say amount_refunded={total}; "
            f"got {now.amount_refunded}.",
            OPERATIONS,
        )

    def test_full_refund(self, face: Face, provider: Provider, success_token: str) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            refund = await on.refund(payment.id)
            self._expect_refunded(on, refund, payment, on.amount)
            await self._expect_refunded_total(on, payment, on.amount)

        _check(on, check)

    def test_partial_refunds_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            part = on.amount // 4
            if not on.caps.partial_refunds:
                await refused(
                    on.refund(payment.id, amount=part),
                    "Without capabilities.partial_refunds the gateway must refuse a refund of "
                    "part of a payment.",
                )
                return
            refund = await on.refund(payment.id, amount=part)
            self._expect_refunded(on, refund, payment, part)
            await self._expect_refunded_total(on, payment, part)

        _check(on, check)

    def test_multiple_refunds_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            part = on.amount // 4 if on.caps.partial_refunds else None
            first = await on.refund(payment.id, amount=part)
            if not on.caps.multiple_refunds:
                await refused(
                    on.refund(payment.id, amount=part),
                    "Without capabilities.multiple_refunds the gateway must refuse a second "
                    "refund of a payment.",
                )
                return
            if part is None:
                pytest.fail(
                    "multiple_refunds is declared without partial_refunds (see "
                    "test_declares_a_name_and_consistent_capabilities)."
                )
            second = await on.refund(payment.id, amount=part)
            expect(
                second.id != first.id,
                f"A second refund must be a new refund, not {first.id} again.",
                OPERATIONS,
            )
            self._expect_refunded(on, second, payment, part)
            await self._expect_refunded_total(on, payment, 2 * part)

        _check(on, check)

    def test_refunding_more_than_is_left_is_refused(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "partial_refunds", ": the gateway refuses any amount")

        async def check() -> None:
            payment = await on.create(success_token)
            await raises(
                on.refund(payment.id, amount=on.amount + 1),
                InvalidRequest,
                f"Refunding more than was received ({on.amount + 1} of {on.amount}) must raise "
                "InvalidRequest.",
                ERRORS,
            )

        _check(on, check)
