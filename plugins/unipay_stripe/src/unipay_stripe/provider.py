"""``StripeProvider``: payment intents and refunds through the official ``stripe`` SDK.

Each operation is one flow (see :mod:`unipay.provider`) that yields
``call_either(client.raw_request, client.raw_request_async, ...)`` on one ``stripe.StripeClient``:
`Gateway` performs it with the SDK's blocking method, `AsyncGateway` awaits its ``*_async``
twin, both over ``stripe.HTTPXClient`` (:mod:`unipay_stripe.transport`), so neither face needs a
thread and there is no second copy of any operation to drift.

``raw_request`` is the SDK's own request path (API key, API version, ``Idempotency-Key``,
form encoding, timeouts, and Stripe's error JSON raised as the SDK's typed errors) without the
``StripeObject`` tree the typed services build from every answer: unipay reads the answer's
parsed JSON once, into its own models (issue 19, P1: the tree was about a third of the path's
own cost).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

import stripe

from unipay.errors import InvalidRequest, ProviderError, ProviderNotConfigured
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
from unipay.provider import (
    CallContext,
    Capabilities,
    Flow,
    NextActionKind,
    Provider,
    call_either,
    no_io,
)
from unipay_stripe import mapping
from unipay_stripe.currencies import MINIMUM_AMOUNTS
from unipay_stripe.errors import translate
from unipay_stripe.transport import PooledHTTPXClient
from unipay_stripe.webhooks import WebhookVerifier

SECRET_KEY_ENV = "STRIPE_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
WEBHOOK_SECRET_ENV = "STRIPE_WEBHOOK_SECRET"  # noqa: S105 - a variable name
API_BASE_ENV = "STRIPE_API_BASE"
ALLOW_LIVE_ENV = "UNIPAY_STRIPE_ALLOW_LIVE"

_LIVE_PREFIXES = ("sk_live_", "rk_live_")
_KEY_PREFIXES = ("sk_test_", "rk_test_", *_LIVE_PREFIXES)
_CURRENCY_MEMORY = 10_000

_INTENTS = "/v1/payment_intents"
_REFUNDS = "/v1/refunds"


class StripeProvider(Provider):
    """Stripe, test mode unless ``allow_live=True``. Configure in code or with :meth:`from_env`."""

    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=True,
        cancel=True,
        webhooks=True,
        # create(confirm=False) then confirm; a confirm also completes a requires_action intent.
        confirmation=True,
        # requires_action with next_action.redirect_to_url: 3-D Secure or a redirect method.
        next_actions=frozenset({NextActionKind.THREE_D_SECURE, NextActionKind.REDIRECT}),
        # Stripe deduplicates POSTs by Idempotency-Key (24 hours), so a call in doubt is re-sent.
        idempotency_keys=True,
        retrieve=True,
        # A CardError carries the payment intent it declined.
        declines_include_payment=True,
        # Captures, cancels and refunds are answered with their outcome.
        settles_later=False,
        # Stripe's presentment currencies depend on the account's country and payment method:
        # Stripe itself answers for those, unipay checks the minimums and zero-decimal rules.
        currencies=None,
        minimum_amounts=MINIMUM_AMOUNTS,
    )

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secrets: Sequence[str] = (),
        api_base: str | None = None,
        allow_live: bool = False,
        timeout: float = 30.0,
        max_connections: int = 100,
        name: str = "stripe",
    ) -> None:
        """
        Args:
            api_key: a secret or restricted key (``sk_test_...``); never logged or shown.
            webhook_secrets: endpoint signing secrets (``whsec_...``); several while rolling.
            api_base: another API address, e.g. a local Stripe-compatible mock server.
            allow_live: accept live-mode keys; without it only test keys are accepted.
            timeout: seconds per HTTP request.
            max_connections: concurrent connections of the async face, spread over small pools
                (see :mod:`unipay_stripe.transport`).
        """
        self.name = name
        self.live = _check_key(name, api_key, allow_live)
        self.api_base = api_base or stripe.DEFAULT_API_BASE
        self._secret = api_key
        self._webhooks = WebhookVerifier(name, webhook_secrets)
        self._http = PooledHTTPXClient(timeout=timeout, max_connections=max_connections)
        # The gateway retries transient failures with the same idempotency key, with backoff and
        # its own attempt budget; SDK retries underneath would multiply those attempts.
        self.client = stripe.StripeClient(
            api_key,
            http_client=self._http,
            base_addresses={"api": self.api_base},
            max_network_retries=0,
        )
        self._currencies: dict[str, str] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StripeProvider:
        """Settings from STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET (comma-separated),
        STRIPE_API_BASE and UNIPAY_STRIPE_ALLOW_LIVE=1, read from ``environ`` (``os.environ``
        by default)."""
        env = os.environ if environ is None else environ
        key = env.get(SECRET_KEY_ENV, "").strip()
        secrets = env.get(WEBHOOK_SECRET_ENV, "")
        if not key:
            # Every missing setting in one message, so nobody fixes them one run at a time.
            webhooks = (
                ""
                if secrets.strip()
                else f" To receive or sign webhooks, set {WEBHOOK_SECRET_ENV} (whsec_...) too."
            )
            raise ProviderNotConfigured(
                "stripe", SECRET_KEY_ENV, "Use a test-mode secret key (sk_test_...)." + webhooks
            )
        return cls(
            api_key=key,
            webhook_secrets=[s.strip() for s in secrets.split(",") if s.strip()],
            api_base=env.get(API_BASE_ENV) or None,
            allow_live=env.get(ALLOW_LIVE_ENV, "").lower() in ("1", "true", "yes"),
        )

    def __repr__(self) -> str:
        mode = "live" if self.live else "test"
        return f"<StripeProvider {self.name!r} mode={mode} api_base={self.api_base!r}>"

    # --- operations: one flow each, both faces ------------------------------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        _check_token(request.payment_method)
        params = mapping.create_params(request)
        intent = yield from self._stripe("post", _INTENTS, params, _keyed(ctx))
        return self._read_payment(intent)

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        _check_token(request.payment_method)
        params = mapping.confirm_params(request)
        path = _intent(provider_payment_id, "/confirm")
        intent = yield from self._stripe("post", path, params, _keyed(ctx))
        return self._read_payment(intent)

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        currency = yield from self._currency(provider_payment_id, request.amount, ctx)
        params = mapping.capture_params(request, currency)
        path = _intent(provider_payment_id, "/capture")
        intent = yield from self._stripe("post", path, params, _keyed(ctx))
        return self._read_payment(intent)

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        params = mapping.cancel_params(request)
        path = _intent(provider_payment_id, "/cancel")
        intent = yield from self._stripe("post", path, params, _keyed(ctx))
        return self._read_payment(intent)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        currency = yield from self._currency(provider_payment_id, request.amount, ctx)
        params = mapping.refund_params(provider_payment_id, request, currency)
        refund = yield from self._stripe("post", _REFUNDS, params, _keyed(ctx))
        return mapping.refund_from_stripe(self.name, refund)

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Flow[Payment]:
        params = mapping.retrieve_params()
        intent = yield from self._stripe("get", _intent(provider_payment_id), params)
        return self._read_payment(intent)

    @no_io  # an HMAC and parsing: the async face verifies on the loop
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return self._webhooks.verify(body, headers)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        return self._webhooks.sign_test_delivery(event_type, payment)

    # stripe's HTTPXClient leaves close() and close_async() unannotated.
    def close(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # --- the one place the SDK is called ---------------------------------------------------

    def _stripe(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        options: stripe.RequestOptions | None = None,
    ) -> Flow[Mapping[str, Any]]:
        """One request as an effect (``raw_request`` blocking, ``raw_request_async`` awaited),
        Stripe's errors as unipay's, the answer as the JSON Stripe sent.

        ``raw_request`` takes the request options (``idempotency_key``) among the parameters and
        separates them itself; none of Stripe's parameters unipay sends share their names.
        """
        client = self.client
        try:
            answer = yield from call_either(
                client.raw_request,
                client.raw_request_async,
                method,
                path,
                **params,
                **(options or {}),
            )
        except stripe.StripeError as error:
            raise translate(
                error, provider=self.name, redact=self._redact, payment_from=self._read_payment
            ) from None
        return _json_of(answer, self.name)

    def _currency(self, intent: str, amount: int | None, ctx: CallContext) -> Flow[str | None]:
        """The payment's currency when a partial amount needs converting (ISK, MGA,
        three-decimal): remembered from this process's calls, else retrieved once."""
        if amount is None or intent in self._currencies:
            return self._currencies.get(intent)
        payment = yield from self.retrieve_payment(intent, ctx)
        return payment.currency

    # --- helpers --------------------------------------------------------------------------------

    def _read_payment(self, intent: Mapping[str, Any]) -> Payment:
        payment = mapping.payment_from_intent(self.name, intent)
        self._remember(payment.provider_payment_id, payment.currency)
        return payment

    def _remember(self, intent: str, currency: str) -> None:
        """Currencies of recent payments: partial amounts need them (ISK, MGA, three-decimal)."""
        if len(self._currencies) >= _CURRENCY_MEMORY:
            self._currencies.clear()
        self._currencies[intent] = currency

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted key]") if self._secret else text


