"""Acme Pay for unipay, built step by step in docs/plugins/writing-a-provider.md."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import BaseModel

from unipay import errors, hookimpl, models
from unipay.hookspecs import ProviderRegistrar
from unipay.http import HttpClient, error_for
from unipay.provider import CallContext, Capabilities, Flow, NextActionKind, Provider
from unipay.webhooks import StandardWebhooks

API_BASE = "https://api.acmepay.example/v1/"
#: Acme Pay's charge statuses, in unipay's (Stripe's) words.
STATUSES = {
    "created": "requires_confirmation",
    "failed": "requires_payment_method",
    "action_required": "requires_action",
    "authorized": "requires_capture",
    "paid": "succeeded",
    "voided": "canceled",
}
#: Acme Pay's webhook events and their unified types; any other event is "other".
EVENTS = {
    "charge.paid": "payment.succeeded",
    "charge.failed": "payment.failed",
    "charge.voided": "payment.canceled",
    "charge.authorized": "payment.requires_capture",
    "charge.action_required": "payment.requires_action",
    "refund.succeeded": "refund.succeeded",
    "refund.failed": "refund.failed",
}
#: Acme Pay's one error status that HTTP's usual meaning (`unipay.http.error_for`) gets wrong.
BY_STATUS: dict[int, type[errors.UnipayError]] = {422: errors.IdempotencyKeyReused}
#: The fields Acme Pay names as unipay does; `_payment` and `_refund` map the others.
CHARGE_FIELDS = ["amount", "currency", "capture_method", "amount_capturable", "amount_received"]
CHARGE_FIELDS += ["amount_refunded", "payment_method", "customer_email", "description"]
CHARGE_FIELDS += ["metadata", "decline_code"]
REFUND_FIELDS = ["amount", "currency", "status", "reason", "metadata"]


class AcmeProvider(Provider):
    name = "acmepay"
    # The defaults hold too: a confirm step, idempotency keys honoured (Acme Pay answers a repeated
    # Idempotency-Key with its first answer), retrieve; one refund per charge, none settled later.
    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        cancel=True,
        webhooks=True,
        next_actions=frozenset({NextActionKind.THREE_D_SECURE}),  # action_required: a 3DS page
        declines_include_payment=True,  # a 402 carries the declined charge
        currencies=frozenset({"USD", "EUR", "GBP"}),
    )

    def __init__(
        self, *, api_key: str, webhook_secrets: Sequence[str] = (), api_base: str = API_BASE
    ) -> None:
        if not api_key.startswith("ak_"):
            raise errors.ProviderNotConfigured(self.name, "ACME_API_KEY", "Keys start with ak_.")
        self.webhooks = StandardWebhooks(self.name, webhook_secrets, setting="ACME_WEBHOOK_SECRET")
        auth = {"Authorization": f"Bearer {api_key}"}  # never shown, and redacted from errors
        self.http = HttpClient(
            provider=self.name, base_url=api_base, headers=auth, errors=self._error
        )

    @classmethod
    def from_env(cls) -> AcmeProvider:
        key, base = os.environ.get("ACME_API_KEY", ""), os.environ.get("ACME_API_BASE", API_BASE)
        secrets = os.environ.get("ACME_WEBHOOK_SECRET", "").replace(",", " ").split()
        return cls(api_key=key.strip(), webhook_secrets=secrets, api_base=base)

    # --- operations: one flow each, for both faces ----------------------------------------------

    def create_payment(
        self, request: models.CreatePaymentRequest, ctx: CallContext
    ) -> Flow[models.Payment]:
        return self._payment((yield from self._post("charges", request, ctx)))

    def confirm_payment(
        self, charge_id: str, request: models.ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[models.Payment]:
        return self._payment((yield from self._post(f"charges/{charge_id}/confirm", request, ctx)))

    def capture_payment(
        self, charge_id: str, request: models.CapturePaymentRequest, ctx: CallContext
    ) -> Flow[models.Payment]:
        return self._payment((yield from self._post(f"charges/{charge_id}/capture", request, ctx)))

    def cancel_payment(
        self, charge_id: str, request: models.CancelPaymentRequest, ctx: CallContext
    ) -> Flow[models.Payment]:
        return self._payment((yield from self._post(f"charges/{charge_id}/void", request, ctx)))

    def refund_payment(
        self, charge_id: str, request: models.RefundPaymentRequest, ctx: CallContext
    ) -> Flow[models.Refund]:
        return self._refund((yield from self._post(f"charges/{charge_id}/refunds", request, ctx)))

    def retrieve_payment(self, charge_id: str, ctx: CallContext) -> Flow[models.Payment]:
        return self._payment((yield from self.http.json("GET", f"charges/{charge_id}")))

    def _post(self, path: str, request: BaseModel, ctx: CallContext) -> Flow[dict[str, Any]]:
        """Send the request's fields (named as unipay names them), the call's merchant reference
        and its idempotency key."""
        self.token(getattr(request, "payment_method", None), prefixes=("tok_acme_",))
        body = request.model_dump(mode="json", exclude={"provider"}) | {"reference": ctx.reference}
        headers = {"Idempotency-Key": ctx.idempotency_key}
        return (yield from self.http.json("POST", path, json=body, headers=headers))

    def _payment(self, charge: Mapping[str, Any]) -> models.Payment:
        redirect = charge["redirect_url"]
        return models.Payment(
            provider=self.name,
            provider_payment_id=charge["id"],
            status=STATUSES[charge["status"]],
            next_action={"redirect_url": redirect} if redirect else None,
            created_at=charge["created"],
            **{name: charge[name] for name in CHARGE_FIELDS},
        )

    def _refund(self, refund: Mapping[str, Any]) -> models.Refund:
        return models.Refund(
            provider=self.name,
            provider_refund_id=refund["id"],
            payment_id=f"{self.name}:{refund['charge']}",
            created_at=refund["created"],
            **{name: refund[name] for name in REFUND_FIELDS},
        )

    def _error(self, response: httpx.Response) -> errors.UnipayError:
        """The unipay error an answer that is not a success means (`HttpClient.json` raises it)."""
        if response.status_code == 429 or response.is_server_error:
            return error_for(response, "Acme Pay is unavailable.", provider=self.name)
        error = response.json()["error"]
        message = self.http.redact(error["message"])  # Acme Pay repeats a rejected key
        info = {
            "provider_code": error["type"],
            "request_id": response.headers.get("Acme-Request-Id"),
        }
        if response.status_code == 402:
            return errors.PaymentDeclined(
                message, decline_code=error["decline_code"], payment=self._payment(error["charge"]),
                provider=self.name, **info,
            )  # fmt: skip
        return error_for(response, message, provider=self.name, by_status=BY_STATUS, **info)

    # --- webhooks: Standard Webhooks, checked by unipay's helpers --------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> models.WebhookEvent:
        event_id, event = self.webhooks.verify(body, headers)  # the signature first
        # What it raises reading a verified delivery, WebhookApp answers with 400, logging the
        # exception's type but never its text (which may quote the body).
        kind, data = str(event["type"]), event["data"]
        return models.WebhookEvent(
            id=event_id,
            provider=self.name,
            type=EVENTS.get(kind, "other"),
            provider_type=kind,
            data=data,
            payment=self._payment(data) if kind.startswith("charge.") else None,
            refund=self._refund(data) if kind.startswith("refund.") else None,
            created_at=event["created"],
        )

    def sign_test_delivery(
        self, event_type: models.WebhookEventType, payment: models.Payment
    ) -> tuple[bytes, dict[str, str]]:
        kind = next((acme for acme, ours in EVENTS.items() if ours == event_type), "")
        if not kind.startswith("charge."):
            raise errors.InvalidRequest(f"Acme Pay sends no {event_type}.", param="event_type")
        charge = payment.model_dump(mode="json", include=set(CHARGE_FIELDS))
        charge["id"] = payment.provider_payment_id
        charge["created"] = int(payment.created_at.timestamp())
        charge["status"] = next(acme for acme, ours in STATUSES.items() if ours == payment.status)
        charge["redirect_url"] = payment.next_action and payment.next_action.redirect_url
        return self.webhooks.sign({"type": kind, "created": int(time.time()), "data": charge})


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("acmepay", AcmeProvider.from_env)
