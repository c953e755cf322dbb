"""What happens to one delivery once its body is read, written once as a flow.

verify (the provider's plugin) -> for each event it carries (some providers batch several
per delivery): claim ``(provider, event id)`` in the gateway's store -> save the payment or refund
(never backwards) -> handlers and the ``unipay_webhook_event`` hook -> complete the claim. A
handler that raises releases its event's claim instead, so the provider's redelivery runs that
event's handlers again (and answers the others as duplicates). Driven by
:func:`unipay._flow.arun`, a blocking store (SQL) runs in a worker thread and the event loop never
waits on it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import pluggy

from unipay._flow import Flow, call, shielded
from unipay._observe import Observers, around_store, observe_delivery
from unipay.errors import WebhookVerificationError
from unipay.idempotency import WEBHOOK_SCOPE, release_claim
from unipay.models import Payment, Refund, WebhookEvent, WebhookEventType
from unipay.provider import Provider
from unipay.storage.base import ClaimState, Store

logger = logging.getLogger("unipay.webhooks")

Handler = Callable[[WebhookEvent], Awaitable[None] | None]
ALL_EVENTS = "*"
EVENT_ID_MAX_LENGTH = 200


class Outcome(StrEnum):
    PROCESSED = "processed"
    #: Seen and handled before: answered 200, handlers not run again.
    DUPLICATE = "duplicate"
    #: Another delivery of the same event is running its handlers right now.
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class Delivered:
    """Each event of a delivery with its outcome, in the delivery's order."""

    events: tuple[tuple[WebhookEvent, Outcome], ...]

    @property
    def event(self) -> WebhookEvent:
        """The first event (a delivery carries one, except for providers that batch)."""
        return self.events[0][0]

    @property
    def outcome(self) -> Outcome:
        """In progress if any event is (retry later), processed if any was, else duplicate."""
        outcomes = {outcome for _, outcome in self.events}
        for outcome in (Outcome.IN_PROGRESS, Outcome.PROCESSED):
            if outcome in outcomes:
                return outcome
        return Outcome.DUPLICATE


class DeliveryFailed(Exception):
    """Some events of a delivery were handled, one failed (its claim released): answer 5xx so
    the provider redelivers; ``delivered`` has the others' outcomes."""

    def __init__(self, failed: HandlerFailed, delivered: Delivered) -> None:
        super().__init__(str(failed))
        self.failed, self.delivered = failed, delivered


#: A provider's verify step: the delivery's events, or an error.
Verify = Callable[[Provider, bytes, dict[str, str]], "Flow[list[WebhookEvent]]"]


class HandlerFailed(Exception):
    """A handler or hook raised; the event stays unprocessed. The cause is chained."""

    def __init__(self, event: WebhookEvent) -> None:
        super().__init__(f"a handler failed for event {event.id!r} ({event.type.value})")
        self.event = event


@dataclass
class Handlers:
    """Handlers by unified event type (``"*"`` for all), then the plugins' hook."""

    plugin_manager: pluggy.PluginManager
    _by_type: dict[str, list[tuple[Handler, bool]]] = field(default_factory=dict)

    def add(self, event_type: str, handler: Handler) -> None:
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - an object with async __call__
        )
        self._by_type.setdefault(event_type, []).append((handler, is_async))

    def _chosen(self, event: WebhookEvent) -> list[tuple[Handler, bool]]:
        return [*self._by_type.get(event.type.value, ()), *self._by_type.get(ALL_EVENTS, ())]

    def dispatch(self, event: WebhookEvent) -> None:
        """Type-specific handlers in registration order, then ``"*"`` ones, then the hook; an
        async handler runs to its end on an event loop of its own."""
        for handler, _ in self._chosen(event):
            result = handler(event)
            if inspect.isawaitable(result):
                asyncio.run(_awaited(result))
        self.plugin_manager.hook.unipay_webhook_event(event=event)

    async def adispatch(self, event: WebhookEvent) -> None:
        """`dispatch` on the event loop. Synchronous handlers and hooks run in a worker thread:
        they may block (a database write), and the loop keeps serving other deliveries."""
        for handler, is_async in self._chosen(event):
            result = handler(event) if is_async else await asyncio.to_thread(handler, event)
            if inspect.isawaitable(result):
                await result
        hook = self.plugin_manager.hook.unipay_webhook_event
        if hook.get_hookimpls():
            await asyncio.to_thread(hook, event=event)


