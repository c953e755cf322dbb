"""The unified models: what every provider's payments, refunds and events look like to users.

Statuses follow Stripe's payment intents. Amounts are integers in minor units (see
[`unipay.money`][unipay.money]). Results are frozen: a ``Payment`` is a snapshot, not a live object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    computed_field,
    model_validator,
)

from unipay.errors import InvalidRequest
from unipay.money import Amount, Currency

# Patterns are used with fullmatch: ``$`` would also match before a trailing newline.
_SEPARATOR = ":"
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
#: Any provider's token format (Stripe's pm_..., a nonce, a stored payment method's id):
#: visible ASCII without spaces. The provider checks its own format; the core refuses card numbers.
_TOKEN = re.compile(r"[\x21-\x7e]{1,500}")
#: Digits in groups joined by single spaces or dashes, as people write card numbers.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]\d+)*")
#: The same, as whole words only. For machine-made values (a checkout's hex signature, an
#: encrypted field): letters or digits right beside a run make it part of the value, and in a
#: 64-character hex string a 13-19 digit run that passes Luhn turns up about once in a hundred,
#: which would refuse a legitimate payment. People's text is checked without this allowance.
_DIGIT_WORDS = re.compile(r"(?<![A-Za-z0-9])\d+(?:[ -]\d+)*(?![A-Za-z0-9])")
_GROUP_SEPARATOR = re.compile(r"[ -]")
#: A local part, then a domain of two or more non-empty labels.
_EMAIL = re.compile(r"[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]+")
#: What one line of text never holds: control characters (C0, DEL, C1), line and paragraph
#: separators, and lone surrogates (no UTF-8 for them: no store or provider can take them).
_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
#: The same for prose, where tabs and line breaks (CR, LF) make sense.
_NOT_IN_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


class PaymentStatus(StrEnum):
    """Where a payment stands; the same names and meanings as Stripe's payment intents."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class RefundStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class CancellationReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    ABANDONED = "abandoned"


class RefundReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_card_number(text: str, *, machine_made: bool = False) -> bool:
    """True when the text holds 13-19 digits that pass the Luhn check (a card number, PCI data),
    whole or in groups joined by single spaces or dashes. Any run of adjacent groups counts, so a
    number written next to a card ("4242 4242 4242 4242 7 times") does not hide it; one unbroken
    run of more than 19 digits is some other number."""
    for match in (_DIGIT_WORDS if machine_made else _DIGIT_GROUPS).finditer(text):
        groups = _GROUP_SEPARATOR.split(match.group())
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _luhn_ok(digits):
                    return True
    return False


_CARD_REFUSED = (
    "looks like a card number, and card data is refused in every field (PCI DSS); collect "
    "cards with the provider's client-side SDK and pass its payment-method token"
)


def _text_problem(text: str, *, prose: bool) -> str | None:
    """What is wrong with caller text, or None. Never repeats the text: it may be a card number."""
    if looks_like_card_number(text):
        return _CARD_REFUSED
    if (_NOT_IN_PROSE if prose else _NOT_IN_A_LINE).search(text):
        if prose:
            return "holds a control character (NUL or the like; tabs and line breaks are fine)"
        return "holds a control character or a line break (NUL, CR, LF, tab or the like)"
    return None


class _FreeText:
    """The one validator of caller free text: no card number, no control characters. Every
    free-text field of every request uses it, through `Line` or `Prose`."""

    def __init__(self, *, prose: bool) -> None:
        self.prose = prose

    def __call__(self, text: str) -> str:
        problem = _text_problem(text, prose=self.prose)
        if problem is not None:
            raise ValueError(problem)
        return text


def _check_payment_method(token: str) -> str:
    # Messages never repeat the value: it may be a card number.
    if looks_like_card_number(token):
        raise ValueError(
            "raw card numbers are refused; collect the card with the provider's client-side "
            "SDK and pass its payment-method token"
        )
    if not _TOKEN.fullmatch(token):
        raise ValueError(
            "must be the provider's payment-method token: 1 to 500 visible ASCII characters, "
            "without spaces"
        )
    return token


#: Keys under which a structured payment method would carry raw card data (the names card APIs use,
#: and the common ones): a client component sends ``encryptedCardNumber`` and the like instead.
_RAW_CARD_KEYS = frozenset({"number", "cardnumber", "cvc", "cvv", "cvv2", "securitycode"})
STRUCTURED_METHOD_MAX_BYTES = 16_384
_STRUCTURED_MAX_DEPTH = 5


