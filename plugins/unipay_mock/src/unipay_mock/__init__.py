"""unipay-mock: a provider that behaves like Stripe's test mode, with no network.

Installed, it registers the provider ``mock`` through the ``unipay`` entry-point group.
"""

from __future__ import annotations

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_mock.ledger import Ledger
from unipay_mock.provider import MockProvider

__all__ = ["Ledger", "MockProvider"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("mock", MockProvider.from_env)
