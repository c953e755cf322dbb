"""Currencies and amounts: integers in the currency's minor unit, ISO 4217 codes with exponents.

The table is written out here rather than taken from a library because none of the small,
well-kept ones carries the minor-unit exponent we need (pycountry has codes only). It lists the
active ISO 4217 currencies you can be paid in: funds codes, precious metals, XDR and the test code
XTS are left out on purpose.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

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
    """Return the upper-case ISO 4217 code, or raise ValueError saying what is wrong."""
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(
            f"currency must be a three-letter ISO 4217 code such as 'USD', got {code!r}"
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
