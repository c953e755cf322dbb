"""What a provider plugin implements, and the capabilities it declares as data.

A provider subclasses [`Provider`][unipay.provider.Provider]. Since 0.2 each operation is written
once, as a flow: a generator that yields its I/O as effects and returns the result::

    def create_payment(self, request, ctx) -> Flow[Payment]:
        answer = yield from self.http.post("/charges", json={...}, headers={...})
        return read_charge(answer)

`Gateway` performs the effects with blocking calls and `AsyncGateway` with awaited ones
([`HttpClient`][unipay.http.HttpClient] sends with an ``httpx.Client`` or an
``httpx.AsyncClient``), so one method serves both faces. A provider built on a synchronous SDK
yields ``call(sdk_function, ...)``, which the async face runs in a worker thread, or
``call_either(sdk_function, sdk_function_async, ...)`` to await the SDK's own async twin.
``Flow``, ``Sleep``, ``call``, ``call_either`` and ``no_io`` are importable from here.

0.1's plain methods (``def create_payment(...) -> Payment``, with an optional ``async def
acreate_payment``) still work: the gateway calls the plain method, in a worker thread on the async
face, and awaits the ``a<operation>`` twin when there is one. They are deprecated (see the
changelog): a flow is shorter and gives both faces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias, TypeVar

from unipay._flow import Flow, Sleep, call, call_either, no_io
from unipay.errors import InvalidRequest, UnsupportedOperation
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundPaymentRequest,
    StructuredPaymentMethod,
    WebhookEvent,
    WebhookEventType,
)
from unipay.money import MAX_AMOUNT, format_amount

__all__ = [
    "Answer",
    "CallContext",
    "Capabilities",
    "Flow",
    "NextActionKind",
    "Provider",
    "Sleep",
    "call",
    "call_either",
    "no_io",
]

T = TypeVar("T")
#: The modifications a provider may settle later.
SettlingOperation = Literal["capture", "cancel", "refund"]
#: What an operation returns: a flow (0.2), or the result itself (0.1's plain methods).
Answer: TypeAlias = Flow[T] | T


class NextActionKind(StrEnum):
    """What a customer may have to do before a payment goes on."""

    #: Authenticate the card with the bank (3-D Secure), on a page or in a challenge frame.
    THREE_D_SECURE = "three_d_secure"
    #: Finish paying on another page (a bank, a wallet, a local payment method).
    REDIRECT = "redirect"
    #: Pay in the provider's own client checkout against an order the server created.
    CLIENT_CHECKOUT = "client_checkout"


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do. The gateway refuses anything else before calling the provider."""

    manual_capture: bool = False
    partial_capture: bool = False
    partial_refunds: bool = False
    multiple_refunds: bool = False
    cancel: bool = False
    webhooks: bool = False
    #: ``create_payment(confirm=False)`` then ``confirm_payment``: a separate confirm step.
    confirmation: bool = True
    #: The next actions a payment may require (``requires_action`` with ``next_action``);
    #: empty: payments never wait on the customer.
    next_actions: frozenset[NextActionKind] = frozenset()
    #: The provider deduplicates requests by the idempotency key it is sent. Without it the
    #: gateway never re-sends a call whose outcome is in doubt (docs/concepts.md, guarantees).
    idempotency_keys: bool = True
    #: ``lookup`` finds what a call did by the merchant reference sent with it
    #: (``CallContext.reference``): how an in-doubt call is settled without idempotency keys.
    lookup_by_reference: bool = False
    #: ``retrieve_payment`` asks the provider for a payment's current state.
    retrieve: bool = True
    #: Modifications answered "accepted" that settle later, by webhook: True for captures,
    #: cancels and refunds alike, or the ones that do (``frozenset({"refund"})``). The returned
    #: payment lists a pending capture or cancel in ``pending``; a refund is ``pending``.
    settles_later: bool | frozenset[SettlingOperation] = False
    #: A decline carries the payment it declined (``PaymentDeclined.payment``).
    declines_include_payment: bool = False
    #: Upper-case ISO 4217 codes accepted; None: every currency in [`unipay.money`][unipay.money].
    currencies: frozenset[str] | None = None
    #: Smallest chargeable amount per currency, in minor units.
    minimum_amounts: Mapping[str, int] = field(default_factory=dict)
    maximum_amount: int = MAX_AMOUNT

    def settles(self, operation: SettlingOperation) -> bool:
        """Whether ``operation`` ("capture", "cancel" or "refund") settles later."""
        later = self.settles_later
        return later if isinstance(later, bool) else operation in later

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
    #: unipay's merchant reference for this call, the same on every attempt and in every process
    #: (derived from the idempotency key, at most 39 characters of ``[a-z0-9-]``). Send it as
    #: the provider's own merchant reference field (an order's or payment's reference):
    #: ``lookup`` finds the call's outcome by it.
    reference: str = ""
    #: For an operation on an existing payment of a provider without ``Capabilities.retrieve``
    #: (and for refunds and partial captures, whose checks read it): the payment as this
    #: gateway's store last saw it (None if it never saw it, or not read). What a provider that
    #: cannot retrieve payments needs to know of one (its amount and currency), wherever the
    #: payment was created.
    payment: Payment | None = None


