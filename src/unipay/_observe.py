"""The gateway's side of ``unipay_observe_operation`` and ``unipay_observe_delivery``.

Every registered observer sees every event, each guarded: an observer that raises is logged and
ignored, because a telemetry bug must never fail (or, worse, half-complete) a payment. Flows ask
:func:`observe_operation` once per operation and get None when no plugin observes anything, so an
unobserved gateway pays one list check per operation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from unipay.hookspecs import (
    AttemptCall,
    DeliveryObserver,
    OperationCall,
    OperationObserver,
    StoreCall,
)

if TYPE_CHECKING:
    from unipay._flow import Flow
    from unipay.models import Payment, Refund, WebhookEvent

T = TypeVar("T")

logger = logging.getLogger("unipay")


class _Around:
    """Enters each observer's context manager around one effect; exits them in reverse."""

    __slots__ = ("_entered", "_managers")

    def __init__(self, managers: list[Any]) -> None:
        self._managers = managers
        self._entered: list[Any] = []

    def __enter__(self) -> None:
        for manager in self._managers:
            try:
                manager.__enter__()
            except Exception:
                logger.exception("a unipay observer failed to start")
            else:
                self._entered.append(manager)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Never swallow the effect's exception: the flow decides what it means.
        while self._entered:
            try:
                self._entered.pop().__exit__(exc_type, exc, tb)
            except Exception:
                logger.exception("a unipay observer failed to end")


def _each(observers: Sequence[Any], method: str, *args: Any, optional: bool = False) -> list[Any]:
    """Call ``method`` on every observer; an ``optional`` one only on those that have it."""
    made = []
    for observer in observers:
        try:
            bound = getattr(observer, method, None) if optional else getattr(observer, method)
            if bound is not None:
                made.append(bound(*args))
        except Exception:
            logger.exception("a unipay observer's %s failed", method)
    return made


class Observers:
    """All observers of one operation or delivery, called as one."""

    __slots__ = ("_observers", "replayed")

    def __init__(self, observers: Sequence[OperationObserver | DeliveryObserver]) -> None:
        self._observers = observers
        #: Set by the flow when the outcome comes from the store, not the provider.
        self.replayed = False

    def follow(self, flow: Flow[T]) -> Flow[T]:
        """Run ``flow``, then tell every observer how it ended (however it ended)."""
        try:
            result = yield from flow
        except BaseException as error:  # GeneratorExit too: an abandoned flow ends its span
            self.finished(None, error, self.replayed)
            raise
        self.finished(result, None, self.replayed)  # type: ignore[arg-type]
        return result

    def claimed(self) -> None:
        _each(self._observers, "claimed")

    def attempt(self, attempt: AttemptCall) -> _Around:
        return _Around(_each(self._observers, "attempt", attempt))

    def store(self, method: str, scope: str | None = None) -> _Around:
        return _Around(_each(self._observers, "store", StoreCall(method, scope)))

    def verified(self, event: WebhookEvent) -> None:
        _each(self._observers, "verified", event)

    def handlers(self, event: WebhookEvent) -> _Around:
        return _Around(_each(self._observers, "handlers", event))

    def finished(
        self, result: Payment | Refund | None, error: BaseException | None, replayed: bool = False
    ) -> None:
        _each(self._observers, "finished", result, error, replayed)

    def event_finished(self, event: WebhookEvent, outcome: str) -> None:
        _each(self._observers, "event_finished", event, outcome, optional=True)

    def delivered(self, outcome: str | None, error: BaseException | None) -> None:
        _each(self._observers, "finished", outcome, error)


def observe_operation(pm: pluggy.PluginManager, call: OperationCall) -> Observers | None:
    """The observers of ``call``, or None when nothing observes (the fast path)."""
    hook = pm.hook.unipay_observe_operation
    if not hook.get_hookimpls():
        return None
    return _start(hook, call=call)


def observe_delivery(pm: pluggy.PluginManager, provider: str) -> Observers | None:
    """The observers of one webhook delivery to ``provider``, or None."""
    hook = pm.hook.unipay_observe_delivery
    if not hook.get_hookimpls():
        return None
    return _start(hook, provider=provider)


def _start(hook: Any, **kwargs: Any) -> Observers | None:
    try:
        observers = hook(**kwargs)
    except Exception:
        logger.exception("a unipay observer failed to start")
        return None
    return Observers(observers) if observers else None


_NOTHING = contextlib.nullcontext()


def around_store(
    obs: Observers | None, method: str, scope: str | None = None
) -> AbstractContextManager[object]:
    """What a flow enters around one store call: the observers', or a shared no-op."""
    return _NOTHING if obs is None else obs.store(method, scope)


def around_attempt(
    obs: Observers | None, call: OperationCall | None, attempt: int
) -> AbstractContextManager[object]:
    """What a flow enters around one provider call."""
    if obs is None or call is None:
        return _NOTHING
    return obs.attempt(AttemptCall(call, attempt))
