"""Money, currencies and request validation: refused before any provider is called."""

from __future__ import annotations

import pytest

from unipay.errors import InvalidRequest
from unipay.models import (
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    looks_like_card_number,
    parse_request,
    split_id,
)
from unipay.money import exponent, format_amount, normalize_currency


def create(**overrides: object) -> CreatePaymentRequest:
    data: dict[str, object] = {"provider": "mock", "amount": 1299, "currency": "USD"}
    data.update(overrides)
    return parse_request(CreatePaymentRequest, data)


@pytest.mark.parametrize(("code", "digits"), [("JPY", 0), ("USD", 2), ("KWD", 3), ("CLF", 4)])
def test_exponents_follow_iso_4217(code: str, digits: int) -> None:
    assert exponent(code) == digits


@pytest.mark.parametrize(
    ("amount", "code", "shown"),
    [
        (1299, "USD", "12.99 USD"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (5, "EUR", "0.05 EUR"),
    ],
)
def test_format_amount_uses_the_minor_unit(amount: int, code: str, shown: str) -> None:
    assert format_amount(amount, code) == shown


def test_lower_case_currency_is_normalised() -> None:
    assert create(currency="usd").currency == "USD"


@pytest.mark.parametrize("bad", ["usd ", " USD", "XXQ", "US", "USDD", "XAU", "12$", "ÜSD"])
def test_bad_currency_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(currency=bad)
    assert caught.value.param == "currency"
    assert "currency" in str(caught.value)


def test_normalize_currency_explains_the_format() -> None:
    with pytest.raises(ValueError, match="three-letter ISO 4217"):
        normalize_currency("dollars")


@pytest.mark.parametrize("bad", [0, -1, 12.99, 1299.0, "1299", True, 100_000_000])
def test_bad_amounts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(amount=bad)
    assert caught.value.param == "amount"


def test_largest_amount_is_accepted() -> None:
    assert create(amount=99_999_999).amount == 99_999_999


def test_raw_card_number_is_refused_and_never_echoed() -> None:
    pan = "4242 4242 4242 4242"
    with pytest.raises(InvalidRequest) as caught:
        create(payment_method=pan)
    message = str(caught.value)
    assert caught.value.param == "payment_method"
    assert "raw card numbers are refused" in message
    assert "4242" not in message and "4242" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_non_token_payment_method_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="starting with 'pm_'"):
        create(payment_method="card_123")


def test_card_detection_uses_luhn() -> None:
    assert looks_like_card_number("4000-0566-5566-5556")
    assert not looks_like_card_number("4242 4242 4242 4241")  # fails the Luhn check
    assert not looks_like_card_number("order 12345")


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ({"k" * 41: "v"}, "1-40 characters"),
        ({"a[b]": "v"}, r"without '\['"),
        ({"note": "x" * 501}, "longer than 500"),
        ({"card": "4242424242424242"}, "looks like a card number"),
    ],
)
def test_metadata_limits(metadata: dict[str, str], fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment) as caught:
        create(metadata=metadata)
    assert caught.value.param == "metadata"
    assert "4242424242424242" not in str(caught.value)


def test_email_is_checked() -> None:
    assert create(customer_email="demo@example.com").customer_email == "demo@example.com"
    with pytest.raises(InvalidRequest, match="e-mail address"):
        create(customer_email="not-an-email")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="amout"):
        create(amout=5)


def test_payment_id_routes_by_itself() -> None:
    payment = Payment(
        provider="mock",
        provider_payment_id="pi_1",
        status=PaymentStatus.SUCCEEDED,
        amount=1,
        currency="USD",
    )
    assert payment.id == "mock:pi_1"
    assert split_id(payment.id) == ("mock", "pi_1")
    # The id survives a JSON round trip (stores keep payments as JSON).
    assert Payment.model_validate_json(payment.model_dump_json()) == payment


@pytest.mark.parametrize("bad", ["pi_1", ":pi_1", "mock:", "Mock:pi_1", ""])
def test_malformed_payment_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="unipay id such as 'mock:pi_123'"):
        split_id(bad)


def test_a_payment_whose_id_disagrees_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Payment.model_validate(
            {
                "id": "mock:pi_2",
                "provider": "mock",
                "provider_payment_id": "pi_1",
                "status": "succeeded",
                "amount": 1,
                "currency": "USD",
            }
        )
