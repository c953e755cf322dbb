"""``AdyenProvider``: Adyen's Checkout API v71 over `unipay.http.HttpClient`.

Each operation is one flow (see `unipay.provider`) that yields ``self.http.post(...)``: `Gateway`
sends it with an ``httpx.Client``, `AsyncGateway` with an ``httpx.AsyncClient``, so one method
serves both faces (Adyen's own Python library is synchronous only; see docs/providers/adyen.md).

Adyen answers captures, cancels and refunds with ``received``: the payment comes back with the
modification in ``pending`` (a refund ``pending``), and Adyen's notification settles it. Adyen
has no endpoint to read a payment back, yet captures and refunds need the payment's currency: the
provider takes the payment the gateway's store hands over (``CallContext.payment``), else what
this process remembers (`unipay_adyen.memory`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    ProviderError,
    ProviderNotConfigured,
    UnipayError,
)
from unipay.http import HttpClient
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    PendingModification,
    Refund,
    RefundPaymentRequest,
    RefundStatus,
    WebhookEvent,
    WebhookEventType,
    payment_id,
)
from unipay.provider import CallContext, Capabilities, Flow, NextActionKind, Provider, no_io
from unipay.storage.progress import PAYMENT_STATUS_ORDER
from unipay_adyen import errors, mapping, wire
from unipay_adyen.memory import Memory
from unipay_adyen.webhooks import HMAC_KEY_ENV, Notifications, hmac_key

API_KEY_ENV = "ADYEN_API_KEY"
MERCHANT_ACCOUNT_ENV = "ADYEN_MERCHANT_ACCOUNT"
ENVIRONMENT_ENV = "ADYEN_ENVIRONMENT"
LIVE_URL_PREFIX_ENV = "ADYEN_LIVE_URL_PREFIX"
ALLOW_LIVE_ENV = "UNIPAY_ADYEN_ALLOW_LIVE"
RETURN_URL_ENV = "ADYEN_RETURN_URL"
WEBHOOK_USERNAME_ENV = "ADYEN_WEBHOOK_USERNAME"
WEBHOOK_PASSWORD_ENV = "ADYEN_WEBHOOK_PASSWORD"  # noqa: S105 - a variable name, not a secret

TEST_URL = "https://checkout-test.adyen.com/v71/"
LIVE_URL = "https://{prefix}-checkout-live.adyenpayments.com/checkout/v71/"
#: Adyen's ``Idempotency-Key`` is at most 64 characters; unipay's may be longer.
KEY_MAX = 64
_PREFIX = re.compile(r"[A-Za-z0-9-]{1,100}")
Operation = Literal["capture", "cancel", "refund"]
_TERMINAL = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED})


class AdyenProvider(Provider):
    """Adyen, test environment unless ``environment="live"`` with ``allow_live=True``.
    Configure in code or with `from_env`."""

    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=True,
        cancel=True,
        webhooks=True,
        # POST /payments attempts the payment: there is no unconfirmed Adyen payment, so the
        # gateway refuses create(confirm=False).
        confirmation=False,
        # RedirectShopper, IdentifyShopper, ChallengeShopper: confirm_payment(action_result=...)
        # completes them (POST /payments/details).
        next_actions=frozenset({NextActionKind.THREE_D_SECURE, NextActionKind.REDIRECT}),
        # Every POST carries the Idempotency-Key header, which Adyen deduplicates (31 days).
        idempotency_keys=True,
        lookup_by_reference=False,
        # No endpoint reads a payment back: Gateway.stored_payment answers from the store.
        retrieve=False,
        # Captures, cancels and refunds are answered "received" and settled by notification.
        settles_later=True,
        # A Refused answer carries a pspReference: PaymentDeclined.payment is the declined one.
        declines_include_payment=True,
        # Adyen answers for the currencies the merchant account takes (errorCode 138).
        currencies=None,
    )
    webhook_acknowledgement = "[accepted]"

    def __init__(
        self,
        *,
        api_key: str,
        merchant_account: str,
        hmac_keys: Sequence[str] = (),
        environment: str = "test",
        live_url_prefix: str | None = None,
        allow_live: bool = False,
        return_url: str | None = None,
        webhook_username: str | None = None,
        webhook_password: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        name: str = "adyen",
    ) -> None:
        """
        Args:
            api_key: the API credential's key (``X-API-Key``); never logged or shown.
            merchant_account: the merchant account that takes the payments.
            hmac_keys: the webhook's HMAC keys (hex); two while one is rolled.
            environment: ``"test"`` or ``"live"``.
            live_url_prefix: your live endpoint prefix (Customer Area, Developers > API URLs).
            allow_live: accept ``environment="live"``; without it only test is accepted.
            return_url: where shoppers return after a redirect when a call gives none.
            webhook_username, webhook_password: the Basic auth Adyen sends with webhooks.
            timeout: seconds per HTTP request.
            transport, async_transport: custom httpx transports (tests, proxies).
        """
        self.name = name
        if not api_key or not isinstance(api_key, str) or api_key != api_key.strip():
            raise ProviderNotConfigured(name, API_KEY_ENV, "It is an API credential's key.")
        if not merchant_account or not isinstance(merchant_account, str):
            raise ProviderNotConfigured(name, MERCHANT_ACCOUNT_ENV)
        self.environment = environment
        self.live = _check_environment(name, environment, allow_live, live_url_prefix)
        self.base_url = LIVE_URL.format(prefix=live_url_prefix) if self.live else TEST_URL
        self.merchant_account = merchant_account
        self.return_url = return_url
        if (webhook_username is None) != (webhook_password is None) or "" in (
            webhook_username,
            webhook_password,
        ):
            missing = WEBHOOK_PASSWORD_ENV if webhook_password is None else WEBHOOK_USERNAME_ENV
            raise ProviderNotConfigured(
                name, missing, "Basic auth on the webhook needs both a username and a password."
            )
        basic = None
        if webhook_username is not None and webhook_password is not None:
            basic = (webhook_username, webhook_password)
        keys = [hmac_key(key) for key in hmac_keys]
        self.memory = Memory()
        self.http = HttpClient(
            provider=name,
            base_url=self.base_url,
            headers={"X-API-Key": api_key},
            secrets=(webhook_password, *hmac_keys),  # the API key is redacted as a header's
            errors=self._error,
            timeout=timeout,
            transport=transport,
            async_transport=async_transport,
        )
        self._notifications = Notifications(
            name,
            merchant_account=merchant_account,
            keys=keys,
            basic_auth=basic,
            live=self.live,
            memory=self.memory,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AdyenProvider:
        """Settings from ADYEN_API_KEY, ADYEN_MERCHANT_ACCOUNT, ADYEN_HMAC_KEY (comma-separated
        while rolling), ADYEN_ENVIRONMENT (``test`` by default), ADYEN_LIVE_URL_PREFIX,
        UNIPAY_ADYEN_ALLOW_LIVE=1, ADYEN_RETURN_URL and ADYEN_WEBHOOK_USERNAME/PASSWORD, read
        from ``environ`` (``os.environ`` by default)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        missing = [n for n in (API_KEY_ENV, MERCHANT_ACCOUNT_ENV) if get(n) is None]
        if missing:
            hooks = "" if get(HMAC_KEY_ENV) else f" To receive webhooks, set {HMAC_KEY_ENV} too."
            raise ProviderNotConfigured(
                "adyen",
                missing[0],
                "They are an API credential's key and its merchant account, from Adyen's "
                "Customer Area (test)." + hooks,
                also=missing[1:],
            )
        return cls(
            api_key=env[API_KEY_ENV].strip(),
            merchant_account=env[MERCHANT_ACCOUNT_ENV].strip(),
            hmac_keys=[k.strip() for k in env.get(HMAC_KEY_ENV, "").split(",") if k.strip()],
            environment=(get(ENVIRONMENT_ENV) or "test").lower(),
            live_url_prefix=get(LIVE_URL_PREFIX_ENV),
            allow_live=(get(ALLOW_LIVE_ENV) or "").lower() in ("1", "true", "yes"),
            return_url=get(RETURN_URL_ENV),
            webhook_username=get(WEBHOOK_USERNAME_ENV),
            webhook_password=get(WEBHOOK_PASSWORD_ENV),
        )

    def __repr__(self) -> str:
        return (
            f"<AdyenProvider {self.name!r} environment={self.environment} "
            f"merchant_account={self.merchant_account!r}>"
        )

    # --- operations: one flow each, both faces ------------------------------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        return_url = request.return_url or self.return_url
        if return_url is None:
            raise InvalidRequest(
                f"Adyen requires a return URL with every payment: pass return_url, or set "
                f"{RETURN_URL_ENV} (AdyenProvider(return_url=...)) for the calls that give none.",
                param="return_url",
            )
        body = mapping.payment_request(
            request, ctx, merchant_account=self.merchant_account, return_url=return_url
        )
        base = Payment(
            provider=self.name,
            provider_payment_id=ctx.reference,
            status=PaymentStatus.PROCESSING,
            amount=request.amount,
            currency=request.currency,
            capture_method=request.capture_method,
            customer_email=request.customer_email,
            payment_method=request.payment_method
            if isinstance(request.payment_method, str)
            else None,
            description=request.description,
            metadata=dict(request.metadata),
        )
        answer = yield from self._post("payments", body, ctx)
        payment = self._read(answer, base, return_url)
        self.memory.answered(payment)
        self._raise_if_declined(answer, payment)
        return payment

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        body = mapping.details_request(request)
        known = self._latest(provider_payment_id, ctx)
        answer = yield from self._post("payments/details", body, ctx)
        base = known or self._unknown(provider_payment_id, answer)
        return_url = request.return_url or (
            known.next_action.return_url if known and known.next_action else None
        )
        payment = self._read(answer, base, return_url)
        if known is not None:  # a guess is not remembered: the AUTHORISATION notification tells
            self.memory.answered(payment, provider_payment_id)
        self._raise_if_declined(answer, payment)
        return payment

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        known = self._known(provider_payment_id, "capture", ctx)
        if known.status in _TERMINAL:
            raise self._state(known, "captured")
        amount = request.amount or known.amount_capturable or known.amount
        if amount > known.amount:
            raise InvalidRequest(
                f"Capturing {amount} of a payment of {known.amount} is more than was authorised.",
                param="amount",
            )
        body: wire.PaymentCaptureRequest = {
            "amount": mapping.adyen_amount(amount, known.currency),
            "merchantAccount": self.merchant_account,
            "reference": ctx.reference,
        }
        answer = yield from self._post(_modification(provider_payment_id, "captures"), body, ctx)
        return self._pending(known, "capture", amount, answer)

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        known = self._known(provider_payment_id, "cancel", ctx)
        if known.status in _TERMINAL:
            raise self._state(known, "canceled (refund a succeeded payment instead)")
        if mapping.is_reference(provider_payment_id):
            raise InvalidPaymentState(
                f"Adyen has given {self.name}:{provider_payment_id} no pspReference yet (it "
                "waits for the shopper), so there is nothing to cancel: it expires unless the "
                "shopper completes it.",
                param="payment_id",
                provider=self.name,
            )
        body: wire.PaymentCancelRequest = {
            "merchantAccount": self.merchant_account,
            "reference": ctx.reference,
        }
        answer = yield from self._post(_modification(provider_payment_id, "cancels"), body, ctx)
        return self._pending(known, "cancel", known.amount_capturable or None, answer)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        known = self._known(provider_payment_id, "refund", ctx)
        if known.status is PaymentStatus.CANCELED:
            raise self._state(known, "refunded")
        if request.amount is None:
            amount = known.amount_received - known.amount_refunded
            if amount <= 0:
                raise InvalidRequest(
                    f"Nothing of {self.name}:{provider_payment_id} is left to refund that Adyen "
                    "has reported captured (a pending capture counts once it settles).",
                    param="amount",
                )
        else:
            amount = request.amount
            left = known.amount - known.amount_refunded
            if amount > left:
                raise InvalidRequest(
                    f"Refunding {amount} is more than is left to refund ({left}).",
                    param="amount",
                )
        body: wire.PaymentRefundRequest = {
            "amount": mapping.adyen_amount(amount, known.currency),
            "merchantAccount": self.merchant_account,
            "reference": ctx.reference,
        }
        if request.reason is not None:
            body["merchantRefundReason"] = mapping.REFUND_REASONS[request.reason]
        answer = yield from self._post(_modification(provider_payment_id, "refunds"), body, ctx)
        reference = self._psp(answer)
        refund = Refund(
            provider=self.name,
            provider_refund_id=reference,
            payment_id=payment_id(self.name, provider_payment_id),
            amount=amount,
            currency=known.currency,
            status=RefundStatus.PENDING,
            reason=request.reason,
            metadata=dict(request.metadata),
        )
        self.memory.refunded(refund)
        self._pending(known, "refund", amount, answer)
        return refund

    @no_io  # an HMAC and parsing: the async face verifies on the loop
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        return self._notifications.verify(body, headers)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        return self._notifications.sign_test_delivery(event_type, payment)

    # --- helpers --------------------------------------------------------------------------------

    def _post(
        self, path: str, body: Mapping[str, Any], ctx: CallContext
    ) -> Flow[Mapping[str, Any]]:
        """One POST with the call's idempotency key; Adyen's error answers as unipay's errors."""
        headers = {"Idempotency-Key": adyen_key(ctx.idempotency_key)}
        return (yield from self.http.json("POST", path, json=body, headers=headers))

    def _error(self, response: httpx.Response) -> UnipayError:
        return errors.translate(response, provider=self.name, redact=self.http.redact)

    def _read(self, answer: Mapping[str, Any], base: Payment, return_url: str | None) -> Payment:
        try:
            return mapping.read_result(self.name, answer, base, return_url=return_url)
        except mapping.Unreadable as error:
            raise ProviderError(
                f"unipay-adyen cannot read Adyen's answer: {error}.", provider=self.name
            ) from None

    def _raise_if_declined(self, answer: Mapping[str, Any], payment: Payment) -> None:
        if payment.status is not PaymentStatus.REQUIRES_PAYMENT_METHOD:
            return
        assert payment.decline_code is not None  # set by read_result for Refused
        reason = mapping.text(answer, "refusalReason") or "Refused"
        raise PaymentDeclined(
            f"Adyen refused the payment: {reason[:200]}.",
            decline_code=payment.decline_code,
            payment=payment,
            provider=self.name,
            provider_code=mapping.text(answer, "refusalReasonCode"),
            request_id=mapping.text(answer, "pspReference"),
        )

    def _unknown(self, provider_payment_id: str, answer: Mapping[str, Any]) -> Payment:
        """A payment completed by ``/payments/details`` that this process never saw: its amount
        from Adyen's answer, and read as held for capture, the reading that never claims money
        was taken. Not remembered: its AUTHORISATION notification, which carries the capture
        setting (unipay-adyen's metadata marker), says what it is."""
        try:
            amount = mapping.read_amount(answer)
        except mapping.Unreadable:
            amount = None
        if amount is None:
            raise ProviderError(
                "Adyen's answer gives no amount, and this process has not seen "
                f"{self.name}:{provider_payment_id}.",
                provider=self.name,
            )
        return Payment(
            provider=self.name,
            provider_payment_id=provider_payment_id,
            status=PaymentStatus.PROCESSING,
            amount=amount[0],
            currency=amount[1],
            capture_method="manual",
        )

    def _latest(self, provider_payment_id: str, ctx: CallContext) -> Payment | None:
        """The further along of the payment as the gateway's store last saw it and as this
        process remembers it (Adyen cannot be asked); the store's on a tie, as it sees every
        process's answers and webhooks. Both count a pending refund in ``amount_refunded``."""
        stored, remembered = ctx.payment, self.memory.payment(provider_payment_id)
        if stored is None or (remembered is not None and _rank(remembered) > _rank(stored)):
            return remembered
        return stored

    def _known(self, provider_payment_id: str, operation: str, ctx: CallContext) -> Payment:
        known = self._latest(provider_payment_id, ctx)
        if known is None:
            raise PaymentNotFound(
                f"Neither the gateway's store nor this process knows {self.name}:"
                f"{provider_payment_id}, and Adyen has no endpoint to read a payment: its "
                f"{operation} needs the payment's currency and amount.",
                param="payment_id",
                provider=self.name,
            )
        return known

    def _state(self, known: Payment, done: str) -> InvalidPaymentState:
        return InvalidPaymentState(
            f"Adyen reported {known.id} {known.status.value}: it cannot be {done}.",
            param="payment_id",
            provider=self.name,
        )

    def _psp(self, answer: Mapping[str, Any]) -> str:
        reference = mapping.text(answer, "pspReference")
        if reference is None or mapping.text(answer, "status") != "received":
            raise ProviderError(
                "Adyen's answer to a modification has no pspReference or is not 'received'.",
                provider=self.name,
            )
        return reference

    def _pending(
        self, known: Payment, operation: Operation, amount: int | None, answer: Mapping[str, Any]
    ) -> Payment:
        """``known`` with the modification Adyen received listed in ``pending`` (once: a
        replayed answer names the same pspReference), a refund counted in ``amount_refunded``
        at once, as the store counts it."""
        reference = self._psp(answer)
        update: dict[str, Any] = {}
        if all(p.provider_reference != reference for p in known.pending):
            added = PendingModification(
                operation=operation, amount=amount, provider_reference=reference
            )
            update["pending"] = (*known.pending, added)
            if operation == "refund" and amount is not None:
                update["amount_refunded"] = known.amount_refunded + amount
        payment = known.model_copy(update=update)
        self.memory.answered(payment)
        return payment


