"""unipay.testing.processor: the reference processor fakes sit on (state rules, limits, keys)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from unipay.models import PaymentStatus, RefundStatus
from unipay.testing.processor import (
    Behaviour,
    ProcessorError,
    ProcessorPayment,
    ProcessorRefund,
    ReferenceProcessor,
    default_behaviour,
)

OK = "tok_success"


def authorised(processor: ReferenceProcessor, amount: int = 1000) -> ProcessorPayment:
    return processor.create(amount, "eur", payment_method=OK, capture="manual")


def error_of(call: Callable[[], object]) -> ProcessorError:
    with pytest.raises(ProcessorError) as caught:
        call()
    return caught.value


def event_types(processor: ReferenceProcessor) -> list[str]:
    return [event.type for event in processor.events]


# --- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("tok_success", Behaviour()),
        ("anything", Behaviour()),
        ("tok_decline", Behaviour(decline_code="card_declined")),
        ("tok_chargeDeclined", Behaviour(decline_code="card_declined")),
        ("tok_insufficient_funds", Behaviour(decline_code="insufficient_funds")),
        ("tok_authentication", Behaviour(action="three_d_secure")),
        ("tok_3ds", Behaviour(action="three_d_secure")),
        ("tok_3ds_decline", Behaviour(decline_code="card_declined", action="three_d_secure")),
    ],
)
def test_default_behaviour_reads_neutral_words(token: str, expected: Behaviour) -> None:
    assert default_behaviour(token) == expected


def test_a_custom_behaviour_decides() -> None:
    processor = ReferenceProcessor(
        behaviour=lambda method: Behaviour(decline_code="do_not_honor" if method == "x" else None)
    )
    assert processor.create(10, "eur", payment_method="tok_decline").status == "succeeded"
    error = error_of(lambda: processor.create(10, "eur", payment_method="x"))
    assert (error.code, error.decline_code) == ("card_declined", "do_not_honor")


# --- create and confirm ------------------------------------------------------------------------


def test_statuses_are_unipay_statuses() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(1000, "eur", payment_method=OK)
    assert PaymentStatus(payment.status) is PaymentStatus.SUCCEEDED
    assert RefundStatus(processor.refund(payment.id).status) is RefundStatus.SUCCEEDED


def test_automatic_capture_succeeds_at_once() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(
        1000, "eur", payment_method=OK, reference="order-1", metadata={"k": "v"}
    )
    assert payment.id.startswith("pay_")
    assert (payment.status, payment.amount_received, payment.amount_capturable) == (
        "succeeded",
        1000,
        0,
    )
    assert (payment.currency, payment.capture, payment.payment_method) == ("eur", "automatic", OK)
    assert (payment.reference, dict(payment.metadata)) == ("order-1", {"k": "v"})
    assert processor.payment(payment.id) == payment
    assert event_types(processor) == ["payment.created", "payment.succeeded"]
    assert processor.events[-1].object == payment


def test_manual_capture_holds_the_amount() -> None:
    payment = authorised(ReferenceProcessor())
    assert (payment.status, payment.amount_capturable, payment.amount_received) == (
        "requires_capture",
        1000,
        0,
    )


def test_id_prefix() -> None:
    assert (
        ReferenceProcessor(id_prefix="ch").create(5, "eur", payment_method=OK).id.startswith("ch_")
    )


def test_unconfirmed_payments_wait() -> None:
    processor = ReferenceProcessor()
    assert processor.create(5, "eur", confirm=False).status == "requires_payment_method"
    waiting = processor.create(5, "eur", payment_method=OK, confirm=False)
    assert waiting.status == "requires_confirmation"
    assert processor.confirm(waiting.id).status == "succeeded"


def test_confirm_takes_a_payment_method() -> None:
    processor = ReferenceProcessor()
    bare = processor.create(5, "eur", confirm=False)
    assert error_of(lambda: processor.confirm(bare.id)).code == "missing_payment_method"
    confirmed = processor.confirm(bare.id, payment_method=OK)
    assert (confirmed.status, confirmed.payment_method) == ("succeeded", OK)


def test_confirm_needs_an_unconfirmed_payment() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(5, "eur", payment_method=OK)
    error = error_of(lambda: processor.confirm(paid.id))
    assert (error.code, error.status) == ("invalid_state", 409)
    assert "requires_payment_method or requires_confirmation" in error.message
    assert "succeeded" in error.message


def test_create_and_confirm_need_a_method_to_confirm() -> None:
    processor = ReferenceProcessor()
    error = error_of(lambda: processor.create(5, "eur"))
    assert (error.code, error.status) == ("missing_payment_method", 400)
    assert processor.calls["create"] == 1
    assert processor.events == []


@pytest.mark.parametrize("amount", [0, -1])
def test_amounts_are_positive(amount: int) -> None:
    processor = ReferenceProcessor()
    assert error_of(lambda: processor.create(amount, "eur", payment_method=OK)).code == (
        "invalid_amount"
    )
    payment = authorised(processor)
    assert error_of(lambda: processor.capture(payment.id, amount)).code == "invalid_amount"
    paid = processor.create(5, "eur", payment_method=OK)
    assert error_of(lambda: processor.refund(paid.id, amount)).code == "invalid_amount"


def test_a_decline_raises_with_the_payment_and_allows_a_retry() -> None:
    processor = ReferenceProcessor()
    error = error_of(lambda: processor.create(5, "eur", payment_method="tok_insufficient_funds"))
    assert (error.code, error.status, error.decline_code) == (
        "card_declined",
        402,
        "insufficient_funds",
    )
    assert error.payment is not None
    assert (error.payment.status, error.payment.decline_code) == (
        "requires_payment_method",
        "insufficient_funds",
    )
    assert processor.payment(error.payment.id) == error.payment
    assert event_types(processor) == ["payment.created", "payment.failed"]
    retried = processor.confirm(error.payment.id, payment_method=OK)
    assert (retried.status, retried.decline_code) == ("succeeded", None)


def test_a_decline_on_confirm_raises() -> None:
    processor = ReferenceProcessor()
    waiting = processor.create(5, "eur", payment_method="tok_decline", confirm=False)
    error = error_of(lambda: processor.confirm(waiting.id))
    assert (error.code, error.decline_code) == ("card_declined", "card_declined")
    assert processor.payment(waiting.id).status == "requires_payment_method"


# --- actions (3-D Secure, redirects) -----------------------------------------------------------


def test_an_action_then_success() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(5, "eur", payment_method="tok_3ds", capture="manual")
    assert (payment.status, payment.action) == ("requires_action", "three_d_secure")
    done = processor.complete_action(payment.id)
    assert (done.status, done.action, done.amount_capturable) == ("requires_capture", None, 5)
    assert event_types(processor)[-2:] == ["payment.requires_action", "payment.requires_capture"]


def test_a_failed_action_needs_a_new_method() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(5, "eur", payment_method="tok_authentication")
    failed = processor.complete_action(payment.id, succeed=False)
    assert (failed.status, failed.action, failed.decline_code) == (
        "requires_payment_method",
        None,
        "authentication_failed",
    )
    assert event_types(processor)[-1] == "payment.failed"
    assert processor.confirm(payment.id, payment_method=OK).status == "succeeded"


def test_an_action_then_a_decline_is_returned_not_raised() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(5, "eur", payment_method="tok_3ds_decline")
    declined = processor.complete_action(payment.id)
    assert (declined.status, declined.decline_code) == ("requires_payment_method", "card_declined")


def test_complete_action_needs_requires_action() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(5, "eur", payment_method=OK)
    assert error_of(lambda: processor.complete_action(paid.id)).code == "invalid_state"


# --- capture -----------------------------------------------------------------------------------


def test_capture_all() -> None:
    processor = ReferenceProcessor()
    payment = processor.capture(authorised(processor).id)
    assert (payment.status, payment.amount_received, payment.amount_capturable) == (
        "succeeded",
        1000,
        0,
    )
    assert event_types(processor)[-1] == "payment.succeeded"


def test_partial_capture_releases_the_rest() -> None:
    processor = ReferenceProcessor()
    payment = processor.capture(authorised(processor).id, 400)
    assert (payment.status, payment.amount_received, payment.amount_capturable) == (
        "succeeded",
        400,
        0,
    )
    assert error_of(lambda: processor.refund(payment.id, 401)).code == "amount_too_large"


def test_capture_beyond_capturable() -> None:
    processor = ReferenceProcessor()
    payment = authorised(processor)
    error = error_of(lambda: processor.capture(payment.id, 1001))
    assert (error.code, error.status) == ("amount_too_large", 400)
    assert processor.payment(payment.id).status == "requires_capture"


def test_partial_capture_unsupported() -> None:
    processor = ReferenceProcessor(partial_capture=False)
    payment = authorised(processor)
    assert error_of(lambda: processor.capture(payment.id, 999)).code == (
        "partial_capture_unsupported"
    )
    assert processor.capture(payment.id, 1000).amount_received == 1000


@pytest.mark.parametrize("confirm", [True, False])
def test_capture_needs_requires_capture(confirm: bool) -> None:
    processor = ReferenceProcessor()
    payment = processor.create(5, "eur", payment_method=OK, confirm=confirm)
    error = error_of(lambda: processor.capture(payment.id))
    assert (error.code, error.status) == ("invalid_state", 409)
    assert "capture needs requires_capture" in error.message


def test_capture_twice() -> None:
    processor = ReferenceProcessor()
    payment = authorised(processor)
    processor.capture(payment.id)
    assert error_of(lambda: processor.capture(payment.id)).code == "invalid_state"


# --- cancel ------------------------------------------------------------------------------------


def _in_status(processor: ReferenceProcessor, status: str) -> ProcessorPayment:
    if status == "requires_payment_method":
        return processor.create(5, "eur", confirm=False)
    if status == "requires_confirmation":
        return processor.create(5, "eur", payment_method=OK, confirm=False)
    if status == "requires_action":
        return processor.create(5, "eur", payment_method="tok_3ds")
    return processor.create(5, "eur", payment_method=OK, capture="manual")


@pytest.mark.parametrize(
    "status",
    ["requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"],
)
def test_cancel_before_capture(status: str) -> None:
    processor = ReferenceProcessor()
    payment = _in_status(processor, status)
    assert payment.status == status
    canceled = processor.cancel(payment.id)
    assert (canceled.status, canceled.amount_capturable, canceled.action) == ("canceled", 0, None)
    assert event_types(processor)[-1] == "payment.canceled"


def test_cancel_after_capture_or_cancel_is_refused() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(5, "eur", payment_method=OK)
    error = error_of(lambda: processor.cancel(paid.id))
    assert (error.code, error.status) == ("invalid_state", 409)
    assert "requires_capture" in error.message
    canceled = processor.cancel(authorised(processor).id)
    assert error_of(lambda: processor.cancel(canceled.id)).code == "invalid_state"
    assert error_of(lambda: processor.confirm(canceled.id)).code == "invalid_state"


# --- refund ------------------------------------------------------------------------------------


def test_refund_all_by_default() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(1000, "eur", payment_method=OK)
    refund = processor.refund(paid.id, reference="r-1", metadata={"why": "test"})
    assert isinstance(refund, ProcessorRefund)
    assert (refund.payment_id, refund.amount, refund.status, refund.reference) == (
        paid.id,
        1000,
        "succeeded",
        "r-1",
    )
    assert dict(refund.metadata) == {"why": "test"}
    assert processor.payment(paid.id).amount_refunded == 1000
    assert processor.refund_of(refund.id) == refund
    assert processor.events[-1].type == "refund.succeeded"
    assert processor.events[-1].object == refund


def test_refunds_up_to_what_was_received() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(1000, "eur", payment_method=OK)
    processor.refund(paid.id, 600)
    error = error_of(lambda: processor.refund(paid.id, 401))
    assert (error.code, error.status) == ("amount_too_large", 400)
    assert processor.refund(paid.id).amount == 400
    assert processor.payment(paid.id).amount_refunded == 1000
    assert error_of(lambda: processor.refund(paid.id)).code == "amount_too_large"
    assert processor.payment(paid.id).status == "succeeded"


def test_refund_needs_a_succeeded_payment() -> None:
    processor = ReferenceProcessor()
    payment = authorised(processor)
    error = error_of(lambda: processor.refund(payment.id))
    assert (error.code, error.status) == ("invalid_state", 409)
    assert "refund needs succeeded" in error.message


def test_partial_refunds_unsupported() -> None:
    processor = ReferenceProcessor(partial_refunds=False)
    paid = processor.create(1000, "eur", payment_method=OK)
    assert error_of(lambda: processor.refund(paid.id, 999)).code == "partial_refunds_unsupported"
    assert processor.refund(paid.id, 1000).status == "succeeded"


def test_partial_refunds_unsupported_after_a_partial_capture() -> None:
    processor = ReferenceProcessor(partial_refunds=False)
    paid = processor.capture(authorised(processor).id, 300)
    assert processor.refund(paid.id).amount == 300


def test_multiple_refunds_unsupported() -> None:
    processor = ReferenceProcessor(multiple_refunds=False)
    paid = processor.create(1000, "eur", payment_method=OK)
    processor.refund(paid.id, 100)
    error = error_of(lambda: processor.refund(paid.id, 100))
    assert error.code == "multiple_refunds_unsupported"
    assert processor.payment(paid.id).amount_refunded == 100


def test_not_found() -> None:
    processor = ReferenceProcessor()
    for call in (
        lambda: processor.payment("pay_404"),
        lambda: processor.confirm("pay_404"),
        lambda: processor.capture("pay_404"),
        lambda: processor.cancel("pay_404"),
        lambda: processor.refund("pay_404"),
        lambda: processor.complete_action("pay_404"),
    ):
        error = error_of(call)
        assert (error.code, error.status) == ("payment_not_found", 404)
    error = error_of(lambda: processor.refund_of("ref_404"))
    assert (error.code, error.status) == ("refund_not_found", 404)
    error = error_of(lambda: processor.settle("mod_404"))
    assert (error.code, error.status) == ("modification_not_found", 404)


def test_find_by_reference() -> None:
    processor = ReferenceProcessor(idempotency_keys=False)
    first = processor.create(5, "eur", payment_method=OK, reference="order-7")
    processor.create(5, "eur", payment_method=OK, reference="order-7")
    processor.create(5, "eur", payment_method=OK, reference="order-8")
    assert processor.find_by_reference("order-7") == first
    assert processor.find_by_reference("order-9") is None


def test_errors_print_code_and_message() -> None:
    error = ProcessorError("invalid_state", "no")
    assert (str(error), error.status) == ("invalid_state: no", 409)
    assert ProcessorError("whatever", "x", status=418).status == 418
    assert ProcessorError("unknown", "x").status == 400


# --- idempotency -------------------------------------------------------------------------------


def test_a_repeated_key_replays_the_first_answer() -> None:
    processor = ReferenceProcessor()
    first = processor.create(5, "eur", payment_method=OK, idempotency_key="k1")
    processor.refund(first.id, 2)
    again = processor.create(5, "eur", payment_method=OK, idempotency_key="k1")
    assert again == first  # the first answer, not today's state
    assert processor.calls["create"] == 1
    assert processor.replays["create"] == 1
    assert len([e for e in processor.events if e.type == "payment.created"]) == 1


def test_positional_or_keyword_arguments_are_the_same_request() -> None:
    processor = ReferenceProcessor()
    payment = authorised(processor)
    first = processor.capture(payment.id, 500, idempotency_key="k")
    assert processor.capture(payment.id, amount=500, idempotency_key="k") == first
    assert processor.calls["capture"] == 1


def test_a_repeated_key_replays_the_first_error() -> None:
    processor = ReferenceProcessor()
    first = error_of(
        lambda: processor.create(5, "eur", payment_method="tok_decline", idempotency_key="k")
    )
    second = error_of(
        lambda: processor.create(5, "eur", payment_method="tok_decline", idempotency_key="k")
    )
    assert second is not first
    assert (second.code, second.decline_code, second.payment) == (
        first.code,
        first.decline_code,
        first.payment,
    )
    assert processor.calls["create"] == 1


def test_a_key_reused_with_other_arguments() -> None:
    processor = ReferenceProcessor()
    payment = processor.create(5, "eur", payment_method=OK, idempotency_key="k")
    for call in (
        lambda: processor.create(6, "eur", payment_method=OK, idempotency_key="k"),
        lambda: processor.create(
            5, "eur", payment_method=OK, metadata={"a": "b"}, idempotency_key="k"
        ),
        lambda: processor.refund(payment.id, idempotency_key="k"),
    ):
        error = error_of(call)
        assert (error.code, error.status) == ("idempotency_key_reused", 409)
    assert processor.calls == {"create": 1}
    assert processor.payment(payment.id).amount_refunded == 0


def test_keys_make_refunds_at_most_once() -> None:
    processor = ReferenceProcessor()
    paid = processor.create(10, "eur", payment_method=OK)
    refunds = {processor.refund(paid.id, 3, idempotency_key="r").id for _ in range(3)}
    assert len(refunds) == 1
    assert processor.payment(paid.id).amount_refunded == 3
    assert processor.calls["refund"] == 1
    assert processor.replays["refund"] == 2


def test_without_keys_every_call_acts() -> None:
    processor = ReferenceProcessor(idempotency_keys=False)
    first = processor.create(5, "eur", payment_method=OK, idempotency_key="k")
    second = processor.create(5, "eur", payment_method=OK, idempotency_key="k")
    assert first.id != second.id
    assert processor.calls["create"] == 2
    assert processor.replays["create"] == 0
    processor.refund(first.id, 2, idempotency_key="r")
    processor.refund(first.id, 2, idempotency_key="r")
    assert processor.payment(first.id).amount_refunded == 4


def test_calls_without_a_key_all_act() -> None:
    processor = ReferenceProcessor()
    processor.create(5, "eur", payment_method=OK)
    processor.create(5, "eur", payment_method=OK)
    assert processor.calls["create"] == 2


# --- settles_later -----------------------------------------------------------------------------


def test_a_pending_capture_settles() -> None:
    processor = ReferenceProcessor(settles_later=True)
    payment = authorised(processor)
    answered = processor.capture(payment.id, 600)
    assert (answered.status, answered.amount_received) == ("requires_capture", 0)
    [pending] = answered.pending
    assert (pending.kind, pending.payment_id, pending.amount) == ("capture", payment.id, 600)
    assert error_of(lambda: processor.capture(payment.id)).code == "invalid_state"
    assert error_of(lambda: processor.cancel(payment.id)).code == "invalid_state"
    settled = processor.settle(pending.id)
    assert isinstance(settled, ProcessorPayment)
    assert (settled.status, settled.amount_received, settled.pending) == ("succeeded", 600, ())
    assert event_types(processor)[-1] == "payment.succeeded"
    assert error_of(lambda: processor.settle(pending.id)).code == "modification_not_found"


def test_a_failed_capture_leaves_the_payment_as_it_was() -> None:
    processor = ReferenceProcessor(settles_later=True)
    payment = authorised(processor)
    [pending] = processor.capture(payment.id).pending
    failed = processor.settle(pending.id, succeed=False)
    assert failed == payment
    assert event_types(processor)[-1] == "capture.failed"
    assert processor.capture(payment.id).pending  # may be tried again


def test_a_pending_cancel_settles_or_fails() -> None:
    processor = ReferenceProcessor(settles_later=True)
    payment = authorised(processor)
    [pending] = processor.cancel(payment.id).pending
    assert processor.payment(payment.id).status == "requires_capture"
    assert processor.settle(pending.id, succeed=False) == payment
    assert event_types(processor)[-1] == "cancel.failed"
    [pending] = processor.cancel(payment.id).pending
    settled = processor.settle(pending.id)
    assert isinstance(settled, ProcessorPayment)
    assert settled.status == "canceled"


def test_canceling_an_unauthorised_payment_is_immediate() -> None:
    processor = ReferenceProcessor(settles_later=True)
    payment = processor.create(5, "eur", confirm=False)
    assert processor.cancel(payment.id).status == "canceled"


def test_a_pending_refund_settles() -> None:
    processor = ReferenceProcessor(settles_later=True)
    paid = processor.create(1000, "eur", payment_method=OK)
    refund = processor.refund(paid.id, 700)
    assert refund.status == "pending"
    assert event_types(processor)[-1] == "refund.pending"
    payment = processor.payment(paid.id)
    assert (payment.amount_refunded, [p.id for p in payment.pending]) == (0, [refund.id])
    # A pending refund counts: only 300 is left.
    assert error_of(lambda: processor.refund(paid.id, 301)).code == "amount_too_large"
    settled = processor.settle(refund.id)
    assert isinstance(settled, ProcessorRefund)
    assert settled.status == "succeeded"
    assert processor.refund_of(refund.id).status == "succeeded"
    assert (processor.payment(paid.id).amount_refunded, processor.payment(paid.id).pending) == (
        700,
        (),
    )
    assert event_types(processor)[-1] == "refund.succeeded"


def test_a_failed_refund_gives_the_amount_back() -> None:
    processor = ReferenceProcessor(settles_later=True, multiple_refunds=False)
    paid = processor.create(1000, "eur", payment_method=OK)
    refund = processor.refund(paid.id)
    failed = processor.settle(refund.id, succeed=False)
    assert isinstance(failed, ProcessorRefund)
    assert failed.status == "failed"
    assert event_types(processor)[-1] == "refund.failed"
    assert processor.payment(paid.id) == paid
    # A failed refund does not count as one: the whole amount may be refunded again.
    assert processor.refund(paid.id).amount == 1000


def test_a_pending_refund_counts_for_multiple_refunds() -> None:
    processor = ReferenceProcessor(settles_later=True, multiple_refunds=False)
    paid = processor.create(1000, "eur", payment_method=OK)
    processor.refund(paid.id, 100)
    assert error_of(lambda: processor.refund(paid.id, 100)).code == "multiple_refunds_unsupported"


def test_settle_counts_and_replays_nothing() -> None:
    processor = ReferenceProcessor(settles_later=True)
    [pending] = processor.capture(authorised(processor).id).pending
    processor.settle(pending.id)
    assert processor.calls["settle"] == 1


# --- threads -----------------------------------------------------------------------------------


def _slowed(processor: ReferenceProcessor) -> ReferenceProcessor:
    """Sleep inside every operation (between its checks and its changes), so that without the
    lock the threads below would all pass the checks before any of them changes anything."""
    new_id = processor._new_id

    def slow_new_id(prefix: str) -> str:
        time.sleep(0.005)
        return new_id(prefix)

    processor._new_id = slow_new_id  # type: ignore[method-assign]
    return processor


def _race(workers: int, work: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except ProcessorError as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_refunds_never_exceed_the_payment() -> None:
    processor = ReferenceProcessor()
    paid = _slowed(processor).create(5, "eur", payment_method=OK)
    results = _race(8, lambda: processor.refund(paid.id, 1))
    assert len([r for r in results if isinstance(r, ProcessorRefund)]) == 5
    errors = [r for r in results if isinstance(r, ProcessorError)]
    assert [e.code for e in errors] == ["amount_too_large"] * 3
    assert processor.payment(paid.id).amount_refunded == 5


def test_concurrent_calls_with_one_key_act_once() -> None:
    processor = _slowed(ReferenceProcessor())
    results = _race(8, lambda: processor.create(5, "eur", payment_method=OK, idempotency_key="k"))
    assert len({r.id for r in results if isinstance(r, ProcessorPayment)}) == 1
    assert len(results) == 8
    assert processor.calls["create"] == 1
    assert processor.replays["create"] == 7


def test_concurrent_calls_without_keys_all_act() -> None:
    processor = ReferenceProcessor(idempotency_keys=False)
    results = _race(8, lambda: processor.create(5, "eur", payment_method=OK, idempotency_key="k"))
    assert len({r.id for r in results if isinstance(r, ProcessorPayment)}) == 8
    assert processor.calls["create"] == 8
