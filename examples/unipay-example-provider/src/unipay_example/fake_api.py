"""``FakeAcmePay``: a stateful, in-memory Acme Pay API, for tests that must not touch the network.

It speaks Acme Pay's HTTP (same paths, JSON, status codes, ``Idempotency-Key`` replay and signed
webhooks) behind one function, :meth:`FakeAcmePay.handle`, that turns an ``httpx.Request`` into an
``httpx.Response``. Mount it at the wire with respx, so the provider's real clients are used::

    fake = FakeAcmePay(api_key="ak_test_123")
    with respx.mock(base_url=DEFAULT_API_BASE) as router:
        router.route().mock(side_effect=fake.handle)
        ...

Test payment methods: ``pm_acme_success``, ``pm_acme_decline`` (``do_not_honor``),
``pm_acme_insufficient_funds`` (``insufficient_funds``) and ``pm_acme_3ds`` (a redirect).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from unipay.webhooks.signatures import WebhookSecret
from unipay_example import webhooks
from unipay_example.errors import REQUEST_ID_HEADER

Json = dict[str, Any]
DECLINES = {"pm_acme_decline": "do_not_honor", "pm_acme_insufficient_funds": "insufficient_funds"}
SUCCESS = "pm_acme_success"
AUTHENTICATION = "pm_acme_3ds"
CURRENCIES = {"usd", "eur", "gbp"}
_CHARGE_PATH = re.compile(r"^/v1/charges/(?P<id>ch_[a-z0-9]+)(?:/(?P<action>[a-z]+))?$")


class ApiError(Exception):
    """An error answer: ``{"error": {...}}`` with an HTTP status."""

    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message, **extra}}


class FakeAcmePay:
    """Acme Pay's charges and refunds, kept in memory; thread-safe."""

    def __init__(self, *, api_key: str, webhook_secret: str | None = None) -> None:
        self.api_key = api_key
        self.webhook_secret = WebhookSecret.parse(webhook_secret) if webhook_secret else None
        self.charges: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        #: Idempotency-Key -> (the request it came with, the answer given).
        self._answers: dict[str, tuple[bytes, tuple[int, Json]]] = {}
        self._failures: list[bool] = []
        self._lock = threading.Lock()

    def fail_next(self, times: int = 1, *, after_work: bool = False) -> None:
        """Answer 503 to the next ``times`` requests; ``after_work`` does the work first, like a
        gateway timeout on the way back (only the idempotency key prevents a second charge)."""
        with self._lock:
            self._failures.extend([after_work] * times)

    def delivery(self, kind: str, object_id: str) -> tuple[bytes, dict[str, str]]:
        """A signed webhook about a stored charge or refund, as Acme Pay would send it."""
        if self.webhook_secret is None:
            raise RuntimeError("FakeAcmePay(webhook_secret=...) is needed to send webhooks")
        data = self.charges.get(object_id) or self.refunds[object_id]
        return webhooks.build_delivery(kind, data, secret=self.webhook_secret)

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request exactly as Acme Pay would."""
        with self._lock:
            status, body = self._answer(request)
        headers = {REQUEST_ID_HEADER: "req_" + secrets.token_hex(8)}
        return httpx.Response(status, json=body, headers=headers)

    def _answer(self, request: httpx.Request) -> tuple[int, Json]:
        failure = self._failures.pop(0) if self._failures else None
        if failure is False:
            return 503, ApiError(503, "unavailable", "Acme Pay is briefly unavailable.").body
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            # Like some real APIs, Acme Pay repeats the key it rejects: providers must redact.
            return 401, ApiError(401, "authentication_error", f"Invalid API key: {given}").body
        key = request.headers.get("idempotency-key")
        fingerprint = request.method.encode() + request.url.path.encode() + request.content
        if key is not None and key in self._answers:
            seen, answer = self._answers[key]
            if seen != fingerprint:
                error = ApiError(422, "idempotency_conflict", "Key reused with other parameters.")
                return 422, error.body
            return answer
        try:
            answer = 200, copy.deepcopy(self._route(request))
        except ApiError as error:
            answer = error.status, copy.deepcopy(error.body)
        if key is not None:
            self._answers[key] = (fingerprint, answer)
        if failure:
            return 503, ApiError(503, "unavailable", "Acme Pay timed out answering.").body
        return answer

    def _route(self, request: httpx.Request) -> Json:
        body: Json = json.loads(request.content) if request.content else {}
        path = request.url.path
        if request.method == "POST" and path == "/v1/charges":
            return self._create(body)
        match = _CHARGE_PATH.match(path)
        if match is None:
            raise ApiError(404, "not_found", f"No route {request.method} {path}.")
        charge = self.charges.get(match["id"])
        if charge is None:
            raise ApiError(404, "not_found", f"No such charge: {match['id']}.")
        actions: dict[tuple[str, str | None], Callable[[Json, Json], Json]] = {
            ("GET", None): lambda charge, _: charge,
            ("POST", "confirm"): self._confirm,
            ("POST", "capture"): self._capture,
            ("POST", "void"): self._void,
            ("POST", "refunds"): self._refund,
        }
        action = actions.get((request.method, match["action"]))
        if action is None:
            raise ApiError(404, "not_found", f"No route {request.method} {path}.")
        return action(charge, body)

    # --- charges ------------------------------------------------------------------------------

    def _create(self, body: Json) -> Json:
        amount, currency = body.get("amount"), body.get("currency")
        if not isinstance(amount, int) or amount <= 0:
            raise ApiError(
                400, "invalid_request", "amount must be a positive integer.", param="amount"
            )
        if currency not in CURRENCIES:
            raise ApiError(400, "invalid_request", "Unsupported currency.", param="currency")
        charge: Json = {
            "id": "ch_" + secrets.token_hex(10),
            "object": "charge",
            "status": "created",
            "amount": amount,
            "currency": currency,
            "capture": body.get("capture", "auto"),
            "amount_authorized": 0,
            "amount_captured": 0,
            "amount_refunded": 0,
            "source": body.get("source"),
            "email": body.get("email"),
            "description": body.get("description"),
            "metadata": body.get("metadata") or {},
            "redirect_url": None,
            "return_url": body.get("return_url"),
            "failure_code": None,
            "created": int(time.time()),
        }
        self.charges[charge["id"]] = charge
        return self._process(charge) if body.get("confirm", True) else charge

    def _confirm(self, charge: Json, body: Json) -> Json:
        if charge["status"] not in ("created", "failed", "action_required"):
            raise _state(charge, "confirm")
        charge["source"] = body.get("source", charge["source"])
        charge["return_url"] = body.get("return_url", charge["return_url"])
        return self._process(charge)

    def _process(self, charge: Json) -> Json:
        source = charge["source"]
        if source is None:
            raise ApiError(400, "invalid_request", "A source is needed to confirm.", param="source")
        if source in DECLINES:
            charge.update(status="failed", failure_code=DECLINES[source])
            raise ApiError(
                402, "card_declined", "The card was declined.",
                decline_code=DECLINES[source], charge=charge,
            )  # fmt: skip
        if source == AUTHENTICATION and charge["status"] != "action_required":
            redirect = f"https://3ds.acmepay.example/authenticate/{charge['id']}"
            charge.update(status="action_required", redirect_url=redirect)
            return charge
        if source not in (SUCCESS, AUTHENTICATION):
            raise ApiError(400, "invalid_request", "No such source.", param="source")
        charge.update(failure_code=None, redirect_url=None, amount_authorized=charge["amount"])
        if charge["capture"] == "manual":
            charge["status"] = "authorized"
        else:
            charge.update(status="paid", amount_captured=charge["amount"])
        return charge

    def _capture(self, charge: Json, body: Json) -> Json:
        if charge["status"] != "authorized":
            raise _state(charge, "capture")
        amount = body.get("amount", charge["amount_authorized"])
        if not isinstance(amount, int) or not 0 < amount <= charge["amount_authorized"]:
            raise ApiError(
                400, "invalid_request", "amount exceeds the authorization.", param="amount"
            )
        charge.update(status="paid", amount_captured=amount)
        return charge

    def _void(self, charge: Json, body: Json) -> Json:
        if charge["status"] not in ("created", "failed", "action_required", "authorized"):
            raise _state(charge, "void")
        charge.update(status="voided", redirect_url=None)
        return charge

    def _refund(self, charge: Json, body: Json) -> Json:
        if charge["status"] != "paid":
            raise _state(charge, "refund")
        if charge["amount_refunded"]:
            raise ApiError(409, "invalid_state", "This charge has already been refunded once.")
        left = charge["amount_captured"]
        amount = body.get("amount", left)
        if not isinstance(amount, int) or not 0 < amount <= left:
            raise ApiError(
                400, "invalid_request", f"At most {left} can be refunded.", param="amount"
            )
        refund: Json = {
            "id": "rf_" + secrets.token_hex(10),
            "object": "refund",
            "charge": charge["id"],
            "amount": amount,
            "currency": charge["currency"],
            "status": "succeeded",
            "reason": body.get("reason"),
            "metadata": body.get("metadata") or {},
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] = amount
        return refund


def _state(charge: Json, action: str) -> ApiError:
    return ApiError(409, "invalid_state", f"Cannot {action} a charge that is {charge['status']}.")
