"""Translation between unipay's models and Adyen's Checkout API JSON, in both directions.

Pure functions, no I/O: the provider's flows, both faces and the webhooks share them. The tables
here are the ones docs/providers/adyen.md shows (result codes, refusal reasons).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unipay.errors import InvalidRequest, ProviderError
from unipay.models import (
    CaptureMethod,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    NextAction,
    Payment,
    PaymentStatus,
    RefundReason,
    StructuredPaymentMethod,
)
from unipay.provider import CallContext, NextActionKind
from unipay_adyen import wire
from unipay_adyen.currencies import from_adyen_amount, to_adyen_amount

#: Metadata key marking a payment held for manual capture. Adyen returns a payment's metadata in
#: its AUTHORISATION notification (``additionalData["metadata.<key>"]``) but not its capture
#: setting, so this key is what lets any process read that notification as requires_capture.
CAPTURE_KEY = "unipay_capture"
#: Adyen's metadata limits (``PaymentRequest.metadata``: error 177 beyond them).
METADATA_MAX_KEYS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 20, 20, 80
#: A stored payment method token: ``<shopperReference>:<storedPaymentMethodId>``.
TOKEN_SEPARATOR = ":"  # noqa: S105 - a separator, not a secret
#: Adyen's ``shopperReference`` bounds (``PaymentRequest.shopperReference``).
SHOPPER_REFERENCE_LENGTH = (3, 256)
STORED_ID_MAX = 64
#: What the gateway's merchant references start with: such an id names a payment that Adyen has
#: not given a pspReference yet (a redirect waiting for the shopper).
REFERENCE_PREFIX = "unipay-"


@dataclass(frozen=True)
class Refusal:
    """One of Adyen's refusal reasons and the unified ``decline_code`` it becomes."""

    code: str
    reason: str
    decline_code: str


#: https://docs.adyen.com/development-resources/refusal-reasons, as Stripe's decline codes.
REFUSALS: tuple[Refusal, ...] = (
    Refusal("2", "Refused", "card_declined"),
    Refusal("3", "Referral", "call_issuer"),
    Refusal("4", "Acquirer Error", "processing_error"),
    Refusal("5", "Blocked Card", "restricted_card"),
    Refusal("6", "Expired Card", "expired_card"),
    Refusal("7", "Invalid Amount", "invalid_amount"),
    Refusal("8", "Invalid Card Number", "incorrect_number"),
    Refusal("9", "Issuer Unavailable", "issuer_not_available"),
    Refusal("10", "Not supported", "card_not_supported"),
    Refusal("11", "3D Not Authenticated", "authentication_required"),
    Refusal("12", "Not enough balance", "insufficient_funds"),
    Refusal("14", "Acquirer Fraud", "fraudulent"),
    Refusal("15", "Cancelled", "card_declined"),
    Refusal("16", "Shopper Cancelled", "card_declined"),
    Refusal("17", "Invalid Pin", "incorrect_pin"),
    Refusal("18", "Pin tries exceeded", "pin_try_exceeded"),
    Refusal("19", "Pin validation not possible", "incorrect_pin"),
    Refusal("20", "FRAUD", "fraudulent"),
    Refusal("21", "Not Submitted", "processing_error"),
    Refusal("22", "FRAUD-CANCELLED", "fraudulent"),
    Refusal("23", "Transaction Not Permitted", "transaction_not_allowed"),
    Refusal("24", "CVC Declined", "incorrect_cvc"),
    Refusal("25", "Restricted Card", "restricted_card"),
    Refusal("26", "Revocation Of Auth", "revocation_of_authorization"),
    Refusal("27", "Declined Non Generic", "generic_decline"),
    Refusal("28", "Withdrawal amount exceeded", "withdrawal_count_limit_exceeded"),
    Refusal("29", "Withdrawal count exceeded", "withdrawal_count_limit_exceeded"),
    Refusal("31", "Issuer Suspected Fraud", "fraudulent"),
    Refusal("32", "AVS Declined", "incorrect_zip"),
    Refusal("33", "Card requires online pin", "online_or_offline_pin_required"),
    Refusal("34", "No checking account available on Card", "invalid_account"),
    Refusal("35", "No savings account available on Card", "invalid_account"),
    Refusal("36", "Mobile PIN required", "authentication_required"),
    Refusal("37", "Contactless fallback", "card_declined"),
    Refusal("38", "Authentication required", "authentication_required"),
    Refusal("39", "RReq not received from DS", "authentication_required"),
    Refusal("42", "3DS Authentication Error", "authentication_required"),
)
_BY_CODE = {r.code: r.decline_code for r in REFUSALS}
_BY_REASON = {r.reason.lower(): r.decline_code for r in REFUSALS}
GENERIC_DECLINE = "generic_decline"


