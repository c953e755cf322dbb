"""unipay-mock: a provider that behaves like Stripe's test mode, with no network.

Installed, it registers the provider ``mock`` through the ``unipay`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_mock.ledger import Ledger
from unipay_mock.provider import MockProvider

__all__ = ["Ledger", "MockProvider"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("mock", MockProvider.from_env)


@hookimpl
def unipay_configure_provider(
    name: str, settings: Mapping[str, str], state_path: str | None
) -> MockProvider | None:
    """The mock's books go beside the host's store, so a restart keeps its payments."""
    if name != "mock":
        return None
    ledger = f"{state_path}-mock-ledger" if state_path else ":memory:"
    return MockProvider.from_env(settings, default_ledger=ledger)
