"""``RazorpayProvider``: orders paid in Razorpay Checkout, captures and refunds, over httpx.

Each operation is one flow (see [`unipay.provider`][unipay.provider]) that yields
``self.http.get/post(...)``: `Gateway` sends with an ``httpx.Client``, `AsyncGateway` with an
``httpx.AsyncClient``, so both faces run the same code without a thread per call. Razorpay's own
SDK (``razorpay``) is synchronous, on ``requests``: the async face would need a worker thread
per call, its retries would multiply the gateway's, and its connection errors would not say
whether the request left the machine, which is what at-most-once needs to know.

Razorpay's Orders and Capture APIs take no idempotency key, so the provider declares
``idempotency_keys=False`` and ``lookup_by_reference=True``: every order carries unipay's
merchant reference as its ``receipt``, every refund as its ``receipt`` too, and ``lookup`` finds
what a call in doubt did by them (docs/providers/razorpay.md, "without idempotency keys").
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
    UnipayError,
    UnsupportedOperation,
)
from unipay.http import HttpClient
from unipay.models import (
    CaptureMethod,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    Refund,
    RefundPaymentRequest,
    StructuredPaymentMethod,
    WebhookEvent,
    WebhookEventType,
)
from unipay.provider import CallContext, Capabilities, Flow, NextActionKind, Provider, no_io
from unipay_razorpay import mapping
from unipay_razorpay.checkout import ORDER_ID, verified_payment_id
from unipay_razorpay.currencies import CURRENCIES, MINIMUM_AMOUNTS, check_amount
from unipay_razorpay.errors import translate
from unipay_razorpay.webhooks import WEBHOOK_SECRET_ENV, WebhookVerifier

KEY_ID_ENV = "RAZORPAY_KEY_ID"
KEY_SECRET_ENV = "RAZORPAY_KEY_SECRET"  # noqa: S105 - a variable name, not a secret
API_BASE_ENV = "RAZORPAY_API_BASE"
ALLOW_LIVE_ENV = "UNIPAY_RAZORPAY_ALLOW_LIVE"
DEFAULT_API_BASE = "https://api.razorpay.com"

_TEST_PREFIX, _LIVE_PREFIX = "rzp_test_", "rzp_live_"
#: Minutes an authorized payment waits for capture before Razorpay refunds it: the most Razorpay
#: allows (docs: capture settings API, ``manual_expiry_period``, at most 7200).
CAPTURE_WINDOW_MINUTES = 7200
#: Refunds listed per page when a refund is looked up (Razorpay's largest ``count``).
_PAGE = 100
_PAID = ("captured", "refunded")

Json = Mapping[str, Any]


class RazorpayProvider(Provider):
    """Razorpay, test mode unless ``allow_live=True``. Configure in code or with `from_env`."""

    capabilities = Capabilities(
        # Orders created with Razorpay's manual capture; the capture takes the whole amount.
        manual_capture=True,
        partial_capture=False,
        partial_refunds=True,
        multiple_refunds=True,
        # Razorpay cannot void an authorization: it refunds one left uncaptured by itself.
        cancel=False,
        webhooks=True,
        # No separate confirm step (create_payment(confirm=False) is refused): the customer pays
        # in Checkout, and confirm_payment completes that next action with its signed answer.
        confirmation=False,
        next_actions=frozenset({NextActionKind.CLIENT_CHECKOUT}),
        # Orders and captures take no idempotency key: calls in doubt are looked up by receipt.
        idempotency_keys=False,
        lookup_by_reference=True,
        retrieve=True,
        # Refunds are answered pending and settle by webhook (refund.processed / refund.failed).
        settles_later=frozenset({"refund"}),  # captures are final at once
        declines_include_payment=True,
        currencies=CURRENCIES,
        minimum_amounts=MINIMUM_AMOUNTS,
    )

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secrets: Sequence[str] = (),
        api_base: str | None = None,
        allow_live: bool = False,
        timeout: float = 30.0,
        name: str = "razorpay",
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """
        Args:
            key_id: the API key id (``rzp_test_...``); public, Checkout gets it too.
            key_secret: the API key secret; never logged, shown or sent to the client.
            webhook_secrets: the webhook secrets set on the Dashboard; several while rolling.
            api_base: another API address (a local fake); default ``https://api.razorpay.com``.
            allow_live: accept live keys (``rzp_live_...``); without it only test keys.
            timeout: seconds per HTTP request.
            transport, async_transport: httpx transports (tests, proxies).
        """
        self.name = name
        self.live = _check_keys(name, key_id, key_secret, allow_live)
        self.key_id = key_id
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self._secret = key_secret
        self._webhooks = WebhookVerifier(name, webhook_secrets)
        self.http = HttpClient(
            provider=name,
            base_url=self.api_base + "/v1/",
            auth=(key_id, key_secret),  # the secret: redacted from any text Razorpay echoes
            errors=self._error,
            timeout=timeout,
            transport=transport,
            async_transport=async_transport,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RazorpayProvider:
        """Settings from RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET
        (comma-separated), RAZORPAY_API_BASE and UNIPAY_RAZORPAY_ALLOW_LIVE=1, read from
        ``environ`` (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        key_id = env.get(KEY_ID_ENV, "").strip()
        secret = env.get(KEY_SECRET_ENV, "").strip()
        hooks = env.get(WEBHOOK_SECRET_ENV, "")
        missing = [
            name for name, value in ((KEY_ID_ENV, key_id), (KEY_SECRET_ENV, secret)) if not value
        ]
        if missing:
            # Every missing setting in one message, so nobody fixes them one run at a time.
            also = [] if hooks.strip() else [WEBHOOK_SECRET_ENV]
            raise ProviderNotConfigured(
                "razorpay",
                missing[0],
                "Use a test-mode key pair (rzp_test_...) from the Razorpay Dashboard "
                f"(Account & Settings, API Keys); {WEBHOOK_SECRET_ENV} is the webhook's secret.",
                also=[*missing[1:], *also],
            )
        return cls(
            key_id=key_id,
            key_secret=secret,
            webhook_secrets=[s.strip() for s in hooks.split(",") if s.strip()],
            api_base=env.get(API_BASE_ENV) or None,
            allow_live=env.get(ALLOW_LIVE_ENV, "").lower() in ("1", "true", "yes"),
        )

    def __repr__(self) -> str:
        mode = "live" if self.live else "test"
        return f"<RazorpayProvider {self.name!r} mode={mode} api_base={self.api_base!r}>"

    # --- operations: one flow each, both faces ------------------------------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        """Create the order Checkout pays: ``requires_action`` with a ``client_checkout`` next
        action (the gateway refuses ``confirm=False``: the customer pays in Checkout)."""
        _no_payment_method(request.payment_method)
        check_amount(request.amount, request.currency)
        body: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency,
            "notes": mapping.order_notes(request.metadata, request.capture_method),
            "payment": _capture_settings(request.capture_method),
        }
        if ctx.reference:
            body["receipt"] = ctx.reference
        order = yield from self.http.json("POST", "orders", json=body)
        return self._payment(
            order, [], description=request.description, customer_email=request.customer_email
        )

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        """Complete the checkout with its signed answer (``action_result``): the signature is
        checked first, then the payment fetched, and captured if the order captures
        automatically and Razorpay has not yet."""
        _no_payment_method(request.payment_method)
        order_id = _order_id(provider_payment_id)
        payment_id = verified_payment_id(order_id, request.action_result, self._secret)
        payment: Json = yield from self.http.json("GET", f"payments/{payment_id}")
        if payment.get("order_id") != order_id:
            raise InvalidRequest(
                "The checkout's payment belongs to another order.", param="action_result"
            )
        order = yield from self.http.json("GET", f"orders/{order_id}")
        notes = mapping.notes_of(order.get("notes"))
        automatic = notes.get(mapping.CAPTURE_NOTE) != CaptureMethod.MANUAL.value
        if payment.get("status") == "authorized" and automatic:
            payment = yield from self._capture(payment, already_ok=True)
        if payment.get("status") == "failed":
            declined = self._payment(order, [payment])
            raise PaymentDeclined(
                mapping.decline_message(payment),
                decline_code=mapping.decline_code(payment),
                payment=declined,
                provider=self.name,
            )
        return self._payment(order, [payment])

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        """Capture the order's authorized payment, whole (Razorpay captures nothing less)."""
        order, payments = yield from self._order(provider_payment_id)
        held = [p for p in payments if p.get("status") == "authorized"]
        if not held:
            raise InvalidPaymentState(
                f"Payment {self.name}:{provider_payment_id} has no authorized payment to capture "
                f"(it is {self._payment(order, payments).status.value}).",
                provider=self.name,
            )
        payment = held[0]
        if request.amount is not None and request.amount != payment.get("amount"):
            raise UnsupportedOperation(
                "Razorpay captures the whole authorized amount only; omit `amount`.",
                provider=self.name,
                operation="capture_payment",
            )
        captured = yield from self._capture(payment, already_ok=False)
        return self._payment(order, [captured])

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        """Refund (part of) the order's captured payment. Razorpay answers ``pending``;
        ``refund.processed`` or ``refund.failed`` settles it."""
        order, payments = yield from self._order(provider_payment_id)
        paid = _paid(payments)
        if paid is None:
            raise InvalidPaymentState(
                f"Payment {self.name}:{provider_payment_id} has nothing captured to refund (it "
                f"is {self._payment(order, payments).status.value}).",
                provider=self.name,
            )
        currency = str(paid.get("currency", order.get("currency")))
        left = int(paid.get("amount", 0)) - int(paid.get("amount_refunded") or 0)
        amount = left if request.amount is None else request.amount
        if left <= 0:
            raise InvalidPaymentState(
                f"Payment {self.name}:{provider_payment_id} is refunded in full already.",
                provider=self.name,
            )
        if amount > left:
            raise InvalidRequest(
                f"Refund of {amount} is more than the {left} left to refund.",
                param="amount",
                code="amount_too_large",
            )
        check_amount(amount, currency)
        body: dict[str, Any] = {
            "amount": amount,
            "notes": mapping.refund_notes(request.metadata, request.reason),
        }
        headers: dict[str, str] = {}
        if ctx.reference:
            body["receipt"] = ctx.reference
            # Razorpay deduplicates refunds by this header: a second guard behind unipay's own.
            headers["X-Refund-Idempotency"] = ctx.reference
        refund = yield from self.http.json(
            "POST", f"payments/{paid['id']}/refund", json=body, headers=headers
        )
        return self._refund(provider_payment_id, refund)

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Flow[Payment]:
        order, payments = yield from self._order(provider_payment_id)
        return self._payment(order, payments)

    def lookup(
        self, operation: str, provider_payment_id: str | None, ctx: CallContext
    ) -> Flow[Payment | Refund | None]:
        """What the call ``operation`` made with ``ctx.reference`` did, or None when it surely
        did nothing that a new call could double (see docs/providers/razorpay.md)."""
        if operation == "create_payment":
            return (yield from self._find_order(ctx.reference))
        if provider_payment_id is None:
            raise InvalidRequest(f"lookup of {operation} needs the payment's id")
        if operation in ("confirm_payment", "capture_payment"):
            # Razorpay never captures a payment twice: sending the call again is safe unless it
            # is done, and then the payment says so.
            payment = yield from self.retrieve_payment(provider_payment_id, ctx)
            return payment if payment.status is PaymentStatus.SUCCEEDED else None
        if operation == "refund_payment":
            return (yield from self._find_refund(provider_payment_id, ctx.reference))
        raise UnsupportedOperation(
            f"Provider {self.name!r} cannot look up {operation}.",
            provider=self.name,
            operation="lookup",
        )

    @no_io  # an HMAC and parsing: the async face verifies on the loop
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return self._webhooks.verify(body, headers)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        return self._webhooks.sign_test_delivery(event_type, payment)

    def _error(self, response: httpx.Response) -> UnipayError:
        """Razorpay's refusal as unipay's error (`HttpClient.json` raises it)."""
        return translate(response, provider=self.name, redact=self.http.redact)

    # --- the API ------------------------------------------------------------------------------

    def _order(self, provider_payment_id: str) -> Flow[tuple[Json, list[Json]]]:
        """The order and its payment attempts."""
        order_id = _order_id(provider_payment_id)
        order = yield from self.http.json("GET", f"orders/{order_id}")
        attempts = yield from self.http.json("GET", f"orders/{order_id}/payments")
        return order, _items(attempts)

    def _capture(self, payment: Json, *, already_ok: bool) -> Flow[Json]:
        """Capture ``payment`` whole. With ``already_ok``, a payment Razorpay captured meanwhile
        (an order that captures automatically) is fetched again and returned instead."""
        body = {"amount": payment.get("amount"), "currency": payment.get("currency")}
        try:
            path = f"payments/{payment['id']}/capture"
            return (yield from self.http.json("POST", path, json=body))
        except InvalidPaymentState:
            if not already_ok:
                raise
        now = yield from self.http.json("GET", f"payments/{payment['id']}")
        if now.get("status") not in _PAID:
            raise InvalidPaymentState(
                "Razorpay refused the capture and the payment is not captured.",
                provider=self.name,
            )
        return now

    def _find_order(self, reference: str) -> Flow[Payment | None]:
        if not reference:
            return None
        found = yield from self.http.json(
            "GET", "orders", params={"receipt": reference, "count": _PAGE}
        )
        # Razorpay filters orders whose receipt *contains* the value: keep the exact one.
        orders = [o for o in _items(found) if o.get("receipt") == reference]
        if not orders:
            return None
        order = orders[0]
        attempts = yield from self.http.json("GET", f"orders/{order['id']}/payments")
        return self._payment(order, _items(attempts))

    def _find_refund(self, provider_payment_id: str, reference: str) -> Flow[Refund | None]:
        """The refund made with ``reference``; None when nothing was ever captured (so nothing
        refunded). Otherwise absence proves nothing (the lost request may still be processed at
        Razorpay), so it raises and the key stays unknown until the refund shows up."""
        _, payments = yield from self._order(provider_payment_id)
        paid = [p for p in payments if p.get("status") in _PAID]
        if not paid:
            return None
        for payment in paid:
            skip = 0
            while True:
                page = yield from self.http.json(
                    "GET",
                    f"payments/{payment['id']}/refunds",
                    params={"count": _PAGE, "skip": skip},
                )
                refunds = _items(page)
                for refund in refunds:
                    if reference and refund.get("receipt") == reference:
                        return self._refund(provider_payment_id, refund)
                if len(refunds) < _PAGE:
                    break
                skip += _PAGE
        raise ProviderUnavailable(
            f"Razorpay lists no refund with receipt {reference} for {self.name}:"
            f"{provider_payment_id} yet. The request may still be processed, or may never have "
            "arrived: reconcile again later. If it is still absent after an hour, refund with a "
            "new idempotency key.",
            provider=self.name,
        )

    # --- helpers --------------------------------------------------------------------------------

    def _payment(
        self,
        order: Json,
        payments: Sequence[Json],
        *,
        description: str | None = None,
        customer_email: str | None = None,
    ) -> Payment:
        try:
            return mapping.payment_from_order(
                self.name,
                self.key_id,
                order,
                payments,
                description=description,
                customer_email=customer_email,
            )
        except mapping.UnreadableObject as error:
            raise self._unreadable("order", error) from None

    def _refund(self, provider_payment_id: str, refund: Json) -> Refund:
        try:
            return mapping.refund_from(self.name, provider_payment_id, refund)
        except mapping.UnreadableObject as error:
            raise self._unreadable("refund", error) from None

    def _unreadable(self, kind: str, error: Exception) -> ProviderError:
        return ProviderError(f"Razorpay's {kind} cannot be read: {error}.", provider=self.name)


def _capture_settings(capture: CaptureMethod) -> dict[str, Any]:
    """The order's ``payment`` capture settings (they override the Dashboard's): automatic
    orders are captured by Razorpay as soon as they are authorized; manual ones wait for
    ``capture_payment`` as long as Razorpay allows, then Razorpay refunds them."""
    options: dict[str, Any] = {
        "manual_expiry_period": CAPTURE_WINDOW_MINUTES,
        "refund_speed": "normal",
    }
    if capture is CaptureMethod.AUTOMATIC:
        options["automatic_expiry_period"] = CAPTURE_WINDOW_MINUTES
    return {"capture": capture.value, "capture_options": options}


def _paid(payments: Sequence[Json]) -> Json | None:
    return next((p for p in payments if p.get("status") in _PAID), None)


def _items(collection: Json) -> list[Json]:
    items = collection.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _order_id(provider_payment_id: str) -> str:
    """unipay's Razorpay payments are orders; anything else is no payment of this provider."""
    if not ORDER_ID.fullmatch(provider_payment_id):
        raise PaymentNotFound(
            f"{provider_payment_id!r} is not a Razorpay order id (order_...): unipay's Razorpay "
            "payments are identified by their order.",
            param="payment_id",
        )
    return provider_payment_id


def _no_payment_method(method: str | StructuredPaymentMethod | None) -> None:
    if method is not None:
        raise InvalidRequest(
            "Razorpay takes no payment method from the server: the customer chooses how to pay "
            "in Razorpay Checkout. Create the payment without one and open Checkout with its "
            "next_action.data.",
            param="payment_method",
        )


def _check_keys(name: str, key_id: str, key_secret: str, allow_live: bool) -> bool:
    """True for live keys. Messages describe the keys, never repeat them."""
    if not isinstance(key_id, str) or not key_id.startswith((_TEST_PREFIX, _LIVE_PREFIX)):
        raise ProviderNotConfigured(
            name,
            KEY_ID_ENV,
            "The key id given is not a Razorpay API key id (rzp_test_... or rzp_live_...).",
        )
    if not isinstance(key_secret, str) or not key_secret.strip():
        raise ProviderNotConfigured(name, KEY_SECRET_ENV, "The key secret is empty.")
    live = key_id.startswith(_LIVE_PREFIX)
    if live and not allow_live:
        raise ProviderNotConfigured(
            name,
            f"{ALLOW_LIVE_ENV}=1 (or RazorpayProvider(allow_live=True))",
            "The key given is a live-mode key and unipay-razorpay runs in test mode unless you "
            "opt in; use a test-mode key (rzp_test_...) for development.",
        )
    return live
