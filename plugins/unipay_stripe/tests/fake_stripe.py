"""A stateful fake of Stripe's payment-intents and refunds API, served through respx.

It answers at the HTTP layer, as Stripe would, from the JSON fixtures in ``fixtures/``: payment
intents live in a dict and move through Stripe's state machine, ``Idempotency-Key`` is honoured
(same key and body: the stored response again; other body: ``idempotency_error``), and failures can
be injected before or after the work is done. The ``stripe`` SDK under test is never touched.

Stripe's rules about redirects are enforced, because the real API refuses what breaks them:
``return_url`` is accepted on create only with ``confirm=true``; an intent created without
``payment_method_types`` or ``automatic_payment_methods`` gets automatic payment methods with
redirects allowed (the default since API version 2023-08-16); and confirming an intent whose
automatic payment methods allow redirects needs a ``return_url``, even for a card.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

FIXTURES = Path(__file__).parent / "fixtures"
API_HOST = "api.stripe.com"

DECLINES = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
AUTHENTICATION_REQUIRED = "pm_card_authenticationRequired"
SUCCEEDING = {"pm_card_visa", "pm_card_mastercard", "pm_card_amex"}
#: Stripe's answer to a confirmation without return_url of an intent that allows redirects.
RETURN_URL_REQUIRED = (
    "A `return_url` must be specified because this Payment Intent is configured to "
    "automatically accept the payment methods enabled in the Dashboard, some of which may "
    "require a full page redirect to succeed. If you do not want to accept redirect-based "
    "payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents."
)
_CANCELABLE = {
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
}

Json = dict[str, Any]


def fixture(name: str) -> Json:
    loaded: Json = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def parse_form(body: bytes) -> Json:
    """Stripe's form encoding (``metadata[order]=42``, ``expand[0]=x``) as nested dicts."""
    out: Json = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _new_id(prefix: str) -> str:
    return f"{prefix}_3Qb{secrets.token_hex(10)}"


class StripeFailure(Exception):
    """An error response Stripe would send: status and the ``error`` object."""

    def __init__(self, status: int, error: Json) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def _invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeFailure:
    return StripeFailure(
        400, {"type": "invalid_request_error", "code": code, "param": param, "message": message}
    )


@dataclass
class _Injected:
    status: int | None  # None: the connection fails
    after_work: bool


