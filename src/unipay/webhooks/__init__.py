"""Receive provider webhooks: ``WebhookApp`` (ASGI) and Standard Webhooks signature helpers.

from unipay.webhooks import WebhookApp
app = WebhookApp(gateway)

@app.on("payment.succeeded")
async def fulfil(event: WebhookEvent) -> None: ...
"""

from unipay.storage.progress import PAYMENT_STATUS_ORDER, advance_payment
from unipay.webhooks.app import WebhookApp
from unipay.webhooks.delivery import Handler, Outcome
from unipay.webhooks.signatures import (
    DEFAULT_TOLERANCE,
    StandardWebhooks,
    VerifiedDelivery,
    WebhookSecret,
    parse_secrets,
    sign_headers,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "PAYMENT_STATUS_ORDER",
    "Handler",
    "Outcome",
    "StandardWebhooks",
    "VerifiedDelivery",
    "WebhookApp",
    "WebhookSecret",
    "advance_payment",
    "parse_secrets",
    "sign_headers",
    "verify",
]
