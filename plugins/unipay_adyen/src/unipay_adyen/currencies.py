"""Adyen's minor units, where they differ from ISO 4217.

unipay amounts are integers in ISO 4217 minor units (`unipay.money`). Adyen's API agrees for every
currency but four (https://docs.adyen.com/development-resources/currency-codes, "differs from
standard"): CLP and ISK, which ISO gives no decimals, have two at Adyen; CVE and IDR, which ISO
gives two, have none. The conversion happens here and nowhere else, so callers never meet it.
"""

from __future__ import annotations

from unipay.money import ProviderUnits

#: Digits after the point in Adyen's API where they differ from ISO 4217.
ADYEN_EXPONENTS: dict[str, int] = {"CLP": 2, "CVE": 0, "IDR": 0, "ISK": 2}


_UNITS = ProviderUnits("Adyen", ADYEN_EXPONENTS)


def to_adyen_amount(amount: int, currency: str, *, param: str = "amount") -> int:
    """An ISO minor-unit amount as Adyen's ``value``, or InvalidRequest when Adyen cannot take it
    exactly (IDR and CVE in whole units only)."""
    return _UNITS.to_provider(amount, currency, param=param)


def from_adyen_amount(value: int, currency: str) -> int:
    """Adyen's ``value`` in ISO minor units. ValueError when it has a fraction unipay cannot hold
    (a CLP or ISK value that is not whole pesos or krónur): never rounded."""
    return _UNITS.from_provider(value, currency)
