"""Every hook a unipay plugin can implement. Hook names start with ``unipay_``.

Implement them in a module or class and mark each with ``@unipay.hookimpl``. An implementation may
accept any subset of the arguments listed here (pluggy passes what it asks for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
def unipay_webhook_event(event: WebhookEvent) -> None:
    """Receives every verified, deduplicated webhook event."""


@hookspec(firstresult=True)
def unipay_store_from_url(url: str) -> Store | None:
    """Return a store for a URL your plugin understands (e.g. ``redis://``), or None."""
