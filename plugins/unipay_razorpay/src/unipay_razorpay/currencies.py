"""Razorpay's currencies, their minimum amounts, and the three-decimal rule.

Razorpay takes amounts in the currency's smallest sub-unit with the exponents of its list of
supported currencies (docs: payments/international-payments, "Supported Currencies"), which agree
with ISO 4217 for every code listed there except HRK, retired in 2023 and left out here. So
unipay's minor units go to Razorpay unchanged; only the three-decimal rule needs checking.
"""

from __future__ import annotations

from unipay.errors import InvalidRequest
from unipay.money import exponent, format_amount

#: INR and Razorpay's international currencies (its "Supported Currencies" table).
_CODES = """
    AED ALL AMD AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BZD CAD CHF CLP
    CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD GBP GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT LAK LKR LRD LSL MAD
    MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SCR SEK SGD SLL SOS SVC SZL THB TND TRY TTD TWD TZS UAH UGX
    USD UYU UZS VND VUV XAF XCD XOF XPF YER ZAR ZMW
"""
CURRENCIES: frozenset[str] = frozenset(_CODES.split())

#: One unit of the currency: the Orders API refuses less ("The amount must be at least INR 1.00",
#: and "USD 1.00", "MYR 1.00" in its US and Malaysian references). Razorpay publishes no table
#: per currency; where it asks for more, its refusal reaches the caller as InvalidRequest.
MINIMUM_AMOUNTS: dict[str, int] = {code: 10 ** exponent(code) for code in sorted(CURRENCIES)}


def check_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    """Three-decimal currencies (KWD, BHD, OMR, ...) take amounts ending in 0, as Razorpay's
    reference requires ("pass the last decimal number as 0")."""
    if exponent(currency) == 3 and amount % 10:
        raise InvalidRequest(
            f"Razorpay requires {currency} amounts to end in 0 (whole tens of the minor unit); "
            f"round {format_amount(amount, currency)} to the nearest ten.",
            param=param,
            code="invalid_amount",
        )
