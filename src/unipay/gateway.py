"""``Gateway`` and ``AsyncGateway``: the two faces of one core.

Each operation is written once, as a flow (see `unipay._flow`): validate, route to the
provider, check its capabilities, then hand the call to the idempotent path every mutating
operation shares (`unipay._calls`): claim the idempotency key, run the before hooks, call the
provider with the key (retrying transient failures), complete the key with the outcome, run the
after hooks. A replay returns the stored outcome without touching the provider.
"""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import pluggy

from unipay._calls import IdempotentCalls, merchant_reference
from unipay._flow import Flow, async_face, blocking_face, call
from unipay._observe import Observers, around_store, observe_operation
from unipay.errors import InvalidRequest, UnsupportedOperation
from unipay.hookspecs import OperationCall
from unipay.idempotency import (
    OPERATION_SCOPE,
    RESOLVED_SCOPE,
    IdempotencyPolicy,
    RetryPolicy,
    check_key,
    decode_result,
    encode_absent,
    encode_result,
    unknown_of,
)
from unipay.models import (
    CancelPaymentRequest,
    CaptureMethod,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundPaymentRequest,
    parse_request,
    split_id,
)
from unipay.plugins import ProviderRegistry, make_plugin_manager
from unipay.provider import CallContext, Provider
from unipay.storage import Store, open_store
from unipay.storage.base import ClaimState

if TYPE_CHECKING:
    from unipay.activity_recorder import ActivityRecorder

#: The merchant reference of a call made with a key; tests and plugins import it from here.
_reference = merchant_reference


