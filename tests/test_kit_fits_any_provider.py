"""The provider conformance kit fits any provider: it chooses its checks by the capabilities.

Two providers at the two ends, each given to `ProviderConformance` with no check overridden or
skipped by hand:

* Minipay (``minimal_provider.py``), the tutorial's minimal provider: no confirm step, no next
  actions, no idempotency keys, no retrieve, declines without the payment; over HTTP, against
  ``minimal_fake_api.py`` mounted with respx.
* `SettlingProvider` below: everything declared, captures, cancels and refunds settling later by
  webhook; in process, calling `ReferenceProcessor` as a provider calls a synchronous SDK.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import respx

from unipay import Gateway, errors
from unipay._flow import Flow, call
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    NextAction,
    Payment,
    PendingModification,
    Refund,
    RefundPaymentRequest,
    WebhookEvent,
    WebhookEventType,
)
from unipay.provider import CallContext, Capabilities, NextActionKind, Provider
from unipay.testing import ProviderConformance
from unipay.testing.faces import Face
from unipay.testing.processor import (
    ProcessorError,
    ProcessorPayment,
    ProcessorRefund,
    ReferenceProcessor,
)
from unipay.webhooks.signatures import parse_secrets, sign_headers, verify

from .minimal_fake_api import FakeMinipay
from .minimal_provider import BASE_URL, MinipayProvider

API_KEY = "mk_test_0123456789"
MINIMAL_PROVIDER = Path(__file__).with_name("minimal_provider.py")
WEBHOOK_SECRET = "whsec_" + "c2V0dGxpbmctcHJvdmlkZXItc2VjcmV0"
T = TypeVar("T")


# --- the minimal provider -----------------------------------------------------------------------


@pytest.fixture
def fake_minipay() -> FakeMinipay:
    return FakeMinipay(api_key=API_KEY)


@pytest.fixture
def wire(fake_minipay: FakeMinipay) -> Iterator[respx.MockRouter]:
    """Every request to Minipay reaches the fake, whichever face sends it."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        fake_minipay.mount(router)
        yield router


class TestMinipayConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, wire: respx.MockRouter) -> MinipayProvider:
        return MinipayProvider(api_key=API_KEY)


def code_lines(path: Path) -> int:
    """Lines that are neither blank nor comments; docstrings count, as for the tutorial's example
    provider (examples/unipay-example-provider/tests/test_tutorial.py)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return sum(1 for line in lines if line and not line.startswith("#"))


def test_the_minimal_provider_fits_in_sixty_lines() -> None:
    lines = code_lines(MINIMAL_PROVIDER)
    assert lines <= 60, f"minimal_provider.py has {lines} lines of code; the tutorial says 60"


def test_code_lines_counts_code_and_docstrings(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""Doc."""\n\n# note\nx = 1  # one\n\n\ndef f() -> None:\n    """A\n    b."""\n'
    )
    assert code_lines(probe) == 5


# --- everything declared, settling later --------------------------------------------------------


