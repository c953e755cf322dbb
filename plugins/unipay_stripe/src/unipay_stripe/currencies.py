"""Stripe's currency rules: minimum charges, and where its amounts differ from ISO 4217 minor units.

unipay amounts are in ISO 4217 minor units. Stripe's API agrees for almost every currency; the
exceptions are documented at https://docs.stripe.com/currencies#special-cases and handled here,
so that callers never need to know them.
"""

from __future__ import annotations

from unipay.errors import InvalidRequest
from unipay.money import ProviderUnits, format_amount

#: Digits after the point in Stripe's API where they differ from ISO 4217: ISK stays two-decimal
#: for backwards compatibility (whole krónur only), MGA is zero-decimal at Stripe.
_STRIPE_EXPONENT_OVERRIDES: dict[str, int] = {"ISK": 2, "MGA": 0}

#: Three-decimal currencies: Stripe requires the last digit to be 0.
_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

#: Stripe's minimum charge amounts, in ISO minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_AMOUNTS: dict[str, int] = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50,
    "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300,
    "SGD": 50, "THB": 1000,
}  # fmt: skip


_UNITS = ProviderUnits("Stripe", _STRIPE_EXPONENT_OVERRIDES)


def to_stripe_amount(amount: int, currency: str, *, param: str = "amount") -> int:
    """An ISO minor-unit amount as Stripe expects it, or InvalidRequest if Stripe cannot take it."""
    currency = currency.upper()
    if currency in _THREE_DECIMAL and amount % 10:
        raise InvalidRequest(
            f"Stripe requires {currency} amounts to end in 0 (whole tens of the minor unit); "
            f"round {format_amount(amount, currency)} to the nearest ten.",
            param=param,
            code="invalid_amount",
        )
    return _UNITS.to_provider(amount, currency, param=param)


def from_stripe_amount(amount: int, currency: str) -> int:
    """A Stripe amount in ISO minor units (the inverse of :func:`to_stripe_amount`)."""
    return _UNITS.from_provider(amount, currency)
