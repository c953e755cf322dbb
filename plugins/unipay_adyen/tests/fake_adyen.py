"""Adyen's Checkout API v71, faked for the tests on `ReferenceProcessor` and mounted with respx.

The fake speaks Adyen's JSON only; every payment rule (statuses, what is left to capture or
refund, idempotency-key replay, modifications settled later) is the processor's, built with
``settles_later=True``. It validates every request body against the v71 schema fixtures
(``schemas/``) and every answer it gives against the answer's schema: a request the real API
would refuse fails the test that sent it, and the fake cannot drift from the real wire format.

Modifications are answered ``received``. One that the processor refuses (capturing twice,
refunding more than is left) is answered ``received`` too, as Adyen does, and fails later by
notification. `settle` settles a pending one; the processor's events become
NotificationRequestItems (AUTHORISATION, CAPTURE, CANCELLATION, REFUND, REFUND_FAILED, ...),
which `take_notifications` hands out for `conftest.adyen_delivery` to sign as Adyen does.

Payment methods behave by the words in them (`ReferenceProcessor`'s default): ``decline`` and
``insufficient_funds`` decline, ``authentication``/``3ds`` ask for 3-D Secure, and here
``redirect`` or an iDEAL method ask for a redirect (whose answer, as Adyen's, has no pspReference),
and ``3ds2`` for native 3-D Secure 2 (``ChallengeShopper`` with a ``threeDS2`` action, completed
with a ``threeDSResult``).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import respx

from unipay.testing.processor import (
    Behaviour,
    ProcessorError,
    ProcessorEvent,
    ProcessorPayment,
    ProcessorRefund,
    ReferenceProcessor,
    default_behaviour,
)

Json = dict[str, Any]
API_HOST = "checkout-test.adyen.com"
SCHEMAS = Path(__file__).parent / "schemas"
_MODIFICATION = re.compile(r"^/v71/payments/(?P<psp>[^/]+)/(?P<kind>captures|refunds|cancels)$")
#: The processor's decline codes as Adyen's refusal (refusalReasonCode, refusalReason).
REFUSALS = {
    "card_declined": ("2", "Refused"),
    "insufficient_funds": ("12", "Not enough balance"),
    "authentication_failed": ("11", "3D Not Authenticated"),
}


def schema(name: str) -> jsonschema.protocols.Validator:
    document = json.loads((SCHEMAS / f"{name}.json").read_text())
    return jsonschema.Draft202012Validator(document)


_VALIDATORS: dict[str, jsonschema.protocols.Validator] = {}


def validate(name: str, instance: object) -> None:
    """Fail the test (AssertionError) unless ``instance`` is valid against schema ``name``."""
    validator = _VALIDATORS.get(name) or _VALIDATORS.setdefault(name, schema(name))
    problems = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not problems, f"{name} refuses {instance!r}: " + "; ".join(
        f"{'/'.join(map(str, p.absolute_path)) or '(root)'}: {p.message}" for p in problems[:5]
    )


def adyen_behaviour(token: str) -> Behaviour:
    if "redirect" in token.lower() or token == "ideal":
        return Behaviour(action="redirect")
    return default_behaviour(token)


class FakeAdyen:
    """The five endpoints unipay-adyen calls, over one `ReferenceProcessor`."""

    def __init__(self, api_key: str, merchant_account: str) -> None:
        self.api_key, self.merchant_account = api_key, merchant_account
        self.processor = ReferenceProcessor(
            settles_later=True, id_prefix="pay", behaviour=adyen_behaviour
        )
        #: Every request received: (path, body, headers).
        self.requests: list[tuple[str, Json, httpx.Headers]] = []
        #: The last answer given to a request that succeeded.
        self.last_answer: Json = {}
        self._psp: dict[str, str] = {}
        self._ids: dict[str, str] = {}
        self._pending_kind: dict[str, tuple[str, str]] = {}  # modification psp -> (kind, payment)
        self._rejected: dict[str, Json] = {}  # idempotency key -> a received-but-failing answer
        self._notifications: list[Json] = []
        self._seen = 0
        #: When set, the next request gets this error answer (status, ServiceError, headers).
        self.fail_next: tuple[int, Json, dict[str, str]] | None = None

    def mount(self, router: respx.MockRouter) -> None:
        router.route(host=API_HOST).mock(side_effect=self.handle)

    # --- the shopper and Adyen's back office, driven by tests ---------------------------------

    def redirect_result(self, payment_psp_or_url: str, *, succeed: bool = True) -> str:
        """What Adyen appends to the return URL once the shopper is done (``redirectResult``):
        opaque to the plugin; here it names the payment and the shopper's outcome."""
        token = payment_psp_or_url.rsplit("=", 1)[-1]
        data = json.dumps({"p": token, "ok": succeed}).encode()
        return base64.urlsafe_b64encode(data).decode()

    def settle(self, modification_psp: str, *, succeed: bool = True) -> None:
        """Adyen settles a capture, cancel or refund: its notification is queued."""
        kind, payment = self._pending_kind.pop(modification_psp)
        self.processor.settle(self._ids[modification_psp], succeed)
        self._drain(kind, modification_psp, payment)

    def take_notifications(self) -> list[Json]:
        """The NotificationRequestItems queued since the last call (unsigned)."""
        items, self._notifications = self._notifications, []
        return items

    def psp(self, processor_id: str) -> str:
        if processor_id not in self._psp:
            psp = f"PSP{len(self._psp) + 1:013d}"
            self._psp[processor_id], self._ids[psp] = psp, processor_id
        return self._psp[processor_id]

    # --- the wire -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        self.requests.append((path, body, request.headers))
        assert request.method == "POST", f"unipay-adyen sent {request.method} {path}"
        assert request.headers.get("Idempotency-Key"), f"POST {path} without an Idempotency-Key"
        assert len(request.headers["Idempotency-Key"]) <= 64, "Adyen takes keys of 64 at most"
        if request.headers.get("X-API-Key") != self.api_key:
            return self._error(401, "000", "HTTP Status Response - Unauthorized", "security")
        if self.fail_next is not None:
            status, error, headers = self.fail_next
            self.fail_next = None
            validate("ServiceError", error)
            return httpx.Response(status, json=error, headers=headers)
        key = request.headers["Idempotency-Key"]
        if path == "/v71/payments":
            validate("PaymentRequest", body)
            return self._answer("PaymentResponse", self._create(body, key))
        if path == "/v71/payments/details":
            validate("PaymentDetailsRequest", body)
            return self._answer("PaymentDetailsResponse", self._details(body, key))
        match = _MODIFICATION.match(path)
        assert match is not None, f"the fake has no route {path}"
        kind = match.group("kind")
        schema_name = {"captures": "Capture", "refunds": "Refund", "cancels": "Cancel"}[kind]
        validate(f"Payment{schema_name}Request", body)
        psp = match.group("psp")
        if psp not in self._ids:
            return self._error(
                422, "167", "Original pspReference required for this operation", "validation"
            )
        answer = self._modify(kind, psp, body, key)
        return self._answer(f"Payment{schema_name}Response", answer, status=201)

    def _answer(self, schema_name: str, answer: Json, status: int = 200) -> httpx.Response:
        validate(schema_name, answer)
        self.last_answer = answer
        return httpx.Response(status, json=answer)

    def _error(self, status: int, code: str, message: str, kind: str) -> httpx.Response:
        error = {"status": status, "errorCode": code, "message": message, "errorType": kind}
        validate("ServiceError", error)
        return httpx.Response(status, json=error)

    def _create(self, body: Json, key: str) -> Json:
        assert body["merchantAccount"] == self.merchant_account
        method = body["paymentMethod"]
        token = str(
            method.get("storedPaymentMethodId")
            or method.get("encryptedCardNumber")
            or method.get("type", "scheme")
        )
        manual = body.get("additionalData", {}).get("manualCapture") == "true"
        try:
            payment = self.processor.create(
                body["amount"]["value"],
                body["amount"]["currency"],
                payment_method=token,
                capture="manual" if manual else "automatic",
                reference=body["reference"],
                metadata=body.get("metadata"),
                idempotency_key=key,
            )
        except ProcessorError as error:
            if error.payment is None:  # a refusal that is not a decline: not in these tests
                raise
            payment = error.payment
        self._drain("authorisation")
        native = "3ds2" in token.lower()
        return self._result(payment, redirect_type=method.get("type", "scheme"), native=native)

    def _details(self, body: Json, key: str) -> Json:
        result = body["details"].get("redirectResult") or body["details"].get("threeDSResult")
        outcome = json.loads(base64.urlsafe_b64decode(result))
        processor_id = self._ids.get(outcome["p"]) or self._by_reference(outcome["p"])
        payment = self.processor.complete_action(
            processor_id, succeed=outcome["ok"], idempotency_key=key
        )
        self._drain("authorisation")
        return self._result(payment, completed=True)

    def _by_reference(self, reference: str) -> str:
        found = self.processor.find_by_reference(reference)
        assert found is not None, f"no payment with reference {reference}"
        return found.id

    def _result(
        self,
        payment: ProcessorPayment,
        *,
        redirect_type: str = "scheme",
        completed: bool = False,
        native: bool = False,
    ) -> Json:
        psp = self.psp(payment.id)
        amount = {"value": payment.amount, "currency": payment.currency}
        common = {"merchantReference": payment.reference or "", "amount": amount}
        if payment.status in ("succeeded", "requires_capture"):
            return {"resultCode": "Authorised", "pspReference": psp, **common}
        if payment.status == "requires_payment_method":
            code, reason = REFUSALS.get(payment.decline_code or "", ("2", "Refused"))
            return {
                "resultCode": "Refused",
                "pspReference": psp,
                "refusalReason": reason,
                "refusalReasonCode": code,
                **common,
            }
        assert payment.status == "requires_action" and not completed, payment
        if payment.action == "three_d_secure" and native:
            token = base64.b64encode(json.dumps({"acsURL": "https://acs.example/c"}).encode())
            action = {
                "paymentMethodType": "scheme",
                "subtype": "challenge",
                "token": token.decode(),
                "type": "threeDS2",
            }
            return {"resultCode": "ChallengeShopper", "pspReference": psp, "action": action}
        if payment.action == "three_d_secure":
            url = (
                f"https://checkoutshopper-test.adyen.com/checkoutshopper/threeDS/redirect?MD={psp}"
            )
            action = {
                "paymentMethodType": "scheme",
                "url": url,
                "method": "GET",
                "type": "redirect",
            }
            return {"resultCode": "RedirectShopper", "pspReference": psp, "action": action}
        # A redirect payment method: Adyen gives the pspReference with the result only.
        url = f"https://test.adyen.com/hpp/checkout.shtml?u=redirectIdeal&p={payment.reference}"
        action = {
            "paymentMethodType": redirect_type,
            "url": url,
            "method": "GET",
            "type": "redirect",
        }
        return {"resultCode": "RedirectShopper", "action": action}

    def _modify(self, kind: str, psp: str, body: Json, key: str) -> Json:
        if key in self._rejected:
            return self._rejected[key]
        payment_id = self._ids[psp]
        known = self.processor.payment(payment_id)
        if "amount" in body:
            assert body["amount"]["currency"] == known.currency, "a modification in a new currency"
        answer: Json = {
            "merchantAccount": body["merchantAccount"],
            "paymentPspReference": psp,
            "status": "received",
        }
        if "reference" in body:
            answer["reference"] = body["reference"]
        if "amount" in body:
            answer["amount"] = body["amount"]
        if "merchantRefundReason" in body:
            answer["merchantRefundReason"] = body["merchantRefundReason"]
        try:
            if kind == "captures":
                after = self.processor.capture(
                    payment_id, body["amount"]["value"], idempotency_key=key
                )
                modification = after.pending[-1].id
            elif kind == "refunds":
                refund = self.processor.refund(
                    payment_id, body["amount"]["value"], reference=body.get("reference"),
                    idempotency_key=key,
                )  # fmt: skip
                modification = refund.id
            else:
                before = len(self.processor.events)
                after = self.processor.cancel(payment_id, idempotency_key=key)
                modification = after.pending[-1].id if after.pending else f"cancel-{before}"
        except ProcessorError as refused:
            # Adyen takes the request and answers the failure by notification.
            answer["pspReference"] = self.psp(f"rejected-{len(self._rejected)}")
            self._rejected[key] = answer
            event = {"captures": "CAPTURE", "refunds": "REFUND", "cancels": "CANCELLATION"}[kind]
            amount = body.get("amount") or {"value": known.amount, "currency": known.currency}
            reason = (
                "Insufficient balance on payment" if "amount" in refused.code else "Not allowed"
            )
            self._notify(event, answer["pspReference"], psp, amount, False, reason=reason)
            return answer
        reference = self.psp(modification)
        answer["pspReference"] = reference
        settle_kind = {"captures": "capture", "refunds": "refund", "cancels": "cancel"}[kind]
        if self.processor.payment(payment_id).status == "canceled" and kind == "cancels":
            self._drain("cancel", reference, psp)  # nothing held: canceled at once
        else:
            self._pending_kind.setdefault(reference, (settle_kind, psp))
        return answer

    # --- notifications ------------------------------------------------------------------------

    def _drain(self, kind: str, modification: str = "", payment_psp: str = "") -> None:
        """The processor's new events, as Adyen's notifications of ``kind``."""
        events = self.processor.events[self._seen :]
        self._seen = len(self.processor.events)
        for event in events:
            self._from_event(event, kind, modification, payment_psp)

    def _from_event(
        self, event: ProcessorEvent, kind: str, modification: str, original: str
    ) -> None:
        obj = event.object
        if isinstance(obj, ProcessorRefund):
            if obj.status == "pending":
                return
            amount = {
                "value": obj.amount,
                "currency": self.processor.payment(obj.payment_id).currency,
            }
            code = "REFUND" if obj.status == "succeeded" else "REFUND_FAILED"
            self._notify(code, self.psp(obj.id), self.psp(obj.payment_id), amount, True)
            return
        amount = {"value": obj.amount, "currency": obj.currency}
        if kind == "authorisation":
            if event.type in ("payment.succeeded", "payment.requires_capture", "payment.failed"):
                ok = event.type != "payment.failed"
                reason = "" if ok else REFUSALS.get(obj.decline_code or "", ("2", "Refused"))[1]
                metadata = {f"metadata.{k}": v for k, v in obj.metadata.items()}
                self._notify("AUTHORISATION", self.psp(obj.id), "", amount, ok, reason=reason,
                             additional=metadata, reference=obj.reference or "")  # fmt: skip
            return
        if kind not in ("capture", "cancel"):
            return
        code = "CAPTURE" if kind == "capture" else "CANCELLATION"
        if event.type in ("payment.succeeded", "payment.canceled"):
            value = obj.amount_received if code == "CAPTURE" else obj.amount
            self._notify(code, modification, original, {**amount, "value": value}, True)
        elif event.type in ("capture.failed", "cancel.failed"):
            self._notify(code, modification, original, amount, False, reason="Not allowed")

    def _notify(
        self,
        code: str,
        psp: str,
        original: str,
        amount: Json,
        success: bool,
        *,
        reason: str = "",
        additional: dict[str, str] | None = None,
        reference: str = "",
    ) -> None:
        self._notifications.append(
            {
                "additionalData": dict(additional or {}),
                "amount": dict(amount),
                "eventCode": code,
                "eventDate": datetime.now(UTC).isoformat(timespec="seconds"),
                "merchantAccountCode": self.merchant_account,
                "merchantReference": reference or f"ref-{psp}",
                "originalReference": original,
                "paymentMethod": "visa",
                "pspReference": psp,
                "reason": reason,
                "success": "true" if success else "false",
            }
        )
