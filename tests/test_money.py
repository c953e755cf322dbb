"""unipay.money's amount helpers: exact both ways, and refusals that say what to do."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from unipay.errors import InvalidRequest
from unipay.money import ProviderUnits, from_minor_units, normalize_currency, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.99", "USD", 1299),
        (Decimal("12.99"), "usd", 1299),
        ("10", "USD", 1000),
        (" 10.00 ", "EUR", 1000),
        ("12.990000000000000000000000000000000", "USD", 1299),  # trailing zeros are exact
        (7, "USD", 700),
        ("0", "USD", 0),
        ("500", "JPY", 500),  # zero-decimal
        (Decimal("1E+3"), "JPY", 1000),
        ("1.234", "KWD", 1234),  # three-decimal
        ("0.005", "BHD", 5),
        ("99999999999999999.99", "USD", 9_999_999_999_999_999_999),  # no float anywhere
    ],
)
def test_to_minor_units_is_exact(amount: Any, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [(1299, "USD", "12.99"), (1000, "usd", "10.00"), (500, "JPY", "500"), (1234, "KWD", "1.234")],
)
def test_from_minor_units_keeps_the_currency_places(minor: int, currency: str, major: str) -> None:
    value = from_minor_units(minor, currency)
    assert isinstance(value, Decimal)
    assert str(value) == major
    assert to_minor_units(value, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "advice"),
    [
        ("12.999", "USD", "round it yourself to 2 places"),
        ("1.5", "JPY", "round it yourself to 0 places"),
        ("1.2345", "KWD", "round it yourself to 3 places"),
        # 32 significant digits: Decimal's own arithmetic would round this to 1300.
        ("12.99999999999999999999999999999", "USD", "round it yourself"),
        (12.99, "USD", "a float cannot hold most prices exactly"),
        (True, "USD", "not bool"),
        ("1,299.00", "USD", "no thousands separators"),
        ("$12.99", "USD", "currency symbols"),
        ("NaN", "USD", "finite"),
        ("-Infinity", "USD", "finite"),
        ("-1.00", "USD", "must not be negative"),
        ("1e999999999", "USD", "too large"),
    ],
)
def test_to_minor_units_refuses_what_it_cannot_convert_exactly(
    amount: Any, currency: str, advice: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_minor_units(amount, currency)
    assert caught.value.param == "amount"
    assert advice in caught.value.message


@pytest.mark.parametrize("bad", [12.99, Decimal("12.99"), "1299", True])
def test_from_minor_units_wants_an_int(bad: Any) -> None:
    with pytest.raises(InvalidRequest, match="minor units") as caught:
        from_minor_units(bad, "USD")
    assert caught.value.param == "amount"


@pytest.mark.parametrize("currency", ["US", "XXX", "4242424242424242", "dollars"])
def test_helpers_refuse_a_bad_currency_as_a_currency_error(currency: str) -> None:
    for call in (lambda: to_minor_units("1", currency), lambda: from_minor_units(1, currency)):
        with pytest.raises(InvalidRequest) as caught:
            call()
        assert caught.value.param == "currency"


@pytest.mark.parametrize("pan", ["4242424242424242", "4000 0566 5566 5556", "42424242"])
def test_a_refused_currency_is_not_repeated(pan: str) -> None:
    """A card number typed into ``currency`` must not reach logs through the error message."""
    with pytest.raises(ValueError, match="three-letter ISO 4217") as caught:
        normalize_currency(pan)
    assert pan not in str(caught.value)
    assert pan[:4] not in str(caught.value)


def test_provider_units_convert_exactly_or_refuse() -> None:
    """One conversion for every plugin whose provider's minor units differ from ISO 4217's."""
    units = ProviderUnits("Acme", {"ISK": 2, "idr": 0})
    assert units.to_provider(1500, "ISK") == 150000  # ISO: no decimals; Acme: two
    assert units.from_provider(150000, "isk") == 1500
    assert units.to_provider(1500000, "IDR") == 15000  # ISO: two decimals; Acme: none
    assert units.from_provider(15000, "IDR") == 1500000
    assert units.to_provider(1299, "USD") == units.from_provider(1299, "USD") == 1299
    with pytest.raises(InvalidRequest, match="Acme takes IDR in whole units only") as refused:
        units.to_provider(1500050, "IDR", param="amount_to_capture")
    assert refused.value.param == "amount_to_capture" and not refused.value.retriable
    with pytest.raises(ValueError, match="fraction"):
        units.from_provider(150050, "ISK")  # never rounded
