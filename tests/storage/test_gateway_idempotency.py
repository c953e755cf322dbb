"""Every idempotency rule, through Gateway and AsyncGateway, on memory, SQLite and PostgreSQL.

The provider is the real mock (Stripe-like, with its own idempotency ledger), spied on so each
test can count the calls that actually reached it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest

from unipay import IdempotencyPolicy, RetryPolicy
from unipay.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    PaymentDeclined,
    ProviderUnavailable,
)
from unipay.idempotency import OPERATION_SCOPE
from unipay.storage import Store

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 1299,
    "currency": "USD",
    "payment_method": "pm_card_visa",
    "metadata": {"order": "42", "cart": "7"},
}


@pytest.fixture
def key() -> str:
    return str(uuid.uuid4())


def creates(mock: Any) -> int:
    return sum(1 for operation, _, _ in mock.calls if operation == "create_payment")


# --- keys and fingerprints ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "k" * 256])
async def test_key_must_have_1_to_255_characters(make_face: Any, mock: Any, bad: str) -> None:
    face = make_face()
    with pytest.raises(InvalidRequest) as caught:
        await face("create_payment", **CHARGE, idempotency_key=bad)
    assert caught.value.param == "idempotency_key"
    assert mock.calls == []
    assert (await face("create_payment", **CHARGE, idempotency_key="k" * 255)).amount == 1299


async def test_parameter_order_does_not_change_the_fingerprint(make_face: Any, key: str) -> None:
    face = make_face()
    first = await face("create_payment", **CHARGE, idempotency_key=key)
    reordered = {**CHARGE, "metadata": {"cart": "7", "order": "42"}}
    again = await face("create_payment", **reordered, idempotency_key=key)
    assert again.replayed and again.id == first.id


# --- replays and conflicts ------------------------------------------------------------------


async def test_completed_key_replays_without_calling_the_provider(
    make_face: Any, mock: Any, key: str
) -> None:
    face = make_face()
    first = await face("create_payment", **CHARGE, idempotency_key=key)
    again = await face("create_payment", **CHARGE, idempotency_key=key)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert creates(mock) == 1
    assert mock.ledger.count_payments(created_with_key=key) == 1


async def test_other_parameters_with_the_same_key_are_refused(
    make_face: Any, mock: Any, key: str
) -> None:
    face = make_face()
    first = await face("create_payment", **CHARGE, idempotency_key=key)
    with pytest.raises(IdempotencyKeyReused):
        await face("create_payment", **{**CHARGE, "amount": 999}, idempotency_key=key)
    assert creates(mock) == 1
    again = await face("create_payment", **CHARGE, idempotency_key=key)
    assert (again.id, again.amount, again.replayed) == (first.id, 1299, True)


async def test_another_operation_with_the_same_key_is_refused(
    make_face: Any, mock: Any, key: str
) -> None:
    face = make_face()
    payment = await face(
        "create_payment", **{**CHARGE, "capture_method": "manual"}, idempotency_key=key
    )
    with pytest.raises(IdempotencyKeyReused):
        await face("capture_payment", payment.id, idempotency_key=key)
    assert [operation for operation, _, _ in mock.calls] == ["create_payment"]


async def test_capture_and_refund_replay_too(make_face: Any, mock: Any, key: str) -> None:
    face = make_face()
    payment = await face("create_payment", **{**CHARGE, "capture_method": "manual"})
    capture = {"amount": 1000, "idempotency_key": "cap-" + key}
    captured = await face("capture_payment", payment.id, **capture)
    again = await face("capture_payment", payment.id, **capture)
    assert again == captured.model_copy(update={"replayed": True})
    refund = await face("refund_payment", payment.id, amount=300, idempotency_key="ref-" + key)
    again = await face("refund_payment", payment.id, amount=300, idempotency_key="ref-" + key)
    assert (again.id, again.replayed) == (refund.id, True)
    assert mock.ledger.count_refunds(payment.provider_payment_id) == 1
    assert (await face("stored_payment", payment.id)).amount_refunded == 300


# --- outcomes -------------------------------------------------------------------------------


async def test_a_decline_is_stored_and_raised_again(make_face: Any, mock: Any, key: str) -> None:
    face = make_face()
    declined = {**CHARGE, "payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
    with pytest.raises(PaymentDeclined) as first:
        await face("create_payment", **declined, idempotency_key=key)
    with pytest.raises(PaymentDeclined) as again:
        await face("create_payment", **declined, idempotency_key=key)
    assert again.value.decline_code == first.value.decline_code == "insufficient_funds"
    assert again.value.payment is not None and first.value.payment is not None
    assert again.value.payment.id == first.value.payment.id
    assert again.value.payment.replayed
    assert creates(mock) == 1


async def test_a_transient_failure_releases_the_key(make_face: Any, mock: Any, key: str) -> None:
    face = make_face(retry=RetryPolicy(attempts=1))
    mock.fail_next(1)
    with pytest.raises(ProviderUnavailable):
        await face("create_payment", **CHARGE, idempotency_key=key)
    payment = await face("create_payment", **CHARGE, idempotency_key=key)
    assert not payment.replayed
    assert creates(mock) == 2
    assert mock.ledger.count_payments(created_with_key=key) == 1


async def test_a_failure_after_the_charge_is_retried_without_a_second_charge(
    make_face: Any, mock: Any, key: str
) -> None:
    """The answer was lost on the way back: the provider deduplicates the same key."""
    face = make_face(retry=RetryPolicy(attempts=1))
    mock.fail_next(1, after_work=True)
    with pytest.raises(ProviderUnavailable):
        await face("create_payment", **CHARGE, idempotency_key=key)
    payment = await face("create_payment", **CHARGE, idempotency_key=key)
    assert mock.ledger.count_payments(created_with_key=key) == 1
    assert mock.ledger.get_payment(payment.provider_payment_id) is not None


async def test_a_local_validation_error_stores_nothing(
    make_face: Any, any_store: Store, mock: Any, key: str
) -> None:
    face = make_face()
    with pytest.raises(InvalidRequest):
        await face("create_payment", **{**CHARGE, "amount": -5}, idempotency_key=key)
    assert any_store.get_result(OPERATION_SCOPE, key) is None
    payment = await face("create_payment", **CHARGE, idempotency_key=key)
    assert not payment.replayed and mock.calls == [("create_payment", key, 1)]


# --- concurrent calls -----------------------------------------------------------------------


@pytest.fixture
def held_key(any_store: Store, mock: Any, key: str) -> Any:
    """Another caller (a sync gateway in a thread) that holds ``key`` until told to finish."""
    from unipay import Gateway, hookimpl

    claimed, finish = threading.Event(), threading.Event()

    class Hold:
        @hookimpl
        def unipay_before_operation(self) -> None:
            claimed.set()
            finish.wait(10)

    other = Gateway(store=any_store, providers=[mock], load_installed=False, plugins=[Hold()])
    thread = threading.Thread(
        target=other.create_payment, kwargs={**CHARGE, "idempotency_key": key}
    )
    thread.start()
    assert claimed.wait(10)
    yield finish
    finish.set()
    thread.join()


async def test_a_call_while_the_key_runs_is_in_progress(
    make_face: Any, mock: Any, key: str, held_key: threading.Event
) -> None:
    face = make_face()
    with pytest.raises(IdempotencyInProgress) as caught:
        await face("create_payment", **CHARGE, idempotency_key=key)
    assert caught.value.retriable
    assert creates(mock) == 0  # the holder has not reached the provider yet, and nor did we


async def test_a_call_may_wait_for_the_running_one(
    make_face: Any, mock: Any, key: str, held_key: threading.Event
) -> None:
    face = make_face(idempotency=IdempotencyPolicy(wait=10.0, poll_interval=0.01))
    threading.Timer(0.2, held_key.set).start()
    payment = await face("create_payment", **CHARGE, idempotency_key=key)
    assert payment.replayed
    assert creates(mock) == 1


# --- crashes, expiry and purge --------------------------------------------------------------


async def test_an_abandoned_lock_is_taken_over_and_the_provider_deduplicates(
    make_face: Any, any_store: Store, mock: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second call must come within the dead holder's lease: 0.3 s left too little on loaded
    # CI cores (the same flaw as the expired-key test below).
    face = make_face(idempotency=IdempotencyPolicy(lock_timeout=1.5))
    mock.crash_after_work = True
    with monkeypatch.context() as dying:
        # A dead process releases nothing: its claim stays until its own lease runs out.
        dying.setattr(any_store, "release", lambda *args: None)
        with pytest.raises(mock.Crash):
            await face("create_payment", **CHARGE, idempotency_key=key)
    mock.crash_after_work = False
    with pytest.raises(IdempotencyInProgress):
        await face("create_payment", **CHARGE, idempotency_key=key)
    await asyncio.sleep(1.6)
    payment = await face("create_payment", **CHARGE, idempotency_key=key)
    assert not payment.replayed
    assert [k for _, k, _ in mock.calls] == [key, key]
    assert mock.ledger.count_payments(created_with_key=key) == 1


async def test_an_expired_key_runs_as_new_and_is_purged(
    make_face: Any, any_store: Store, mock: Any, key: str
) -> None:
    # Retention long enough that the replay comes within it on a loaded CI machine (0.3 s was
    # once too short on SQLite, the fourth tox environment on two busy cores).
    face = make_face(idempotency=IdempotencyPolicy(retention=1.5, lock_timeout=0.2))
    first = await face("create_payment", **CHARGE, idempotency_key=key)
    assert (await face("create_payment", **CHARGE, idempotency_key=key)).replayed
    await asyncio.sleep(1.6)
    assert any_store.purge_expired() >= 1
    assert any_store.get_result(OPERATION_SCOPE, key) is None
    # Runs as new: the provider is asked again (the mock, like Stripe within its own 24 hours,
    # still knows the key and answers with the same payment).
    again = await face("create_payment", **CHARGE, idempotency_key=key)
    assert not again.replayed and again.id == first.id
    assert creates(mock) == 2


# --- keys the gateway makes, and retries ----------------------------------------------------


async def test_without_a_key_each_call_is_new_but_retries_share_one(
    make_face: Any, mock: Any
) -> None:
    face = make_face(retry=RetryPolicy(attempts=3, base_delay=0.0))
    first = await face("create_payment", **CHARGE)
    mock.fail_next(1, after_work=True)
    second = await face("create_payment", **CHARGE)
    assert first.id != second.id
    (_, key1, _), (_, key2, a1), (_, key3, a2) = mock.calls
    assert key1 != key2 == key3 and (a1, a2) == (1, 2)
    assert mock.ledger.count_payments(created_with_key=key2) == 1


async def test_transient_failures_are_retried_a_bounded_number_of_times(
    make_face: Any, mock: Any, key: str
) -> None:
    face = make_face(retry=RetryPolicy(attempts=3, base_delay=0.0))
    mock.fail_next(2)
    assert not (await face("create_payment", **CHARGE, idempotency_key=key)).replayed
    assert mock.calls == [("create_payment", key, n) for n in (1, 2, 3)]
    mock.fail_next(3)
    with pytest.raises(ProviderUnavailable):
        await face("create_payment", **{**CHARGE, "amount": 1}, idempotency_key="other-" + key)
    assert len(mock.calls) == 6


async def test_retries_stop_before_the_lock_could_run_out(
    make_face: Any, mock: Any, key: str
) -> None:
    face = make_face(
        idempotency=IdempotencyPolicy(lock_timeout=1e-9),
        retry=RetryPolicy(attempts=5, base_delay=0.0),
    )
    mock.fail_next(1)
    with pytest.raises(ProviderUnavailable):
        await face("create_payment", **CHARGE, idempotency_key=key)
    assert len(mock.calls) == 1