def _json_of(response: stripe.StripeResponse, provider: str) -> Mapping[str, Any]:
    """The answer's JSON object, as the SDK parsed it (once) from the body Stripe sent."""
    data = response.data
    if isinstance(data, Mapping):
        return data
    raise ProviderError(
        f"Stripe answered HTTP {response.code} with JSON that is not an object",
        provider=provider,
        request_id=response.request_id,
    )


def _intent(provider_payment_id: str, action: str = "") -> str:
    """A payment intent's path, its id escaped as the SDK's services escape it."""
    return f"{_INTENTS}/{quote_plus(provider_payment_id)}{action}"


def _check_token(token: str | StructuredPaymentMethod | None) -> None:
    """Stripe takes PaymentMethod ids; anything else (a card token, a source, another provider's
    token or structured method) is refused here, before a request, saying what Stripe expects."""
    if token is not None and not (isinstance(token, str) and token.startswith("pm_")):
        raise InvalidRequest(
            "Stripe expects a PaymentMethod id (pm_...) as payment_method, from Stripe.js or "
            "Stripe's mobile SDKs (test cards: pm_card_visa, pm_card_chargeDeclined, ...).",
            param="payment_method",
            code="invalid_payment_method",
        )


def _keyed(ctx: CallContext) -> stripe.RequestOptions:
    """The gateway's key goes to Stripe, so a retry from anywhere is deduplicated by Stripe."""
    return {"idempotency_key": ctx.idempotency_key}


def _check_key(name: str, api_key: str, allow_live: bool) -> bool:
    """True for a live key. Messages describe the key's kind, never the key."""
    if not isinstance(api_key, str) or not api_key.startswith(_KEY_PREFIXES):
        raise ProviderNotConfigured(
            name,
            SECRET_KEY_ENV,
            "The key given is not a Stripe secret or restricted key (sk_test_... or rk_test_...);"
            " publishable keys (pk_...) cannot create payments.",
        )
    live = api_key.startswith(_LIVE_PREFIXES)
    if live and not allow_live:
        raise ProviderNotConfigured(
            name,
            f"{ALLOW_LIVE_ENV}=1 (or StripeProvider(allow_live=True))",
            "The key given is a live-mode key and unipay-stripe runs in test mode unless you opt "
            "in; use a test-mode key (sk_test_...) for development.",
        )
    return live