def _check_structured_method(method: dict[str, Any]) -> dict[str, Any]:
    """A provider's structured payment method (what its client component hands the server): refused
    when it holds raw card data anywhere, else returned with its keys sorted at every level, so a
    request's JSON stays canonical for the idempotency fingerprint."""

    def walk(value: Any, depth: int) -> Any:
        if depth > _STRUCTURED_MAX_DEPTH:
            raise ValueError(f"is nested deeper than {_STRUCTURED_MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str) or looks_like_card_number(key):
                    raise ValueError("has a key that is not a plain name")
                if key.lower().replace("_", "") in _RAW_CARD_KEYS:
                    raise ValueError(
                        f"has a {key!r} field: raw card data is refused (PCI DSS); pass what the "
                        "provider's client component produced (its encrypted fields)"
                    )
            return {key: walk(value[key], depth + 1) for key in sorted(value)}
        if isinstance(value, list):
            return [walk(item, depth + 1) for item in value]
        if isinstance(value, str) and looks_like_card_number(value, machine_made=True):
            raise ValueError(_CARD_REFUSED)
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise ValueError(f"holds a {type(value).__name__}; only JSON values are accepted")

    checked: dict[str, Any] = walk(method, 1)
    if not checked:
        raise ValueError("is empty")
    if len(json.dumps(checked, separators=(",", ":"))) > STRUCTURED_METHOD_MAX_BYTES:
        raise ValueError(f"is larger than {STRUCTURED_METHOD_MAX_BYTES} bytes of JSON")
    return checked


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if not metadata:  # most calls: nothing to check or sort (pydantic made this dict anew)
        return metadata
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValueError(f"at most {METADATA_MAX_KEYS} keys, got {len(metadata)}")
    # Every key is checked before any message names one: a key may be a card number.
    for key in metadata:
        if not key or len(key) > METADATA_MAX_KEY_LENGTH or "[" in key or "]" in key:
            raise ValueError(
                f"keys must be 1-{METADATA_MAX_KEY_LENGTH} characters without '[' or ']'"
            )
        problem = _text_problem(key, prose=False)
        if problem is not None:
            raise ValueError(f"a key {problem}")
    for key, value in metadata.items():
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            raise ValueError(
                f"value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters"
            )
        problem = _text_problem(value, prose=True)
        if problem is not None:
            raise ValueError(f"value of {key!r} {problem}")
    # Sorted once here so that a request's JSON is canonical (see idempotency.fingerprint).
    return dict(sorted(metadata.items()))


def _check_email(email: str) -> str:
    if len(email) > 512 or not _EMAIL.fullmatch(email):
        raise ValueError("must be an e-mail address such as 'buyer@example.com'")
    return email


def _check_provider_name(name: str) -> str:
    if not _PROVIDER_NAME.fullmatch(name):
        raise ValueError("must be a provider name such as 'stripe' or 'mock'")
    return name


#: One line of caller text (a URL, an address): no card number, no control characters.
Line = Annotated[str, Strict(), AfterValidator(_FreeText(prose=False))]
#: Caller prose (a description): no card number; tabs and line breaks are its only controls.
Prose = Annotated[str, Strict(), AfterValidator(_FreeText(prose=True))]
PaymentMethodToken = Annotated[str, Strict(), AfterValidator(_check_payment_method)]
#: A provider's structured payment method, e.g. the ``paymentMethod`` object a provider's drop-in
#: produces (``{"type": "scheme", "encryptedCardNumber": "...", ...}``); only providers that take
#: one accept it (see the provider's page).
StructuredPaymentMethod = dict[str, Any]


def _check_any_method(method: str | StructuredPaymentMethod) -> str | StructuredPaymentMethod:
    if isinstance(method, str):
        return _check_payment_method(method)
    return _check_structured_method(method)


#: What a next action's client side returned (a redirect's result, a checkout's signed answer):
#: JSON, checked as a structured payment method is (no card data, bounded, keys sorted).
ActionResult = Annotated[dict[str, Any], AfterValidator(_check_structured_method)]

PaymentMethod = Annotated[
    Annotated[str, Strict()] | StructuredPaymentMethod, AfterValidator(_check_any_method)
]
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]
Email = Annotated[Line, AfterValidator(_check_email)]
ProviderName = Annotated[str, Strict(), AfterValidator(_check_provider_name)]


