"""Adyen's minor units, where they differ from ISO 4217.

unipay amounts are integers in ISO 4217 minor units (`unipay.money`). Adyen's API agrees for every
currency but four (https://docs.adyen.com/development-resources/currency-codes, "differs from
standard"): CLP and ISK, which ISO gives no decimals, have two at Adyen; CVE and IDR, which ISO
gives two, have none. The conversion happens here and nowhere else, so callers never meet it.
"""

from __future__ import annotations

from unipay.errors import InvalidRequest
from unipay.money import exponent, format_amount

#: Digits after the point in Adyen's API where they differ from ISO 4217.
ADYEN_EXPONENTS: dict[str, int] = {"CLP": 2, "CVE": 0, "IDR": 0, "ISK": 2}


def _shift(currency: str) -> int:
    """Adyen's exponent minus ISO's: 2 for CLP and ISK, -2 for CVE and IDR, else 0."""
    override = ADYEN_EXPONENTS.get(currency.upper())
    return 0 if override is None else override - exponent(currency)


def to_adyen_amount(amount: int, currency: str, *, param: str = "amount") -> int:
    """An ISO minor-unit amount as Adyen's ``value``, or InvalidRequest when Adyen cannot take it
    exactly (IDR and CVE in whole units only)."""
    shift = _shift(currency)
    if shift >= 0:
        return amount * int(10**shift)
    unit = int(10**-shift)
    if amount % unit:
        raise InvalidRequest(
            f"Adyen takes {currency.upper()} in whole units only; "
            f"{format_amount(amount, currency)} is not a whole amount.",
            param=param,
            code="invalid_amount",
        )
    return amount // unit


def from_adyen_amount(value: int, currency: str) -> int:
    """Adyen's ``value`` in ISO minor units. ValueError when it has a fraction unipay cannot hold
    (a CLP or ISK value that is not whole pesos or krónur): never rounded."""
    shift = _shift(currency)
    if shift <= 0:
        return value * int(10**-shift)
    unit = int(10**shift)
    if value % unit:
        raise ValueError(
            f"Adyen's {currency.upper()} value {value} has a fraction of the ISO minor unit"
        )
    return value // unit
