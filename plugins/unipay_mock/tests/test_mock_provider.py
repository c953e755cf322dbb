"""The mock provider on its own: Stripe-like idempotency, failure injection, shared ledger files."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from unipay import CallContext, Gateway, PaymentStatus, RetryPolicy
from unipay.errors import (
    IdempotencyKeyReused,
    InvalidPaymentState,
    PaymentDeclined,
    ProviderUnavailable,
)
from unipay.models import ConfirmPaymentRequest, CreatePaymentRequest
from unipay_mock import Ledger, MockProvider


def request(**overrides: object) -> CreatePaymentRequest:
    data: dict[str, object] = {"provider": "mock", "amount": 1299, "currency": "USD"}
    data.update(overrides)
    return CreatePaymentRequest.model_validate(data)


def ctx() -> CallContext:
    return CallContext(idempotency_key=str(uuid.uuid4()))


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider(ledger=Ledger())  # a private ledger: counts start at zero


def test_same_key_same_result_one_charge(mock: MockProvider) -> None:
    call = ctx()
    first = mock.create_payment(request(), call)
    again = mock.create_payment(request(), call)
    assert again == first
    assert mock.ledger.count_payments(created_with_key=call.idempotency_key) == 1
    assert mock.ledger.count_payments() == 1


def test_same_key_other_parameters_is_refused(mock: MockProvider) -> None:
    call = ctx()
    mock.create_payment(request(), call)
    with pytest.raises(IdempotencyKeyReused) as caught:
        mock.create_payment(request(amount=1300), call)
    assert caught.value.provider_code == "idempotency_error"
    assert mock.ledger.count_payments() == 1


def test_a_decline_is_replayed_as_the_same_decline(mock: MockProvider) -> None:
    call = ctx()
    with pytest.raises(PaymentDeclined) as first:
        mock.create_payment(request(payment_method="pm_card_chargeDeclinedExpiredCard"), call)
    with pytest.raises(PaymentDeclined) as again:
        mock.create_payment(request(payment_method="pm_card_chargeDeclinedExpiredCard"), call)
    assert first.value.decline_code == again.value.decline_code == "expired_card"
    assert first.value.payment == again.value.payment
    assert mock.ledger.count_payments() == 1


def test_failure_before_the_work_charges_nothing(mock: MockProvider) -> None:
    mock.fail_next()
    with pytest.raises(ProviderUnavailable) as caught:
        mock.create_payment(request(), ctx())
    assert caught.value.retriable
    assert mock.ledger.count_payments() == 0


def test_failure_after_the_work_is_saved_by_the_key(mock: MockProvider) -> None:
    call = ctx()
    mock.fail_next(after_work=True)
    with pytest.raises(ProviderUnavailable):
        mock.create_payment(request(), call)
    assert mock.ledger.count_payments() == 1  # it did charge, the answer was lost
    recovered = mock.create_payment(request(), call)
    assert recovered.status is PaymentStatus.SUCCEEDED
    assert mock.ledger.count_payments() == 1


def test_the_gateway_retries_transient_failures_with_the_same_key(mock: MockProvider) -> None:
    gateway = Gateway(providers=[mock], retry=RetryPolicy(attempts=3, base_delay=0.001))
    mock.fail_next(after_work=True)
    mock.fail_next()
    payment = gateway.create_payment(
        provider="mock", amount=500, currency="USD", idempotency_key="k-retry"
    )
    assert payment.status is PaymentStatus.SUCCEEDED
    assert mock.ledger.count_payments(created_with_key="k-retry") == 1


def test_the_gateway_gives_up_after_its_attempts(mock: MockProvider) -> None:
    gateway = Gateway(providers=[mock], retry=RetryPolicy(attempts=2, base_delay=0.001))
    mock.fail_next(2)
    with pytest.raises(ProviderUnavailable):
        gateway.create_payment(
            provider="mock", amount=500, currency="USD", idempotency_key="k-give-up"
        )
    assert mock.ledger.count_payments() == 0
    # The key was released: the caller's own retry runs again.
    assert (
        gateway.create_payment(
            provider="mock", amount=500, currency="USD", idempotency_key="k-give-up"
        ).amount
        == 500
    )


def test_failure_rate_is_reproducible_with_a_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        flaky = MockProvider(ledger=Ledger(), failure_rate=0.5, seed=seed)
        results = []
        for _ in range(20):
            try:
                flaky.create_payment(request(), ctx())
                results.append(True)
            except ProviderUnavailable:
                results.append(False)
        return results

    first = outcomes(7)
    assert first == outcomes(7)
    assert 0 < first.count(False) < 20


def test_confirm_is_refused_once_succeeded(mock: MockProvider) -> None:
    payment = mock.create_payment(request(), ctx())
    with pytest.raises(InvalidPaymentState, match="cannot confirm"):
        mock.confirm_payment(payment.provider_payment_id, ConfirmPaymentRequest(), ctx())


def test_a_ledger_file_is_one_provider_for_every_instance(tmp_path: Path) -> None:
    path = str(tmp_path / "mock.db")
    first, second = MockProvider(ledger=Ledger(path)), MockProvider(ledger=Ledger(path))
    call = ctx()
    payment = first.create_payment(request(capture_method="manual"), call)
    assert second.retrieve_payment(payment.provider_payment_id, ctx()) == payment
    assert second.create_payment(request(capture_method="manual"), call) == payment
    assert second.ledger.count_payments() == 1


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNIPAY_MOCK_LATENCY_MS", "25")
    monkeypatch.setenv("UNIPAY_MOCK_FAILURE_RATE", "0.1")
    monkeypatch.setenv("UNIPAY_MOCK_LEDGER", str(tmp_path / "env.db"))
    mock = MockProvider.from_env()
    assert (mock.latency, mock.failure_rate) == (0.025, 0.1)
    assert mock.ledger.path == str(tmp_path / "env.db")


def test_repr_is_short() -> None:
    assert repr(MockProvider()) == "<MockProvider 'mock'>"


def test_keys_expire_like_stripes() -> None:
    now = [1_000_000.0]
    mock = MockProvider(ledger=Ledger(), key_retention=3600, clock=lambda: now[0])
    call = ctx()
    first = mock.create_payment(request(), call)
    now[0] += 3599
    assert mock.create_payment(request(), call) == first
    with pytest.raises(IdempotencyKeyReused):
        mock.create_payment(request(amount=1), call)
    now[0] += 2  # past retention: the key is new again, with any parameters
    fresh = mock.create_payment(request(amount=1), call)
    assert fresh.id != first.id and fresh.amount == 1
    assert mock.ledger.count_payments() == 2