class Provider(ABC):
    """Base class of provider implementations.

    ``name`` is set from the registration. Raise [`unipay.errors`][unipay.errors] exceptions:
    ``PaymentDeclined`` for declines, ``ProviderUnavailable`` for anything transient (the gateway
    retries those with the same idempotency key), ``InvalidRequest`` for bad input.
    """

    name: str = ""
    capabilities: Capabilities = Capabilities()
    #: The exact body the provider expects in answer to a delivery it may consider handled
    #: (a fixed text such as ``"[accepted]"``); None answers unipay's JSON receipt.
    webhook_acknowledgement: str | None = None

    @abstractmethod
    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Answer[Payment]:
        """Create the payment and, when ``request.confirm``, attempt it. A decline raises
        ``PaymentDeclined`` (with the payment when the provider returns one)."""

    @abstractmethod
    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Answer[Refund]:
        """Refund ``request.amount`` (None: all that is left) of a succeeded payment."""

    # The rest is optional: each is declared by a capability, and the gateway refuses a call
    # the capabilities rule out before it reaches the provider.

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Answer[Payment]:
        """With ``Capabilities.confirmation``: attempt a payment created with confirm=False,
        or complete a next action."""
        raise self._lacks("confirm_payment")

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Answer[Payment]:
        """With ``Capabilities.manual_capture``: capture an authorized payment."""
        raise self._lacks("capture_payment")

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Answer[Payment]:
        """With ``Capabilities.cancel``: cancel a payment that has not succeeded."""
        raise self._lacks("cancel_payment")

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Answer[Payment]:
        """With ``Capabilities.retrieve``: the payment's current state at the provider."""
        raise self._lacks("retrieve_payment")

    def lookup(
        self, operation: str, provider_payment_id: str | None, ctx: CallContext
    ) -> Answer[Payment | Refund | None]:
        """With ``Capabilities.lookup_by_reference``: what the call ``operation`` made with
        ``ctx.reference`` did (the payment it created or changed, the refund it made), or None
        if the provider never acted on it. ``provider_payment_id`` is None for
        ``create_payment``."""
        raise self._lacks("lookup")

    def token(
        self, payment_method: str | StructuredPaymentMethod | None, *, prefixes: tuple[str, ...]
    ) -> str | None:
        """``payment_method`` if it is one of this provider's tokens (it starts with one of
        ``prefixes``), None if absent; else ``InvalidRequest`` saying what the provider takes.
        The core checks no format (any provider's token passes it): this is each provider's."""
        if payment_method is None or (
            isinstance(payment_method, str) and payment_method.startswith(prefixes)
        ):
            return payment_method
        kind = "a structured payment method" if isinstance(payment_method, dict) else "this token"
        raise InvalidRequest(
            f"Provider {self.name!r} does not take {kind}: pass its payment-method token, "
            f"starting with {' or '.join(repr(p) for p in prefixes)}.",
            param="payment_method",
        )

    def _lacks(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(
            f"Provider {self.name!r} does not implement {operation}; its capabilities should "
            "say so (docs/concepts.md, capabilities).",
            provider=self.name,
            operation=operation,
        )

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str]
    ) -> WebhookEvent | list[WebhookEvent]:
        """Check the signature and turn the delivery into a unified event, or into a list of
        them for a provider that batches events in one delivery (each is deduplicated and
        dispatched on its own).

        Raise [`WebhookVerificationError`][unipay.errors.WebhookVerificationError] for anything
        not properly signed. The async face runs it in a worker thread, unless it is marked
        [`no_io`][unipay.provider.no_io]: mark it when it only checks a signature and parses (no
        key fetched, no database read), so that it runs on the event loop, without the hop.
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

    def close(self) -> Answer[None]:
        """Release connections; called by ``Gateway.close()`` and ``AsyncGateway.aclose()``.

        The default closes ``self.http`` (an [`HttpClient`][unipay.http.HttpClient]) if the
        provider has one. Override it as a flow, or as 0.1's plain ``close`` (with ``aclose``)."""
        http = getattr(self, "http", None)
        if http is not None:
            yield from call(http.close)
        return None

    def __repr__(self) -> str:
        # Subclasses hold credentials: never let a default repr print them.
        return f"<{type(self).__name__} {self.name!r}>"
