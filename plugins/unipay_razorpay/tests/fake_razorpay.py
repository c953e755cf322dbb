"""A stateful fake of Razorpay's Orders, Payments and Refunds API, and of Razorpay Checkout.

It speaks Razorpay's JSON (shapes from ``fixtures/``, see ``fixtures/SOURCES.md``) and leaves every
rule of a payment processor to `ReferenceProcessor`, without idempotency keys: a Razorpay order
is a processor payment created unconfirmed, the customer paying in Checkout confirms it with the
method chosen there (``card``; ``card_insufficient_funds`` and ``card_decline`` decline), a
capture is the processor's capture, a refund the processor's refund, answered ``pending`` and
settled later by `settle_refund` (``refund.processed`` / ``refund.failed``).

Razorpay's behaviour that unipay relies on is modelled as the API reference states it: orders
filtered by ``receipt`` match receipts that *contain* the value; a capture must be of the whole
authorized amount, in its currency; refunds deduplicate by ``X-Refund-Idempotency`` unless
``dedupe_refunds=False``; most refusals are HTTP 400 ``BAD_REQUEST_ERROR`` with Razorpay's
description; unknown request fields are refused. `handle` serves one ``httpx.Request``: respx
mounts it in-process, ``fake_server.py`` serves it over HTTP to other processes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from unipay.money import exponent
from unipay.testing.processor import (
    ProcessorError,
    ProcessorPayment,
    ReferenceProcessor,
)

FIXTURES = Path(__file__).parent / "fixtures"
API_HOST = "api.razorpay.com"
Json = dict[str, Any]

#: Checkout's payment methods and how they end (the processor's neutral words decide).
SUCCEEDS = "card"
INSUFFICIENT_FUNDS = "card_insufficient_funds"
DECLINES = "card_decline"
#: Processor decline code -> Razorpay's failure (description, reason).
FAILURES = {
    "insufficient_funds": ("Payment failed due to insufficient balance", "insufficient_funds"),
    "card_declined": ("Your payment has been declined by your bank", "card_declined"),
}
_ORDER_FIELDS = {"amount", "currency", "receipt", "notes", "payment", "partial_payment"}
_REFUND_FIELDS = {"amount", "speed", "notes", "receipt"}
_CAPTURE_FIELDS = {"amount", "currency"}


def fixture(name: str) -> Json:
    data: Json = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


class CheckoutDeclined(Exception):
    """Checkout's ``payment.failed``: the customer's payment was declined (no signature)."""

    def __init__(self, error: Json) -> None:
        super().__init__(error["description"])
        self.error = error


@dataclass
class _Order:
    id: str
    processor_id: str
    receipt: str | None
    notes: Json
    capture: str
    created_at: int
    payments: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    id: str
    order_id: str
    method: str
    created_at: int
    #: Razorpay's failure of a declined attempt (description, reason); None when it went through.
    failure: tuple[str, str] | None = None


@dataclass
class _Refund:
    id: str
    processor_id: str
    payment_id: str
    receipt: str | None
    notes: Json
    created_at: int


class FakeRazorpay:
    """Razorpay's API over one `ReferenceProcessor`; ``key_id``/``key_secret`` is the only valid
    key pair. ``auto_capture=False`` leaves automatic orders authorized (Razorpay's capture not
    yet done) so that confirm's own capture runs."""

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        *,
        webhook_secret: str = "",
        dedupe_refunds: bool = True,
        auto_capture: bool = True,
        seed: int = 0,
    ) -> None:
        self.key_id, self.key_secret, self.webhook_secret = key_id, key_secret, webhook_secret
        self.auth = "Basic " + base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()
        self.dedupe_refunds, self.auto_capture = dedupe_refunds, auto_capture
        self.processor = ReferenceProcessor(
            idempotency_keys=False, partial_capture=False, settles_later=True, id_prefix="p"
        )
        self.orders: dict[str, _Order] = {}
        self.attempts: dict[str, _Attempt] = {}
        self.refunds: dict[str, _Refund] = {}
        self.requests: list[httpx.Request] = []
        #: Counts of what acted, for tests: orders per receipt, captures, refunds per receipt.
        self.acted: dict[str, int] = {}
        self._refund_keys: dict[str, tuple[str, httpx.Response]] = {}
        self._faults: list[tuple[str, str, int | type[Exception]]] = []
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        #: The respx router it is mounted on, when it is.
        self.router: Any = None

    # --- test controls --------------------------------------------------------------------------

    def fail_next(
        self, route: str, status_or_error: int | type[Exception], *, after: bool = False
    ) -> None:
        """The next request to ``route`` (``create_order``, ``capture``, ``refund``, ``fetch``,
        ...) answers ``status`` before acting, or (``after``) acts and then answers it or raises
        the httpx error (a lost answer)."""
        self._faults.append((route, "after" if after else "before", status_or_error))

    def pay(self, order_id: str, method: str = SUCCEEDS) -> dict[str, str]:
        """The customer pays ``order_id`` in Checkout with ``method``: Checkout's ``handler``
        answer, signed as Razorpay signs it (HMAC-SHA256 of ``order_id|payment_id`` under the
        key secret). A decline raises `CheckoutDeclined` with Checkout's error object."""
        with self._lock:
            order = self.orders[order_id]
            attempt = _Attempt(self._id("pay"), order_id, method, self._now())
            order.payments.append(attempt.id)
            self.attempts[attempt.id] = attempt
            try:
                self.processor.confirm(order.processor_id, payment_method=method)
            except ProcessorError as declined:
                description, reason = FAILURES.get(
                    declined.decline_code or "", ("Payment failed", "payment_failed")
                )
                attempt.failure = (description, reason)
                raise CheckoutDeclined(
                    {
                        "code": "BAD_REQUEST_ERROR",
                        "description": description,
                        "source": "customer",
                        "step": "payment_authorization",
                        "reason": reason,
                        "metadata": {"order_id": order_id, "payment_id": attempt.id},
                    }
                ) from None
        message = f"{order_id}|{attempt.id}".encode()
        signature = hmac.new(self.key_secret.encode(), message, hashlib.sha256).hexdigest()
        return {
            "razorpay_payment_id": attempt.id,
            "razorpay_order_id": order_id,
            "razorpay_signature": signature,
        }

    def settle_refund(self, refund_id: str, *, succeed: bool = True) -> Json:
        """Razorpay finishes a pending refund: the refund entity as it now is."""
        with self._lock:
            refund = self.refunds[refund_id]
            self.processor.settle(refund.processor_id, succeed=succeed)
            return self._refund_json(refund)

    def event(self, kind: str, *, payment_id: str, refund_id: str | None = None) -> Json:
        """A webhook event of ``kind`` about the fake's current state, shaped as Razorpay's."""
        with self._lock:
            attempt = self.attempts[payment_id]
            payload: Json = {"payment": {"entity": self._payment_json(attempt)}}
            contains = ["payment"]
            if refund_id is not None:
                payload["refund"] = {"entity": self._refund_json(self.refunds[refund_id])}
                contains.insert(0, "refund")
            if kind == "order.paid":
                order = self.orders[attempt.order_id]
                payload["order"] = {"entity": self._order_json(order)}
                contains.append("order")
        return {
            "entity": "event",
            "account_id": "acc_FakeRazorpay01",
            "event": kind,
            "contains": contains,
            "payload": payload,
            "created_at": self._now(),
        }

    def signed(self, body: bytes, event_id: str | None = None) -> dict[str, str]:
        """The headers of a delivery of ``body``: Razorpay's signature over the raw bytes."""
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": signature,
            "X-Razorpay-Event-Id": event_id or self._id(""),
        }

    def refunds_with_receipt(self, receipt: str) -> list[str]:
        with self._lock:
            return [r.id for r in self.refunds.values() if r.receipt == receipt]

    def orders_with_receipt(self, receipt: str) -> list[str]:
        with self._lock:
            return [o.id for o in self.orders.values() if o.receipt == receipt]

    # --- the API --------------------------------------------------------------------------------

    def mount(self, router: Any) -> None:
        """Serve every request to api.razorpay.com from a respx router."""
        router.route(host=API_HOST).mock(side_effect=self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            if request.headers.get("Authorization") != self.auth:
                return _error(401, "The api key provided is invalid")
            route, answer = self._route(request)
            fault = next((f for f in self._faults if f[0] == route), None)
            if fault is not None:
                self._faults.remove(fault)
                if fault[1] == "before":
                    return _fault(fault[2])
            try:
                response = answer()
            except ProcessorError as refused:
                response = _error(400, refused.message)
            except _Refused as refused:
                response = refused.response
            if fault is not None:
                return _fault(fault[2])
            return response

    def _route(self, request: httpx.Request) -> tuple[str, Callable[[], httpx.Response]]:
        parts = request.url.path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            return "unknown", lambda: _error(400, "The requested URL was not found on the server.")
        parts = parts[1:]
        method = request.method
        routes: dict[tuple[str, ...], tuple[str, Callable[..., httpx.Response]]] = {
            ("POST", "orders"): ("create_order", self._create_order),
            ("GET", "orders"): ("find_orders", self._find_orders),
            ("GET", "orders", "*"): ("fetch", self._fetch_order),
            ("GET", "orders", "*", "payments"): ("fetch", self._order_payments),
            ("GET", "payments", "*"): ("fetch", self._fetch_payment),
            ("POST", "payments", "*", "capture"): ("capture", self._capture),
            ("POST", "payments", "*", "refund"): ("refund", self._refund),
            ("GET", "payments", "*", "refunds"): ("find_refunds", self._payment_refunds),
            ("GET", "refunds", "*"): ("fetch", self._fetch_refund),
        }
        shape = (method, *("*" if i == 1 else p for i, p in enumerate(parts)))
        found = routes.get(shape)
        if found is None:
            return "unknown", lambda: _error(400, "The requested URL was not found on the server.")
        name, handler = found
        args = [parts[1]] if len(parts) > 1 else []
        return name, lambda: handler(request, *args)

    # --- orders ---------------------------------------------------------------------------------

    def _create_order(self, request: httpx.Request) -> httpx.Response:
        body = _body(request, _ORDER_FIELDS)
        amount, currency = body.get("amount"), body.get("currency")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise _Refused(_error(400, "The amount must be an integer.", field="amount"))
        if not isinstance(currency, str) or len(currency) != 3:
            raise _Refused(_error(400, "The currency field is required.", field="currency"))
        unit = 10 ** exponent(currency)  # Razorpay's exponents are ISO 4217's (currencies.py)
        if amount < unit:
            raise _Refused(
                _error(400, f"The amount must be at least {currency} 1.00", field="amount")
            )
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise _Refused(
                _error(400, "The receipt may not be greater than 40 characters.", field="receipt")
            )
        notes = _notes(body.get("notes"))
        capture = _capture_settings(body.get("payment"))
        automatic = capture == "automatic" and self.auto_capture
        made = self.processor.create(
            amount,
            currency,
            confirm=False,
            capture="automatic" if automatic else "manual",
            reference=receipt,
            metadata={k: str(v) for k, v in notes.items()},
        )
        order = _Order(self._id("order"), made.id, receipt, notes, capture, self._now())
        self.orders[order.id] = order
        self._count(f"order:{receipt}")
        return httpx.Response(200, json=self._order_json(order))

    def _find_orders(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        wanted = params.get("receipt")
        count, skip = int(params.get("count", 10)), int(params.get("skip", 0))
        if count > 100:
            raise _Refused(_error(400, "The count may not be greater than 100.", field="count"))
        orders = [
            o
            for o in sorted(self.orders.values(), key=lambda o: o.created_at, reverse=True)
            if wanted is None or (o.receipt is not None and wanted in o.receipt)
        ]
        return _collection([self._order_json(o) for o in orders[skip : skip + count]])

    def _fetch_order(self, request: httpx.Request, order_id: str) -> httpx.Response:
        return httpx.Response(200, json=self._order_json(self._order(order_id)))

    def _order_payments(self, request: httpx.Request, order_id: str) -> httpx.Response:
        order = self._order(order_id)
        return _collection([self._payment_json(self.attempts[p]) for p in order.payments])

    # --- payments -------------------------------------------------------------------------------

    def _fetch_payment(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        return httpx.Response(200, json=self._payment_json(self._attempt(payment_id)))

    def _capture(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        attempt = self._attempt(payment_id)
        body = _body(request, _CAPTURE_FIELDS)
        payment = self._processor_payment(attempt)
        status = self._status(attempt, payment)
        if status in ("captured", "refunded"):
            raise _Refused(_error(400, "This payment has already been captured"))
        if status != "authorized":
            raise _Refused(
                _error(
                    400,
                    "Only payments which have been authorized and not yet captured can be captured",
                )
            )
        if body.get("amount") != payment.amount:
            raise _Refused(
                _error(400, "Capture amount must be equal to the amount authorized", "amount")
            )
        if body.get("currency") != payment.currency:
            raise _Refused(_error(400, "The currency should be same as the payment currency"))
        held = self.processor.capture(payment.id)
        self.processor.settle(held.pending[-1].id)  # Razorpay answers a capture done at once
        self._count("capture")
        return httpx.Response(200, json=self._payment_json(attempt))

    # --- refunds --------------------------------------------------------------------------------

    def _refund(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        key = request.headers.get("X-Refund-Idempotency")
        if key is not None and self.dedupe_refunds:
            seen = self._refund_keys.get(key)
            if seen is not None:
                if seen[0] != request.content.decode():
                    raise _Refused(
                        _error(
                            409,
                            "Different request with the same idempotency key has "
                            "already been processed.",
                        )
                    )
                return seen[1]
        attempt = self._attempt(payment_id)
        body = _body(request, _REFUND_FIELDS)
        payment = self._processor_payment(attempt)
        if self._status(attempt, payment) not in ("captured", "refunded"):
            raise _Refused(_error(400, "The payment has not been captured yet"))
        refundable = payment.amount_received - self._refunded(payment)
        if refundable <= 0:
            raise _Refused(_error(400, "The payment has been fully refunded already"))
        amount = body.get("amount", refundable)
        if not isinstance(amount, int) or amount > refundable:
            raise _Refused(
                _error(400, "The refund amount provided is greater than amount captured.")
            )
        receipt = body.get("receipt")
        notes = _notes(body.get("notes"))
        made = self.processor.refund(payment.id, amount, reference=receipt)
        refund = _Refund(self._id("rfnd"), made.id, attempt.id, receipt, notes, self._now())
        self.refunds[refund.id] = refund
        self._count(f"refund:{receipt}")
        response = httpx.Response(200, json=self._refund_json(refund))
        if key is not None and self.dedupe_refunds:
            self._refund_keys[key] = (request.content.decode(), response)
        return response

    def _payment_refunds(self, request: httpx.Request, payment_id: str) -> httpx.Response:
        self._attempt(payment_id)
        count = int(request.url.params.get("count", 10))
        skip = int(request.url.params.get("skip", 0))
        if count > 100:
            raise _Refused(_error(400, "The count may not be greater than 100.", field="count"))
        mine = [r for r in self.refunds.values() if r.payment_id == payment_id]
        return _collection([self._refund_json(r) for r in mine[skip : skip + count]])

    def _fetch_refund(self, request: httpx.Request, refund_id: str) -> httpx.Response:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise _Refused(_error(400, "The id provided does not exist"))
        return httpx.Response(200, json=self._refund_json(refund))

    # --- state as Razorpay's JSON ---------------------------------------------------------------

    def _order_json(self, order: _Order) -> Json:
        payment = self.processor.payment(order.processor_id)
        paid = payment.amount_received
        status = "paid" if paid else "attempted" if order.payments else "created"
        return fixture("order") | {
            "id": order.id,
            "amount": payment.amount,
            "amount_paid": paid,
            "amount_due": payment.amount - paid,
            "currency": payment.currency,
            "receipt": order.receipt,
            "status": status,
            "attempts": len(order.payments),
            "notes": copy.deepcopy(order.notes) or [],
            "created_at": order.created_at,
        }

    def _payment_json(self, attempt: _Attempt) -> Json:
        payment = self._processor_payment(attempt)
        status = self._status(attempt, payment)
        refunded = self._refunded(payment) if status in ("captured", "refunded") else 0
        failure = attempt.failure or (None, None)
        order = self.orders[attempt.order_id]
        return fixture("payment") | {
            "id": attempt.id,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": status,
            "order_id": attempt.order_id,
            "method": "card",
            "bank": None,
            "amount_refunded": refunded,
            "refund_status": None
            if not refunded
            else "full"
            if refunded >= payment.amount
            else "partial",
            "captured": status in ("captured", "refunded"),
            "description": None,
            "notes": copy.deepcopy(order.notes) or [],
            "fee": None,
            "tax": None,
            "error_code": "BAD_REQUEST_ERROR" if attempt.failure else None,
            "error_description": failure[0],
            "error_source": "customer" if attempt.failure else None,
            "error_step": "payment_authorization" if attempt.failure else None,
            "error_reason": failure[1],
            "created_at": attempt.created_at,
        }

    def _refund_json(self, refund: _Refund) -> Json:
        made = self.processor.refund_of(refund.processor_id)
        payment = self.processor.payment(made.payment_id)
        status = {"pending": "pending", "succeeded": "processed", "failed": "failed"}[made.status]
        return fixture("refund") | {
            "id": refund.id,
            "amount": made.amount,
            "receipt": refund.receipt,
            "currency": payment.currency,
            "payment_id": refund.payment_id,
            "notes": copy.deepcopy(refund.notes) or [],
            "created_at": refund.created_at,
            "status": status,
        }

    def _status(self, attempt: _Attempt, payment: ProcessorPayment) -> str:
        """An attempt's Razorpay status: a declined one failed; the one that went through is
        what the order's processor payment says."""
        if attempt.failure is not None:
            return "failed"
        if payment.status == "requires_capture":
            return "authorized"
        if payment.status == "succeeded":
            refunded = self._refunded(payment)
            return "refunded" if refunded >= payment.amount_received else "captured"
        return "created"

    def _refunded(self, payment: ProcessorPayment) -> int:
        """Razorpay counts a refund as soon as it is created (pending ones too)."""
        pending = sum(p.amount for p in payment.pending if p.kind == "refund")
        return payment.amount_refunded + pending

    # --- helpers --------------------------------------------------------------------------------

    def _order(self, order_id: str) -> _Order:
        order = self.orders.get(order_id)
        if order is None:
            raise _Refused(_error(400, "The id provided does not exist"))
        return order

    def _attempt(self, payment_id: str) -> _Attempt:
        attempt = self.attempts.get(payment_id)
        if attempt is None:
            raise _Refused(_error(400, "The id provided does not exist"))
        return attempt

    def _processor_payment(self, attempt: _Attempt) -> ProcessorPayment:
        return self.processor.payment(self.orders[attempt.order_id].processor_id)

    def _id(self, prefix: str) -> str:
        alphabet = string.ascii_letters + string.digits
        tail = "".join(self._random.choice(alphabet) for _ in range(14))
        return f"{prefix}_{tail}" if prefix else tail

    def _count(self, what: str) -> None:
        self.acted[what] = self.acted.get(what, 0) + 1

    @staticmethod
    def _now() -> int:
        return int(time.time())


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _error(status: int, description: str, field: str | None = None) -> httpx.Response:
    error = fixture("error_bad_request")["error"] | {
        "code": "SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR",
        "description": description,
        "field": field,
        "reason": "input_validation_failed" if status == 400 else "NA",
    }
    return httpx.Response(status, json={"error": error})


def _fault(fault: int | type[Exception]) -> httpx.Response:
    if isinstance(fault, int):
        text = "Too many requests" if fault == 429 else "The server encountered an error"
        return _error(fault, text)
    raise fault("the fake lost the answer")


def _body(request: httpx.Request, allowed: set[str]) -> Json:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        raise _Refused(_error(400, "The request body is not valid JSON")) from None
    extra = sorted(set(body) - allowed)
    if extra:
        raise _Refused(_error(400, f"{extra[0]} is/are not required and should not be sent"))
    result: Json = body
    return result


def _notes(notes: object) -> Json:
    if notes is None:
        return {}
    if not isinstance(notes, dict) or len(notes) > 15:
        raise _Refused(_error(400, "Number of fields in notes should be less than or equal to 15"))
    if any(len(str(value)) > 256 for value in notes.values()):
        raise _Refused(_error(400, "Notes value may not be greater than 256 characters."))
    return dict(notes)


def _capture_settings(payment: object) -> str:
    """The order's capture setting, checked as the capture settings API states its rules."""
    if payment is None:
        return "automatic"  # the Dashboard's default
    if not isinstance(payment, dict) or payment.get("capture") not in ("automatic", "manual"):
        raise _Refused(_error(400, "The payment.capture field is invalid", "payment.capture"))
    options = payment.get("capture_options") or {}
    automatic = options.get("automatic_expiry_period")
    manual = options.get("manual_expiry_period", 7200)
    if payment["capture"] == "automatic" and (not isinstance(automatic, int) or automatic < 12):
        raise _Refused(
            _error(400, "automatic_expiry_period is required and must be at least 12 minutes")
        )
    if not isinstance(manual, int) or manual > 7200 or (automatic and manual < automatic):
        raise _Refused(_error(400, "manual_expiry_period is invalid"))
    if options.get("refund_speed", "normal") not in ("normal", "optimum"):
        raise _Refused(_error(400, "refund_speed is invalid"))
    return str(payment["capture"])


def _collection(items: list[Json]) -> httpx.Response:
    return httpx.Response(200, json={"entity": "collection", "count": len(items), "items": items})


def refund_processed_event(fake: FakeRazorpay, refund_id: str) -> Json:
    refund = fake.refunds[refund_id]
    return fake.event("refund.processed", payment_id=refund.payment_id, refund_id=refund_id)
