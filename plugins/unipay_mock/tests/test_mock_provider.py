"""The mock provider on its own: Stripe-like idempotency, failure injection, its books.

Its operations are flows; ``drive`` runs one the way `Gateway` does (``run``) or the way
`AsyncGateway` does (``arun``, on an event loop), so each test covers both faces.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from unipay import AsyncGateway, CallContext, Gateway, PaymentStatus, RetryPolicy
from unipay._flow import arun, run
from unipay.errors import (
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    ProviderUnavailable,
)
from unipay.models import ConfirmPaymentRequest, CreatePaymentRequest, Payment, Refund
from unipay.provider import Flow, NextActionKind, Sleep
from unipay.testing.faces import Face
from unipay_mock import Ledger, MockProvider, cards

T = TypeVar("T")
Drive = Callable[[Flow[T]], T]


def request(**overrides: object) -> CreatePaymentRequest:
    data: dict[str, object] = {"provider": "mock", "amount": 1299, "currency": "USD"}
    data.update(overrides)
    return CreatePaymentRequest.model_validate(data)


def ctx() -> CallContext:
    return CallContext(idempotency_key=str(uuid.uuid4()))


@pytest.fixture(params=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Drive[Any]:
    if request.param == "sync":
        return run

    def on_a_loop(flow: Flow[T]) -> T:
        return asyncio.run(arun(flow))

    return on_a_loop


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider()


@pytest.fixture(params=[Gateway, AsyncGateway])
def face(request: pytest.FixtureRequest, mock: MockProvider) -> Face:
    retry = RetryPolicy(attempts=3, base_delay=0.001)
    gateway = request.param(providers=[mock], retry=retry, load_installed=False)
    return Face(gateway)


def test_two_mocks_keep_separate_books(drive: Drive[Any]) -> None:
    first, second = MockProvider(), MockProvider()
    call = ctx()
    payment = drive(first.create_payment(request(), call))
    with pytest.raises(PaymentNotFound):
        drive(second.retrieve_payment(payment.provider_payment_id, ctx()))
    # The same key at another mock is another provider's key: a charge of its own.
    assert drive(second.create_payment(request(amount=1), call)).amount == 1
    assert first.ledger.count_payments() == second.ledger.count_payments() == 1


def test_a_shared_ledger_is_one_provider(drive: Drive[Any]) -> None:
    books = Ledger()
    first, second = MockProvider(ledger=books), MockProvider(ledger=books)
    payment = drive(first.create_payment(request(), ctx()))
    assert drive(second.retrieve_payment(payment.provider_payment_id, ctx())) == payment


def test_same_key_same_result_one_charge(mock: MockProvider, drive: Drive[Any]) -> None:
    call = ctx()
    first = drive(mock.create_payment(request(), call))
    again = drive(mock.create_payment(request(), call))
    assert again == first
    assert mock.ledger.count_payments(created_with_key=call.idempotency_key) == 1
    assert mock.ledger.count_payments() == 1


def test_same_key_other_parameters_is_refused(mock: MockProvider, drive: Drive[Any]) -> None:
    call = ctx()
    drive(mock.create_payment(request(), call))
    with pytest.raises(IdempotencyKeyReused) as caught:
        drive(mock.create_payment(request(amount=1300), call))
    assert caught.value.provider_code == "idempotency_error"
    assert mock.ledger.count_payments() == 1


def test_a_decline_is_replayed_as_the_same_decline(mock: MockProvider, drive: Drive[Any]) -> None:
    call = ctx()
    declining = request(payment_method="pm_card_chargeDeclinedExpiredCard")
    with pytest.raises(PaymentDeclined) as first:
        drive(mock.create_payment(declining, call))
    with pytest.raises(PaymentDeclined) as again:
        drive(mock.create_payment(declining, call))
    assert first.value.decline_code == again.value.decline_code == "expired_card"
    assert first.value.payment is not None
    assert first.value.payment == again.value.payment
    assert mock.ledger.count_payments() == 1


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("tok_visa", "no such payment method 'tok_visa'"),
        ("pm_card_nope", "no such payment method 'pm_card_nope'"),
        ({"type": "scheme", "encryptedCardNumber": "adyenjs_x"}, "no structured payment methods"),
    ],
)
def test_an_unknown_payment_method_names_the_accepted_tokens(
    mock: MockProvider, drive: Drive[Any], method: object, said: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        drive(mock.create_payment(request(payment_method=method), ctx()))
    assert caught.value.param == "payment_method"
    message = str(caught.value)
    assert said in message
    for accepted in (*cards.SUCCEEDING, *cards.DECLINES, cards.AUTHENTICATION_REQUIRED):
        assert accepted in message
    assert mock.ledger.count_payments() == 0


def test_latency_is_an_effect_not_a_sleep_in_the_mock() -> None:
    """The faces sleep (``asyncio.sleep`` on the async one): the event loop is never blocked."""
    flow = MockProvider(latency=0.25).create_payment(request(), ctx())
    assert next(flow) == Sleep(0.25)


def test_failure_before_the_work_charges_nothing(mock: MockProvider, drive: Drive[Any]) -> None:
    mock.fail_next()
    with pytest.raises(ProviderUnavailable) as caught:
        drive(mock.create_payment(request(), ctx()))
    assert caught.value.retriable
    assert mock.ledger.count_payments() == 0


def test_failure_after_the_work_is_saved_by_the_key(mock: MockProvider, drive: Drive[Any]) -> None:
    call = ctx()
    mock.fail_next(after_work=True)
    with pytest.raises(ProviderUnavailable):
        drive(mock.create_payment(request(), call))
    assert mock.ledger.count_payments() == 1  # it did charge, the answer was lost
    recovered = drive(mock.create_payment(request(), call))
    assert recovered.status is PaymentStatus.SUCCEEDED
    assert mock.ledger.count_payments() == 1


async def test_the_gateway_retries_transient_failures_with_the_same_key(
    mock: MockProvider, face: Face
) -> None:
    mock.fail_next(after_work=True)
    mock.fail_next()
    payment = await face(
        "create_payment", provider="mock", amount=500, currency="USD", idempotency_key="k-retry"
    )
    assert payment.status is PaymentStatus.SUCCEEDED
    assert mock.ledger.count_payments(created_with_key="k-retry") == 1


async def test_the_gateway_gives_up_after_its_attempts(mock: MockProvider, face: Face) -> None:
    mock.fail_next(3)
    charge = {"provider": "mock", "amount": 500, "currency": "USD", "idempotency_key": "k-up"}
    with pytest.raises(ProviderUnavailable):
        await face("create_payment", **charge)
    assert mock.ledger.count_payments() == 0
    # The key was released: the caller's own retry runs again.
    assert (await face("create_payment", **charge)).amount == 500


async def test_the_gateway_drives_every_operation(mock: MockProvider, face: Face) -> None:
    usd = {"provider": "mock", "currency": "USD"}
    held = await face("create_payment", amount=1000, capture_method="manual", **usd)
    captured = await face("capture_payment", held.id, amount=800)
    refund = await face("refund_payment", held.id, amount=300)
    assert isinstance(refund, Refund) and refund.amount == 300
    now = await face("retrieve_payment", held.id)
    assert (captured.amount_received, now.amount_refunded) == (800, 300)
    draft = await face("create_payment", amount=700, confirm=False, **usd)
    assert draft.status is PaymentStatus.REQUIRES_CONFIRMATION
    confirmed = await face("confirm_payment", draft.id, payment_method="pm_card_amex")
    assert confirmed.status is PaymentStatus.SUCCEEDED
    other = await face("create_payment", amount=700, capture_method="manual", **usd)
    assert (await face("cancel_payment", other.id)).status is PaymentStatus.CANCELED


def test_failure_rate_is_reproducible_with_a_seed(drive: Drive[Any]) -> None:
    def outcomes(seed: int) -> list[bool]:
        flaky = MockProvider(failure_rate=0.5, seed=seed)
        results = []
        for _ in range(20):
            try:
                drive(flaky.create_payment(request(), ctx()))
                results.append(True)
            except ProviderUnavailable:
                results.append(False)
        return results

    first = outcomes(7)
    assert first == outcomes(7)
    assert 0 < first.count(False) < 20


def test_confirm_is_refused_once_succeeded(mock: MockProvider, drive: Drive[Any]) -> None:
    payment = drive(mock.create_payment(request(), ctx()))
    with pytest.raises(InvalidPaymentState, match="cannot confirm"):
        drive(mock.confirm_payment(payment.provider_payment_id, ConfirmPaymentRequest(), ctx()))


def test_an_action_result_is_refused(mock: MockProvider, drive: Drive[Any]) -> None:
    """3-D Secure completes at the provider, as on Stripe: nothing to hand back on confirm."""
    waiting = drive(
        mock.create_payment(request(payment_method=cards.AUTHENTICATION_REQUIRED), ctx())
    )
    answer = ConfirmPaymentRequest(action_result={"threeDSResult": "eyJ0cmFuc1N0YXR1cyI6IlkifQ"})
    with pytest.raises(InvalidRequest) as caught:
        drive(mock.confirm_payment(waiting.provider_payment_id, answer, ctx()))
    assert caught.value.param == "action_result"
    assert mock.authenticate(waiting.provider_payment_id).status is PaymentStatus.SUCCEEDED


def test_a_ledger_file_is_one_provider_for_every_instance(
    tmp_path: Path, drive: Drive[Any]
) -> None:
    path = str(tmp_path / "mock.db")
    first, second = MockProvider(ledger=Ledger(path)), MockProvider(ledger=Ledger(path))
    call = ctx()
    payment = drive(first.create_payment(request(capture_method="manual"), call))
    assert drive(second.retrieve_payment(payment.provider_payment_id, ctx())) == payment
    assert drive(second.create_payment(request(capture_method="manual"), call)) == payment
    assert second.ledger.count_payments() == 1
    # Mocks given the same path in one process share one connection to it.
    assert MockProvider(ledger=path).ledger is MockProvider(ledger=path).ledger


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_where_the_async_face_does_the_work(tmp_path: Path, kind: str) -> None:
    """On the event loop for books in memory (quicker than a thread hop), in a worker thread for
    a file, whose transaction may wait on another process."""
    threads: list[int] = []

    class Watched(MockProvider):
        def _work(self, operation: str, *args: Any) -> Payment | Refund:
            threads.append(threading.get_ident())
            return super()._work(operation, *args)

    ledger = ":memory:" if kind == "memory" else str(tmp_path / "mock.db")
    gateway = AsyncGateway(providers=[Watched(ledger=ledger)], load_installed=False)
    await gateway.create_payment(provider="mock", amount=100, currency="USD")
    assert (threads == [threading.get_ident()]) is (kind == "memory")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNIPAY_MOCK_LATENCY_MS", "25")
    monkeypatch.setenv("UNIPAY_MOCK_FAILURE_RATE", "0.1")
    monkeypatch.setenv("UNIPAY_MOCK_LEDGER", str(tmp_path / "env.db"))
    mock = MockProvider.from_env()
    assert (mock.latency, mock.failure_rate) == (0.025, 0.1)
    assert mock.ledger.path == str(tmp_path / "env.db")
    assert MockProvider.from_env().ledger is mock.ledger  # one file, one set of books
    monkeypatch.delenv("UNIPAY_MOCK_LEDGER")
    assert MockProvider.from_env().ledger is not MockProvider.from_env().ledger


def test_capabilities_are_declared_as_they_are() -> None:
    declared = MockProvider.capabilities
    assert declared.confirmation and declared.idempotency_keys and declared.retrieve
    assert declared.declines_include_payment
    assert declared.next_actions == {NextActionKind.THREE_D_SECURE}


def test_repr_is_short() -> None:
    assert repr(MockProvider()) == "<MockProvider 'mock'>"


def test_keys_expire_like_stripes(drive: Drive[Any]) -> None:
    now = [1_000_000.0]
    mock = MockProvider(key_retention=3600, clock=lambda: now[0])
    call = ctx()
    first = drive(mock.create_payment(request(), call))
    now[0] += 3599
    assert drive(mock.create_payment(request(), call)) == first
    with pytest.raises(IdempotencyKeyReused):
        drive(mock.create_payment(request(amount=1), call))
    now[0] += 2  # past retention: the key is new again, with any parameters
    fresh = drive(mock.create_payment(request(amount=1), call))
    assert fresh.id != first.id and fresh.amount == 1
    assert mock.ledger.count_payments() == 2