def _rank(payment: Payment) -> int:
    return PAYMENT_STATUS_ORDER[payment.status]


def adyen_key(key: str) -> str:
    """unipay's idempotency key as Adyen's ``Idempotency-Key`` (at most 64 characters): itself,
    or its SHA-256 in hex when longer (the same key always maps to the same header)."""
    return key if len(key) <= KEY_MAX else hashlib.sha256(key.encode()).hexdigest()


def _modification(provider_payment_id: str, kind: str) -> str:
    return f"payments/{quote(provider_payment_id, safe='')}/{kind}"


def _check_environment(
    name: str, environment: str, allow_live: bool, live_url_prefix: str | None
) -> bool:
    """True for live. Live needs the explicit opt-in and the account's URL prefix."""
    if environment == "test":
        return False
    if environment != "live":
        raise ProviderNotConfigured(name, ENVIRONMENT_ENV, "It is 'test' (the default) or 'live'.")
    if not allow_live:
        raise ProviderNotConfigured(
            name,
            f"{ALLOW_LIVE_ENV}=1 (or AdyenProvider(allow_live=True))",
            "ADYEN_ENVIRONMENT is 'live' and unipay-adyen runs in Adyen's test environment "
            "unless you opt in.",
        )
    if live_url_prefix is None or not _PREFIX.fullmatch(live_url_prefix):
        raise ProviderNotConfigured(
            name,
            LIVE_URL_PREFIX_ENV,
            "The live endpoints carry your company's prefix (Customer Area, Developers > API "
            "URLs > Prefix), e.g. '1797a841fbb37ca7-AdyenDemo'.",
        )
    return True
