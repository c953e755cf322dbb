"""The request bodies unipay-adyen sends, typed after Adyen's Checkout API v71 schemas.

Field names and required fields follow ``components/schemas`` of ``json/CheckoutService-v71.json``
in https://github.com/Adyen/adyen-openapi, so mypy catches a misspelt field; the tests validate
every body sent against those schemas (kept as fixtures in ``tests/schemas``). Only the fields
this plugin sends are declared.
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict


class Amount(TypedDict):
    """``Amount``: ``value`` in Adyen's minor units (see `unipay_adyen.currencies`)."""

    value: int
    currency: str


ShopperInteraction = Literal["Ecommerce", "ContAuth", "Moto", "POS"]
RecurringProcessingModel = Literal["CardOnFile", "Subscription", "UnscheduledCardOnFile"]
RefundReason = Literal["FRAUD", "CUSTOMER REQUEST", "RETURN", "DUPLICATE", "OTHER"]


class PaymentRequest(TypedDict, total=False):
    """``POST /payments``."""

    amount: Required[Amount]
    merchantAccount: Required[str]
    paymentMethod: Required[dict[str, Any]]
    reference: Required[str]
    returnUrl: Required[str]
    additionalData: dict[str, str]
    captureDelayHours: int
    metadata: dict[str, str]
    recurringProcessingModel: RecurringProcessingModel
    shopperEmail: str
    shopperInteraction: ShopperInteraction
    shopperReference: str


class PaymentDetailsRequest(TypedDict, total=False):
    """``POST /payments/details``: what the shopper's return (or a Component) gave."""

    details: Required[dict[str, str]]
    paymentData: str


class PaymentCaptureRequest(TypedDict, total=False):
    """``POST /payments/{paymentPspReference}/captures``."""

    amount: Required[Amount]
    merchantAccount: Required[str]
    reference: str


class PaymentRefundRequest(TypedDict, total=False):
    """``POST /payments/{paymentPspReference}/refunds``."""

    amount: Required[Amount]
    merchantAccount: Required[str]
    merchantRefundReason: RefundReason
    reference: str


class PaymentCancelRequest(TypedDict, total=False):
    """``POST /payments/{paymentPspReference}/cancels``."""

    merchantAccount: Required[str]
    reference: str
