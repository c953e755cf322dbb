"""What a provider plugin implements, and the capabilities it declares as data.

A provider subclasses [`Provider`][unipay.provider.Provider] and implements the six operations
synchronously. For a natively asynchronous face it may also define ``async def a<operation>`` with
the same arguments (``acreate_payment``, ``acapture_payment``, ...);
[`AsyncGateway`][unipay.gateway.AsyncGateway] awaits those when present and otherwise runs the
synchronous method in a worker thread, so the event loop is never blocked either way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from unipay.errors import InvalidRequest, UnsupportedOperation
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundPaymentRequest,
    WebhookEvent,
    WebhookEventType,
)
from unipay.money import MAX_AMOUNT, format_amount

#: The operations a provider implements, by method name.
OPERATIONS = (
    "create_payment",
    "confirm_payment",
    "capture_payment",
    "cancel_payment",
    "refund_payment",
    "retrieve_payment",
)


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do. The gateway refuses anything else before calling the provider."""

    manual_capture: bool = False
    partial_capture: bool = False
    partial_refunds: bool = False
    multiple_refunds: bool = False
    cancel: bool = False
    webhooks: bool = False
    #: Upper-case ISO 4217 codes accepted; None: every currency in [`unipay.money`][unipay.money].
    currencies: frozenset[str] | None = None
    #: Smallest chargeable amount per currency, in minor units.
    minimum_amounts: Mapping[str, int] = field(default_factory=dict)
    maximum_amount: int = MAX_AMOUNT

    def check_amount(self, provider: str, amount: int, currency: str) -> None:
        if self.currencies is not None and currency not in self.currencies:
            raise UnsupportedOperation(
                f"Provider {provider!r} does not accept {currency}; it accepts "
                f"{', '.join(sorted(self.currencies))}.",
                provider=provider,
                operation="create_payment",
            )
        minimum = self.minimum_amounts.get(currency, 1)
        if amount < minimum:
            raise InvalidRequest(
                f"Amount {format_amount(amount, currency)} is below {provider!r}'s minimum of "
                f"{format_amount(minimum, currency)}.",
                param="amount",
                code="amount_too_small",
            )
        if amount > self.maximum_amount:
            raise InvalidRequest(
                f"Amount {format_amount(amount, currency)} is above {provider!r}'s maximum of "
                f"{format_amount(self.maximum_amount, currency)}.",
                param="amount",
                code="amount_too_large",
            )


@dataclass(frozen=True)
class CallContext:
    """Per-call facts a provider needs besides the request."""

    #: Forward this to the provider so that a retry, even from another process, is deduplicated.
    idempotency_key: str
    #: 1 for the first try, 2 for the gateway's first retry, and so on.
    attempt: int = 1


class Provider(ABC):
    """Base class of provider implementations.

    ``name`` is set from the registration. Raise [`unipay.errors`][unipay.errors] exceptions:
    ``PaymentDeclined`` for declines, ``ProviderUnavailable`` for anything transient (the gateway
    retries those with the same idempotency key), ``InvalidRequest`` for bad input.
    """

    name: str = ""
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment: ...

    @abstractmethod
    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment: ...

    @abstractmethod
    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment: ...

    @abstractmethod
    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment: ...

    @abstractmethod
    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund: ...

    @abstractmethod
    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment: ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Check the signature and turn the delivery into a unified event.

        Raise [`WebhookVerificationError`][unipay.errors.WebhookVerificationError] for anything
        not properly signed.
        """
        raise UnsupportedOperation(
            f"Provider {self.name!r} does not receive webhooks.",
            provider=self.name,
            operation="verify_webhook",
        )

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        """Optional: a delivery of ``event_type`` about ``payment``, signed as the provider signs
        its own, to test a webhook endpoint (``unipay webhooks sign``; the conformance suite's
        default ``signed_delivery``). Return ``(body, headers)``; the body is the provider's own
        event JSON, so [`verify_webhook`][unipay.provider.Provider.verify_webhook] accepts it.
        """
        raise UnsupportedOperation(
            f"Provider {self.name!r} cannot sign test webhook deliveries (its plugin does not "
            "implement Provider.sign_test_delivery).",
            provider=self.name,
            operation="sign_test_delivery",
        )

    def close(self) -> None:  # noqa: B027 - optional: most providers hold nothing to release
        """Release connections; called by ``Gateway.close()`` (``aclose`` when defined)."""

    def __repr__(self) -> str:
        # Subclasses hold credentials: never let a default repr print them.
        return f"<{type(self).__name__} {self.name!r}>"
