"""Minipay's HTTP API, faked for the minimal provider's tests and mounted at the wire with respx.

The fake only speaks Minipay's JSON. Every rule of a payment processor (statuses, what is left to
refund, declines by token: ``tok_decline`` declines with ``card_declined``) is
`ReferenceProcessor`'s, here without idempotency keys: Minipay has none, so a request sent twice
acts twice.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import respx

from unipay.testing.processor import (
    ProcessorError,
    ProcessorPayment,
    ProcessorRefund,
    ReferenceProcessor,
)

Json = dict[str, Any]


class FakeMinipay:
    """Minipay's four routes over one `ReferenceProcessor`; ``api_key`` is the only valid key."""

    def __init__(self, api_key: str) -> None:
        self.auth = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        self.processor = ReferenceProcessor(idempotency_keys=False, id_prefix="ch")

    def mount(self, router: respx.MockRouter) -> None:
        refunds = r"/payments/(?P<payment_id>[^/]+)/refunds"
        router.post("/payments").mock(side_effect=self._route(self._create))
        router.get("/payments").mock(side_effect=self._route(self._find_payments))
        router.post(path__regex=refunds).mock(side_effect=self._route(self._refund))
        router.get("/refunds").mock(side_effect=self._route(self._find_refunds))

    def _route(self, answer: Callable[..., Json]) -> Callable[..., httpx.Response]:
        def handle(request: httpx.Request, **path: str) -> httpx.Response:
            if request.headers.get("Authorization") != self.auth:
                error = {"code": "unauthorized", "message": "Invalid API key."}
                return httpx.Response(401, json={"error": error})
            try:
                return httpx.Response(200, json=answer(request, **path))
            except ProcessorError as refused:
                error = {"code": refused.code, "message": refused.message}
                if refused.decline_code is not None:  # the payment is not part of the answer
                    error["decline_code"] = refused.decline_code
                return httpx.Response(refused.status, json={"error": error})

        return handle

    def _create(self, request: httpx.Request) -> Json:
        body = json.loads(request.content)
        payment = self.processor.create(
            body["amount"],
            body["currency"],
            payment_method=body.get("payment_method"),
            reference=body.get("reference"),
            metadata=body.get("metadata"),
        )
        return self._payment(payment)

    def _refund(self, request: httpx.Request, payment_id: str) -> Json:
        body = json.loads(request.content)
        refund = self.processor.refund(
            payment_id, body.get("amount"), reference=body.get("reference"),
            metadata=body.get("metadata"),
        )  # fmt: skip
        return self._refund_json(refund)

    def _find_payments(self, request: httpx.Request) -> Json:
        found = self.processor.find_by_reference(request.url.params["reference"])
        return {"data": [] if found is None else [self._payment(found)]}

    def _find_refunds(self, request: httpx.Request) -> Json:
        reference = request.url.params["reference"]
        made = {e.object.id for e in self.processor.events if isinstance(e.object, ProcessorRefund)}
        refunds = [self.processor.refund_of(refund_id) for refund_id in sorted(made)]
        return {"data": [self._refund_json(r) for r in refunds if r.reference == reference]}

    @staticmethod
    def _payment(payment: ProcessorPayment) -> Json:
        return {
            "id": payment.id, "status": payment.status, "amount": payment.amount,
            "currency": payment.currency, "amount_received": payment.amount_received,
            "metadata": dict(payment.metadata),
        }  # fmt: skip

    def _refund_json(self, refund: ProcessorRefund) -> Json:
        return {
            "id": refund.id, "charge": refund.payment_id, "status": refund.status,
            "amount": refund.amount, "metadata": dict(refund.metadata),
            "currency": self.processor.payment(refund.payment_id).currency,
        }  # fmt: skip
