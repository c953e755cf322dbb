"""``ProviderConformance``: what every unipay provider owes its users, as pytest tests.

Subclass it in your plugin's tests and give it your provider; everything else is optional::

    from unipay.testing import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        @pytest.fixture
        def provider(self):
            return AcmeProvider(api_key="ak_test_...")  # pointed at a fake or sandbox API

**Checks follow the declared capabilities.** Each check reads the provider's
[`Capabilities`][unipay.provider.Capabilities] and either holds a declared capability to its word
(declare ``manual_capture`` and an authorization must capture; declare ``settles_later`` and a
refund must be answered ``pending``) or makes sure the gateway refuses what is not declared
(without ``confirmation``, ``confirm_payment`` raises ``UnsupportedOperation`` before reaching the
provider). A check that cannot apply (partial capture without manual capture) is skipped, with
the reason: you never need to override or skip a check yourself. A failure says what the
provider must do and which page of the docs explains it. Checks that call the gateway run twice,
through [`Gateway`][unipay.Gateway] (``[Gateway]``) and [`AsyncGateway`][unipay.AsyncGateway]
(``[AsyncGateway]``), each in an event loop of its own, so no async pytest plugin is needed.

**Fixtures you may override:**

* ``provider``: a configured provider instance (required), fresh for each test.
* ``gateway`` / ``async_gateway``: the two faces over ``provider``, each with an in-memory store.
* ``success_token``, ``decline_token`` with ``decline_code``, ``authentication_token``: payment
  methods that succeed, decline (with that code) and ask for 3-D Secure. The defaults,
  ``tok_success``, ``tok_decline`` with ``card_declined``, and ``tok_authentication``, are what
  [`ReferenceProcessor`][unipay.testing.processor.ReferenceProcessor] does by default, so a
  provider tested against a fake built on it needs none of them; a provider whose test tokens
  differ (Stripe's ``pm_card_visa``) overrides them, one line each.
* ``signed_delivery``: ``payment -> (body, headers)``, a signed "payment succeeded" delivery for
  the webhook checks. The default uses
  [`Provider.sign_test_delivery`][unipay.provider.Provider.sign_test_delivery] when the provider
  implements it; otherwise those checks are skipped, saying so.
* ``fail_after_acting``: ``operation -> None``, makes the provider's next call of ``operation``
  act and then lose its answer. The default does it above the provider (the call completes,
  then ``ProviderUnavailable(request_sent=True)`` is raised, as a read timeout would be); override
  it to lose the answer in your fake API instead, and the check also covers how your provider
  reports a lost answer. Used by the at-most-once check of providers without idempotency keys.

**The reference processor.** [`unipay.testing.processor`][unipay.testing.processor] is a
stateful payment processor in memory (statuses, capture and refund limits, idempotency-key
replay, settling later). Build your fake API on it, mapping your wire format to its calls, and
the rules these checks rely on are already right.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import pytest

from unipay._flow import arun, run
from unipay.errors import (
    InvalidPaymentState,
    InvalidRequest,
    OutcomeUnknown,
    PaymentDeclined,
    PaymentNotFound,
    ProviderUnavailable,
    UnsupportedOperation,
    WebhookVerificationError,
)
from unipay.gateway import AsyncGateway, Gateway
from unipay.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookEventType,
)
from unipay.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from unipay.provider import CallContext, Capabilities, Provider
from unipay.storage import MemoryStore
from unipay.testing.faces import Face

__all__ = [
    "FailAfterActing",
    "ProviderConformance",
    "SignedDelivery",
    "expect",
    "expect_no_error",
    "expect_raises",
]

#: ``complete_checkout(payment, token)`` -> the ``action_result`` the provider's client checkout
#: hands back once the customer paid it with ``token``.
CompleteCheckout = Callable[[Payment, str], dict[str, Any]]

#: ``signed_delivery(payment)`` -> ``(body, headers)``: a correctly signed delivery of the
#: provider's own "payment succeeded" event for ``payment``.
SignedDelivery = Callable[[Payment], tuple[bytes, dict[str, str]]]
#: ``fail_after_acting(operation)``: the provider's next call of ``operation`` acts, then its
#: answer is lost (``ProviderUnavailable`` with ``request_sent=True``, as after a read timeout).
FailAfterActing = Callable[[str], None]

E = TypeVar("E", bound=BaseException)

#: The amount most checks charge, in minor units (raised to a declared minimum above it).
AMOUNT = 2000
UNKNOWN_ID = "pi_doesnotexist000"
RETURN_URL = "https://shop.example/return"

# Where the docs explain what a failed check asks for.
CAPABILITIES = "docs/concepts.md#capabilities"
GUARANTEES = "docs/concepts.md#guarantees"
OPERATIONS = "docs/plugins/writing-a-provider.md#operations"
ERRORS = "docs/plugins/writing-a-provider.md#errors"
WEBHOOKS = "docs/plugins/writing-a-provider.md#webhooks"
TESTING = "docs/plugins/writing-a-provider.md#testing"

#: Each optional operation and the capability that declares it.
_DECLARED_BY = {
    "confirmation": "confirm_payment",
    "manual_capture": "capture_payment",
    "cancel": "cancel_payment",
    "retrieve": "retrieve_payment",
    "lookup_by_reference": "lookup",
    "webhooks": "verify_webhook",
}


# --- failing with a reason ----------------------------------------------------------------------


def expect(condition: object, must: str, where: str) -> None:
    """Fail unless ``condition``, saying what the provider must do and where the docs say why."""
    __tracebackhide__ = True  # the check that called it is where to look
    if not condition:
        pytest.fail(f"{must}\nSee {where}.")


class Caught(Generic[E]):
    """What `expect_raises` caught, once the block has ended."""

    value: E


@contextmanager
def expect_raises(kind: type[E], must: str, where: str) -> Iterator[Caught[E]]:
    """Like ``pytest.raises``, failing with ``must`` and ``where`` when something else happens."""
    __tracebackhide__ = True
    caught: Caught[E] = Caught()
    try:
        yield caught
    except kind as error:
        caught.value = error
        return
    except Exception as error:
        pytest.fail(f"{must}\nGot {type(error).__name__}: {error}\nSee {where}.")
    pytest.fail(f"{must}\nNothing was raised.\nSee {where}.")


@contextmanager
def expect_no_error(must: str, where: str) -> Iterator[None]:
    """Fail with ``must`` and ``where`` if the block raises."""
    __tracebackhide__ = True
    try:
        yield
    except Exception as error:
        pytest.fail(f"{must}\nGot {type(error).__name__}: {error}\nSee {where}.")


# --- reaching into the provider under test -------------------------------------------------------


def _implements(provider: Provider, method: str) -> bool:
    return getattr(type(provider), method, None) is not getattr(Provider, method)


def _context_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallContext | None:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, CallContext)), None)


def _wrapped(
    original: Callable[..., Any],
    before: Callable[[CallContext | None], None],
    after: Callable[[], None],
) -> Callable[..., Any]:
    """``original`` (a flow, a coroutine or a plain method) with ``before`` and ``after`` it."""
    wrapper: Callable[..., Any]
    if inspect.isgeneratorfunction(original):

        def flow(*args: Any, **kwargs: Any) -> Any:
            before(_context_of(args, kwargs))
            result = yield from original(*args, **kwargs)
            after()
            return result

        wrapper = flow
    elif inspect.iscoroutinefunction(original):

        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            before(_context_of(args, kwargs))
            result = await original(*args, **kwargs)
            after()
            return result

        wrapper = coroutine
    else:

        def plain(*args: Any, **kwargs: Any) -> Any:
            before(_context_of(args, kwargs))
            result = original(*args, **kwargs)
            after()
            return result

        wrapper = plain
    return functools.update_wrapper(wrapper, original)


def _intercept(
    provider: Provider,
    operation: str,
    before: Callable[[CallContext | None], None] = lambda ctx: None,
    after: Callable[[], None] = lambda: None,
) -> None:
    """Wrap ``operation`` (and its ``a<operation>`` twin, if any) on this provider instance."""
    for name in (operation, "a" + operation):
        original = getattr(provider, name, None)
        if original is not None:
            setattr(provider, name, _wrapped(original, before, after))


@dataclass
class _Calls:
    """The contexts of the calls the gateway made to one provider operation."""

    contexts: list[CallContext | None] = field(default_factory=list)

    @classmethod
    def of(cls, provider: Provider, operation: str) -> _Calls:
        calls = cls()
        _intercept(provider, operation, before=calls.contexts.append)
        return calls


def _lose_answers(provider: Provider) -> FailAfterActing:
    def arm(operation: str) -> None:
        armed = [True]

        def lose() -> None:
            if armed:  # once: the lookup and any later call go through
                armed.clear()
                raise ProviderUnavailable(
                    f"unipay's conformance kit lost {operation}'s answer after the provider acted",
                    provider=provider.name,
                    request_sent=True,
                )

        _intercept(provider, operation, after=lose)

    return arm


async def _deliver(
    gateway: Gateway | AsyncGateway, provider: str, body: bytes, headers: Mapping[str, str]
) -> int:
    """POST one delivery to a `WebhookApp` over ``gateway``, as an ASGI server would (no HTTP
    client needed): the status it answers."""
    from unipay.webhooks import WebhookApp

    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/{provider}",
        "raw_path": f"/{provider}".encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
    }
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    await WebhookApp(gateway)(scope, receive, send)
    return next(int(m["status"]) for m in sent if m["type"] == "http.response.start")


def _one_event(verified: WebhookEvent | list[WebhookEvent]) -> WebhookEvent:
    """The event of a delivery about one payment (a batching provider's list of one)."""
    if not isinstance(verified, list):
        return verified
    expect(
        len(verified) == 1,
        f"A delivery about one payment must give one event; verify_webhook gave {len(verified)}.",
        WEBHOOKS,
    )
    return verified[0]


# --- one check's view of the provider, on one face -----------------------------------------------


@dataclass
class _On:
    """The provider under test, called through one face of the gateway."""

    face: Face
    provider: Provider
    #: Pays a client checkout (the ``complete_checkout`` fixture); None: payments are paid as
    #: they are created.
    checkout: CompleteCheckout | None = None

    def __post_init__(self) -> None:
        if self.checkout is None:
            self.checkout = getattr(self.face, "complete_checkout", None)

    @property
    def caps(self) -> Capabilities:
        return self.provider.capabilities

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def currency(self) -> str:
        accepted = self.caps.currencies
        return "USD" if accepted is None or "USD" in accepted else min(accepted)

    @property
    def amount(self) -> int:
        return max(AMOUNT, self.caps.minimum_amounts.get(self.currency, 1))

    def unknown(self) -> str:
        return f"{self.name}:{UNKNOWN_ID}"

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self.face(method, *args, **kwargs)

    async def create(
        self, token: str | None, *, pay_checkout: bool = True, **kwargs: Any
    ) -> Payment:
        """Create a payment through the gateway; a client checkout is paid with ``token`` (the
        ``complete_checkout`` fixture) unless ``pay_checkout`` is False."""
        kwargs = {"amount": self.amount, "currency": self.currency} | kwargs
        checkout = self.checkout
        # With a client checkout the customer pays there: the server sends no payment method.
        method = None if checkout is not None else token
        try:
            payment = await self.face(
                "create_payment", provider=self.name, payment_method=method, **kwargs
            )
        except InvalidRequest as refused:
            if refused.param != "payment_method":
                raise
            pytest.fail(
                f"The provider refused the test payment method {token!r}: {refused.message}\n"
                "Override the token fixtures (success_token, decline_token with decline_code, "
                f"authentication_token) with the provider's own test payment methods.\n"
                f"See {TESTING}."
            )
        action = payment.next_action
        if (
            checkout is not None
            and pay_checkout
            and not payment.replayed  # its checkout was paid by the first call
            and token is not None
            and kwargs.get("confirm", True)
            and payment.status is PaymentStatus.REQUIRES_ACTION
            and action is not None
            and action.type == "client_checkout"
        ):
            answer = checkout(payment, token)
            payment = await self.face("confirm_payment", payment.id, action_result=answer)
        return cast(Payment, payment)

    async def refund(self, payment_id: str, **kwargs: Any) -> Refund:
        return cast(Refund, await self.face("refund_payment", payment_id, **kwargs))

    async def current(self, payment_id: str) -> Payment:
        """The payment as the provider has it, or (without ``retrieve``) as the gateway last
        saw it."""
        if self.caps.retrieve:
            return cast(Payment, await self.face("retrieve_payment", payment_id))
        return await self.current_stored(payment_id)

    async def current_stored(self, payment_id: str) -> Payment:
        """The payment as the gateway's store last saw it."""
        stored = await self.face("stored_payment", payment_id)
        expect(stored is not None, f"The gateway should have stored {payment_id}.", GUARANTEES)
        return cast(Payment, stored)

    async def ask(self, method: str, *args: Any) -> Any:
        """Call the provider's ``method`` itself the way this face would."""
        function = getattr(self.provider, method)
        if inspect.isgeneratorfunction(function):
            flow = function(*args)
            return run(flow) if isinstance(self.face.gateway, Gateway) else await arun(flow)
        twin = getattr(self.provider, "a" + method, None)
        if isinstance(self.face.gateway, AsyncGateway) and twin is not None:
            return await twin(*args)
        return function(*args)


def _check(on: _On, body: Callable[[], Awaitable[None]]) -> None:
    """Run one check's body in an event loop of its own; an async gateway is closed in it."""

    async def main() -> None:
        try:
            await body()
        finally:
            if isinstance(on.face.gateway, AsyncGateway):
                await on.face.gateway.aclose()

    asyncio.run(main())


def _require(caps: Capabilities, capability: str, why: str = "") -> None:
    if not getattr(caps, capability):
        pytest.skip(f"capabilities.{capability} is not declared{why}")


def _pending(payment: Payment, operation: str) -> list[int | None]:
    return [p.amount for p in payment.pending if p.operation == operation]


class ProviderConformance:
    """Capability-driven checks of one provider, on both faces of the gateway."""

    # --- fixtures to override -------------------------------------------------------------------

    @pytest.fixture
    def provider(self) -> Provider:
        """Override: a configured provider instance, fresh for each test."""
        pytest.fail(f"Override the `provider` fixture with a configured provider. See {TESTING}.")

    @pytest.fixture
    def gateway(self, provider: Provider) -> Iterator[Gateway]:
        with Gateway(providers=[provider], load_installed=False) as gateway:
            yield gateway

    @pytest.fixture
    def async_gateway(self, provider: Provider) -> AsyncGateway:
        """Closed by each check itself, inside its event loop."""
        return AsyncGateway(providers=[provider], load_installed=False)

    @pytest.fixture(params=["Gateway", "AsyncGateway"])
    def face(
        self, request: pytest.FixtureRequest, complete_checkout: CompleteCheckout | None
    ) -> Face:
        """Each check that calls the gateway runs on both faces."""
        name = "gateway" if request.param == "Gateway" else "async_gateway"
        face = Face(request.getfixturevalue(name))
        face.complete_checkout = complete_checkout  # type: ignore[attr-defined]
        return face

    @pytest.fixture
    def complete_checkout(self) -> CompleteCheckout | None:
        """Override for a provider whose payments are paid in its client checkout (a
        ``client_checkout`` next action): ``(payment, token) -> action_result``, paying the
        checkout with the test token as a customer would (in your fake), and returning what
        the checkout hands back. The kit then confirms with it wherever it expects a payment
        attempted at once."""
        return None

    @pytest.fixture
    def success_token(self) -> str:
        return "tok_success"

    @pytest.fixture
    def decline_token(self) -> str:
        return "tok_decline"

    @pytest.fixture
    def decline_code(self) -> str:
        return "card_declined"

    @pytest.fixture
    def authentication_token(self) -> str:
        return "tok_authentication"

    @pytest.fixture
    def signed_delivery(self, provider: Provider) -> SignedDelivery:
        _require(provider.capabilities, "webhooks", ": test_webhooks_match_declaration covers it")
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip(
                "the provider does not implement sign_test_delivery(); override the "
                "`signed_delivery` fixture to run the webhook checks"
            )
        return functools.partial(provider.sign_test_delivery, WebhookEventType.PAYMENT_SUCCEEDED)

    @pytest.fixture
    def fail_after_acting(self, provider: Provider) -> FailAfterActing:
        """Loses the answer above the provider; override to lose it in your fake API."""
        return _lose_answers(provider)

    # --- declarations ---------------------------------------------------------------------------

    def test_declares_a_name_and_consistent_capabilities(self, provider: Provider) -> None:
        name, caps = provider.name, provider.capabilities
        expect(
            name
            and name[0].isalpha()
            and name.islower()
            and len(name) <= 40
            and all(c.isalnum() or c in "-_" for c in name),
            f"A provider needs a name of lower-case letters, digits, '-' and '_' (at most 40, "
            f"starting with a letter): it routes unified ids and webhooks. Got {name!r}.",
            OPERATIONS,
        )
        expect(
            isinstance(caps, Capabilities),
            f"`capabilities` must be a unipay.provider.Capabilities, not {type(caps).__name__}.",
            CAPABILITIES,
        )
        expect(
            caps.manual_capture or not caps.partial_capture,
            "partial_capture is declared without manual_capture: only an authorization held "
            "for manual capture can be captured in part.",
            CAPABILITIES,
        )
        expect(
            caps.partial_refunds or not caps.multiple_refunds,
            "multiple_refunds is declared without partial_refunds: after one full refund there "
            "is nothing left to refund.",
            CAPABILITIES,
        )
        expect(
            caps.webhooks or not caps.settles_later,
            "settles_later is declared without webhooks: settlements arrive by webhook.",
            CAPABILITIES,
        )
        unknown = sorted(set(caps.currencies or ()) - CURRENCY_EXPONENTS.keys())
        expect(
            not unknown, f"currencies lists codes unipay does not know: {unknown}.", CAPABILITIES
        )
        declared = caps.minimum_amounts.keys() if caps.currencies is None else caps.currencies
        stray = sorted(caps.minimum_amounts.keys() - declared)
        expect(not stray, f"minimum_amounts names undeclared currencies: {stray}.", CAPABILITIES)
        expect(
            all(1 <= m <= caps.maximum_amount for m in caps.minimum_amounts.values())
            and 1 <= caps.maximum_amount <= MAX_AMOUNT,
            f"Minimums must be at least 1 and at most maximum_amount, itself at most {MAX_AMOUNT}.",
            CAPABILITIES,
        )

    def test_declared_operations_are_implemented(self, provider: Provider) -> None:
        caps = provider.capabilities
        for capability, method in _DECLARED_BY.items():
            declared = getattr(caps, capability) or (
                capability == "confirmation" and bool(caps.next_actions)  # confirm completes them
            )
            expect(
                not declared or _implements(provider, method),
                f"capabilities.{capability} is declared (True is the default for confirmation "
                f"and retrieve) but {type(provider).__name__} does not implement {method}: "
                f"implement it, or declare Capabilities({capability}=False).",
                CAPABILITIES,
            )

    # --- payments -------------------------------------------------------------------------------

    def test_payment_succeeds_when_created(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token, metadata={"order": "42"})
            expect(
                payment.status is PaymentStatus.SUCCEEDED,
                f"create_payment with success_token ({success_token!r}) must return a "
                f"succeeded payment, not {payment.status.value}.",
                OPERATIONS,
            )
            expect(
                (payment.amount, payment.currency, payment.amount_received)
                == (on.amount, on.currency, on.amount),
                f"A succeeded payment of {on.amount} {on.currency} must say so and have received "
                f"it all; got amount={payment.amount}, currency={payment.currency}, "
                f"amount_received={payment.amount_received}.",
                OPERATIONS,
            )
            expect(
                payment.provider == on.name
                and payment.id == f"{on.name}:{payment.provider_payment_id}",
                f"Payments must name their provider ({on.name!r}); got {payment.provider!r}.",
                OPERATIONS,
            )
            expect(
                payment.metadata == {"order": "42"},
                f"A payment must carry the metadata it was created with; got {payment.metadata}.",
                OPERATIONS,
            )
            expect(not payment.replayed, "A new payment is not a replay.", GUARANTEES)
            now = await on.current(payment.id)
            expect(
                (now.id, now.status, now.amount) == (payment.id, payment.status, payment.amount),
                f"Retrieving {payment.id} must give the same payment; got {now.id} "
                f"({now.status.value}, {now.amount}).",
                OPERATIONS,
            )

        _check(on, check)

    def test_unknown_payment_is_not_found(self, face: Face, provider: Provider) -> None:
        on = _On(face, provider)

        async def check() -> None:
            with expect_raises(
                PaymentNotFound,
                f"Refunding a payment the provider does not know ({on.unknown()}) must raise "
                "PaymentNotFound.",
                ERRORS,
            ):
                await on.refund(on.unknown())
            if on.caps.retrieve:
                with expect_raises(
                    PaymentNotFound,
                    f"Retrieving a payment the provider does not know ({on.unknown()}) must "
                    "raise PaymentNotFound.",
                    ERRORS,
                ):
                    await on("retrieve_payment", on.unknown())

        _check(on, check)

    def test_retrieve_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            if on.caps.retrieve:
                fetched = await on("retrieve_payment", payment.id)
                expect(
                    (fetched.id, fetched.status, fetched.amount_received)
                    == (payment.id, payment.status, payment.amount_received),
                    f"retrieve_payment must return the payment as the provider has it; got "
                    f"{fetched.id} ({fetched.status.value}) for {payment.id}.",
                    OPERATIONS,
                )
                return
            with expect_raises(
                UnsupportedOperation,
                "Without capabilities.retrieve the gateway must refuse retrieve_payment.",
                CAPABILITIES,
            ) as refused:
                await on("retrieve_payment", payment.id)
            expect(
                "stored_payment" in refused.value.message,
                "The refusal must point to Gateway.stored_payment.",
                CAPABILITIES,
            )
            stored = await on("stored_payment", payment.id)
            expect(
                stored is not None and stored.status is PaymentStatus.SUCCEEDED,
                "Gateway.stored_payment must return the payment as it was created.",
                GUARANTEES,
            )

        _check(on, check)

    def test_confirmation_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            if not on.caps.confirmation:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.confirmation the gateway must refuse "
                    "create_payment(confirm=False).",
                    CAPABILITIES,
                ):
                    await on.create(success_token, confirm=False)
                if on.caps.next_actions:
                    return  # confirm_payment completes next actions (test_next_action_* checks)
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.confirmation or next_actions the gateway must refuse "
                    "confirm_payment.",
                    CAPABILITIES,
                ):
                    await on("confirm_payment", on.unknown())
                return
            created = await on.create(success_token, confirm=False)
            waiting = {PaymentStatus.REQUIRES_CONFIRMATION, PaymentStatus.REQUIRES_PAYMENT_METHOD}
            expect(
                created.status in waiting and created.amount_received == 0,
                "create_payment(confirm=False) must leave the payment unattempted "
                f"(requires_confirmation or requires_payment_method); got "
                f"{created.status.value}, amount_received={created.amount_received}.",
                OPERATIONS,
            )
            method = (
                success_token if created.status is PaymentStatus.REQUIRES_PAYMENT_METHOD else None
            )
            confirmed = await on("confirm_payment", created.id, payment_method=method)
            expect(
                confirmed.status is PaymentStatus.SUCCEEDED
                and confirmed.amount_received == on.amount,
                f"confirm_payment must attempt the payment: with success_token it succeeds; "
                f"got {confirmed.status.value}, amount_received={confirmed.amount_received}.",
                OPERATIONS,
            )

        _check(on, check)

    def test_next_actions_match_declaration(
        self, face: Face, provider: Provider, authentication_token: str
    ) -> None:
        on = _On(face, provider)
        if not on.caps.next_actions:
            pytest.skip("capabilities.next_actions is empty: payments never wait on the customer")

        async def check() -> None:
            payment = await on.create(
                authentication_token, return_url=RETURN_URL, pay_checkout=False
            )
            kinds = ", ".join(sorted(on.caps.next_actions))
            expect(
                payment.status is PaymentStatus.REQUIRES_ACTION
                and payment.next_action is not None
                and payment.amount_received == 0,
                f"With next_actions ({kinds}) declared, authentication_token "
                f"({authentication_token!r}) must give a requires_action payment with its "
                f"next_action and nothing received; got {payment.status.value}, "
                f"next_action={payment.next_action}.",
                OPERATIONS,
            )

        _check(on, check)

    def test_manual_capture_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            if not on.caps.manual_capture:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.manual_capture the gateway must refuse "
                    "capture_method='manual'.",
                    CAPABILITIES,
                ):
                    await on.create(success_token, capture_method="manual")
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.manual_capture the gateway must refuse capture_payment.",
                    CAPABILITIES,
                ):
                    await on("capture_payment", on.unknown())
                return
            held = await on.create(success_token, capture_method="manual")
            expect(
                held.status is PaymentStatus.REQUIRES_CAPTURE
                and (held.amount_capturable, held.amount_received) == (on.amount, 0),
                f"capture_method='manual' must hold the whole amount ({on.amount}) for capture; "
                f"got {held.status.value}, amount_capturable={held.amount_capturable}, "
                f"amount_received={held.amount_received}.",
                OPERATIONS,
            )
            captured = await on("capture_payment", held.id)
            self._expect_captured(on, captured, on.amount)

        _check(on, check)

    @staticmethod
    def _expect_captured(on: _On, captured: Payment, amount: int) -> None:
        if on.caps.settles("capture"):
            expect(
                _pending(captured, "capture") in ([amount], [None])
                and captured.status is PaymentStatus.REQUIRES_CAPTURE,
                f"With settles_later, a capture of {amount} must be answered pending: the "
                "payment still requires_capture and lists the capture in `pending`; got "
                f"{captured.status.value}, pending={list(captured.pending)}.",
                OPERATIONS,
            )
            return
        expect(
            captured.status is PaymentStatus.SUCCEEDED
            and (captured.amount_capturable, captured.amount_received) == (0, amount)
            and not captured.pending,
            f"A capture of {amount} must succeed at once (captures do not settle later) and "
            f"release the rest; got {captured.status.value}, amount_received="
            f"{captured.amount_received}, amount_capturable={captured.amount_capturable}, "
            f"pending={list(captured.pending)}.",
            OPERATIONS,
        )

    def test_partial_capture_matches_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "manual_capture", ": there is nothing to capture in part")

        async def check() -> None:
            held = await on.create(success_token, capture_method="manual")
            part = on.amount // 2
            if not on.caps.partial_capture:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.partial_capture the gateway must refuse a capture "
                    "of part of an authorization.",
                    CAPABILITIES,
                ):
                    await on("capture_payment", held.id, amount=part)
                return
            captured = await on("capture_payment", held.id, amount=part)
            self._expect_captured(on, captured, part)

        _check(on, check)

    def test_capturing_a_succeeded_payment_is_a_state_error(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "manual_capture", ": nothing is ever captured")

        async def check() -> None:
            payment = await on.create(success_token)
            with expect_raises(
                InvalidPaymentState,
                "Capturing a payment that already succeeded must raise InvalidPaymentState.",
                ERRORS,
            ):
                await on("capture_payment", payment.id)

        _check(on, check)

    def test_cancel_matches_declaration(
        self, face: Face, provider: Provider, success_token: str, authentication_token: str
    ) -> None:
        on = _On(face, provider)
        caps = on.caps
        if caps.cancel and not (caps.manual_capture or caps.confirmation or caps.next_actions):
            pytest.skip(
                "nothing can wait to be canceled: manual_capture, confirmation and next_actions "
                "are all undeclared"
            )

        async def check() -> None:
            if not caps.cancel:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.cancel the gateway must refuse cancel_payment.",
                    CAPABILITIES,
                ):
                    await on("cancel_payment", on.unknown())
                return
            if caps.manual_capture:
                target = await on.create(success_token, capture_method="manual")
            elif caps.confirmation:
                target = await on.create(success_token, confirm=False)
            else:
                target = await on.create(
                    authentication_token, return_url=RETURN_URL, pay_checkout=False
                )
            canceled = await on("cancel_payment", target.id, reason="requested_by_customer")
            if caps.settles("cancel") and target.status is PaymentStatus.REQUIRES_CAPTURE:
                expect(
                    _pending(canceled, "cancel") and canceled.status is target.status,
                    "With settles_later, canceling an authorization must be answered pending: "
                    f"the cancel listed in `pending`; got {canceled.status.value}, "
                    f"pending={list(canceled.pending)}.",
                    OPERATIONS,
                )
                return
            expect(
                canceled.status is PaymentStatus.CANCELED and canceled.amount_capturable == 0,
                f"cancel_payment of a {target.status.value} payment must cancel it and release "
                f"what was held; got {canceled.status.value}, amount_capturable="
                f"{canceled.amount_capturable}.",
                OPERATIONS,
            )
            now = await on.current(target.id)
            expect(
                now.status is PaymentStatus.CANCELED,
                f"A canceled payment must stay canceled; got {now.status.value}.",
                OPERATIONS,
            )

        _check(on, check)

    # --- refunds --------------------------------------------------------------------------------

    @staticmethod
    def _expect_refunded(on: _On, refund: Refund, payment: Payment, amount: int) -> None:
        expect(
            (refund.payment_id, refund.amount, refund.currency, refund.provider)
            == (payment.id, amount, payment.currency, on.name),
            f"A refund of {amount} {payment.currency} of {payment.id} must say so; got "
            f"payment_id={refund.payment_id}, amount={refund.amount}, "
            f"currency={refund.currency}, provider={refund.provider}.",
            OPERATIONS,
        )
        later = on.caps.settles("refund")
        settled = RefundStatus.PENDING if later else RefundStatus.SUCCEEDED
        expect(
            refund.status is settled,
            f"A refund must be answered {settled.value} (settles_later is "
            f"{'' if later else 'not '}declared); got {refund.status.value}.",
            OPERATIONS,
        )

    async def _expect_refunded_total(self, on: _On, payment: Payment, total: int) -> None:
        if on.caps.settles("refund"):
            return  # the provider counts a refund once it settles, by webhook
        now = await on.current(payment.id)
        expect(
            now.amount_refunded == total,
            f"After refunds of {total} in all, {payment.id} must say amount_refunded={total}; "
            f"got {now.amount_refunded}.",
            OPERATIONS,
        )

    def test_full_refund(self, face: Face, provider: Provider, success_token: str) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            refund = await on.refund(payment.id)
            self._expect_refunded(on, refund, payment, on.amount)
            await self._expect_refunded_total(on, payment, on.amount)

        _check(on, check)

    def test_partial_refunds_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            part = on.amount // 4
            if not on.caps.partial_refunds:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.partial_refunds the gateway must refuse a refund of "
                    "part of a payment.",
                    CAPABILITIES,
                ):
                    await on.refund(payment.id, amount=part)
                return
            refund = await on.refund(payment.id, amount=part)
            self._expect_refunded(on, refund, payment, part)
            await self._expect_refunded_total(on, payment, part)

        _check(on, check)

    def test_multiple_refunds_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            payment = await on.create(success_token)
            part = on.amount // 4 if on.caps.partial_refunds else None
            first = await on.refund(payment.id, amount=part)
            if not on.caps.multiple_refunds:
                with expect_raises(
                    UnsupportedOperation,
                    "Without capabilities.multiple_refunds the gateway must refuse a second "
                    "refund of a payment.",
                    CAPABILITIES,
                ):
                    await on.refund(payment.id, amount=part)
                return
            if part is None:
                pytest.fail(
                    "multiple_refunds is declared without partial_refunds (see "
                    "test_declares_a_name_and_consistent_capabilities)."
                )
            second = await on.refund(payment.id, amount=part)
            expect(
                second.id != first.id,
                f"A second refund must be a new refund, not {first.id} again.",
                OPERATIONS,
            )
            self._expect_refunded(on, second, payment, part)
            await self._expect_refunded_total(on, payment, 2 * part)

        _check(on, check)

    def test_refunding_more_than_is_left_is_refused(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "partial_refunds", ": the gateway refuses any amount")

        async def check() -> None:
            payment = await on.create(success_token)
            with expect_raises(
                InvalidRequest,
                f"Refunding more than was received ({on.amount + 1} of {on.amount}) must raise "
                "InvalidRequest.",
                ERRORS,
            ):
                await on.refund(payment.id, amount=on.amount + 1)

        _check(on, check)

    # --- declines and amounts -------------------------------------------------------------------

    def test_decline_matches_declaration(
        self, face: Face, provider: Provider, decline_token: str, decline_code: str
    ) -> None:
        on = _On(face, provider)
        if getattr(face, "complete_checkout", None) is not None:
            pytest.skip(
                "payments are paid in the provider's client checkout: a decline happens there, "
                "before the server hears of it (the provider's own tests cover its checkout)"
            )

        async def check() -> None:
            with expect_raises(
                PaymentDeclined,
                f"decline_token ({decline_token!r}) must raise PaymentDeclined.",
                ERRORS,
            ) as caught:
                await on.create(decline_token)
            declined = caught.value
            expect(
                declined.decline_code == decline_code,
                f"PaymentDeclined.decline_code must be the provider's reason, {decline_code!r} "
                f"for decline_token; got {declined.decline_code!r}.",
                ERRORS,
            )
            payment = declined.payment
            expect(
                payment is not None or not on.caps.declines_include_payment,
                "capabilities.declines_include_payment is declared: PaymentDeclined.payment "
                "must be the declined payment.",
                ERRORS,
            )
            if payment is None:
                return
            expect(
                payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
                and payment.provider == on.name
                and payment.amount_received == 0,
                "The payment a decline carries must be the declined one: "
                "requires_payment_method, nothing received; got "
                f"{payment.status.value}, amount_received={payment.amount_received}.",
                ERRORS,
            )

        _check(on, check)

    def test_amounts_match_declaration(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        caps = on.caps

        async def check() -> None:
            for currency in sorted(caps.currencies or {on.currency}):
                least = caps.minimum_amounts.get(currency, 1)
                payment = await on.create(success_token, amount=least, currency=currency)
                expect(
                    payment.status is PaymentStatus.SUCCEEDED and payment.currency == currency,
                    f"The provider must accept what it declares: {least} {currency} (its "
                    f"minimum) gave {payment.status.value} in {payment.currency}.",
                    CAPABILITIES,
                )
                if least > 1:
                    with expect_raises(
                        InvalidRequest,
                        f"The gateway must refuse {least - 1} {currency}, below the minimum.",
                        CAPABILITIES,
                    ):
                        await on.create(success_token, amount=least - 1, currency=currency)
            if caps.maximum_amount < MAX_AMOUNT:
                with expect_raises(
                    InvalidRequest,
                    "The gateway must refuse more than maximum_amount.",
                    CAPABILITIES,
                ):
                    await on.create(success_token, amount=caps.maximum_amount + 1)
            if caps.currencies is not None:
                other = min(CURRENCY_EXPONENTS.keys() - caps.currencies)
                with expect_raises(
                    UnsupportedOperation,
                    f"The gateway must refuse {other}, a currency not in capabilities.currencies.",
                    CAPABILITIES,
                ):
                    await on.create(success_token, currency=other)

        _check(on, check)

    # --- idempotency and at-most-once -----------------------------------------------------------

    def test_same_key_replays_the_same_payment(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)

        async def check() -> None:
            key = str(uuid.uuid4())
            first = await on.create(success_token, idempotency_key=key)
            again = await on.create(success_token, idempotency_key=key)
            expect(
                again.id == first.id and again.replayed,
                f"The same idempotency key must replay the same payment ({first.id}, "
                f"replayed=True); got {again.id}, replayed={again.replayed}.",
                GUARANTEES,
            )

        _check(on, check)

    def test_provider_deduplicates_by_key(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        """Two gateways with separate stores (a crash lost the first store's record): the same
        key reaches the provider twice and must not charge twice."""
        on = _On(face, provider)
        _require(
            on.caps,
            "idempotency_keys",
            ": the gateway never re-sends a call in doubt "
            "(test_a_call_in_doubt_is_never_sent_twice checks it)",
        )

        async def check() -> None:
            key = str(uuid.uuid4())
            payments = []
            for _ in range(2):
                # Not closed: that would close the provider the check's own gateway shares.
                fresh = type(face.gateway)(
                    providers=[provider], store=MemoryStore(), load_installed=False
                )
                other = _On(Face(fresh), provider, on.checkout)
                payments.append(await other.create(success_token, idempotency_key=key))
            first, second = payments
            expect(
                first.provider_payment_id == second.provider_payment_id
                and second.status is PaymentStatus.SUCCEEDED,
                "capabilities.idempotency_keys is declared: the provider must answer a repeated "
                f"idempotency key with the same payment ({first.provider_payment_id}), not a "
                f"new charge ({second.provider_payment_id}). Send CallContext.idempotency_key "
                "as the provider's own key.",
                GUARANTEES,
            )  # fmt: skip

        _check(on, check)

    def test_a_call_in_doubt_is_never_sent_twice(
        self,
        face: Face,
        provider: Provider,
        success_token: str,
        fail_after_acting: FailAfterActing,
    ) -> None:
        on = _On(face, provider)
        if on.caps.idempotency_keys:
            pytest.skip(
                "capabilities.idempotency_keys is declared: a call in doubt is retried with the "
                "same key (test_provider_deduplicates_by_key checks the provider's part)"
            )

        async def check() -> None:
            fail_after_acting("create_payment")
            calls = _Calls.of(provider, "create_payment")
            key = str(uuid.uuid4())
            if on.caps.lookup_by_reference:
                with expect_no_error(
                    "With lookup_by_reference, a payment whose answer was lost must be found by "
                    "its reference. A provider reports a lost answer as "
                    "ProviderUnavailable(request_sent=True) (HttpClient does), never as a "
                    "settled error.",
                    GUARANTEES,
                ):
                    payment = await on.create(success_token, idempotency_key=key)
                expect(
                    payment.status is PaymentStatus.SUCCEEDED,
                    "With lookup_by_reference, a payment whose answer was lost must be found "
                    f"by its reference; got {payment.status.value}.",
                    GUARANTEES,
                )
                again = await on.create(success_token, idempotency_key=key)
                expect(
                    again.id == payment.id,
                    f"The key must then replay {payment.id}; got {again.id}.",
                    GUARANTEES,
                )
            else:
                for attempt in ("the call", "the same key again"):
                    with expect_raises(
                        OutcomeUnknown,
                        f"Without idempotency keys or lookup, {attempt} after a lost answer "
                        "must raise OutcomeUnknown. A provider reports a lost answer as "
                        "ProviderUnavailable(request_sent=True).",
                        GUARANTEES,
                    ):
                        await on.create(success_token, idempotency_key=key)
            found_nothing = (
                " lookup found nothing, so the gateway took the call for never made: lookup must "
                "find what a call with ctx.reference did."
                if on.caps.lookup_by_reference
                else ""
            )
            expect(
                len(calls.contexts) == 1,
                "Without idempotency keys a call in doubt must never reach the provider again; "
                f"create_payment was called {len(calls.contexts)} times.{found_nothing}",
                GUARANTEES,
            )

        _check(on, check)

    def test_lookup_finds_a_call_by_its_reference(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        _require(on.caps, "lookup_by_reference")

        async def check() -> None:
            created = _Calls.of(provider, "create_payment")
            refunded = _Calls.of(provider, "refund_payment")
            payment = await on.create(success_token)
            refund = await on.refund(payment.id)
            create_ctx, refund_ctx = created.contexts[-1], refunded.contexts[-1]
            expect(
                create_ctx is not None and refund_ctx is not None,
                "The gateway must pass a CallContext to every provider operation.",
                OPERATIONS,
            )
            assert create_ctx is not None  # for mypy: checked above
            assert refund_ctx is not None
            found = await on.ask("lookup", "create_payment", None, create_ctx)
            expect(
                isinstance(found, Payment)
                and found.provider_payment_id == payment.provider_payment_id,
                f"lookup('create_payment', None, ctx) must find the payment created with "
                f"ctx.reference ({create_ctx.reference}): {payment.id}; got {found!r}. Send "
                "ctx.reference as the provider's own reference field.",
                GUARANTEES,
            )
            found = await on.ask(
                "lookup", "refund_payment", payment.provider_payment_id, refund_ctx
            )
            expect(
                isinstance(found, Refund) and found.provider_refund_id == refund.provider_refund_id,
                f"lookup('refund_payment', payment, ctx) must find the refund made with "
                f"ctx.reference ({refund_ctx.reference}): {refund.id}; got {found!r}.",
                GUARANTEES,
            )
            never = CallContext(uuid.uuid4().hex, 1, "unipay-" + uuid.uuid4().hex)
            nothing = await on.ask("lookup", "create_payment", None, never)
            expect(
                nothing is None,
                "lookup must return None for a reference the provider never saw (the gateway "
                f"then knows a new call is safe); got {nothing!r}.",
                GUARANTEES,
            )

        _check(on, check)

    # --- settling later -------------------------------------------------------------------------

    def test_settlement_delivery_moves_the_record_forward(
        self, face: Face, provider: Provider, success_token: str
    ) -> None:
        on = _On(face, provider)
        if not on.caps.settles("capture"):
            pytest.skip("captures do not settle later (capabilities.settles_later)")
        _require(on.caps, "manual_capture", ": this check settles a capture")
        _require(on.caps, "webhooks")
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip("the provider does not implement sign_test_delivery()")

        async def check() -> None:
            held = await on.create(success_token, capture_method="manual")
            captured = await on("capture_payment", held.id)
            settled = captured.model_copy(
                update={
                    "status": PaymentStatus.SUCCEEDED,
                    "amount_capturable": 0,
                    "amount_received": on.amount,
                    "pending": (),
                }
            )
            body, headers = provider.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, settled)
            status = await _deliver(face.gateway, on.name, body, headers)
            expect(
                status == 200,
                f"A signed payment.succeeded delivery must be accepted; the app answered {status}.",
                WEBHOOKS,
            )
            stored = await on.current_stored(held.id)
            expect(
                stored.status is PaymentStatus.SUCCEEDED
                and stored.amount_received == on.amount
                and not stored.pending,
                "The settlement's delivery must move the stored payment forward: succeeded, "
                f"{on.amount} received, nothing pending; got {stored.status.value}, "
                f"amount_received={stored.amount_received}, pending={list(stored.pending)}.",
                WEBHOOKS,
            )

        _check(on, check)

    # --- webhooks -------------------------------------------------------------------------------

    def test_webhooks_match_declaration(self, gateway: Gateway, provider: Provider) -> None:
        if provider.capabilities.webhooks:
            with expect_raises(
                WebhookVerificationError,
                "With capabilities.webhooks, verify_webhook must refuse an unsigned delivery "
                "with WebhookVerificationError.",
                WEBHOOKS,
            ):
                provider.verify_webhook(b"{}", {"content-type": "application/json"})
            return
        status = asyncio.run(_deliver(gateway, provider.name, b"{}", {}))
        expect(
            status == 404,
            f"Without capabilities.webhooks the webhook app must answer 404; it answered {status}.",
            CAPABILITIES,
        )

    def test_signed_delivery_is_verified_and_unified(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        on = _On(Face(gateway), provider, complete_checkout)
        payment = asyncio.run(on.create(success_token))
        body, headers = signed_delivery(payment)
        event = _one_event(provider.verify_webhook(body, headers))
        expect(
            event.provider == on.name and event.type is WebhookEventType.PAYMENT_SUCCEEDED,
            f"A payment.succeeded delivery must give a {on.name!r} event of type "
            f"payment.succeeded; got {event.provider!r}, {event.type.value}.",
            WEBHOOKS,
        )
        expect(
            event.id,
            "An event needs the provider's event id (deliveries are deduplicated by it).",
            WEBHOOKS,
        )
        expect(
            event.payment is not None and event.payment.id == payment.id,
            f"The event must carry the payment it is about ({payment.id}).",
            WEBHOOKS,
        )
        expect(event.data, "The provider's own payload must be kept in `data`.", WEBHOOKS)

    def test_tampered_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        on = _On(Face(gateway), provider, complete_checkout)
        payment = asyncio.run(on.create(success_token))
        body, headers = signed_delivery(payment)
        tampered = body.replace(str(on.amount).encode(), str(on.amount * 100).encode(), 1)
        expect(tampered != body, "The delivery's body should mention the amount.", WEBHOOKS)
        with expect_raises(
            WebhookVerificationError,
            "A delivery whose body was changed after signing must raise WebhookVerificationError.",
            WEBHOOKS,
        ):
            provider.verify_webhook(tampered, headers)

    def test_unsigned_delivery_is_refused(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        signed_delivery: SignedDelivery,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        on = _On(Face(gateway), provider, complete_checkout)
        payment = asyncio.run(on.create(success_token))
        body, _ = signed_delivery(payment)
        with expect_raises(
            WebhookVerificationError,
            "A delivery without its signature headers must raise WebhookVerificationError.",
            WEBHOOKS,
        ):
            provider.verify_webhook(body, {"content-type": "application/json"})

    def test_test_deliveries_round_trip_for_every_payment_event(
        self,
        gateway: Gateway,
        provider: Provider,
        success_token: str,
        complete_checkout: CompleteCheckout | None,
    ) -> None:
        """What ``unipay webhooks sign`` prints must be accepted by the provider's own check."""
        if not _implements(provider, "sign_test_delivery"):
            pytest.skip("the provider does not implement sign_test_delivery()")
        on = _On(Face(gateway), provider, complete_checkout)
        payment = asyncio.run(on.create(success_token))
        signed = 0
        for event_type in WebhookEventType:
            if not event_type.value.startswith("payment."):
                continue
            try:
                body, headers = provider.sign_test_delivery(event_type, payment)
            except InvalidRequest:
                continue  # an event type this provider never sends
            event = _one_event(provider.verify_webhook(body, headers))
            expect(
                event.type is event_type
                and event.payment is not None
                and event.payment.id == payment.id,
                f"sign_test_delivery({event_type.value}) must give a delivery that "
                f"verify_webhook reads back as {event_type.value} about {payment.id}; got "
                f"{event.type.value} about {event.payment.id if event.payment else 'no payment'}.",
                WEBHOOKS,
            )
            signed += 1
        expect(signed, "sign_test_delivery must sign at least payment.succeeded.", WEBHOOKS)
