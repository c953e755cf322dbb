"""The unified models: what every provider's payments, refunds and events look like to users.

Statuses follow Stripe's payment intents. Amounts are integers in minor units (see
:mod:`unipay.money`). Results are frozen: a ``Payment`` is a snapshot, not a live object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

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

_SEPARATOR = ":"
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_TOKEN = re.compile(r"^pm_[A-Za-z0-9_]{1,250}$")
_CARD_LIKE = re.compile(r"(?:\d[ -]?){12,18}\d")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

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


def looks_like_card_number(text: str) -> bool:
    """True when the text holds 13-19 digits that pass the Luhn check (a card number, PCI data)."""
    for match in _CARD_LIKE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            return True
    return False


def _check_payment_method(token: str) -> str:
    # Messages never repeat the value: it may be a card number.
    if looks_like_card_number(token):
        raise ValueError(
            "raw card numbers are refused; collect the card with the provider's client-side "
            "SDK and pass its payment-method token (pm_...)"
        )
    if not _TOKEN.match(token):
        raise ValueError("must be a provider payment-method token starting with 'pm_'")
    return token


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValueError(f"at most {METADATA_MAX_KEYS} keys, got {len(metadata)}")
    for key, value in metadata.items():
        if not key or len(key) > METADATA_MAX_KEY_LENGTH or "[" in key or "]" in key:
            raise ValueError(
                f"keys must be 1-{METADATA_MAX_KEY_LENGTH} characters without '[' or ']'"
            )
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            raise ValueError(
                f"value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters"
            )
        if looks_like_card_number(value):
            raise ValueError(f"value of {key!r} looks like a card number; never store card data")
    # Sorted once here so that a request's JSON is canonical (see idempotency.fingerprint).
    return dict(sorted(metadata.items()))


def _check_email(email: str) -> str:
    if len(email) > 512 or not _EMAIL.match(email):
        raise ValueError("must be an e-mail address such as 'buyer@example.com'")
    return email


def _check_provider_name(name: str) -> str:
    if not _PROVIDER_NAME.match(name):
        raise ValueError("must be a provider name such as 'stripe' or 'mock'")
    return name


PaymentMethodToken = Annotated[str, Strict(), AfterValidator(_check_payment_method)]
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]
Email = Annotated[str, Strict(), AfterValidator(_check_email)]
ProviderName = Annotated[str, Strict(), AfterValidator(_check_provider_name)]


def payment_id(provider: str, provider_payment_id: str) -> str:
    """The unified id: routes to its provider by itself, even after a restart."""
    return f"{provider}{_SEPARATOR}{provider_payment_id}"


def split_id(unified_id: str, *, param: str = "payment_id") -> tuple[str, str]:
    """``"mock:pi_123"`` -> ``("mock", "pi_123")``; raises InvalidRequest on anything else."""
    provider, sep, provider_id = unified_id.partition(_SEPARATOR)
    if not sep or not provider_id or not _PROVIDER_NAME.match(provider):
        raise InvalidRequest(
            f"{param} must be a unipay id such as 'mock:pi_123' (provider, colon, provider id)",
            param=param,
        )
    return provider, provider_id


def _now() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


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

    type: str = "redirect_to_url"
    redirect_url: str | None = None
    return_url: str | None = None


class Payment(_Result):
    """A payment as the provider last reported it."""

    _own_id_field = "provider_payment_id"

    provider: str
    provider_payment_id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    customer_email: str | None = None
    payment_method: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    next_action: NextAction | None = None
    decline_code: str | None = None
    created_at: datetime = Field(default_factory=_now)
    replayed: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return payment_id(self.provider, self.provider_payment_id)

    @property
    def amount_refundable(self) -> int:
        return self.amount_received - self.amount_refunded


class Refund(_Result):
    """A refund of (part of) a payment."""

    _own_id_field = "provider_refund_id"

    provider: str
    provider_refund_id: str
    payment_id: str
    amount: int
    currency: str
    status: RefundStatus
    reason: RefundReason | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_now)
    replayed: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
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

    id: str
    provider: str
    type: WebhookEventType
    provider_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    payment: Payment | None = None
    refund: Refund | None = None
    created_at: datetime = Field(default_factory=_now)


# --- requests: what callers send, validated before any provider or store is touched ---------


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreatePaymentRequest(_Request):
    provider: ProviderName
    amount: Amount
    currency: Currency
    payment_method: PaymentMethodToken | None = None
    customer_email: Email | None = None
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: Annotated[bool, Strict()] = True
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    return_url: Annotated[str, Field(max_length=2048)] | None = None


class ConfirmPaymentRequest(_Request):
    payment_method: PaymentMethodToken | None = None
    return_url: Annotated[str, Field(max_length=2048)] | None = None


class CapturePaymentRequest(_Request):
    amount: Amount | None = None


class CancelPaymentRequest(_Request):
    reason: CancellationReason | None = None


class RefundPaymentRequest(_Request):
    amount: Amount | None = None
    reason: RefundReason | None = None
    metadata: Metadata = Field(default_factory=dict)


RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(model: type[RequestT], data: Mapping[str, Any]) -> RequestT:
    """Validate caller input into ``model``, or raise InvalidRequest naming the field to fix.

    The pydantic error is not chained: its text repeats the input, which may be secret.
    """
    try:
        return model.model_validate(dict(data))
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