def decline_code(refusal_code: object, refusal_reason: object) -> str:
    """The unified decline code for Adyen's ``refusalReasonCode`` (API answers) or, when absent,
    its ``refusalReason`` text (notifications carry only the text, in ``reason``)."""
    if isinstance(refusal_code, str) and refusal_code in _BY_CODE:
        return _BY_CODE[refusal_code]
    if isinstance(refusal_reason, str):
        text = refusal_reason.strip().lower()
        for reason, code in _BY_REASON.items():
            if text == reason or text.startswith(reason + ":"):
                return code
    return GENERIC_DECLINE


#: Adyen's ``resultCode`` and where the payment then stands (``Authorised`` depends on the capture
#: method; ``Error`` raises ProviderError). docs/providers/adyen.md shows the same table.
RESULT_STATUS: dict[str, PaymentStatus | None] = {
    "Authorised": None,
    "Success": None,
    "PartiallyAuthorised": None,
    "Refused": PaymentStatus.REQUIRES_PAYMENT_METHOD,
    "Cancelled": PaymentStatus.CANCELED,
    "Pending": PaymentStatus.PROCESSING,
    "Received": PaymentStatus.PROCESSING,
    "RedirectShopper": PaymentStatus.REQUIRES_ACTION,
    "IdentifyShopper": PaymentStatus.REQUIRES_ACTION,
    "ChallengeShopper": PaymentStatus.REQUIRES_ACTION,
    "PresentToShopper": PaymentStatus.REQUIRES_ACTION,
}


# --- requests ---------------------------------------------------------------------------------


def adyen_amount(amount: int, currency: str, *, param: str = "amount") -> wire.Amount:
    return {"value": to_adyen_amount(amount, currency, param=param), "currency": currency}


def payment_request(
    request: CreatePaymentRequest, ctx: CallContext, *, merchant_account: str, return_url: str
) -> wire.PaymentRequest:
    """``POST /payments`` for ``create_payment`` (never ``confirm=False``: the gateway refuses it,
    as ``capabilities.confirmation`` is False)."""
    if request.payment_method is None:
        raise InvalidRequest(
            "Adyen attempts a payment as it is created: pass payment_method (the paymentMethod "
            "object of Adyen's Drop-in or Components, or '<shopperReference>:"
            "<storedPaymentMethodId>' for a stored one).",
            param="payment_method",
        )
    body: wire.PaymentRequest = {
        "amount": adyen_amount(request.amount, request.currency),
        "merchantAccount": merchant_account,
        "paymentMethod": {},
        "reference": ctx.reference,
        "returnUrl": request.return_url or return_url,
    }
    if isinstance(request.payment_method, str):
        shopper, stored = stored_method(request.payment_method)
        body["paymentMethod"] = {"type": "scheme", "storedPaymentMethodId": stored}
        # A server-side charge of a stored method: merchant-initiated, card on file.
        body["shopperReference"] = shopper
        body["shopperInteraction"] = "ContAuth"
        body["recurringProcessingModel"] = "UnscheduledCardOnFile"
    else:
        body["paymentMethod"] = structured_method(request.payment_method)
    if CAPTURE_KEY in request.metadata:
        raise InvalidRequest(
            f"The metadata key {CAPTURE_KEY!r} is unipay-adyen's own (it marks manual capture).",
            param="metadata",
        )
    metadata = dict(request.metadata)
    manual = request.capture_method is CaptureMethod.MANUAL
    if manual:
        body["additionalData"] = {"manualCapture": "true"}
        metadata[CAPTURE_KEY] = CaptureMethod.MANUAL.value
    else:
        body["captureDelayHours"] = 0  # captured at once, whatever the account's default
    if metadata:
        body["metadata"] = _checked_metadata(metadata, reserved=manual)
    if request.customer_email is not None:
        body["shopperEmail"] = request.customer_email
    return body


