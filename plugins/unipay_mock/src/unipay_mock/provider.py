"""The mock provider: Stripe's test-mode behaviour, in process, with no network.

It enforces Stripe's state machine, honours idempotency keys like Stripe (same key and parameters:
the same result and no second charge; same key, other parameters: an error), and can be told to
add latency and to fail transiently, before or after it has done the work.

Each operation is one flow (`unipay.provider`): its latency is a ``Sleep`` effect and its work on
the books one ``call`` effect, so the same method serves `Gateway` and `AsyncGateway`.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from unipay.errors import (
    IdempotencyKeyReused,
    InvalidPaymentState,
    InvalidRequest,
    PaymentDeclined,
    PaymentNotFound,
    ProviderUnavailable,
)
from unipay.idempotency import decode_result, encode_result, fingerprint
from unipay.models import (
    CancelPaymentRequest,
    CaptureMethod,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    NextAction,
    Payment,
    PaymentStatus,
    Refund,
    RefundPaymentRequest,
    RefundStatus,
    StructuredPaymentMethod,
    WebhookEvent,
    WebhookEventType,
    payment_id,
)
from unipay.provider import (
    CallContext,
    Capabilities,
    Flow,
    NextActionKind,
    Provider,
    Sleep,
    call,
    no_io,
)
from unipay.webhooks.signatures import StandardWebhooks
from unipay_mock import cards, webhooks
from unipay_mock.ledger import Ledger

Outcome = Payment | Refund | PaymentDeclined
_KindT = TypeVar("_KindT", Payment, Refund)

_CONFIRMABLE = {
    PaymentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentStatus.REQUIRES_CONFIRMATION,
    PaymentStatus.REQUIRES_ACTION,
}
_CANCELABLE = _CONFIRMABLE | {PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.PROCESSING}


class MockProvider(Provider):
    """A provider double. Its books (``ledger``) are its own, in memory, unless it is given a
    `Ledger` or a SQLite file to share: every mock and process naming one file sees one provider."""

    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=True,
        cancel=True,
        webhooks=True,
        confirmation=True,
        # Its one action is 3-D Secure, shown as a redirect to the bank's page; it has no
        # redirect payment methods (a wallet, a bank) of the kind REDIRECT stands for.
        next_actions=frozenset({NextActionKind.THREE_D_SECURE}),
        idempotency_keys=True,
        retrieve=True,
        declines_include_payment=True,
    )

    def __init__(
        self,
        *,
        name: str = "mock",
        latency: float = 0.0,
        failure_rate: float = 0.0,
        ledger: str | Ledger = ":memory:",
        seed: int | None = None,
        webhook_secret: str | Sequence[str] = webhooks.DEFAULT_WEBHOOK_SECRET,
        key_retention: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``ledger``: ``":memory:"`` (private books), a file path, or a `Ledger` to share.
        ``webhook_secret``: ``whsec_...`` secret(s) deliveries must be signed with; several
        while rolling. The default is a public, test-only secret. ``key_retention``: seconds an
        idempotency key replays its first result (Stripe: 24 hours); afterwards it runs anew."""
        self.name = name
        self.key_retention = key_retention
        self.clock = clock
        self.latency = latency
        self.failure_rate = failure_rate
        if isinstance(ledger, Ledger):
            self.ledger = ledger
        else:
            self.ledger = Ledger() if ledger == ":memory:" else Ledger.shared(ledger)
        self._random = random.Random(seed)
        self._scheduled: list[bool] = []  # queued failures; True = after doing the work
        self._lock = threading.Lock()
        self.webhooks = StandardWebhooks(name, webhook_secret, setting=webhooks.SECRET_SETTING)

    @property
    def blocking(self) -> bool:
        """Whether the async face runs the mock's work in a worker thread. Books in memory answer
        in microseconds, quicker than the hop to a thread; a file may wait on another process's
        transaction, which must not stall the event loop."""
        return self.ledger.path != ":memory:"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_ledger: str = ":memory:"
    ) -> MockProvider:
        """Settings: UNIPAY_MOCK_LATENCY_MS, UNIPAY_MOCK_FAILURE_RATE, UNIPAY_MOCK_LEDGER,
        UNIPAY_MOCK_WEBHOOK_SECRET (comma-separated while rolling), read from ``environ``
        (``os.environ`` by default). Without UNIPAY_MOCK_LEDGER the books are kept in
        ``default_ledger``: a host passes a file beside its store so they outlive a restart."""
        env = os.environ if environ is None else environ
        secrets_ = env.get("UNIPAY_MOCK_WEBHOOK_SECRET", webhooks.DEFAULT_WEBHOOK_SECRET)
        return cls(
            latency=float(env.get("UNIPAY_MOCK_LATENCY_MS", "0")) / 1000,
            failure_rate=float(env.get("UNIPAY_MOCK_FAILURE_RATE", "0")),
            ledger=env.get("UNIPAY_MOCK_LEDGER") or default_ledger,
            webhook_secret=[s.strip() for s in secrets_.split(",") if s.strip()],
        )

    # --- test controls ------------------------------------------------------------------------

    def fail_next(self, times: int = 1, *, after_work: bool = False) -> None:
        """Make the next ``times`` calls fail transiently; ``after_work`` fails them after the
        operation took effect, like a timeout on the way back (only the idempotency key saves the
        caller from charging twice)."""
        with self._lock:
            self._scheduled.extend([after_work] * times)

    def authenticate(self, provider_payment_id: str, *, succeed: bool = True) -> Payment:
        """Play the customer finishing (or failing) 3-D Secure for a ``requires_action`` payment."""
        with self.ledger.transaction():
            payment = self._load(provider_payment_id)
            if payment.status is not PaymentStatus.REQUIRES_ACTION:
                raise _state_error(payment, "authenticate")
            if succeed:
                result = self._authorized(payment)
            else:
                result = payment.model_copy(
                    update={
                        "status": PaymentStatus.REQUIRES_PAYMENT_METHOD,
                        "next_action": None,
                        "decline_code": "authentication_required",
                    }
                )
            self.ledger.put_payment(result)
            return result

    # --- the provider interface: one flow per operation ---------------------------------------

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        return (yield from self._flow(Payment, "create_payment", None, request, ctx))

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        return (
            yield from self._flow(Payment, "confirm_payment", provider_payment_id, request, ctx)
        )

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        return (
            yield from self._flow(Payment, "capture_payment", provider_payment_id, request, ctx)
        )

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        return (yield from self._flow(Payment, "cancel_payment", provider_payment_id, request, ctx))

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        return (yield from self._flow(Refund, "refund_payment", provider_payment_id, request, ctx))

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Flow[Payment]:
        return (yield from self._flow(Payment, "retrieve_payment", provider_payment_id, None, ctx))

    @no_io  # an HMAC and parsing, never the ledger: on the loop even when the ledger is a file
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return webhooks.verify_delivery(self.webhooks, body, headers)

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery signed with the first (newest) secret, as the mock would send it."""
        event = webhooks.payment_event(event_type, payment)
        return self.webhooks.sign(event, msg_id=event["id"])

    # --- machinery ----------------------------------------------------------------------------

    def _flow(
        self,
        kind: type[_KindT],
        operation: str,
        target: str | None,
        request: BaseModel | None,
        ctx: CallContext,
    ) -> Flow[_KindT]:
        if self.latency:
            yield Sleep(self.latency)
        outcome = yield from call(self._work, operation, target, request, ctx)
        assert isinstance(outcome, kind)
        return outcome

    def _work(
        self, operation: str, target: str | None, request: BaseModel | None, ctx: CallContext, /
    ) -> Payment | Refund:
        """One operation on the books, between the injected failures: Stripe-style idempotency
        around the state machine (a key's first outcome, a decline too, is its answer)."""
        self._maybe_fail(after_work=False)
        if request is None:  # retrieve: a read, under no key
            assert target is not None
            with self.ledger.transaction():
                return self._load(target)
        print_ = fingerprint(operation, self.name, target, request)
        outcome: Outcome | None = None
        with self.ledger.transaction():
            now = self.clock()
            key = ctx.idempotency_key
            stored = self.ledger.lookup_key(key, newer_than=now - self.key_retention)
            if stored is None:
                outcome = self._STATE_MACHINE[operation](self, target, request, key)
                self.ledger.store_key(key, print_, encode_result(outcome), now=now)
            elif stored[0] != print_:
                raise IdempotencyKeyReused(
                    "mock: keys for idempotent requests can only be used with the same "
                    "parameters they were first used with",
                    provider=self.name,
                    provider_code="idempotency_error",
                )
        self._maybe_fail(after_work=True)
        if outcome is None:
            assert stored is not None
            return decode_result(stored[1], replayed=False)  # a stored decline raises again
        if isinstance(outcome, PaymentDeclined):
            raise outcome
        return outcome

    def _maybe_fail(self, *, after_work: bool) -> None:
        with self._lock:
            if self._scheduled and self._scheduled[0] == after_work:
                self._scheduled.pop(0)
                fail = True
            else:
                fail = not after_work and self._random.random() < self.failure_rate
        if fail:
            raise ProviderUnavailable(
                "mock: injected transient failure", provider=self.name, provider_code="mock_flaky"
            )

    def _load(self, provider_payment_id: str) -> Payment:
        payment = self.ledger.get_payment(provider_payment_id)
        if payment is None:
            raise PaymentNotFound(
                f"mock: no such payment {provider_payment_id!r}",
                param="payment_id",
                provider=self.name,
                provider_code="resource_missing",
            )
        return payment

    # --- the state machine: (self, target, request, key), inside a ledger transaction ---------
    def _create(self, target: None, request: CreatePaymentRequest, key: str) -> Outcome:
        method = _card(request.payment_method or cards.DEFAULT_CARD, self.name)
        payment = Payment(
            provider=self.name,
            provider_payment_id="pi_" + secrets.token_hex(12),
            status=PaymentStatus.REQUIRES_CONFIRMATION,
            amount=request.amount,
            currency=request.currency,
            capture_method=request.capture_method,
            customer_email=request.customer_email,
            payment_method=method,
            description=request.description,
            metadata=request.metadata,
        )
        self.ledger.put_payment(payment, created_with_key=key)
        if not request.confirm:
            return payment
        return self._confirmed(payment, method, request.return_url)

    def _confirm(self, provider_payment_id: str, request: ConfirmPaymentRequest, _: str) -> Outcome:
        if request.action_result is not None:
            raise InvalidRequest(
                "mock: takes no action_result: as on Stripe, 3-D Secure completes at the provider "
                "(in tests, MockProvider.authenticate plays the customer)",
                param="action_result",
                provider=self.name,
            )
        payment = self._load(provider_payment_id)
        if payment.status not in _CONFIRMABLE:
            raise _state_error(payment, "confirm")
        method = _card(request.payment_method or payment.payment_method, self.name)
        return self._confirmed(payment, method, request.return_url)

    def _confirmed(self, payment: Payment, method: str, return_url: str | None) -> Outcome:
        payment = payment.model_copy(update={"payment_method": method, "decline_code": None})
        if method in cards.DECLINES:
            code = cards.DECLINES[method]
            declined = payment.model_copy(
                update={"status": PaymentStatus.REQUIRES_PAYMENT_METHOD, "decline_code": code}
            )
            self.ledger.put_payment(declined)
            return PaymentDeclined(
                cards.DECLINE_MESSAGES.get(code, "Your card was declined."),
                decline_code=code,
                payment=declined,
                provider=self.name,
                provider_code="card_declined",
            )
        if (
            method == cards.AUTHENTICATION_REQUIRED
            and payment.status is not PaymentStatus.REQUIRES_ACTION
        ):
            result = payment.model_copy(
                update={
                    "status": PaymentStatus.REQUIRES_ACTION,
                    "next_action": NextAction(
                        redirect_url=f"https://mock.unipay.invalid/3ds/{payment.provider_payment_id}",
                        return_url=return_url,
                    ),
                }
            )
        else:
            result = self._authorized(payment)
        self.ledger.put_payment(result)
        return result

    @staticmethod
    def _authorized(payment: Payment) -> Payment:
        if payment.capture_method is CaptureMethod.MANUAL:
            update: dict[str, Any] = {
                "status": PaymentStatus.REQUIRES_CAPTURE,
                "amount_capturable": payment.amount,
            }
        else:
            update = {"status": PaymentStatus.SUCCEEDED, "amount_received": payment.amount}
        return payment.model_copy(update={**update, "next_action": None})

    def _capture(self, provider_payment_id: str, request: CapturePaymentRequest, _: str) -> Outcome:
        payment = self._load(provider_payment_id)
        if payment.status is not PaymentStatus.REQUIRES_CAPTURE:
            raise _state_error(payment, "capture")
        amount = payment.amount_capturable if request.amount is None else request.amount
        if amount > payment.amount_capturable:
            raise InvalidRequest(
                f"mock: cannot capture {amount}; only {payment.amount_capturable} is capturable",
                param="amount",
                code="amount_too_large",
                provider=self.name,
            )
        result = payment.model_copy(
            update={
                "status": PaymentStatus.SUCCEEDED,
                "amount_received": amount,
                "amount_capturable": 0,
            }
        )
        self.ledger.put_payment(result)
        return result

    def _cancel(self, provider_payment_id: str, request: CancelPaymentRequest, _: str) -> Outcome:
        payment = self._load(provider_payment_id)
        if payment.status not in _CANCELABLE:
            raise _state_error(payment, "cancel")
        result = payment.model_copy(
            update={"status": PaymentStatus.CANCELED, "amount_capturable": 0, "next_action": None}
        )
        self.ledger.put_payment(result)
        return result

    def _refund(self, provider_payment_id: str, request: RefundPaymentRequest, _: str) -> Outcome:
        payment = self._load(provider_payment_id)
        if payment.status is not PaymentStatus.SUCCEEDED:
            raise _state_error(payment, "refund")
        refundable = payment.amount_refundable
        if refundable == 0:
            raise InvalidPaymentState(
                "mock: this payment is already fully refunded",
                param="payment_id",
                code="charge_already_refunded",
                provider=self.name,
            )
        amount = refundable if request.amount is None else request.amount
        if amount > refundable:
            raise InvalidRequest(
                f"mock: cannot refund {amount}; only {refundable} is left to refund",
                param="amount",
                code="amount_too_large",
                provider=self.name,
            )
        refund = Refund(
            provider=self.name,
            provider_refund_id="re_" + secrets.token_hex(12),
            payment_id=payment_id(self.name, provider_payment_id),
            amount=amount,
            currency=payment.currency,
            status=RefundStatus.SUCCEEDED,
            reason=request.reason,
            metadata=request.metadata,
        )
        self.ledger.put_refund(refund)
        self.ledger.put_payment(
            payment.model_copy(update={"amount_refunded": payment.amount_refunded + amount})
        )
        return refund

    #: operation -> its rule; subclasses (tests' call counters) run a rule without the key check.
    _STATE_MACHINE: ClassVar[Mapping[str, Callable[..., Outcome]]] = {
        "create_payment": _create,
        "confirm_payment": _confirm,
        "capture_payment": _capture,
        "cancel_payment": _cancel,
        "refund_payment": _refund,
    }


def _card(method: str | StructuredPaymentMethod | None, provider: str) -> str:
    """The mock checks its own tokens (the core checks no format): Stripe's test tokens only."""
    if isinstance(method, str) and cards.known(method):
        return method
    if isinstance(method, str):
        problem = f"no such payment method {method!r}"
    elif method is None:
        problem = "this payment has no payment method"
    else:
        problem = "it takes no structured payment methods"
    raise InvalidRequest(
        f"mock: {problem}; the mock accepts Stripe's test tokens: {cards.describe()}",
        param="payment_method",
        code="resource_missing",
        provider=provider,
    )


def _state_error(payment: Payment, action: str) -> InvalidPaymentState:
    return InvalidPaymentState(
        f"mock: cannot {action} a payment whose status is {payment.status.value}",
        param="payment_id",
        provider=payment.provider,
        provider_code="payment_intent_unexpected_state",
    )
