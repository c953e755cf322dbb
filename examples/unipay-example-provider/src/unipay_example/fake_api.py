"""``FakeAcmePay``: Acme Pay's HTTP API in memory, for tests that must not touch the network.

Every rule of a payment processor (which status allows a capture, what is left to refund, one
refund per charge, a repeated ``Idempotency-Key`` answered with its first answer) is
`unipay.testing.processor.ReferenceProcessor`'s; this module only speaks Acme Pay's JSON, status
codes and signed webhooks. Mount it at the wire with respx, so the provider's real clients run::

    fake = FakeAcmePay(api_key="ak_test_123")
    with respx.mock(base_url=API_BASE) as router:
        router.route().mock(side_effect=fake.handle)

Test tokens: ``tok_acme_success``, ``tok_acme_decline`` (``do_not_honor``),
``tok_acme_insufficient_funds`` and ``tok_acme_3ds`` (a 3-D Secure page).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any

import httpx

from unipay.testing.processor import Behaviour, ProcessorError, ProcessorRefund, ReferenceProcessor
from unipay.webhooks.signatures import WebhookSecret, sign_headers

Json = dict[str, Any]
TOKENS = {
    "tok_acme_success": Behaviour(),
    "tok_acme_decline": Behaviour(decline_code="do_not_honor"),
    "tok_acme_insufficient_funds": Behaviour(decline_code="insufficient_funds"),
    "tok_acme_3ds": Behaviour(action="three_d_secure"),
}
#: unipay's statuses (the processor's) in Acme Pay's words.
STATUSES = {"requires_payment_method": "failed", "requires_confirmation": "created",
            "requires_action": "action_required", "requires_capture": "authorized",
            "succeeded": "paid", "canceled": "voided"}  # fmt: skip
ROUTE = re.compile(r"/v1/charges(?:/(?P<id>[^/]+)(?:/(?P<action>confirm|capture|void|refunds))?)?")


def signed_event(kind: str, data: Json, secret: WebhookSecret) -> tuple[bytes, dict[str, str]]:
    """An Acme Pay event as its servers send it: Standard Webhooks headers over the JSON."""
    now, event_id = int(time.time()), "evt_" + secrets.token_hex(8)
    body = json.dumps({"type": kind, "created": now, "data": data}).encode()
    return body, sign_headers(body, secret=secret, msg_id=event_id, timestamp=now)


class FakeAcmePay:
    """Acme Pay's routes over one `ReferenceProcessor` (``processor``); thread-safe."""

    def __init__(self, *, api_key: str, webhook_secret: str | None = None) -> None:
        self.api_key = api_key
        self.secret = WebhookSecret.parse(webhook_secret) if webhook_secret else None
        self.processor = ReferenceProcessor(
            id_prefix="ch", multiple_refunds=False, behaviour=TOKENS.__getitem__
        )
        self._kept: dict[str, Json] = {}  # what Acme Pay keeps and the processor does not
        self._failures: list[bool] = []
        self._lock = threading.Lock()

    def fail_next(self, times: int = 1, *, after_work: bool = False) -> None:
        """Answer 503 to the next ``times`` requests; ``after_work`` acts first, as when the
        answer is lost on its way back (only the idempotency key then prevents a second charge)."""
        with self._lock:
            self._failures += [after_work] * times

    def delivery(self, kind: str, object_id: str) -> tuple[bytes, dict[str, str]]:
        """A signed webhook of type ``kind`` about a charge or a refund, as Acme Pay sends it."""
        assert self.secret is not None, "FakeAcmePay(webhook_secret=...) signs webhooks"
        charge = object_id.startswith("ch_")
        data = (
            self.charge(object_id) if charge else self.refund(self.processor.refund_of(object_id))
        )
        return signed_event(kind, data, self.secret)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Acme Pay would."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if failure is False:
            status, body = 503, {"error": {"type": "unavailable", "message": "Try again."}}
        elif given != self.api_key:  # Acme Pay repeats the key it refuses: providers redact it
            status, body = 401, {"error": {"type": "unauthorized", "message": f"Bad key {given}"}}
        else:
            status, body = self._answer(request)
        if failure:
            status, body = 503, {"error": {"type": "timeout", "message": "Try again."}}
        request_id = {"Acme-Request-Id": "req_" + secrets.token_hex(6)}
        return httpx.Response(status, json=body, headers=request_id)

    def _answer(self, request: httpx.Request) -> tuple[int, Json]:
        body, key = json.loads(request.content or "{}"), request.headers.get("Idempotency-Key")
        route = ROUTE.fullmatch(request.url.path)
        charge_id, action = (route["id"], route["action"]) if route else (None, None)
        try:
            if route is None or (request.method == "GET") != bool(charge_id and not action):
                raise ProcessorError("route_not_found", f"No {request.method} {request.url.path}")
            if request.method == "GET" and charge_id:
                return 200, self.charge(charge_id)
            if body.get("payment_method") is not None and body["payment_method"] not in TOKENS:
                raise ProcessorError("invalid_request", "No such payment method.")
            if charge_id is None:
                return 200, self.charge(self._create(body, key))
            if action == "refunds":
                return 200, self.refund(self._refund(charge_id, body, key))
            if action == "confirm":
                self.processor.confirm(
                    charge_id, payment_method=body["payment_method"], idempotency_key=key
                )
            elif action == "capture":
                self.processor.capture(charge_id, body["amount"], idempotency_key=key)
            else:
                self.processor.cancel(charge_id, idempotency_key=key)
            return 200, self.charge(charge_id)
        except ProcessorError as error:
            charge = self.charge(error.payment.id) if error.payment else None  # a decline's
            detail = {"type": error.code, "message": error.message, "charge": charge}
            detail["decline_code"] = error.decline_code
            status = 422 if error.code == "idempotency_key_reused" else error.status
            return status, {"error": detail}

    def _create(self, body: Json, key: str | None) -> str:
        if body["currency"] not in ("USD", "EUR", "GBP") or body["payment_method"] is None:
            raise ProcessorError("invalid_request", "Acme Pay needs USD, EUR or GBP and a token.")
        kept = {"customer_email": body["customer_email"], "description": body["description"]}
        try:
            payment = self.processor.create(
                body["amount"], body["currency"], payment_method=body["payment_method"],
                capture=body["capture_method"], confirm=body["confirm"],
                reference=body["reference"], metadata=body["metadata"], idempotency_key=key,
            )  # fmt: skip
        except ProcessorError as error:
            if error.payment is not None:  # a declined charge exists all the same
                self._keep(error.payment.id, kept)
            raise
        return self._keep(payment.id, kept)

    def _refund(self, charge_id: str, body: Json, key: str | None) -> ProcessorRefund:
        refund = self.processor.refund(
            charge_id, body["amount"], reference=body["reference"], metadata=body["metadata"],
            idempotency_key=key,
        )  # fmt: skip
        self._keep(refund.id, {"reason": body["reason"]})
        return refund

    def _keep(self, object_id: str, fields: Json) -> str:
        """Remember what the processor does not (first answer wins, as a replay changes nothing)."""
        self._kept.setdefault(object_id, fields | {"created": int(time.time())})
        return object_id

    def charge(self, charge_id: str) -> Json:
        """A charge as Acme Pay shows it."""
        payment = self.processor.payment(charge_id)
        return {
            "id": payment.id, "object": "charge", "status": STATUSES[payment.status],
            "amount": payment.amount, "currency": payment.currency,
            "capture_method": payment.capture, "amount_capturable": payment.amount_capturable,
            "amount_received": payment.amount_received, "amount_refunded": payment.amount_refunded,
            "payment_method": payment.payment_method, "metadata": dict(payment.metadata),
            "decline_code": payment.decline_code, "reference": payment.reference,
            "redirect_url": f"https://3ds.acmepay.example/{payment.id}" if payment.action else None,
            **self._kept[payment.id],
        }  # fmt: skip

    def refund(self, refund: ProcessorRefund) -> Json:
        """A refund as Acme Pay shows it."""
        currency = self.processor.payment(refund.payment_id).currency
        return {
            "id": refund.id, "object": "refund", "charge": refund.payment_id,
            "amount": refund.amount, "currency": currency, "status": refund.status,
            "metadata": dict(refund.metadata), "reference": refund.reference,
            **self._kept[refund.id],
        }  # fmt: skip
