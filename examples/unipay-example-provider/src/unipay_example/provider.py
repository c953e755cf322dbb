"""``AcmeProvider``: Acme Pay's REST API over httpx, with a sync and an async face.

Each operation is built once by :mod:`unipay_example.api` (method, path, body, idempotency key,
reader); :meth:`AcmeProvider._send` and :meth:`AcmeProvider._asend` are the only code that differs
between the faces, so ``AsyncGateway`` never needs a thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx

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
from unipay.webhooks.signatures import parse_secrets
from unipay_example import api, errors, webhooks

API_KEY_ENV = "ACME_API_KEY"
WEBHOOK_SECRET_ENV = "ACME_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
API_BASE_ENV = "ACME_API_BASE"
DEFAULT_API_BASE = "https://api.acmepay.example"

T = TypeVar("T", Payment, Refund)


class AcmeProvider(Provider):
    """Acme Pay. Configure it in code, or from the environment with :meth:`from_env`."""

    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=False,  # Acme Pay allows one refund per charge
        cancel=True,
        webhooks=True,
        currencies=frozenset({"USD", "EUR", "GBP"}),
        minimum_amounts={"USD": 50, "EUR": 50, "GBP": 30},
    )

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secrets: Sequence[str] = (),
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 10.0,
        name: str = "acmepay",
    ) -> None:
        """
        Args:
            api_key: an Acme Pay secret key (``ak_test_...``); never logged or shown.
            webhook_secrets: endpoint signing secrets (``whsec_...``); several while rolling.
            api_base: the API's address, e.g. a local Acme Pay sandbox.
            timeout: seconds per HTTP request.
        """
        if not api_key.startswith("ak_"):
            raise ProviderNotConfigured(
                name, API_KEY_ENV, "The key given is not an Acme Pay secret key (ak_test_...)."
            )
        self.name = name
        self.api_base = api_base
        self._api_key = api_key
        self._webhook_keys = parse_secrets(webhook_secrets) if webhook_secrets else ()
        options: dict[str, Any] = {
            "base_url": api_base,
            "headers": {"Authorization": f"Bearer {api_key}"},
            "timeout": timeout,
        }
        self._client = httpx.Client(**options)
        self._async_client = httpx.AsyncClient(**options)

    @classmethod
    def from_env(cls) -> AcmeProvider:
        """Settings from ACME_API_KEY, ACME_WEBHOOK_SECRET (comma-separated) and ACME_API_BASE."""
        key = os.environ.get(API_KEY_ENV, "").strip()
        if not key:
            raise ProviderNotConfigured("acmepay", API_KEY_ENV, "Use a test key (ak_test_...).")
        secrets = os.environ.get(WEBHOOK_SECRET_ENV, "")
        return cls(
            api_key=key,
            webhook_secrets=[s.strip() for s in secrets.split(",") if s.strip()],
            api_base=os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE,
        )

    def __repr__(self) -> str:
        return f"<AcmeProvider {self.name!r} api_base={self.api_base!r}>"

    # --- operations: each builds its request once, for both faces -----------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        return self._send(api.create_charge(request, ctx.idempotency_key))

    async def acreate_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        return await self._asend(api.create_charge(request, ctx.idempotency_key))

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment:
        return self._send(api.confirm_charge(provider_payment_id, request, ctx.idempotency_key))

    async def aconfirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment:
        call = api.confirm_charge(provider_payment_id, request, ctx.idempotency_key)
        return await self._asend(call)

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment:
        return self._send(api.capture_charge(provider_payment_id, request, ctx.idempotency_key))

    async def acapture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment:
        call = api.capture_charge(provider_payment_id, request, ctx.idempotency_key)
        return await self._asend(call)

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment:
        return self._send(api.void_charge(provider_payment_id, request, ctx.idempotency_key))

    async def acancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment:
        return await self._asend(api.void_charge(provider_payment_id, request, ctx.idempotency_key))

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        return self._send(api.refund_charge(provider_payment_id, request, ctx.idempotency_key))

    async def arefund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        call = api.refund_charge(provider_payment_id, request, ctx.idempotency_key)
        return await self._asend(call)

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment:
        return self._send(api.get_charge(provider_payment_id))

    async def aretrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment:
        return await self._asend(api.get_charge(provider_payment_id))

    # --- webhooks ---------------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return webhooks.verify_delivery(self.name, body, headers, self._webhook_keys)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        if not self._webhook_keys:
            raise ProviderNotConfigured(self.name, WEBHOOK_SECRET_ENV)
        return webhooks.payment_delivery(event_type, payment, secret=self._webhook_keys[0])

    # --- the two faces: the only code that differs between sync and async ----------------------

    def _send(self, call: api.ApiCall[T]) -> T:
        try:
            response = self._client.request(
                call.method, call.path, json=call.body, headers=call.headers
            )
        except httpx.TransportError as error:
            raise errors.unavailable(self.name, error) from None
        return self._read(call, response)

    async def _asend(self, call: api.ApiCall[T]) -> T:
        try:
            response = await self._async_client.request(
                call.method, call.path, json=call.body, headers=call.headers
            )
        except httpx.TransportError as error:
            raise errors.unavailable(self.name, error) from None
        return self._read(call, response)

    def _read(self, call: api.ApiCall[T], response: httpx.Response) -> T:
        if response.is_error:
            raise errors.from_response(
                self.name, response, redact=self._redact, read_charge=self._read_charge
            )
        return call.read(self.name, response.json())

    def _read_charge(self, charge: Mapping[str, Any]) -> Payment:
        return api.read_charge(self.name, charge)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted key]")

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        self._client.close()
        await self._async_client.aclose()