def stored_method(token: str) -> tuple[str, str]:
    """``'<shopperReference>:<storedPaymentMethodId>'`` split; InvalidRequest otherwise."""
    shopper, sep, stored = token.rpartition(TOKEN_SEPARATOR)
    low, high = SHOPPER_REFERENCE_LENGTH
    if not sep or not stored or not low <= len(shopper) <= high or len(stored) > STORED_ID_MAX:
        raise InvalidRequest(
            "Adyen takes a stored payment method as '<shopperReference>:"
            "<storedPaymentMethodId>' (your own shopper reference, 3 to 256 characters, and "
            "Adyen's id of the method stored for that shopper), or the paymentMethod object of "
            "Adyen's Drop-in or Components as a structured payment method.",
            param="payment_method",
            code="invalid_payment_method",
        )
    return shopper, stored


def structured_method(method: StructuredPaymentMethod) -> dict[str, Any]:
    """Drop-in's ``paymentMethod`` object as sent to Adyen. A stored method in this form is
    refused: it would let the browser choose the shopper whose method is charged."""
    if "storedPaymentMethodId" in method or "recurringDetailReference" in method:
        raise InvalidRequest(
            "A stored payment method is charged with the token '<shopperReference>:"
            "<storedPaymentMethodId>' from your server, where the shopper reference is yours "
            "to vouch for; a paymentMethod object naming one is refused.",
            param="payment_method",
            code="invalid_payment_method",
        )
    if not isinstance(method.get("type", ""), str):
        raise InvalidRequest("paymentMethod.type must be a string.", param="payment_method")
    return dict(method)