class SettlingProvider(Provider):
    """Every capability, with captures, cancels and refunds answered pending and settled by
    webhook (as Adyen does); each operation calls the processor as a flow's effect."""

    name = "settling"
    capabilities = Capabilities(
        manual_capture=True,
        partial_capture=True,
        partial_refunds=True,
        multiple_refunds=True,
        cancel=True,
        webhooks=True,
        next_actions=frozenset({NextActionKind.THREE_D_SECURE}),
        settles_later=True,
        declines_include_payment=True,
        currencies=frozenset({"EUR", "USD"}),
        minimum_amounts={"EUR": 50},
    )

    def __init__(self, processor: ReferenceProcessor) -> None:
        self.processor = processor
        self.secrets = parse_secrets(WEBHOOK_SECRET)

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        payment = yield from self._call(
            self.processor.create,
            request.amount,
            request.currency,
            payment_method=self.token(request.payment_method, prefixes=("tok_",)),
            capture=request.capture_method.value,
            confirm=request.confirm,
            reference=ctx.reference,
            metadata=request.metadata,
            idempotency_key=ctx.idempotency_key,
        )
        return self._payment(payment)

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        method = self.token(request.payment_method, prefixes=("tok_",))
        key = ctx.idempotency_key
        confirm = self.processor.confirm
        payment = yield from self._call(
            confirm, provider_payment_id, payment_method=method, idempotency_key=key
        )
        return self._payment(payment)

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        key = ctx.idempotency_key
        payment = yield from self._call(
            self.processor.capture, provider_payment_id, request.amount, idempotency_key=key
        )
        return self._payment(payment)

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Flow[Payment]:
        key = ctx.idempotency_key
        payment = yield from self._call(
            self.processor.cancel, provider_payment_id, idempotency_key=key
        )
        return self._payment(payment)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        refund = yield from self._call(
            self.processor.refund,
            provider_payment_id,
            request.amount,
            reference=ctx.reference,
            metadata=request.metadata,
            idempotency_key=ctx.idempotency_key,
        )
        currency = self.processor.payment(refund.payment_id).currency
        return self._refund(refund, currency)

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Flow[Payment]:
        return self._payment((yield from self._call(self.processor.payment, provider_payment_id)))

    def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Flow[T]:
        """One processor call as an effect, its refusals raised as unipay errors."""
        try:
            return (yield from call(function, *args, **kwargs))
        except ProcessorError as refused:
            if refused.code == "card_declined":
                payment = None if refused.payment is None else self._payment(refused.payment)
                code = refused.decline_code or refused.code
                raise errors.PaymentDeclined(
                    refused.message, decline_code=code, payment=payment
                ) from None
            kinds = {404: errors.PaymentNotFound, 409: errors.InvalidPaymentState}
            raise kinds.get(refused.status, errors.InvalidRequest)(refused.message) from None

    def _payment(self, payment: ProcessorPayment) -> Payment:
        pending = tuple(
            PendingModification(operation=p.kind, amount=p.amount, provider_reference=p.id)
            for p in payment.pending
        )
        action = NextAction(redirect_url="https://bank.example/3ds") if payment.action else None
        return Payment(
            provider=self.name,
            provider_payment_id=payment.id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            amount_capturable=payment.amount_capturable,
            amount_received=payment.amount_received,
            amount_refunded=payment.amount_refunded,
            capture_method=payment.capture,
            metadata=dict(payment.metadata),
            decline_code=payment.decline_code,
            next_action=action,
            pending=pending,
        )

    def _refund(self, refund: ProcessorRefund, currency: str) -> Refund:
        return Refund(
            provider=self.name,
            provider_refund_id=refund.id,
            payment_id=f"{self.name}:{refund.payment_id}",
            amount=refund.amount,
            currency=currency,
            status=refund.status,
            metadata=dict(refund.metadata),
        )

    def sign_test_delivery(
        self, event_type: WebhookEventType, payment: Payment
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"type": event_type.value, "payment": payment.model_dump(mode="json")})
        msg_id, now = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers = sign_headers(body.encode(), secret=WEBHOOK_SECRET, msg_id=msg_id, timestamp=now)
        return body.encode(), headers

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        delivery = verify(body, headers, self.secrets, provider=self.name)
        data = json.loads(body)
        return WebhookEvent(
            id=delivery.msg_id,
            provider=self.name,
            type=data["type"],
            provider_type=data["type"],
            data=data,
            payment=Payment.model_validate(data["payment"]),
        )


class TestSettlingConformance(ProviderConformance):
    @pytest.fixture
    def provider(self) -> SettlingProvider:
        return SettlingProvider(ReferenceProcessor(settles_later=True))


class SmallAmounts(SettlingProvider):
    """Takes at most 15.00: less than the kit's usual test amount."""

    capabilities = dataclasses.replace(SettlingProvider.capabilities, maximum_amount=1500)


class TestSmallAmountsConformance(ProviderConformance):
    @pytest.fixture
    def provider(self) -> SmallAmounts:
        return SmallAmounts(ReferenceProcessor(settles_later=True))


def test_no_subclass_overrides_a_check() -> None:
    for suite in (TestMinipayConformance, TestSettlingConformance):
        assert [name for name in vars(suite) if name.startswith("test_")] == []


# --- what a failure says ------------------------------------------------------------------------


class Forgetful(MinipayProvider):
    """Declares the default capabilities without implementing confirm_payment."""

    capabilities = Capabilities(idempotency_keys=False, retrieve=False)


def test_a_failure_says_what_to_do_and_where_the_docs_say_why() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        ProviderConformance().test_declared_operations_are_implemented(Forgetful(api_key=API_KEY))
    message = str(failed.value)
    assert "does not implement confirm_payment" in message
    assert "Capabilities(confirmation=False)" in message
    assert message.endswith("See docs/concepts.md#capabilities.")


class SilentDeclines(SettlingProvider):
    """Declares declines_include_payment, then drops the payment from its declines."""

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        try:
            return (yield from super().create_payment(request, ctx))
        except errors.PaymentDeclined as declined:
            raise errors.PaymentDeclined(declined.message, decline_code="card_declined") from None


def test_a_declared_capability_is_held_to_its_word() -> None:
    provider = SilentDeclines(ReferenceProcessor(settles_later=True))
    face = Face(Gateway(providers=[provider], load_installed=False))
    with pytest.raises(pytest.fail.Exception) as failed:
        ProviderConformance().test_decline_matches_declaration(
            face, provider, "tok_decline", "card_declined"
        )
    message = str(failed.value)
    assert "declines_include_payment is declared" in message
    assert message.endswith("See docs/plugins/writing-a-provider.md#errors.")
