"""unipay: one typed payments API over many providers, safe to retry.

from unipay import Gateway
payment = Gateway().create_payment(provider="mock", amount=1299, currency="USD",
                                   payment_method="pm_card_visa")
"""

from unipay.gateway import AsyncGateway, Gateway
from unipay.hookspecs import OperationCall, hookimpl
from unipay.idempotency import IdempotencyPolicy, RetryPolicy
from unipay.models import (
    CaptureMethod,
    NextAction,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookEventType,
)
from unipay.provider import CallContext, Capabilities, Provider

__version__ = "0.1.0"

__all__ = [
    "AsyncGateway",
    "CallContext",
    "Capabilities",
    "CaptureMethod",
    "Gateway",
    "IdempotencyPolicy",
    "NextAction",
    "OperationCall",
    "Payment",
    "PaymentStatus",
    "Provider",
    "Refund",
    "RefundStatus",
    "RetryPolicy",
    "WebhookEvent",
    "WebhookEventType",
    "hookimpl",
]
