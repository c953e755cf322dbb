"""Every hook a unipay plugin can implement. Hook names start with ``unipay_``.

Implement them in a module or class and mark each with ``@unipay.hookimpl``. An implementation may
accept any subset of the arguments listed here (pluggy passes what it asks for).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pluggy
from pydantic import BaseModel

if TYPE_CHECKING:
    from unipay.models import Payment, Refund, WebhookEvent
    from unipay.provider import Provider
    from unipay.storage.base import Store

hookspec = pluggy.HookspecMarker("unipay")
hookimpl = pluggy.HookimplMarker("unipay")

#: ``register(name, factory)``: the factory takes no arguments, reads its settings (e.g. from the
#: environment) and raises ``ProviderNotConfigured`` when one is missing. It runs on first use.
ProviderRegistrar = Callable[[str, "Callable[[], Provider]"], None]


@dataclass(frozen=True)
class OperationCall:
    """One gateway operation, as seen by the before/after hooks."""

    operation: str
    provider: str
    idempotency_key: str
    request: BaseModel | None
    #: The unified id of the payment acted on; None for ``create_payment``.
    payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptCall:
    """One call to the provider within an operation: attempt 1, then one per retry."""

    call: OperationCall
    attempt: int


@dataclass(frozen=True, slots=True)
class StoreCall:
    """One store call made for an operation or a webhook delivery."""

    #: The store method: ``claim``, ``complete``, ``release``, ``get_payment``, ``save_payment``,
    #: ``save_refund``.
    method: str
    #: What ``claim``/``complete``/``release`` act on: ``operation`` (an idempotency key),
    #: ``payment`` (a payment's lock) or ``webhook`` (an event id); None for the others.
    scope: str | None = None


class OperationObserver(Protocol):
    """Follows one operation from its idempotency claim to its end (what
    ``unipay_observe_operation`` returns). Its methods must not raise; unipay logs and ignores
    an observer that does, so a telemetry bug never fails a payment.

    ``attempt`` and ``store`` return context managers that unipay enters right before the
    effect runs and exits right after it, in the thread or task that performs it (a blocking
    provider method run by ``AsyncGateway`` in a worker thread sees the context it was entered
    in). So whatever they make current (a span) is the parent of the provider's own
    instrumentation (HTTP spans). They are exited with the exception the effect raised, if any.
    """

    def claimed(self) -> None:
        """The idempotency key is now held by this call (never called for a replay)."""

    def attempt(self, attempt: AttemptCall) -> AbstractContextManager[object]:
        """Around one provider call."""
        ...

    def store(self, call: StoreCall) -> AbstractContextManager[object]:
        """Around one store call."""
        ...

    def finished(
        self, result: Payment | Refund | None, error: BaseException | None, replayed: bool
    ) -> None:
        """The operation ended: with ``result`` (``replayed`` when it came from the store
        without calling the provider) or with ``error`` (a decline is a ``PaymentDeclined``)."""


class DeliveryObserver(Protocol):
    """Follows one webhook delivery (what ``unipay_observe_delivery`` returns). Same rules as
    [`OperationObserver`][unipay.hookspecs.OperationObserver]: never raise; ``store`` is entered
    around each store call."""

    def verified(self, event: WebhookEvent) -> None:
        """The provider verified the delivery and read ``event`` (its payment, if any)."""

    def store(self, call: StoreCall) -> AbstractContextManager[object]:
        """Around one store call."""
        ...

    def handlers(self, event: WebhookEvent) -> AbstractContextManager[object]:
        """Around the application's handlers and the ``unipay_webhook_event`` hook for
        ``event`` (not entered for a duplicate), so that what they make current is theirs."""
        ...

    def finished(self, outcome: str | None, error: BaseException | None) -> None:
        """The delivery ended: ``outcome`` is ``processed``, ``duplicate`` or ``in_progress``
        (for a batch: in progress if any event is, processed if any was); or ``error``
        (refused signature, failed handler), with ``outcome`` None.

        Optional, beside it: ``event_finished(event, outcome)``, called as each event of the
        delivery ends without an error, with that event's own outcome (the events of a batch
        may end differently: one processed, one a duplicate). An observer without the method
        is not asked; the activity log uses it."""


@hookspec
def unipay_register_providers(register: ProviderRegistrar) -> None:
    """Register providers: call ``register("acme", AcmeProvider)`` once per provider."""


@hookspec
def unipay_before_operation(call: OperationCall) -> None:
    """Runs after validation and the idempotency claim, before the provider is called.

    Raise (ideally ``unipay.errors.OperationVetoed``) to refuse the call: the idempotency key is
    released and nothing reaches the provider. Not called for replays.
    """


@hookspec
def unipay_after_operation(
    call: OperationCall, result: Payment | Refund | None, error: BaseException | None
) -> None:
    """Runs once the provider answered (``result``) or failed for good (``error``)."""


@hookspec
def unipay_observe_operation(call: OperationCall) -> OperationObserver | None:
    """Return an observer to follow ``call`` (tracing, metrics), or None to ignore it.

    Called as the operation starts, before its idempotency claim, for every operation that
    reaches the provider or the store (replays and ``retrieve_payment`` included; a request
    refused by validation never gets this far). Runs in the caller's thread or task, so the
    caller's current span is the natural parent. With no implementation registered, the gateway
    skips all observation: it costs nothing when unused.
    """


@hookspec
def unipay_observe_delivery(provider: str) -> DeliveryObserver | None:
    """Return an observer to follow one webhook delivery to ``provider``, or None."""


@hookspec
def unipay_webhook_event(event: WebhookEvent) -> None:
    """Receives every verified, deduplicated webhook event."""


@hookspec(firstresult=True)
def unipay_store_from_url(url: str) -> Store | None:
    """Return a store for a URL your plugin understands (e.g. ``redis://``), or None."""


@hookspec(firstresult=True)
def unipay_configure_provider(
    name: str, settings: Mapping[str, str], state_path: str | None
) -> Provider | None:
    """Build the provider ``name`` from ``settings`` rather than from ``os.environ``, or return
    None when ``name`` is not one of yours.

    A host such as ``unipay serve`` calls this once per registered provider at startup, so each
    plugin reads its own settings and the host names none of them. ``settings`` maps variable
    names to values (the host's environment, its ``.env`` file and values passed in code): read
    the same names your ``from_env`` reads. Raise ``ProviderNotConfigured`` when a required one is
    missing (the host then serves the provider as not configured); any other error stops the
    host, so a wrong value is found at startup rather than at the first payment.

    ``state_path`` is a file path beside the host's store (e.g. ``/srv/unipay.db``), or None
    when the store keeps nothing across restarts (``memory://``) or is not a file. A provider
    with state of its own (a test double's books) keeps it in a file named after it
    (``/srv/unipay.db-mock-ledger``), so that state lives exactly as long as the store's. A
    provider that moves real money sets ``live = True`` on itself: a host refuses to serve it
    without authentication.
    """
