"""``StripeProvider``: payment intents and refunds through the official ``stripe`` SDK.

One ``stripe.StripeClient`` over ``stripe.HTTPXClient`` serves both faces: the sync methods call
the SDK's blocking methods, the ``a<operation>`` methods its ``*_async`` ones, so
``AsyncGateway`` never needs a thread. Each operation is described once as a :class:`_Plan`
(which SDK method, which parameters, how to read the answer); only :meth:`_send` and
:meth:`_asend` differ between the faces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import stripe

from unipay.errors import ProviderNotConfigured
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
from unipay.provider import CallContext, Capabilities, Provider
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

T = TypeVar("T", Payment, Refund)


@dataclass(frozen=True, slots=True)
class _Plan(Generic[T]):
    """One SDK call: ``client.v1.<service>.<method>[_async](*args, params=, options=)``."""

    service: Literal["payment_intents", "refunds"]
    method: str
    args: tuple[str, ...]
    params: mapping.Params
    options: stripe.RequestOptions
    read: Callable[[Mapping[str, Any]], T]


class StripeProvider(Provider):
    """Stripe, test mode unless ``allow_live=True``. Configure in code or with :meth:`from_env`."""

    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=True,
        cancel=True,
        webhooks=True,
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

    # --- operations -----------------------------------------------------------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        return self._send(self._plan_create(request, ctx))

    async def acreate_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        return await self._asend(self._plan_create(request, ctx))

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment:
        return self._send(self._plan_confirm(provider_payment_id, request, ctx))

    async def aconfirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment:
        return await self._asend(self._plan_confirm(provider_payment_id, request, ctx))

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment:
        currency = self._currency(provider_payment_id, request.amount, ctx)
        return self._send(self._plan_capture(provider_payment_id, request, ctx, currency))

    async def acapture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment:
        currency = await self._acurrency(provider_payment_id, request.amount, ctx)
        return await self._asend(self._plan_capture(provider_payment_id, request, ctx, currency))

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment:
        return self._send(self._plan_cancel(provider_payment_id, request, ctx))

    async def acancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment:
        return await self._asend(self._plan_cancel(provider_payment_id, request, ctx))

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        currency = self._currency(provider_payment_id, request.amount, ctx)
        return self._send(self._plan_refund(provider_payment_id, request, ctx, currency))

    async def arefund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        currency = await self._acurrency(provider_payment_id, request.amount, ctx)
        return await self._asend(self._plan_refund(provider_payment_id, request, ctx, currency))

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment:
        return self._send(self._plan_retrieve(provider_payment_id))

    async def aretrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment:
        return await self._asend(self._plan_retrieve(provider_payment_id))

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

    # --- plans: what each operation sends, shared by both faces --------------------------------

    def _plan_create(self, request: CreatePaymentRequest, ctx: CallContext) -> _Plan[Payment]:
        return self._intent_plan("create", (), mapping.create_params(request), ctx)

    def _plan_confirm(
        self, intent: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> _Plan[Payment]:
        return self._intent_plan("confirm", (intent,), mapping.confirm_params(request), ctx)

    def _plan_capture(
        self, intent: str, request: CapturePaymentRequest, ctx: CallContext, currency: str | None
    ) -> _Plan[Payment]:
        params = mapping.capture_params(request, currency)
        return self._intent_plan("capture", (intent,), params, ctx)

    def _plan_cancel(
        self, intent: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> _Plan[Payment]:
        return self._intent_plan("cancel", (intent,), mapping.cancel_params(request), ctx)

    def _plan_retrieve(self, intent: str) -> _Plan[Payment]:
        return _Plan("payment_intents", "retrieve", (intent,), {"expand": mapping.EXPAND}, {},
                     self._read_payment)  # fmt: skip

    def _plan_refund(
        self, intent: str, request: RefundPaymentRequest, ctx: CallContext, currency: str | None
    ) -> _Plan[Refund]:
        params = mapping.refund_params(intent, request, currency)
        return _Plan("refunds", "create", (), params, _keyed(ctx), self._read_refund)

    def _intent_plan(
        self, method: str, args: tuple[str, ...], params: mapping.Params, ctx: CallContext
    ) -> _Plan[Payment]:
        return _Plan("payment_intents", method, args, params, _keyed(ctx), self._read_payment)

    def _read_payment(self, intent: Mapping[str, Any]) -> Payment:
        payment = mapping.payment_from_intent(self.name, intent)
        self._remember(payment.provider_payment_id, payment.currency)
        return payment

    def _read_refund(self, refund: Mapping[str, Any]) -> Refund:
        return mapping.refund_from_stripe(self.name, refund)

    # --- the two faces: the only code that differs between sync and async ----------------------

    def _send(self, plan: _Plan[T]) -> T:
        method = getattr(getattr(self.client.v1, plan.service), plan.method)
        with self._translated():
            answer = method(*plan.args, params=plan.params, options=plan.options)
        return plan.read(_json_of(answer))

    async def _asend(self, plan: _Plan[T]) -> T:
        method = getattr(getattr(self.client.v1, plan.service), plan.method + "_async")
        with self._translated():
            answer = await method(*plan.args, params=plan.params, options=plan.options)
        return plan.read(_json_of(answer))

    def _currency(self, intent: str, amount: int | None, ctx: CallContext) -> str | None:
        if amount is None or intent in self._currencies:
            return self._currencies.get(intent)
        return self.retrieve_payment(intent, ctx).currency

    async def _acurrency(self, intent: str, amount: int | None, ctx: CallContext) -> str | None:
        if amount is None or intent in self._currencies:
            return self._currencies.get(intent)
        return (await self.aretrieve_payment(intent, ctx)).currency

    # --- helpers --------------------------------------------------------------------------------

    def _remember(self, intent: str, currency: str) -> None:
        """Currencies of recent payments: partial amounts need them (ISK, MGA, three-decimal)."""
        if len(self._currencies) >= _CURRENCY_MEMORY:
            self._currencies.clear()
        self._currencies[intent] = currency

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except stripe.StripeError as error:
            raise translate(
                error, provider=self.name, redact=self._redact, payment_from=self._read_payment
            ) from None

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted key]") if self._secret else text


def _json_of(answer: stripe.StripeObject) -> Mapping[str, Any]:
    """The response's JSON as Stripe sent it: cheaper to read than the SDK's object tree."""
    response = answer.last_response
    if response is not None and isinstance(response.data, Mapping):
        return response.data
    return answer.to_dict()


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