class FakeStripe:
    """Install with ``router.route(host=API_HOST).mock(side_effect=fake.handle)``."""

    def __init__(self) -> None:
        self.intents: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.requests: list[httpx.Request] = []
        self._keys: dict[str, tuple[str, int, Json]] = {}
        self._injected: list[_Injected] = []

    # --- test controls --------------------------------------------------------------------------

    def fail_next(self, status: int | None = None, *, after_work: bool = False) -> None:
        """The next request fails with ``status`` (None: a connection error); ``after_work``
        fails it after Stripe did the work, like a response lost on the way back."""
        self._injected.append(_Injected(status, after_work))

    def mutations(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path == path]

    # --- the HTTP face -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        injected = self._injected.pop(0) if self._injected else None
        if injected and not injected.after_work:
            return self._fail(request, injected)
        key = request.headers.get("Idempotency-Key")
        fingerprint = f"{request.method} {request.url.path} {request.content.decode()}"
        stored = self._keys.get(key) if key and request.method == "POST" else None
        if stored is not None:
            if stored[0] != fingerprint:
                status, body = 400, fixture("error_idempotency")
            else:
                status, body = stored[1], stored[2]
            response = self._respond(request, status, body, replayed=stored[0] == fingerprint)
        else:
            status, body = self._dispatch(request)
            if key and request.method == "POST" and status < 500:
                self._keys[key] = (fingerprint, status, body)
            response = self._respond(request, status, body)
        if injected:
            return self._fail(request, injected)
        return response

    def _fail(self, request: httpx.Request, injected: _Injected) -> httpx.Response:
        if injected.status is None:
            raise httpx.ConnectError("connection reset by peer", request=request)
        body = fixture("error_rate_limit" if injected.status == 429 else "error_api")
        return self._respond(request, injected.status, body)

    @staticmethod
    def _respond(
        request: httpx.Request, status: int, body: Json, *, replayed: bool = False
    ) -> httpx.Response:
        headers = {
            "Request-Id": "req_" + secrets.token_hex(7),
            "Stripe-Version": request.headers.get("Stripe-Version", ""),
        }
        if "Idempotency-Key" in request.headers:
            headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return httpx.Response(status, json=body, headers=headers)

    def _dispatch(self, request: httpx.Request) -> tuple[int, Json]:
        params = parse_form(request.content) if request.method == "POST" else {}
        expand = set((params.pop("expand", None) or {}).values())
        expand |= {v for k, v in request.url.params.multi_items() if k.startswith("expand")}
        path = request.url.path
        try:
            for pattern, method, handler in self._routes():
                match = re.fullmatch(pattern, path)
                if match and request.method == method:
                    obj = handler(*match.groups(), params)
                    return 200, self._render(obj, expand)
            raise StripeFailure(404, {"type": "invalid_request_error", "message": "no route"})
        except StripeFailure as failure:
            return failure.status, {"error": self._render_error(failure.error, expand)}

    def _routes(self) -> list[tuple[str, str, Callable[..., Json]]]:
        return [
            (r"/v1/payment_intents", "POST", self._create),
            (r"/v1/payment_intents/([^/]+)", "GET", lambda i, _p: self._intent(i)),
            (r"/v1/payment_intents/([^/]+)/confirm", "POST", self._confirm),
            (r"/v1/payment_intents/([^/]+)/capture", "POST", self._capture),
            (r"/v1/payment_intents/([^/]+)/cancel", "POST", self._cancel),
            (r"/v1/refunds", "POST", self._refund),
        ]

    def _render(self, obj: Json, expand: set[str]) -> Json:
        out = copy.deepcopy(obj)
        charge = out.get("latest_charge")
        if isinstance(charge, dict) and "latest_charge" not in expand:
            out["latest_charge"] = charge["id"]
        return out

    def _render_error(self, error: Json, expand: set[str]) -> Json:
        intent = error.get("payment_intent")
        if isinstance(intent, dict):
            error = {**error, "payment_intent": self._render(intent, expand)}
        return error

    # --- Stripe's state machine -----------------------------------------------------------------

    def _intent(self, intent_id: str) -> Json:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise StripeFailure(404, fixture("error_resource_missing")["error"])
        return intent

    def _create(self, params: Json) -> Json:
        if "return_url" in params and params.get("confirm") != "true":
            raise _invalid("`return_url` can only be used with `confirm=true`.", param="return_url")
        intent = fixture("payment_intent")
        intent_id = _new_id("pi")
        intent.update(
            id=intent_id,
            client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
            amount=int(params["amount"]),
            currency=params["currency"],
            capture_method=params.get("capture_method", "automatic"),
            description=params.get("description"),
            metadata=params.get("metadata", {}),
            receipt_email=params.get("receipt_email"),
            payment_method=None,
            latest_charge=None,
            amount_received=0,
            status="requires_payment_method",
            automatic_payment_methods=_automatic_payment_methods(params),
        )
        self.intents[intent_id] = intent
        if "payment_method" in params:
            intent.update(payment_method=params["payment_method"], status="requires_confirmation")
        if params.get("confirm") == "true":
            return self._confirm(intent_id, params)
        return intent

    def _confirm(self, intent_id: str, params: Json) -> Json:
        intent = self._intent(intent_id)
        if intent["status"] not in {
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        }:
            raise self._state_error(intent, "confirmed")
        token = params.get("payment_method") or intent["payment_method"]
        if token is None:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        methods = intent["automatic_payment_methods"]
        redirects = methods is not None and methods.get("allow_redirects") != "never"
        if redirects and "return_url" not in params:
            raise _invalid(RETURN_URL_REQUIRED)
        intent.update(payment_method=token, last_payment_error=None, next_action=None)
        if token in DECLINES:
            decline_code, message = DECLINES[token]
            error = fixture("error_card_declined")["error"]
            error.update(decline_code=decline_code, message=message)
            intent.update(
                status="requires_payment_method",
                last_payment_error={k: error[k] for k in ("code", "decline_code", "message")},
            )
            raise StripeFailure(402, {**error, "payment_intent": intent})
        if token == AUTHENTICATION_REQUIRED and "return_url" in params:
            intent.update(
                status="requires_action",
                next_action={
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"https://hooks.stripe.com/3d_secure_2/hosted?intent={intent_id}",
                        "return_url": params["return_url"],
                    },
                },
            )
            return intent
        if token not in SUCCEEDING and token != AUTHENTICATION_REQUIRED:
            raise _invalid(f"No such PaymentMethod: '{token}'", code="resource_missing",
                           param="payment_method")  # fmt: skip
        charge = fixture("payment_intent")["latest_charge"]
        charge.update(id=_new_id("ch"), amount=intent["amount"], currency=intent["currency"],
                      payment_intent=intent_id, amount_captured=0, captured=False)  # fmt: skip
        intent["latest_charge"] = charge
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            charge.update(amount_captured=intent["amount"], captured=True)
            intent.update(status="succeeded", amount_received=intent["amount"])
        return intent

    def _capture(self, intent_id: str, params: Json) -> Json:
        intent = self._intent(intent_id)
        if intent["status"] != "requires_capture":
            raise self._state_error(intent, "captured")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            raise _invalid(
                "The amount to capture must be less than or equal to the amount capturable.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        intent["latest_charge"].update(amount_captured=amount, captured=True)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return intent

    def _cancel(self, intent_id: str, params: Json) -> Json:
        intent = self._intent(intent_id)
        if intent["status"] not in _CANCELABLE:
            raise self._state_error(intent, "canceled")
        intent.update(
            status="canceled",
            amount_capturable=0,
            next_action=None,
            cancellation_reason=params.get("cancellation_reason"),
            canceled_at=1735689650,
        )
        return intent

    def _refund(self, params: Json) -> Json:
        intent_id = params.get("payment_intent", "")
        if intent_id not in self.intents:
            error = fixture("error_resource_missing")["error"]
            raise StripeFailure(404, {**error, "param": "payment_intent"})
        intent = self.intents[intent_id]
        if intent["status"] != "succeeded":
            raise self._state_error(intent, "refunded")
        charge = intent["latest_charge"]
        refundable = charge["amount_captured"] - charge["amount_refunded"]
        if refundable == 0:
            raise _invalid(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(params.get("amount", refundable))
        if amount > refundable:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({refundable})",
                code="amount_too_large",
                param="amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refund = fixture("refund")
        refund.update(id=_new_id("re"), amount=amount, currency=intent["currency"],
                      charge=charge["id"], payment_intent=intent_id, reason=params.get("reason"),
                      metadata=params.get("metadata", {}))  # fmt: skip
        self.refunds[refund["id"]] = refund
        return refund

    @staticmethod
    def _state_error(intent: Json, verb: str) -> StripeFailure:
        return _invalid(
            f"This PaymentIntent could not be {verb} because it has a status of "
            f"{intent['status']}.",
            code="payment_intent_unexpected_state",
        )


def _automatic_payment_methods(params: Json) -> Json | None:
    """The intent's ``automatic_payment_methods`` as Stripe sets it from the create call."""
    given = params.get("automatic_payment_methods")
    if given is None:
        # Stripe's default since 2023-08-16, unless the caller lists payment method types.
        return (
            None
            if "payment_method_types" in params
            else {"enabled": True, "allow_redirects": "always"}
        )
    if given.get("enabled") != "true":
        return None
    return {"enabled": True, "allow_redirects": given.get("allow_redirects", "always")}