def payment_id(provider: str, provider_payment_id: str) -> str:
    """The unified id: routes to its provider by itself, even after a restart."""
    return f"{provider}{_SEPARATOR}{provider_payment_id}"


def split_id(unified_id: str, *, param: str = "payment_id") -> tuple[str, str]:
    """``"mock:pi_123"`` -> ``("mock", "pi_123")``; raises InvalidRequest on anything else."""
    provider, sep, provider_id = unified_id.partition(_SEPARATOR)
    if (
        not sep
        or not provider_id
        or not _PROVIDER_NAME.fullmatch(provider)
        or _NOT_IN_A_LINE.search(provider_id)
    ):
        raise InvalidRequest(
            f"{param} must be a unipay id such as 'mock:pi_123' (provider, colon, provider id)",
            param=param,
        )
    return provider, provider_id


def _now() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    # defer_build: validators are built on a model's first use, not at `import unipay` (a fifth
    # of its import time); benchmarks/import_time.py measures it.
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, defer_build=True)


class _Result(_Model):
    """A provider's answer. ``id`` is derived, but accepted back from JSON if it agrees."""

    @model_validator(mode="before")
    @classmethod
    def _accept_own_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" in data:
            data = dict(data)
            given = data.pop("id")
            provider, own_id = data.get("provider"), data.get(cls._own_id_field)
            if given != payment_id(str(provider), str(own_id)):
                raise ValueError(f"id {given!r} does not match provider and {cls._own_id_field}")
        return data

    _own_id_field: ClassVar[str]


class NextAction(_Model):
    """What the customer must do before the payment can go on (e.g. a 3-D Secure redirect)."""

    type: str = Field(
        "redirect_to_url",
        description="The kind of action: 'redirect_to_url' (send the customer to redirect_url), "
        "'three_d_secure' (a challenge the provider's client component runs from data), "
        "'client_checkout' (open the provider's checkout with data).",
    )
    redirect_url: str | None = Field(
        None, description="Send the customer here (the provider's page, e.g. 3-D Secure)."
    )
    return_url: str | None = Field(
        None, description="Where the provider sends the customer back afterwards."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="What the provider's client tools need to perform the action (its action "
        "object; a client checkout's order id, key id, amount and currency); never a "
        "secret. Hand its result back through confirm_payment(action_result=...).",
    )


class PendingModification(_Model):
    """A capture, cancel or refund the provider accepted and settles later, by webhook: the
    payment's status and amounts move only when the settlement arrives."""

    operation: Literal["capture", "cancel", "refund"] = Field(description="What was asked.")
    amount: int | None = Field(None, description="Of how much, in minor units; None: all.")
    provider_reference: str | None = Field(
        None, description="The provider's own id of the modification."
    )