def _checked_metadata(metadata: dict[str, str], *, reserved: bool) -> dict[str, str]:
    """Within Adyen's limits (``reserved``: one key is unipay-adyen's own), else InvalidRequest."""
    if len(metadata) > METADATA_MAX_KEYS:
        held = " (one is unipay-adyen's own, marking manual capture)" if reserved else ""
        raise InvalidRequest(
            f"Adyen takes at most {METADATA_MAX_KEYS} metadata keys{held}; got {len(metadata)}.",
            param="metadata",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY or len(value) > METADATA_MAX_VALUE:
            raise InvalidRequest(
                f"Adyen takes metadata keys of up to {METADATA_MAX_KEY} characters and values "
                f"of up to {METADATA_MAX_VALUE}; {key[:METADATA_MAX_KEY]!r} or its value is "
                "longer.",
                param="metadata",
            )
    return metadata


def details_request(request: ConfirmPaymentRequest) -> wire.PaymentDetailsRequest:
    """``POST /payments/details`` from ``action_result``, what the shopper's side handed back:
    Adyen's details as they came (``{"redirectResult": ...}`` from the return URL), or the
    ``state.data`` of a Component's ``onAdditionalDetails`` as it is (``{"details": {...},
    "paymentData": ...}``). ``payment_method`` is refused: /payments/details takes none."""
    if request.payment_method is not None:
        raise InvalidRequest(
            "confirm_payment completes an Adyen action and takes no payment method: pass what "
            "the shopper's side handed back as action_result ({'redirectResult': ...} from your "
            "return URL, or onAdditionalDetails' state.data).",
            param="payment_method",
        )
    result = request.action_result
    if not result:
        raise InvalidRequest(
            "confirm_payment completes an Adyen action: pass action_result={'redirectResult': "
            "...} (from your return URL) or the state.data of onAdditionalDetails.",
            param="action_result",
        )
    details = result.get("details", result)
    if not isinstance(details, dict) or not details or "paymentData" in details:
        raise InvalidRequest(
            "The details of an Adyen action are a non-empty object of strings; paymentData, when "
            "Adyen gave one, goes beside them: {'details': {...}, 'paymentData': ...}.",
            param="action_result",
        )
    body: wire.PaymentDetailsRequest = {"details": _strings(details)}
    if "details" in result:
        extra = set(result) - {"details", "paymentData"}
        if extra:
            raise InvalidRequest(
                f"Unexpected field(s) beside details: {', '.join(sorted(extra))}.",
                param="action_result",
            )
        if "paymentData" in result:
            body["paymentData"] = _strings({"paymentData": result["paymentData"]})["paymentData"]
    return body


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    if not all(isinstance(v, str) for v in values.values()):
        raise InvalidRequest(
            "The details of an Adyen action are strings, as Adyen gave them.",
            param="action_result",
        )
    return dict(values)


REFUND_REASONS: dict[RefundReason, wire.RefundReason] = {
    RefundReason.DUPLICATE: "DUPLICATE",
    RefundReason.FRAUDULENT: "FRAUD",
    RefundReason.REQUESTED_BY_CUSTOMER: "CUSTOMER REQUEST",
}


# --- answers --------------------------------------------------------------------------------


class Unreadable(ValueError):
    """Adyen sent something unipay-adyen cannot read; the reason never repeats a payload."""


def text(answer: Mapping[str, Any], field: str) -> str | None:
    value = answer.get(field)
    return value if isinstance(value, str) and value else None


def read_amount(answer: Mapping[str, Any], field: str = "amount") -> tuple[int, str] | None:
    """``(ISO minor units, currency)`` of an Adyen ``Amount``, if the answer has one."""
    amount = answer.get(field)
    if not isinstance(amount, Mapping):
        return None
    value, currency = amount.get("value"), amount.get("currency")
    if not isinstance(value, int) or isinstance(value, bool) or not isinstance(currency, str):
        raise Unreadable(f"its {field} is not an Adyen Amount")
    try:
        return from_adyen_amount(value, currency), currency.upper()
    except (ValueError, KeyError) as error:
        raise Unreadable(str(error)) from None


#: Result codes of native 3-D Secure 2, which Adyen's Component runs in the page from the action.
NATIVE_3DS = frozenset({"IdentifyShopper", "ChallengeShopper"})


def next_action(answer: Mapping[str, Any], code: str, return_url: str | None) -> NextAction | None:
    """The unified next action for Adyen's ``action``, carried whole in ``data`` (Drop-in's and
    the Components' ``handleAction`` take it as it is). ``IdentifyShopper``/``ChallengeShopper``
    are ``three_d_secure``; a GET redirect (a card's 3-D Secure page, a bank) is
    ``redirect_to_url``; a POST redirect, which a browser cannot follow as a link, is
    ``adyen_redirect`` and any other action ``adyen_<type>`` (qrCode, voucher, await, sdk)."""
    action = answer.get("action")
    if not isinstance(action, Mapping):
        return None
    kind, url, method = action.get("type"), action.get("url"), action.get("method")
    if not isinstance(kind, str) or not kind:
        raise Unreadable("its action has no type")
    url = url if isinstance(url, str) and url else None
    if code in NATIVE_3DS:
        name = NextActionKind.THREE_D_SECURE.value
    elif kind == "redirect" and url and (method is None or str(method).upper() == "GET"):
        name = "redirect_to_url"
    else:
        name = f"adyen_{kind}"
    return NextAction(type=name, redirect_url=url, return_url=return_url, data=dict(action))


def read_result(
    provider: str, answer: Mapping[str, Any], base: Payment, *, return_url: str | None = None
) -> Payment:
    """The payment after a ``/payments`` or ``/payments/details`` answer. ``base`` is the payment
    as unipay knew it (what it asked for); Adyen's answer sets the status, the amounts and, once
    Adyen gives one, the pspReference as ``provider_payment_id``. ``Error`` raises."""
    code = text(answer, "resultCode") or ""
    if code == "Error":
        raise ProviderError(
            f"Adyen could not process the payment: {text(answer, 'refusalReason') or 'Error'}.",
            provider=provider,
            provider_code=text(answer, "refusalReasonCode"),
            request_id=text(answer, "pspReference"),
        )
    if code not in RESULT_STATUS:
        raise ProviderError(
            f"Adyen answered with a result code unipay-adyen does not know ({code[:40]!r}).",
            provider=provider,
            request_id=text(answer, "pspReference"),
        )
    authorised = read_amount(answer)
    amount = base.amount if authorised is None else authorised[0]
    status = RESULT_STATUS[code]
    update: dict[str, Any] = {
        "provider_payment_id": text(answer, "pspReference") or base.provider_payment_id,
        "next_action": None,
        "decline_code": None,
    }
    if status is None:  # authorised: held for capture, or taken
        if base.capture_method is CaptureMethod.MANUAL:
            update |= {"status": PaymentStatus.REQUIRES_CAPTURE, "amount_capturable": amount}
        else:
            update |= {"status": PaymentStatus.SUCCEEDED, "amount_received": amount}
    else:
        update["status"] = status
        if status is PaymentStatus.REQUIRES_ACTION:
            update["next_action"] = next_action(answer, code, return_url)
        elif status is PaymentStatus.REQUIRES_PAYMENT_METHOD:
            update["decline_code"] = decline_code(
                answer.get("refusalReasonCode"), answer.get("refusalReason")
            )
        elif status is PaymentStatus.CANCELED:
            update["amount_capturable"] = 0
    return base.model_copy(update=update)


def is_reference(provider_payment_id: str) -> bool:
    """True for the id of a payment Adyen has given no pspReference yet (unipay's reference)."""
    return provider_payment_id.startswith(REFERENCE_PREFIX)
