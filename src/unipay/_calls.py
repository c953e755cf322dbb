"""The idempotent call: the machinery every mutating operation of the gateway shares.

`IdempotentCalls._mutate` is the one path of create, confirm, capture, cancel and refund: claim
the idempotency key (or replay its stored outcome), lock the payment when the operation depends on
its state, run the before hooks, call the provider with the key (retrying transient failures, and
looking a call in doubt up by its reference when the provider does not deduplicate), complete the
key with the outcome, run the after hooks.

Kept apart from `unipay.gateway` so that the public face reads as the operations a caller looks
for; the claims, locks and completions in the store are in `unipay._claims`. A base class rather
than functions: its methods are flows over the gateway's store, policies and hooks, and a method
inherited costs nothing more per call than one defined on the gateway.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pluggy
from pydantic import BaseModel

from unipay._claims import StoreClaims
from unipay._flow import Call, Flow, Sleep, call, hook
from unipay._observe import Observers, around_attempt, around_store, observe_operation
from unipay.errors import OutcomeUnknown, PaymentDeclined, UnipayError
from unipay.hookspecs import OperationCall
from unipay.idempotency import (
    ATTEMPT_SCOPE,
    OPERATION_SCOPE,
    RESOLVED_SCOPE,
    RetryPolicy,
    Unknown,
    check_key,
    decode_result,
    encode_result,
    fingerprint,
    release_claim,
    unknown_of,
)
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundPaymentRequest,
)
from unipay.plugins import ProviderRegistry
from unipay.provider import Answer, CallContext, Provider
from unipay.storage.base import ClaimState

logger = logging.getLogger("unipay")

R = TypeVar("R", Payment, Refund)
#: One provider operation with its arguments bound, waiting for the attempt's context.
Step = functools.partial[Answer[R]]
A = TypeVar("A")


class IdempotentCalls(StoreClaims):
    """The idempotent call and its provider attempts; `unipay.gateway`'s core inherits them.

    The gateway sets these attributes (and `StoreClaims`'s) in its ``__init__``."""

    plugin_manager: pluggy.PluginManager
    providers: ProviderRegistry
    retry: RetryPolicy

    def _mutate(
        self,
        kind: type[R],
        target: Provider,
        step: Step[R],
        provider_id: str | None,
        request: BaseModel,
        key: str | None,
        check: Callable[[Payment | None], None] | None = None,
    ) -> Flow[R]:
        """The shared path of every mutating call.

        ``check`` sees the stored payment and refuses what its state rules out. It runs only once
        the key is ours, so a replay never re-checks against the state its own first run
        produced; and under the payment's lock, so two concurrent calls on one payment (two
        refunds) cannot both pass it on the same stale state.

        Not a generator itself: the operation's flow checks the key and calls this from its own
        body, then follows the flow returned, so every effect passes one generator fewer."""
        operation = OPERATION_OF[type(request)]
        key = uuid.uuid4().hex if key is None else check_key(key)
        op = OperationCall(
            operation,
            target.name,
            key,
            request,
            None if provider_id is None else f"{target.name}:{provider_id}",
        )
        obs = observe_operation(self.plugin_manager, op)
        flow = self._mutate_claimed(kind, target, step, provider_id, request, op, check, obs)
        return flow if obs is None else obs.follow(flow)

    def _mutate_claimed(
        self,
        kind: type[R],
        target: Provider,
        step: Step[R],
        provider_id: str | None,
        request: BaseModel,
        op: OperationCall,
        check: Callable[[Payment | None], None] | None,
        obs: Observers | None,
    ) -> Flow[R]:
        operation, key = op.operation, op.idempotency_key
        claim = yield from self._claim(
            key, fingerprint(operation, target.name, provider_id, request), obs
        )
        if claim.state is ClaimState.COMPLETED:
            assert claim.result is not None
            if obs is not None:
                obs.replayed = True
            replay = yield from self._replay(key, claim.result)
            assert isinstance(replay, kind)
            return replay
        token = claim.token
        assert token is not None
        if obs is not None:
            obs.claimed()
        reference = merchant_reference(key)
        # Without the provider's deduplication a call in doubt is looked up, never re-sent; the
        # record of the doubt is built only then.
        unknown = (
            None
            if target.capabilities.idempotency_keys
            else Unknown(operation, target.name, op.payment_id, reference, key)
        )
        # Retries must end well inside the lease: past it, another caller may take the key over.
        retry_until = time.monotonic() + self.idempotency.lock_timeout / 2
        held: str | None = None
        result: R | None = None
        began = False  # the provider may have acted from here on
        known: Payment | None = None
        try:
            if check is not None:
                assert op.payment_id is not None
                held = yield from self._lock_payment(op.payment_id, obs)
            # The stored payment: for the state check, and for a provider that cannot retrieve
            # one (CallContext.payment). Others skip the read: it is a store round trip per call.
            if op.payment_id is not None and (
                check is not None or not target.capabilities.retrieve
            ):
                with around_store(obs, "get_payment"):
                    known = yield from call(self.store.get_payment, op.payment_id)
            if check is not None:
                check(known)
            before = self.plugin_manager.hook.unipay_before_operation
            if before.get_hookimpls():  # else not even the hook's flow is built
                yield from hook(before, call=op)
            began = True
            if unknown is not None and (yield from self._attempted_before(key, obs)):
                result = yield from self._look_up(target, provider_id, op, unknown)
            if result is None:
                result = yield from self._call_provider(
                    target,
                    step,
                    op,
                    retry_until,
                    obs=obs,
                    unknown=unknown,
                    provider_id=provider_id,
                    known=known,
                    reference=reference,
                )
        except GeneratorExit:
            raise
        except PaymentDeclined as declined:
            yield from self._settle_declined(op, token, held, declined, obs)
            raise
        except BaseException as error:  # cancellation too: the key must stay usable by a retry
            raised = yield from self._settle_failure(op, token, held, unknown, began, error, obs)
            if raised is error:
                raise
            raise raised from error
        payment, refund = (None, result) if isinstance(result, Refund) else (result, None)
        try:
            yield from self._complete(key, token, encode_result(result), payment, refund, obs)
        finally:
            if held is not None:
                yield from self._unlock_payment(op.payment_id, held, obs)
        if self.plugin_manager.hook.unipay_after_operation.get_hookimpls():
            yield from self._after(op, result, None)
        return result

    def _settle_declined(
        self,
        op: OperationCall,
        token: str,
        held: str | None,
        declined: PaymentDeclined,
        obs: Observers | None,
    ) -> Flow[None]:
        """A decline is an answer, not a failure: the key keeps it (and the declined payment),
        so a retry with the same key replays the decline instead of charging again."""
        yield from self._complete(
            op.idempotency_key, token, encode_result(declined), declined.payment, None, obs
        )
        yield from self._unlock_payment(op.payment_id, held, obs)
        yield from self._after(op, None, declined)

    def _settle_failure(
        self,
        op: OperationCall,
        token: str,
        held: str | None,
        unknown: Unknown | None,
        began: bool,
        error: BaseException,
        obs: Observers | None,
    ) -> Flow[BaseException]:
        """Leave the key of a failed call fit for a retry, and return the error to raise.

        The key is released, so a retry with it calls the provider again; unless the provider
        may have acted and would not deduplicate that retry (``unknown``, once the call
        ``began``): then the key keeps the doubt until reconcile settles it, and an exception
        other than ``OutcomeUnknown`` is raised as one, caused by it (a cancellation stays
        one)."""
        key = op.idempotency_key
        raised: BaseException = error
        if unknown is not None and began and in_doubt(error):
            yield from self._complete(key, token, unknown.encode(), None, None, obs)
            if isinstance(error, Exception) and not isinstance(error, OutcomeUnknown):
                raised = unknown.error()
                raised.__cause__ = error
        else:
            with around_store(obs, "release", OPERATION_SCOPE):
                yield from release_claim(self.store, OPERATION_SCOPE, key, token)
        yield from self._unlock_payment(op.payment_id, held, obs)
        yield from self._after(op, None, raised)
        return raised

    def _replay(self, key: str, stored: str) -> Flow[Payment | Refund]:
        """The stored outcome of ``key``, or what reconcile learned of an unknown one."""
        if unknown_of(stored) is not None:
            resolved = yield from call(self.store.get_result, RESOLVED_SCOPE, key)
            stored = resolved if resolved is not None else stored
        return decode_result(stored)

    def _attempted_before(self, key: str, obs: Observers | None) -> Flow[bool]:
        """Mark ``key``'s provider call as begun; True if an earlier holder of the key (one
        that died, since its lease ran out) had begun it already."""
        marker = yield from self._store_claim(
            ATTEMPT_SCOPE, key, ATTEMPT_SCOPE, self.idempotency.retention, obs
        )
        if marker.state is not ClaimState.CLAIMED:
            return True
        assert marker.token is not None
        yield from call(self.store.complete, ATTEMPT_SCOPE, key, marker.token, "{}")
        return False

    def _look_up(
        self, target: Provider, provider_id: str | None, op: OperationCall, unknown: Unknown
    ) -> Flow[Any]:
        """What an in-doubt call did, asked of the provider by its merchant reference: the
        result, or None when the provider never acted (a new call is then safe). Raises
        ``OutcomeUnknown`` when the provider cannot say."""
        if not target.capabilities.lookup_by_reference:
            raise unknown.error()
        step = functools.partial(target.lookup, op.operation, provider_id)
        try:
            found = yield from self._attempt(
                target, step, CallContext(op.idempotency_key, 1, unknown.reference)
            )
        except UnipayError as error:
            raise unknown.error() from error
        if found is not None:
            logger.info(
                "%s on %s: found by its reference after a call in doubt", op.operation, target.name
            )
        return found

    def _call_provider(
        self,
        target: Provider,
        step: Step[R],
        op: OperationCall,
        retry_until: float = float("inf"),
        *,
        obs: Observers | None = None,
        unknown: Unknown | None = None,
        provider_id: str | None = None,
        known: Payment | None = None,
        reference: str | None = None,
    ) -> Flow[R]:
        """Call the provider, retrying transient failures with the same key until the attempts
        run out or a retry would start after ``retry_until`` (monotonic seconds). ``obs`` is
        entered around each attempt. With ``unknown`` (a provider without idempotency keys) a
        failure that may have reached the provider is looked up before anything else. ``known``
        is the stored payment, handed to the provider in its context; ``reference`` the call's
        merchant reference, when the caller has it already."""
        attempt = 1
        if reference is None:
            reference = merchant_reference(op.idempotency_key)
        while True:
            delay: float | None = None
            try:
                with around_attempt(obs, op, attempt):
                    try:
                        ctx = CallContext(op.idempotency_key, attempt, reference, known)
                        result: R = yield from self._attempt(target, step, ctx)
                        return result
                    except UnipayError as error:
                        # Decided and logged while the attempt's span (if any) is current, so
                        # the log record carries its trace; the error still ends the attempt.
                        delay = self._retry_delay(target, op.operation, error, attempt, retry_until)
                        raise
            except UnipayError as error:
                if unknown is not None and error.retriable and getattr(error, "request_sent", True):
                    found = yield from self._look_up(target, provider_id, op, unknown)
                    if found is not None:
                        return cast(R, found)
                if delay is None:
                    raise
            yield Sleep(delay)
            attempt += 1

    def _attempt(
        self, target: Provider, step: functools.partial[Answer[A]], ctx: CallContext
    ) -> Flow[A]:
        """One provider call: a flow (0.2) is followed, effects and all; a plain method (0.1)
        is one effect, so the async face awaits its ``a<operation>`` twin or runs it in a
        worker thread."""
        if writes_flows(step.func):
            return (yield from cast("Flow[A]", step(ctx)))
        twin = getattr(target, "a" + step.func.__name__, None)
        afunction = None if twin is None else functools.partial(twin, *step.args)
        result: A = yield Call(step, (ctx,), None, afunction)
        return result

    def _retry_delay(
        self,
        target: Provider,
        operation: str,
        error: UnipayError,
        attempt: int,
        retry_until: float,
    ) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if not error.retriable or attempt >= self.retry.attempts:
            return None
        delay = self.retry.delay(attempt)
        if time.monotonic() + delay >= retry_until:
            logger.warning(
                "not retrying %s on %s: the idempotency lock would run out first "
                "(raise IdempotencyPolicy.lock_timeout)",
                operation,
                target.name,
            )
            return None
        logger.info(
            "retrying %s on %s after %s (attempt %d)",
            operation,
            target.name,
            type(error).__name__,
            attempt,
        )
        return delay

    def _after(
        self, op: OperationCall, result: Payment | Refund | None, error: BaseException | None
    ) -> Flow[None]:
        # An observer's bug must not turn a completed charge into an exception for the caller.
        try:
            yield from hook(
                self.plugin_manager.hook.unipay_after_operation, call=op, result=result, error=error
            )
        except Exception:
            logger.exception("a unipay_after_operation hook failed for %s", op.operation)


OPERATION_OF: dict[type[BaseModel], str] = {
    CreatePaymentRequest: "create_payment",
    ConfirmPaymentRequest: "confirm_payment",
    CapturePaymentRequest: "capture_payment",
    CancelPaymentRequest: "cancel_payment",
    RefundPaymentRequest: "refund_payment",
}


def merchant_reference(key: str) -> str:
    """The merchant reference sent with every call made with ``key``: the same in every process
    and on every attempt, and short and plain enough for any provider's reference field.

    Computed once per call and handed to what needs it (its in-doubt record, its provider
    context), so nothing caches it: with a new key per call a cache only ever missed."""
    return "unipay-" + hashlib.sha256(key.encode()).hexdigest()[:32]


FLOW_METHODS: dict[Any, bool] = {}


def writes_flows(method: Any) -> bool:
    """Is this provider method a flow (0.2) or a plain method (0.1)? Asked once per method."""
    function = getattr(method, "__func__", method)
    known = FLOW_METHODS.get(function)
    if known is None:
        known = FLOW_METHODS[function] = inspect.isgeneratorfunction(function)
        if not known and function.__qualname__.split(".")[0] != Provider.__name__:
            warnings.warn(
                f"{function.__qualname__} is a plain method, the 0.1 provider contract: it "
                "keeps working, but write it as a flow to serve both faces from one method "
                "(docs/plugins/writing-a-provider.md, migrating a 0.1 provider).",
                DeprecationWarning,
                stacklevel=2,
            )
    return known


def in_doubt(error: BaseException) -> bool:
    """Could the provider have acted on a call that ended with ``error``? unipay's own errors
    from the provider are settled answers (a lookup has run for the transient ones); anything
    else (a crash, a cancellation) ended the call at an unknown point."""
    return isinstance(error, OutcomeUnknown) or not isinstance(error, UnipayError)