class Payment(_Result):
    """A payment as the provider last reported it."""

    _own_id_field = "provider_payment_id"

    provider: str = Field(description="The provider that holds the payment, e.g. 'stripe'.")
    provider_payment_id: str = Field(
        description="The provider's own id (Stripe's pi_...); `id` is 'provider:this'."
    )
    status: PaymentStatus = Field(description="Where the payment stands, in Stripe's terms.")
    amount: int = Field(description="The amount asked for, in the currency's minor unit.")
    currency: str = Field(description="Upper-case ISO 4217 code.")
    amount_capturable: int = Field(
        0, description="Authorized and not yet captured (status requires_capture), minor units."
    )
    amount_received: int = Field(0, description="Captured so far, in minor units.")
    amount_refunded: int = Field(0, description="Refunded so far, in minor units.")
    capture_method: CaptureMethod = Field(
        CaptureMethod.AUTOMATIC, description="'automatic', or 'manual' (capture_payment takes it)."
    )
    customer_email: str | None = Field(None, description="As given at creation.")
    payment_method: str | None = Field(None, description="The provider's payment-method token.")
    description: str | None = Field(None, description="As given at creation.")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Your own string pairs, as given at creation."
    )
    next_action: NextAction | None = Field(
        None, description="What the customer must do when status is requires_action."
    )
    decline_code: str | None = Field(
        None,
        description="Why the last attempt was declined (Stripe's codes, e.g. "
        "'insufficient_funds'); None otherwise.",
    )
    pending: tuple[PendingModification, ...] = Field(
        (),
        description="Modifications the provider accepted and has not settled yet (providers "
        "whose captures, cancels and refunds settle later); empty otherwise.",
    )
    created_at: datetime = Field(default_factory=_now, description="When it was created (UTC).")
    #: Excluded from every dump: stored records and REST bodies never carry it (the server says
    #: it in the ``Idempotent-Replayed`` header), so nothing strips it by hand.
    replayed: bool = Field(
        False,
        exclude=True,
        description="True when this answer is the stored outcome of an earlier call with the "
        "same idempotency key, not a new call to the provider.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """The unified id, 'provider:provider_payment_id': store it, it routes by itself."""
        return payment_id(self.provider, self.provider_payment_id)

    @property
    def amount_refundable(self) -> int:
        """What a refund may still give back: received less refunded, in minor units."""
        return self.amount_received - self.amount_refunded


class Refund(_Result):
    """A refund of (part of) a payment."""

    _own_id_field = "provider_refund_id"

    provider: str = Field(description="The provider that holds the refund.")
    provider_refund_id: str = Field(
        description="The provider's own id (Stripe's re_...); `id` is 'provider:this'."
    )
    payment_id: str = Field(description="The unified id of the refunded payment.")
    amount: int = Field(description="Refunded, in the currency's minor unit.")
    currency: str = Field(description="Upper-case ISO 4217 code.")
    status: RefundStatus = Field(description="Where the refund stands.")
    reason: RefundReason | None = Field(None, description="As given to refund_payment.")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Your own string pairs, as given to refund_payment."
    )
    created_at: datetime = Field(default_factory=_now, description="When it was created (UTC).")
    #: Excluded from every dump: stored records and REST bodies never carry it (the server says
    #: it in the ``Idempotent-Replayed`` header), so nothing strips it by hand.
    replayed: bool = Field(
        False,
        exclude=True,
        description="True when this answer is the stored outcome of an earlier call with the "
        "same idempotency key, not a new call to the provider.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """The unified id, 'provider:provider_refund_id'."""
        return payment_id(self.provider, self.provider_refund_id)


class WebhookEventType(StrEnum):
    """Unified event types; ``OTHER`` for provider events with no unified meaning."""

    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_REQUIRES_CAPTURE = "payment.requires_capture"
    PAYMENT_PROCESSING = "payment.processing"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    REFUND_UPDATED = "refund.updated"
    OTHER = "other"


class WebhookEvent(_Model):
    """A verified webhook delivery in unified form; ``data`` keeps the provider's own object."""

    id: str = Field(description="The provider's event id: deliveries are deduplicated by it.")
    provider: str = Field(description="The provider that sent it.")
    type: WebhookEventType = Field(description="The unified event type.")
    provider_type: str = Field(description="The provider's own type, e.g. 'charge.refunded'.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="The provider's own object, as delivered."
    )
    payment: Payment | None = Field(None, description="The payment it is about, unified.")
    refund: Refund | None = Field(None, description="The refund it is about, unified.")
    created_at: datetime = Field(default_factory=_now, description="When the provider sent it.")
    partial: bool = Field(
        False,
        description="The provider's notification reports only part of the payment or refund "
        "(a status and an amount, say): the fields the provider set on `payment` and `refund` "
        "replace the stored ones, the others keep their stored values, before handlers see it.",
    )


# --- requests: what callers send, validated before any provider or store is touched ---------


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# Field descriptions are the reference's and the REST API's (OpenAPI) documentation of each field.
_METADATA = (
    f"Your own string pairs (at most {METADATA_MAX_KEYS} keys of up to "
    f"{METADATA_MAX_KEY_LENGTH} characters, values up to {METADATA_MAX_VALUE_LENGTH}), e.g. "
    "your order id; returned on the payment and in its webhook events. No card numbers."
)
_RETURN_URL = (
    "Where the provider sends the customer back after an action such as a 3-D Secure "
    "redirect (see Payment.next_action); up to 2048 characters."
)
_PAYMENT_METHOD = (
    "How the customer pays, as the provider's client-side tools produced it: a token string "
    "(Stripe's pm_..., the mock's pm_card_visa, a stored payment method id) or, for providers "
    "that take one, a structured object (a drop-in component's paymentMethod). Raw card "
    "numbers are refused in either form."
)


class CreatePaymentRequest(_Request):
    """The fields of Gateway.create_payment, validated before any provider is called."""

    provider: ProviderName = Field(
        description="The installed provider that takes the payment, e.g. 'mock' or 'stripe' "
        "(`unipay providers` lists them)."
    )
    amount: Amount = Field(
        description="How much, as an integer in the currency's minor unit: 1299 is 12.99 USD, "
        "500 is 500 JPY (unipay.money.to_minor_units converts '12.99'). From 1 to 99,999,999."
    )
    currency: Currency = Field(
        description="ISO 4217 code such as 'USD' (lower case is accepted and upper-cased)."
    )
    payment_method: PaymentMethod | None = Field(
        None, description=_PAYMENT_METHOD + " Optional if confirm is False."
    )
    customer_email: Email | None = Field(
        None, description="The customer's e-mail address, for the provider's receipts."
    )
    capture_method: CaptureMethod = Field(
        CaptureMethod.AUTOMATIC,
        description="'automatic' takes the money at once; 'manual' only authorizes it, and "
        "Gateway.capture_payment takes it (all or part) later.",
    )
    confirm: Annotated[bool, Strict()] = Field(
        True,
        description="True attempts the payment now; False only creates it, for a later "
        "Gateway.confirm_payment.",
    )
    description: Annotated[Prose, Field(max_length=1000)] | None = Field(
        None,
        description="Free text for you, shown in the provider's dashboard (up to 1000 characters).",
    )
    metadata: Metadata = Field(default_factory=dict, description=_METADATA)
    return_url: Annotated[Line, Field(max_length=2048)] | None = Field(
        None, description=_RETURN_URL
    )


class ConfirmPaymentRequest(_Request):
    """The fields of Gateway.confirm_payment: attempt a payment created with confirm=False, or
    complete its next action."""

    payment_method: PaymentMethod | None = Field(
        None, description=_PAYMENT_METHOD + " Optional if the payment already has one."
    )
    return_url: Annotated[Line, Field(max_length=2048)] | None = Field(
        None, description=_RETURN_URL
    )
    action_result: ActionResult | None = Field(
        None,
        description="What the customer's side handed back after the payment's next_action, as "
        "the provider's client tools produced it: a redirect's or 3-D Secure's result, or a "
        "client checkout's signed answer (its payment id, order id and signature). The provider "
        "verifies it.",
    )


class CapturePaymentRequest(_Request):
    """The fields of Gateway.capture_payment: take an authorized (manual) payment's money."""

    amount: Amount | None = Field(
        None,
        description="How much to capture, in minor units, up to Payment.amount_capturable; "
        "the rest is released to the customer. None captures it all.",
    )


class CancelPaymentRequest(_Request):
    """The fields of Gateway.cancel_payment: release an authorization or drop a payment."""

    reason: CancellationReason | None = Field(
        None, description="Why, as the provider records it; None records no reason."
    )


class RefundPaymentRequest(_Request):
    """The fields of Gateway.refund_payment: give back (part of) a captured payment."""

    amount: Amount | None = Field(
        None,
        description="How much to refund, in minor units, up to Payment.amount_refundable "
        "(several partial refunds may follow each other). None refunds all that is left.",
    )
    reason: RefundReason | None = Field(
        None, description="Why, as the provider records it; None records no reason."
    )
    metadata: Metadata = Field(default_factory=dict, description=_METADATA)


RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(model: type[RequestT], data: Mapping[str, Any]) -> RequestT:
    """Validate caller input into ``model``, or raise InvalidRequest naming the field to fix.

    The pydantic error is not chained: its text repeats the input, which may be secret.
    """
    try:
        # A dict is validated as given (pydantic never changes its input); another mapping is
        # copied into one first. The validator is called directly: model_validate only adds
        # keyword handling, 0.3 of a create's 2.8 us of validation.
        validated: RequestT = model.__pydantic_validator__.validate_python(
            data if type(data) is dict else dict(data)
        )
        return validated
    except ValidationError as exc:
        problems = exc.errors(include_input=False, include_url=False)
        first = problems[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in problems
        )
        raise InvalidRequest(f"Invalid {model.__name__}: {detail}", param=param) from None
