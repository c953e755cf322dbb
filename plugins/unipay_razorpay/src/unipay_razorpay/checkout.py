"""Razorpay Checkout's signed answer: what the customer's browser hands back after paying.

Checkout's ``handler`` receives ``razorpay_payment_id``, ``razorpay_order_id`` and
``razorpay_signature``, the hex HMAC-SHA256 of ``"<order_id>|<payment_id>"`` keyed by the API key
secret (docs: payment verification; the official SDK's ``verify_payment_signature``). Only
Razorpay and the merchant know the secret, so a valid signature proves Razorpay issued that
payment for that order; unipay checks it before any request is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from unipay.errors import InvalidRequest

FIELDS = ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
#: Razorpay's ids: a prefix and letters or digits (they go into URL paths, so nothing else).
PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9]{1,40}")
ORDER_ID = re.compile(r"order_[A-Za-z0-9]{1,40}")
_HEX = re.compile(r"[0-9a-f]{64}")


def payment_signature(order_id: str, payment_id: str, secret: str) -> str:
    """The signature Razorpay gives Checkout's handler for this payment of this order."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verified_payment_id(order_id: str, result: Mapping[str, Any] | None, secret: str) -> str:
    """The Razorpay payment id of Checkout's answer ``result`` for ``order_id``, once its
    signature is checked; ``InvalidRequest(param="action_result")`` for anything else. Messages
    name what is wrong, never the signature."""
    if result is None:
        raise _invalid(
            "confirm_payment needs action_result: the object Razorpay Checkout's handler "
            f"received ({', '.join(FIELDS)})."
        )
    missing = [name for name in FIELDS if not isinstance(result.get(name), str)]
    if missing:
        raise _invalid(f"action_result lacks {', '.join(missing)} (Checkout's handler has them).")
    payment_id, answered_for, signature = (str(result[name]) for name in FIELDS)
    if not PAYMENT_ID.fullmatch(payment_id):
        raise _invalid("razorpay_payment_id is not a Razorpay payment id (pay_...).")
    if answered_for != order_id:
        raise _invalid(
            "razorpay_order_id is not this payment's order: the checkout paid another order."
        )
    expected = payment_signature(order_id, payment_id, secret)
    if not (_HEX.fullmatch(signature) and hmac.compare_digest(expected, signature)):
        raise _invalid(
            "razorpay_signature does not match: the answer was not issued by Razorpay for this "
            "order and payment, or was changed on the way (or the key secret is another "
            "account's).",
            code="invalid_signature",
        )
    return payment_id


def _invalid(message: str, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param="action_result", code=code)