class _GatewayCore(IdempotentCalls):
    """State and flows shared by both faces; not used directly."""

    def __init__(
        self,
        *,
        store: Store | str | None = None,
        plugins: Iterable[object] = (),
        providers: Iterable[Provider] = (),
        load_installed: bool = True,
        idempotency: IdempotencyPolicy | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        record_activity: bool = False,
    ) -> None:
        """A gateway over the installed providers (and any given), with its own store.

        Args:
            store: where idempotency keys, payments and refunds live: a
                [`Store`][unipay.storage.base.Store], a URL (``"sqlite:///unipay.db"``,
                ``"postgresql+psycopg://..."``, ``"memory://"``), or None for an in-memory store.
            plugins: plugin objects or modules to register besides the installed ones.
            providers: configured provider instances; they take precedence over registered ones.
            load_installed: False ignores installed plugins (entry points) altogether.
            idempotency: retention, lock timeout and wait for concurrent calls.
            retry: retries of transient provider failures.
            clock: accepted for compatibility and unused: since 0.2 every lease and
                retention is measured by the store's own clock, never the caller's.
            record_activity: log every operation and webhook delivery to the store (the
                dashboard's timelines and metrics), written in batches by a background
                thread; see [`unipay.activity_recorder`][unipay.activity_recorder].
        """
        self.plugin_manager: pluggy.PluginManager = make_plugin_manager(
            plugins, load_installed=load_installed
        )
        self.providers = ProviderRegistry(self.plugin_manager, providers)
        self.store: Store = open_store(store, self.plugin_manager)
        self.idempotency = idempotency or IdempotencyPolicy()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        #: Writes the activity log when ``record_activity`` is on; ``close`` flushes it.
        self.activity_recorder: ActivityRecorder | None = None
        if record_activity:
            from unipay.activity_recorder import ActivityRecorder

            self.activity_recorder = ActivityRecorder(self.store)
            self.plugin_manager.register(self.activity_recorder)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} providers={self.providers.names()} store={self.store!r}>"

    # --- the operations (flows); the idempotent path they share is in unipay._calls -----------

    def _create_payment(
        self,
        *,
        provider: str,
        amount: int,
        currency: str,
        payment_method: str | Mapping[str, Any] | None = None,
        customer_email: str | None = None,
        capture_method: CaptureMethod | str = CaptureMethod.AUTOMATIC,
        confirm: bool = True,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        return_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Flow[Payment]:
        """Create a payment and, with ``confirm=True`` (the default), charge or authorize it.

        Raises PaymentDeclined when the payment method is declined.
        """
        request = parse_request(
            CreatePaymentRequest,
            {
                "provider": provider,
                "amount": amount,
                "currency": currency,
                "payment_method": payment_method,
                "customer_email": customer_email,
                "capture_method": capture_method,
                "confirm": confirm,
                "description": description,
                "metadata": dict(metadata or {}),
                "return_url": return_url,
            },
        )
        target = self.providers.get(request.provider)
        caps = target.capabilities
        if request.capture_method is CaptureMethod.MANUAL and not caps.manual_capture:
            raise _unsupported(target, "create_payment", "manual capture")
        if not request.confirm and not caps.confirmation:
            raise _unsupported(
                target, "create_payment", "a separate confirm step", "confirm", "to pay at once"
            )
        caps.check_amount(target.name, request.amount, request.currency)
        step = functools.partial(target.create_payment, request)
        return (yield from self._mutate(Payment, target, step, None, request, idempotency_key))

    def _confirm_payment(
        self,
        payment_id: str,
        *,
        payment_method: str | Mapping[str, Any] | None = None,
        return_url: str | None = None,
        action_result: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Flow[Payment]:
        """Confirm a payment created with ``confirm=False``, retry one needing a new method, or
        complete its next action with what the customer's side handed back (``action_result``:
        a redirect's result, a client checkout's signed answer)."""
        request = parse_request(
            ConfirmPaymentRequest,
            {
                "payment_method": payment_method,
                "return_url": return_url,
                "action_result": None if action_result is None else dict(action_result),
            },
        )
        target, provider_id = self._route(payment_id)
        caps = target.capabilities
        if not caps.confirmation and not caps.next_actions:
            raise _unsupported(target, "confirm_payment", "a confirm step or next actions")
        step = functools.partial(target.confirm_payment, provider_id, request)
        return (
            yield from self._mutate(Payment, target, step, provider_id, request, idempotency_key)
        )

    def _capture_payment(
        self, payment_id: str, *, amount: int | None = None, idempotency_key: str | None = None
    ) -> Flow[Payment]:
        """Capture an authorized payment: all of it, or ``amount`` (the rest is released)."""
        request = parse_request(CapturePaymentRequest, {"amount": amount})
        target, provider_id = self._route(payment_id)
        if not target.capabilities.manual_capture:
            raise _unsupported(target, "capture_payment", "manual capture")
        step = functools.partial(target.capture_payment, provider_id, request)
        check = None
        if request.amount is not None and not target.capabilities.partial_capture:

            def check(known: Payment | None) -> None:
                if known is None or request.amount != known.amount_capturable:
                    raise _unsupported(target, "capture_payment", "partial capture", "amount")

        return (
            yield from self._mutate(
                Payment, target, step, provider_id, request, idempotency_key, check
            )
        )

    def _cancel_payment(
        self, payment_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> Flow[Payment]:
        """Cancel a payment that has not succeeded; an authorization is released."""
        request = parse_request(CancelPaymentRequest, {"reason": reason})
        target, provider_id = self._route(payment_id)
        if not target.capabilities.cancel:
            raise _unsupported(target, "cancel_payment", "cancellation")
        step = functools.partial(target.cancel_payment, provider_id, request)
        return (
            yield from self._mutate(Payment, target, step, provider_id, request, idempotency_key)
        )

    def _refund_payment(
        self,
        payment_id: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Flow[Refund]:
        """Refund ``amount`` of a succeeded payment, or all that is left to refund."""
        request = parse_request(
            RefundPaymentRequest,
            {"amount": amount, "reason": reason, "metadata": dict(metadata or {})},
        )
        target, provider_id = self._route(payment_id)
        caps = target.capabilities

        def check(known: Payment | None) -> None:
            if (
                request.amount is not None
                and not caps.partial_refunds
                and (known is None or request.amount != known.amount_refundable)
            ):
                raise _unsupported(target, "refund_payment", "partial refunds", "amount")
            if known is not None and known.amount_refunded > 0 and not caps.multiple_refunds:
                raise _unsupported(target, "refund_payment", "more than one refund per payment")

        step = functools.partial(target.refund_payment, provider_id, request)
        return (
            yield from self._mutate(
                Refund, target, step, provider_id, request, idempotency_key, check
            )
        )

    def _retrieve_payment(self, payment_id: str) -> Flow[Payment]:
        """Fetch the payment's current state from its provider (and remember it)."""
        target, provider_id = self._route(payment_id)
        if not target.capabilities.retrieve:
            raise UnsupportedOperation(
                f"Provider {target.name!r} has no way to retrieve a payment; "
                "Gateway.stored_payment returns it as this gateway's store last saw it (kept "
                "current by the provider's webhooks).",
                provider=target.name,
                operation="retrieve_payment",
            )
        key = uuid.uuid4().hex
        op = OperationCall("retrieve_payment", target.name, key, None, payment_id)
        obs = observe_operation(self.plugin_manager, op)
        flow = self._retrieve(target, provider_id, op, obs)
        return (yield from (flow if obs is None else obs.follow(flow)))

    def _retrieve(
        self, target: Provider, provider_id: str, op: OperationCall, obs: Observers | None
    ) -> Flow[Payment]:
        step = functools.partial(target.retrieve_payment, provider_id)
        payment: Payment = yield from self._call_provider(target, step, op, obs=obs)
        with around_store(obs, "save_payment"):
            yield from call(self.store.save_payment, payment)
        return payment

    def _stored_payment(self, payment_id: str) -> Flow[Payment | None]:
        """The payment as this gateway's store last saw it, without asking the provider."""
        split_id(payment_id)
        return (yield from call(self.store.get_payment, payment_id))

    def _reconcile(self, idempotency_key: str) -> Flow[Payment | Refund]:
        """Settle a call whose outcome is unknown (``OutcomeUnknown``) from its provider: the
        payment or refund it made, which the key replays from then on. Raises ``InvalidRequest``
        when the provider never acted on it (send the call again with a new key), and returns
        the stored outcome of a key that was never in doubt."""
        key = check_key(idempotency_key)
        stored = yield from call(self.store.get_result, OPERATION_SCOPE, key)
        if stored is None:
            raise InvalidRequest(
                f"No call with idempotency key {key!r} is stored (never made, still running, or "
                "past its retention).",
                param="idempotency_key",
            )
        unknown = unknown_of(stored)
        if unknown is None:
            return decode_result(stored)
        resolved = yield from call(self.store.get_result, RESOLVED_SCOPE, key)
        if resolved is None:
            target = self.providers.get(unknown.provider)
            provider_id = None if unknown.payment_id is None else split_id(unknown.payment_id)[1]
            if not target.capabilities.lookup_by_reference:
                raise UnsupportedOperation(
                    f"Provider {target.name!r} cannot look a call up by its reference: find "
                    f"{unknown.reference} in its dashboard.",
                    provider=target.name,
                    operation="reconcile",
                )
            step = functools.partial(target.lookup, unknown.operation, provider_id)
            found = yield from self._attempt(target, step, CallContext(key, 1, unknown.reference))
            resolved = encode_absent() if found is None else encode_result(found)
            claim = yield from self._store_claim(
                RESOLVED_SCOPE, key, RESOLVED_SCOPE, self.idempotency.retention
            )
            if claim.state is ClaimState.CLAIMED:
                assert claim.token is not None
                payment, refund = (found, None) if isinstance(found, Payment) else (None, found)
                yield from self._complete_scope(
                    RESOLVED_SCOPE, key, claim.token, resolved, payment, refund
                )
            elif claim.result is not None:
                resolved = claim.result
        return decode_result(resolved)

    def _close(self) -> Flow[None]:
        """Close provider connections and the store (after writing the activity log's last
        entries)."""
        if self.activity_recorder is not None:
            yield from call(self.activity_recorder.close)
        for provider in self.providers.built():
            if inspect.isgeneratorfunction(getattr(provider.close, "__func__", None)):
                yield from cast("Flow[None]", provider.close())
            else:  # 0.1: a plain close, awaited as aclose on the async face when there is one
                yield from call(provider.close)
        yield from call(self.store.close)

    def _route(self, payment_id: str) -> tuple[Provider, str]:
        name, provider_id = split_id(payment_id)
        return self.providers.get(name), provider_id


def _unsupported(
    target: Provider,
    operation: str,
    feature: str,
    param: str | None = None,
    purpose: str = "to act on the full amount",
) -> UnsupportedOperation:
    fix = f" Omit `{param}` {purpose}." if param else ""
    return UnsupportedOperation(
        f"Provider {target.name!r} does not support {feature}.{fix}",
        provider=target.name,
        operation=operation,
    )


class Gateway(_GatewayCore):
    """The synchronous face: ``Gateway().create_payment(provider="mock", ...)``."""

    create_payment = blocking_face(_GatewayCore._create_payment)
    confirm_payment = blocking_face(_GatewayCore._confirm_payment)
    capture_payment = blocking_face(_GatewayCore._capture_payment)
    cancel_payment = blocking_face(_GatewayCore._cancel_payment)
    refund_payment = blocking_face(_GatewayCore._refund_payment)
    retrieve_payment = blocking_face(_GatewayCore._retrieve_payment)
    stored_payment = blocking_face(_GatewayCore._stored_payment)
    reconcile = blocking_face(_GatewayCore._reconcile)
    close = blocking_face(_GatewayCore._close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncGateway(_GatewayCore):
    """The asynchronous face: the same methods, awaited, never blocking the event loop."""

    create_payment = async_face(_GatewayCore._create_payment)
    confirm_payment = async_face(_GatewayCore._confirm_payment)
    capture_payment = async_face(_GatewayCore._capture_payment)
    cancel_payment = async_face(_GatewayCore._cancel_payment)
    refund_payment = async_face(_GatewayCore._refund_payment)
    retrieve_payment = async_face(_GatewayCore._retrieve_payment)
    stored_payment = async_face(_GatewayCore._stored_payment)
    reconcile = async_face(_GatewayCore._reconcile)
    aclose = async_face(_GatewayCore._close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
