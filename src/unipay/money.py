"""Currencies and amounts: integers in the currency's minor unit, ISO 4217 codes with exponents.

The table is written out here rather than taken from a library because none of the small,
well-kept ones carries the minor-unit exponent we need (pycountry has codes only). It lists the
active ISO 4217 currencies you can be paid in: funds codes, precious metals, XDR and the test code
XTS are left out on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from unipay.errors import InvalidRequest

#: The largest amount unipay accepts in minor units (Stripe's limit: eight digits).
MAX_AMOUNT = 99_999_999

_EXPONENT_GROUPS: dict[int, str] = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
    2: (
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
        "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
        "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
        "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
        "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
        "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
        "TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
    ),
}

#: ISO 4217 code -> number of digits after the decimal point.
CURRENCY_EXPONENTS: dict[str, int] = {
    code: exponent for exponent, codes in _EXPONENT_GROUPS.items() for code in codes.split()
}


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code, or raise ValueError saying what is wrong.

    A refused value is not repeated in the message: a card number typed into the wrong field
    would otherwise end up in logs and error reports. Three letters cannot be one, so an unknown
    code is named.
    """
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(
            "currency must be a three-letter ISO 4217 code such as 'USD' "
            f"(got {len(code)} characters, not repeated here)"
        )
    upper = code.upper()
    if upper not in CURRENCY_EXPONENTS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency you can be paid in")
    return upper


def exponent(currency: str) -> int:
    """Digits after the decimal point: 2 for USD, 0 for JPY, 3 for KWD."""
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def format_amount(amount: int, currency: str) -> str:
    """Human form of a minor-unit amount: ``format_amount(1299, "USD") == "12.99 USD"``."""
    digits = exponent(currency)
    value = Decimal(amount).scaleb(-digits)
    return f"{value:.{digits}f} {currency.upper()}"


#: A currency code; lower case is accepted and normalised, anything else is refused.
Currency = Annotated[str, Strict(), AfterValidator(normalize_currency)]

#: A positive amount in minor units. Floats and strings are refused: 12.99 is never 1299.
Amount = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT)]


#: Major units above 10**18 are no amount of money; refusing them bounds the integer arithmetic.
_MAX_MAJOR_DIGITS = 18


def _currency_param(currency: str) -> tuple[str, int]:
    try:
        code = normalize_currency(currency)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="currency") from None
    return code, CURRENCY_EXPONENTS[code]


def to_minor_units(amount: Decimal | str | int, currency: str) -> int:
    """The integer amount unipay takes, from a major-unit amount: ``("12.99", "USD") -> 1299``.

    Exact: the amount is read as a ``Decimal`` (never a float, which cannot hold 12.99), and an
    amount finer than the currency's minor unit (``"12.999"`` USD, ``"1.5"`` JPY) is refused
    rather than rounded, because rounding money silently is a bug the payer or you pay for.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | str | int):
        raise InvalidRequest(
            f"amount must be a Decimal, a str such as '12.99' or an int, not "
            f"{type(amount).__name__}: a float cannot hold most prices exactly, so pass "
            "Decimal(...) or the string you read",
            param="amount",
        )
    code, digits = _currency_param(currency)
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise InvalidRequest(
            "amount must be a decimal number such as '12.99' (digits, one '.', no thousands "
            "separators or currency symbols)",
            param="amount",
        ) from None
    if not value.is_finite():
        raise InvalidRequest("amount must be a finite number such as '12.99'", param="amount")
    if value.is_zero():
        return 0
    if value.is_signed():
        raise InvalidRequest(
            "amount must not be negative: unipay amounts are sizes (a refund is its own call, "
            "refund_payment, with a positive amount)",
            param="amount",
        )
    if value.adjusted() > _MAX_MAJOR_DIGITS:
        raise InvalidRequest(
            f"amount {value:.3e} is too large to be an amount of money", param="amount"
        )
    # Exact integer arithmetic on the digits: Decimal arithmetic rounds to 28 significant digits,
    # which would turn "12.99999999999999999999999999999" into an exact-looking 1300.
    _, coefficient, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite
    places = list(coefficient)
    shift = exp + digits
    while shift < 0 and places[-1] == 0:
        places.pop()
        shift += 1
    if shift < 0:
        raise InvalidRequest(
            f"{code} has {digits} digit{'' if digits == 1 else 's'} after the decimal point, so "
            f"{value} cannot be charged exactly: round it yourself to {digits} "
            f"place{'' if digits == 1 else 's'} (e.g. with Decimal.quantize) before converting",
            param="amount",
        )
    minor: int = int("".join(map(str, places))) * 10**shift
    return minor


def from_minor_units(amount: int, currency: str) -> Decimal:
    """The major-unit ``Decimal`` for an integer amount: ``(1299, "USD") -> Decimal("12.99")``.

    The result carries the currency's places (``Decimal("10.00")``, ``Decimal("500")`` for JPY),
    so ``str()`` of it is ready to show or to send to an API that wants ``"10.00"``.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidRequest(
            f"amount must be an int in minor units (1299 for 12.99 USD), not "
            f"{type(amount).__name__}; use to_minor_units() for '12.99'",
            param="amount",
        )
    _, digits = _currency_param(currency)
    return Decimal(amount).scaleb(-digits)


class ProviderUnits:
    """A provider's minor units where they differ from ISO 4217's (Stripe keeps ISK two-decimal;
    some providers give CLP two decimals and IDR none), converted in one place so a plugin's callers
    only ever meet ISO minor units. Never rounds: an amount the provider cannot hold exactly is
    refused, one the provider sent that unipay cannot hold is an error."""

    def __init__(self, provider: str, exponents: Mapping[str, int]) -> None:
        """``exponents``: the provider's digits after the point, for the currencies where they
        differ from ISO 4217."""
        self.provider = provider
        self._exponents = {code.upper(): digits for code, digits in exponents.items()}

    def _shift(self, currency: str) -> int:
        override = self._exponents.get(currency.upper())
        return 0 if override is None else override - exponent(currency)

    def to_provider(self, amount: int, currency: str, *, param: str = "amount") -> int:
        """An ISO minor-unit amount in the provider's units; InvalidRequest naming ``param``
        when the provider cannot take it exactly (whole units only)."""
        shift = self._shift(currency)
        if shift >= 0:
            return amount * int(10**shift)
        unit = int(10**-shift)
        if amount % unit:
            raise InvalidRequest(
                f"{self.provider} takes {currency.upper()} in whole units only; "
                f"{format_amount(amount, currency)} is not a whole amount.",
                param=param,
                code="invalid_amount",
            )
        return amount // unit

    def from_provider(self, value: int, currency: str) -> int:
        """The provider's amount in ISO minor units; ValueError when it has a fraction of the
        ISO minor unit (never rounded)."""
        shift = self._shift(currency)
        if shift <= 0:
            return value * int(10**-shift)
        unit = int(10**shift)
        if value % unit:
            raise ValueError(
                f"{self.provider}'s {currency.upper()} amount {value} has a fraction of the "
                "ISO minor unit"
            )
        return value // unit