async def _awaited(awaitable: Awaitable[object]) -> None:
    await awaitable


@dataclass(frozen=True)
class DeliveryContext:
    """Everything the flow needs from the app and its gateway."""

    store: Store
    handlers: Handlers
    #: The lease this app writes with its claim of an event id.
    lock_timeout: float
    retention: float


def verify_events(
    provider: Provider, body: bytes, headers: dict[str, str]
) -> Flow[list[WebhookEvent]]:
    """The provider's ``verify_webhook``: one event, or a list for a batched delivery."""
    verified = yield from call(provider.verify_webhook, body, headers)
    return as_events(provider, verified)


def as_events(provider: Provider, verified: object) -> list[WebhookEvent]:
    """What ``verify_webhook`` returned, as a list; TypeError for anything but events."""
    events: list[WebhookEvent] = []
    for event in verified if isinstance(verified, list) else [verified]:
        if not isinstance(event, WebhookEvent):
            raise TypeError(
                f"{type(provider).__name__}.verify_webhook returned {type(event).__name__}, "
                "not a WebhookEvent"
            )
        events.append(event)
    if not events:
        raise WebhookVerificationError(
            "Webhook rejected: the delivery carries no event.", provider=provider.name
        )
    return events


def deliver(
    ctx: DeliveryContext,
    provider: Provider,
    body: bytes,
    headers: dict[str, str],
    verify: Verify = verify_events,
) -> Flow[Delivered]:
    """Verify, deduplicate, record and dispatch one delivery."""
    obs = observe_delivery(ctx.handlers.plugin_manager, provider.name)
    if obs is None:
        return (yield from _deliver(ctx, provider, body, headers, verify, None))
    try:
        delivered = yield from _deliver(ctx, provider, body, headers, verify, obs)
    except BaseException as error:
        obs.delivered(None, error)
        raise
    obs.delivered(delivered.outcome.value, None)
    return delivered


def _deliver(
    ctx: DeliveryContext,
    provider: Provider,
    body: bytes,
    headers: dict[str, str],
    verify: Verify,
    obs: Observers | None,
) -> Flow[Delivered]:
    events = yield from verify(provider, body, headers)
    for event in events:
        if not 1 <= len(event.id) <= EVENT_ID_MAX_LENGTH:
            raise WebhookVerificationError(
                f"Webhook rejected: an event id must be 1 to {EVENT_ID_MAX_LENGTH} characters.",
                provider=provider.name,
            )
    done: list[tuple[WebhookEvent, Outcome]] = []
    failed: HandlerFailed | None = None
    for event in events:
        if obs is not None:
            obs.verified(event)
        try:
            outcome = yield from _deliver_event(ctx, provider.name, event, obs)
        except HandlerFailed as error:
            failed = failed or error
            continue
        if obs is not None:
            obs.event_finished(event, outcome.value)
        done.append((event, outcome))
    if failed is not None:
        if not done:
            raise failed
        raise DeliveryFailed(failed, Delivered(tuple(done))) from failed
    return Delivered(tuple(done))


