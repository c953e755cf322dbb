"""The tutorial's minimal provider, Minipay: no confirm step, no 3-D Secure, no idempotency keys,
no retrieve, declines without the payment; a merchant reference that ``lookup`` searches, so a
lost answer is settled without charging twice. Its fake API is ``minimal_fake_api.py``."""

from typing import Any

import httpx

from unipay import errors
from unipay.http import HttpClient, error_for
from unipay.models import CreatePaymentRequest, Payment, Refund, RefundPaymentRequest
from unipay.provider import CallContext, Capabilities, Flow, Provider

BASE_URL = "https://api.minipay.test/v1/"


class MinipayProvider(Provider):
    name = "minipay"
    # No confirm step: a payment is attempted as it is created. No idempotency keys: unipay then
    # never re-sends a call in doubt, it looks the call up by its reference. No retrieve:
    # Gateway.stored_payment has what unipay last saw.
    capabilities = Capabilities(
        confirmation=False, idempotency_keys=False, lookup_by_reference=True, retrieve=False
    )

    def __init__(self, *, api_key: str, base_url: str = BASE_URL) -> None:
        self.http = HttpClient(
            provider=self.name, base_url=base_url, auth=(api_key, ""), errors=self._error
        )

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        token = self.token(request.payment_method, prefixes=("tok_",))  # else InvalidRequest
        body = {"amount": request.amount, "currency": request.currency, "payment_method": token}
        body |= {"reference": ctx.reference, "metadata": request.metadata}
        return self._payment((yield from self.http.json("POST", "payments", json=body)))

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        body = {"amount": request.amount, "reference": ctx.reference, "metadata": request.metadata}
        path = f"payments/{provider_payment_id}/refunds"
        return self._refund((yield from self.http.json("POST", path, json=body)))

    def lookup(
        self, operation: str, provider_payment_id: str | None, ctx: CallContext
    ) -> Flow[Payment | Refund | None]:
        kind = "payments" if operation == "create_payment" else "refunds"
        found = yield from self.http.json("GET", kind, params={"reference": ctx.reference})
        read = self._payment if kind == "payments" else self._refund
        return read(found["data"][0]) if found["data"] else None

    def _error(self, response: httpx.Response) -> errors.UnipayError:
        """What a failure means (`HttpClient.json` raises it)."""
        if response.status_code >= 500:
            return error_for(response, "Minipay failed", provider=self.name)
        error = response.json()["error"]
        message, code = f"Minipay: {error['message']}", error.get("decline_code")
        if code is not None:  # a decline, without the payment: Minipay does not say
            return errors.PaymentDeclined(message, decline_code=code, provider=self.name)
        return error_for(response, message, provider=self.name)

    def _payment(self, charge: dict[str, Any]) -> Payment:
        fields = {
            k: charge[k] for k in ("status", "amount", "currency", "amount_received", "metadata")
        }
        return Payment(provider=self.name, provider_payment_id=charge["id"], **fields)

    def _refund(self, refund: dict[str, Any]) -> Refund:
        fields = {k: refund[k] for k in ("status", "amount", "currency", "metadata")}
        payment_id = f"{self.name}:{refund['charge']}"
        return Refund(
            provider=self.name, provider_refund_id=refund["id"], payment_id=payment_id, **fields
        )
