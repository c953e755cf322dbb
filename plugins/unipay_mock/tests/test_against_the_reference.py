"""The mock's state rules against `unipay.testing.processor.ReferenceProcessor`.

The mock keeps its own engine (its books must live in SQLite, shared by processes and kept across
restarts; the processor is in memory), so the processor is its oracle instead: any sequence of
operations leaves both with the same statuses and amounts, and both refuse the same calls.
Known differences, on purpose (the mock speaks Stripe): confirming a ``requires_action`` payment
completes it on the mock (skipped here), and a failed authentication or a refund of a fully
refunded payment are reported with Stripe's codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from unipay._flow import run
from unipay.errors import (
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
)
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    RefundPaymentRequest,
)
from unipay.provider import CallContext
from unipay.testing.processor import (
    Behaviour,
    ProcessorError,
    ProcessorPayment,
    ReferenceProcessor,
)
from unipay_mock import MockProvider, cards


def stripe_tokens(token: str) -> Behaviour:
    """The mock's test tokens, told to the processor."""
    if token == cards.AUTHENTICATION_REQUIRED:
        return Behaviour(action="three_d_secure")
    return Behaviour(decline_code=cards.DECLINES.get(token))


TOKENS = st.sampled_from(
    ["pm_card_visa", "pm_card_chargeDeclinedInsufficientFunds", cards.AUTHENTICATION_REQUIRED]
)
PAYMENT = st.integers(0, 3)  # which of the payments made so far (modulo their number)
AMOUNT = st.none() | st.integers(1, 1200)
STEP = st.one_of(
    st.tuples(st.just("create"), st.integers(1, 1000), st.booleans(), st.booleans(), TOKENS),
    st.tuples(st.just("confirm"), PAYMENT, TOKENS),
    st.tuples(st.just("authenticate"), PAYMENT, st.booleans()),
    st.tuples(st.just("capture"), PAYMENT, AMOUNT),
    st.tuples(st.just("cancel"), PAYMENT),
    st.tuples(st.just("refund"), PAYMENT, AMOUNT),
    st.tuples(st.just("replay"), st.booleans()),  # the last create's key: same or other amount
)
#: The processor's error codes, as the kinds the mock's errors are sorted into.
KINDS = {
    "card_declined": "declined",
    "invalid_state": "state",
    "amount_too_large": "amount",
    "idempotency_key_reused": "reused",
    "payment_not_found": "not_found",
}


def mock_answer(step: Callable[[], Any]) -> tuple[str, Payment | None]:
    try:
        result = step()
    except PaymentDeclined as declined:
        return "declined", declined.payment
    except IdempotencyKeyReused:
        return "reused", None
    except PaymentNotFound:
        return "not_found", None
    except InvalidPaymentState as refused:
        # Stripe says charge_already_refunded where the processor finds nothing left to refund.
        return ("amount" if refused.code == "charge_already_refunded" else "state"), None
    except InvalidRequest as refused:
        return ("amount" if refused.param == "amount" else f"bad {refused.param}"), None
    return "ok", result if isinstance(result, Payment) else None


def processor_answer(step: Callable[[], Any]) -> tuple[str, ProcessorPayment | None]:
    try:
        result = step()
    except ProcessorError as error:
        return KINDS[error.code], error.payment
    return "ok", result if isinstance(result, ProcessorPayment) else None


def mock_view(payment: Payment) -> tuple[object, ...]:
    return (
        payment.status.value,
        payment.amount_capturable,
        payment.amount_received,
        payment.amount_refunded,
        payment.decline_code,
        payment.next_action is not None,
    )


def processor_view(payment: ProcessorPayment) -> tuple[object, ...]:
    # A failed authentication: Stripe's decline code for it is authentication_required.
    failed = {"authentication_failed": "authentication_required"}
    decline = failed.get(payment.decline_code or "", payment.decline_code)
    return (
        payment.status,
        payment.amount_capturable,
        payment.amount_received,
        payment.amount_refunded,
        decline,
        payment.action is not None,
    )


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_the_mock_follows_the_reference_processor(steps: list[tuple[Any, ...]]) -> None:
    mock = MockProvider()
    processor = ReferenceProcessor(id_prefix="pi", behaviour=stripe_tokens)
    payments: list[tuple[str, str]] = []  # (mock id, processor id)
    last_create: tuple[str, int, bool, bool, str] | None = None

    def key() -> CallContext:
        return CallContext(idempotency_key=str(uuid.uuid4()))

    def create(call: str, amount: int, manual: bool, confirm: bool, token: str) -> None:
        request = CreatePaymentRequest(
            provider="mock",
            amount=amount,
            currency="USD",
            payment_method=token,
            capture_method="manual" if manual else "automatic",
            confirm=confirm,
        )
        ours = mock_answer(partial(run, mock.create_payment(request, CallContext(call))))
        theirs = processor_answer(
            partial(
                processor.create,
                amount,
                "USD",
                payment_method=token,
                capture="manual" if manual else "automatic",
                confirm=confirm,
                idempotency_key=call,
            )
        )
        compare(ours, theirs)
        if ours[1] is not None and theirs[1] is not None:
            pair = (ours[1].provider_payment_id, theirs[1].id)
            if pair not in payments:
                payments.append(pair)

    def compare(
        ours: tuple[str, Payment | None], theirs: tuple[str, ProcessorPayment | None]
    ) -> None:
        assert ours[0] == theirs[0], (ours, theirs)
        if ours[1] is not None and theirs[1] is not None:
            assert mock_view(ours[1]) == processor_view(theirs[1])

    for step in steps:
        kind = step[0]
        if kind == "create":
            last_create = (str(uuid.uuid4()), *step[1:])
            create(*last_create)
            continue
        if kind == "replay":
            if last_create is not None:
                call, amount, *rest = last_create
                create(call, amount if step[1] else amount + 1, *rest)
            continue
        if not payments:
            continue
        ours_id, theirs_id = payments[step[1] % len(payments)]
        if kind == "confirm":
            current = mock.ledger.get_payment(ours_id)
            if current is not None and current.status is PaymentStatus.REQUIRES_ACTION:
                continue  # Stripe confirms again; the processor wants the action completed
            confirming = ConfirmPaymentRequest(payment_method=step[2])
            ours = mock_answer(partial(run, mock.confirm_payment(ours_id, confirming, key())))
            theirs = processor_answer(partial(processor.confirm, theirs_id, payment_method=step[2]))
        elif kind == "authenticate":
            ours = mock_answer(partial(mock.authenticate, ours_id, succeed=step[2]))
            theirs = processor_answer(
                partial(processor.complete_action, theirs_id, succeed=step[2])
            )
        elif kind == "capture":
            capturing = CapturePaymentRequest(amount=step[2])
            ours = mock_answer(partial(run, mock.capture_payment(ours_id, capturing, key())))
            theirs = processor_answer(partial(processor.capture, theirs_id, step[2]))
        elif kind == "cancel":
            canceling = CancelPaymentRequest()
            ours = mock_answer(partial(run, mock.cancel_payment(ours_id, canceling, key())))
            theirs = processor_answer(partial(processor.cancel, theirs_id))
        else:
            refunding = RefundPaymentRequest(amount=step[2])
            ours = mock_answer(partial(run, mock.refund_payment(ours_id, refunding, key())))
            theirs = processor_answer(partial(processor.refund, theirs_id, step[2]))
        compare(ours, theirs)
        for ours_id, theirs_id in payments:  # and nothing else moved
            stored = mock.ledger.get_payment(ours_id)
            assert stored is not None
            assert mock_view(stored) == processor_view(processor.payment(theirs_id))
