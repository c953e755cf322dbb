"""How a check reaches the provider under test: `_On` (one face of the gateway), running a
check's body, intercepting the provider's calls, delivering webhooks."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from unipay._flow import arun, run
from unipay.errors import InvalidRequest, ProviderUnavailable
from unipay.gateway import AsyncGateway, Gateway
from unipay.models import Payment, PaymentStatus, Refund, WebhookEvent
from unipay.provider import CallContext, Capabilities, Provider
from unipay.testing._expect import GUARANTEES, TESTING, WEBHOOKS, expect
from unipay.testing.faces import Face

#: ``complete_checkout(payment, token)`` -> the ``action_result`` the provider's client checkout
#: hands back once the customer paid it with ``token``.
CompleteCheckout = Callable[[Payment, str], dict[str, Any]]

#: ``signed_delivery(payment)`` -> ``(body, headers)``: a correctly signed delivery of the
#: provider's own "payment succeeded" event for ``payment``.
SignedDelivery = Callable[[Payment], tuple[bytes, dict[str, str]]]
#: ``fail_after_acting(operation)``: the provider's next call of ``operation`` acts, then its
#: answer is lost (``ProviderUnavailable`` with ``request_sent=True``, as after a read timeout).
FailAfterActing = Callable[[str], None]

#: The amount most checks charge, in minor units (raised to a declared minimum above it).
AMOUNT = 2000
UNKNOWN_ID = "pi_doesnotexist000"
RETURN_URL = "https://shop.example/return"


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
        """`AMOUNT`, within what the provider declares it takes."""
        minimum = self.caps.minimum_amounts.get(self.currency, 1)
        return min(max(AMOUNT, minimum), self.caps.maximum_amount)

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
