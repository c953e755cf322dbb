"""Stripe's test payment-method tokens and what the mock does with each.

The same tokens work against Stripe's test mode, so test data moves between the two unchanged.
"""

from __future__ import annotations

#: Confirming with this token stops at ``requires_action`` (a 3-D Secure style redirect).
AUTHENTICATION_REQUIRED = "pm_card_authenticationRequired"

#: Used when a payment is created without a payment method, as the sandbox did.
DEFAULT_CARD = "pm_card_visa"

SUCCEEDING = frozenset(
    {
        "pm_card_visa",
        "pm_card_visa_debit",
        "pm_card_mastercard",
        "pm_card_mastercard_debit",
        "pm_card_amex",
        "pm_card_discover",
        "pm_card_jcb",
        "pm_card_unionpay",
    }
)

#: token -> decline code, as Stripe reports them.
DECLINES: dict[str, str] = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedLostCard": "lost_card",
    "pm_card_chargeDeclinedStolenCard": "stolen_card",
    "pm_card_chargeDeclinedFraudulent": "fraudulent",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeDeclinedIncorrectCvc": "incorrect_cvc",
    "pm_card_chargeDeclinedProcessingError": "processing_error",
}

DECLINE_MESSAGES: dict[str, str] = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
}


def known(token: str) -> bool:
    return token in SUCCEEDING or token in DECLINES or token == AUTHENTICATION_REQUIRED


def describe() -> str:
    """The accepted tokens, for the error an unknown one gets: the mock checks its own tokens."""
    return (
        f"{', '.join(sorted(SUCCEEDING))} (succeed); {', '.join(DECLINES)} (decline); "
        f"{AUTHENTICATION_REQUIRED} (3-D Secure)"
    )
