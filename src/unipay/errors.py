"""The exceptions unipay raises.

Every error says what to fix in its message, carries ``retriable`` (is it worth sending the very
same call again, with the same idempotency key?), and names the provider, the provider's own error
code and request id when they are known, so support tickets can be traced end to end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unipay.models import Payment


class UnipayError(Exception):
    """Base class of every error unipay raises on purpose."""

    retriable: bool = False
    code: str = "unipay_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.provider_code = provider_code
        self.request_id = request_id
        if retriable is not None:
            self.retriable = retriable

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, shaped like Stripe's error object."""
        return {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "param": getattr(self, "param", None),
            "provider": self.provider,
            "provider_code": self.provider_code,
            "request_id": self.request_id,
            "retriable": self.retriable,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidRequest(UnipayError, ValueError):
    """The call's parameters are wrong; ``param`` names the one to fix. Never retriable as is."""

    code = "invalid_request"

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.param = param
        if code is not None:
            self.code = code


class PaymentNotFound(InvalidRequest):
    """No payment with that id exists at the provider."""

    code = "resource_missing"


class InvalidPaymentState(InvalidRequest):
    """The payment's status does not allow this operation (e.g. capturing a succeeded payment)."""

    code = "payment_unexpected_state"


class PaymentDeclined(UnipayError):
    """The provider declined the payment method. ``payment`` holds the payment as it now stands."""

    code = "card_declined"

    def __init__(
        self, message: str, *, decline_code: str, payment: Payment | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.decline_code = decline_code
        self.payment = payment


class IdempotencyError(UnipayError):
    """Base class for idempotency-key conflicts."""


class IdempotencyKeyReused(IdempotencyError):
    """The key was already used for a different operation or different parameters."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(IdempotencyError):
    """Another call with the same key is still running; retry shortly with the same key."""

    code = "idempotency_in_progress"
    retriable = True


class ProviderNotFound(UnipayError, LookupError):
    """No installed or passed plugin registers a provider by that name."""

    code = "provider_not_found"

    def __init__(self, name: str, installed: Iterable[str]) -> None:
        names = sorted(installed)
        listing = ", ".join(repr(n) for n in names) if names else "none"
        super().__init__(
            f"No provider named {name!r}. Installed providers: {listing}. "
            f"Install its plugin (e.g. `pip install unipay-{name}`) or pass it with "
            f"Gateway(plugins=[...]).",
            provider=name,
        )
        self.installed = tuple(names)


class ProviderNotConfigured(UnipayError):
    """The provider is installed but lacks a setting; ``setting`` names it.

    ``advice`` is the message without the provider's name ("set STRIPE_SECRET_KEY. ..."), for
    listings that already name the provider. ``also`` names further missing settings, so that a
    user fixes them all in one go rather than one run at a time.
    """

    code = "provider_not_configured"

    def __init__(
        self, provider: str, setting: str, hint: str = "", *, also: Sequence[str] = ()
    ) -> None:
        self.settings = (setting, *also)
        names = ", ".join(self.settings[:-1]) + " and " if also else ""
        self.advice = f"set {names}{self.settings[-1]}." + (f" {hint}" if hint else "")
        super().__init__(
            f"Provider {provider!r} is not configured: {self.advice}", provider=provider
        )
        self.setting = setting


class UnsupportedOperation(UnipayError):
    """The provider declares that it cannot do this (see its ``capabilities``)."""

    code = "unsupported_operation"

    def __init__(self, message: str, *, provider: str, operation: str) -> None:
        super().__init__(message, provider=provider)
        self.operation = operation


class ProviderError(UnipayError):
    """The provider refused the call for a reason that is neither a decline nor bad input."""

    code = "provider_error"


class AuthenticationFailed(ProviderError):
    """The provider rejected the credentials; check the configured key (it is never shown)."""

    code = "authentication_failed"


class PermissionDenied(ProviderError):
    """The credentials are valid but not allowed to do this."""

    code = "permission_denied"


class ProviderUnavailable(ProviderError):
    """Transient: network, timeout, rate limit or a 5xx. Safe to retry with the same key.

    ``request_sent`` is False when the request surely never reached the provider (the
    connection was refused): for a provider without idempotency keys only then is a blind retry
    safe; otherwise the gateway first looks the outcome up (see ``OutcomeUnknown``)."""

    code = "provider_unavailable"
    retriable = True

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class OutcomeUnknown(UnipayError):
    """A provider that does not deduplicate requests may or may not have acted on a call, and
    no lookup could tell. Sending it again could charge twice, so no retry does; the key
    replays this error until ``Gateway.reconcile(key)`` (``unipay reconcile KEY``) settles it
    from the provider."""

    code = "outcome_unknown"

    def __init__(self, message: str, *, idempotency_key: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.idempotency_key = idempotency_key


class StoreUnavailable(UnipayError):
    """The idempotency store cannot be reached; no provider was called (fail closed)."""

    code = "store_unavailable"
    retriable = True


class OperationVetoed(UnipayError):
    """A ``unipay_before_operation`` hook refused the call; nothing reached the provider."""

    code = "operation_vetoed"


class WebhookVerificationError(UnipayError):
    """A webhook delivery's signature, timestamp or payload is not acceptable."""

    code = "webhook_verification_failed"