def _deliver_event(
    ctx: DeliveryContext, provider: str, event: WebhookEvent, obs: Observers | None
) -> Flow[Outcome]:
    key = f"{provider}:{event.id}"
    with around_store(obs, "claim", WEBHOOK_SCOPE):
        claim = yield from shielded(
            ctx.store.claim,
            WEBHOOK_SCOPE,
            key,
            _fingerprint(event),
            lease=ctx.lock_timeout,
            retention=ctx.retention,
        )
    if claim.state is ClaimState.IN_PROGRESS:
        return Outcome.IN_PROGRESS
    if claim.state is ClaimState.MISMATCH:
        logger.warning(
            "webhook event %s from %s reuses a processed event id with another type; ignored",
            event.id,
            provider,
        )
    if claim.state is not ClaimState.CLAIMED:
        return Outcome.DUPLICATE
    token = claim.token
    assert token is not None
    try:
        event = yield from _completed(ctx.store, event, obs)
        yield from _keep_records(ctx.store, event, obs)
        if obs is None:
            yield from call(ctx.handlers.dispatch, event)
        else:
            with obs.handlers(event):
                yield from call(ctx.handlers.dispatch, event)
    except GeneratorExit:
        raise
    except BaseException as error:  # a cancelled delivery must not hold its event id either
        with around_store(obs, "release", WEBHOOK_SCOPE):
            yield from release_claim(ctx.store, WEBHOOK_SCOPE, key, token)
        if isinstance(error, Exception):
            raise HandlerFailed(event) from error
        raise
    outcome = _outcome(event.type.value, event.provider_type)
    with around_store(obs, "complete", WEBHOOK_SCOPE):
        yield from call(ctx.store.complete, WEBHOOK_SCOPE, key, token, outcome)
    return Outcome.PROCESSED


def _completed(store: Store, event: WebhookEvent, obs: Observers | None) -> Flow[WebhookEvent]:
    """A partial event's payment and refund completed from the stored ones: the fields the
    provider set (pydantic's ``model_fields_set``) over the stored record. Not atomic with the
    save that follows, and needs not be: the save still never moves a record backwards, and
    amounts received and refunded keep their larger value against a concurrent writer."""
    if not event.partial:
        return event
    update: dict[str, Payment | Refund] = {}
    if event.payment is not None:
        with around_store(obs, "get_payment"):
            payment = yield from call(store.get_payment, event.payment.id)
        if payment is not None:
            update["payment"] = _over(payment, event.payment)
    if event.refund is not None:
        refund = yield from call(store.get_refund, event.refund.id)
        if refund is not None:
            update["refund"] = _over(refund, event.refund)
    return event.model_copy(update=update) if update else event


RecordT = TypeVar("RecordT", Payment, Refund)


def _over(stored: RecordT, reported: RecordT) -> RecordT:
    """``stored`` with what ``reported`` sets (its ``model_fields_set``)."""
    return stored.model_copy(
        update={name: getattr(reported, name) for name in reported.model_fields_set}
    )


def _keep_records(store: Store, event: WebhookEvent, obs: Observers | None = None) -> Flow[None]:
    """Save the event's payment and refund; the store keeps them from moving backwards
    (:mod:`unipay.storage.progress`), atomically, so a concurrent refund is never lost."""
    if event.payment is not None:
        with around_store(obs, "save_payment"):
            yield from call(store.save_payment, event.payment)
    if event.refund is not None:
        with around_store(obs, "save_refund"):
            yield from call(store.save_refund, event.refund)


def _fingerprint(event: WebhookEvent) -> str:
    # Redeliveries of one event carry the same id and type; the body may legitimately differ
    # (a fresh timestamp), so it is not part of the fingerprint.
    return _type_digest(event.provider_type, event.type.value)


# A provider sends a few dozen event types: each pair's digest and outcome text is made once,
# not per delivery (together about 3% of a delivery's time under uvicorn, issue 19's P4).
@functools.lru_cache(maxsize=1024)
def _type_digest(provider_type: str, unified: str) -> str:
    return hashlib.sha256(f"{provider_type}\0{unified}".encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def _outcome(unified: str, provider_type: str) -> str:
    """What the store keeps for a processed event id."""
    return json.dumps({"type": unified, "provider_type": provider_type})


def known_event_type(name: str) -> bool:
    return name == ALL_EVENTS or name in WebhookEventType._value2member_map_
