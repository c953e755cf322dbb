"""unipay-example-provider: Acme Pay for unipay, the provider built in the plugin tutorial.

Installed, it registers the provider ``acmepay`` through the ``unipay`` entry-point group.
"""

from __future__ import annotations

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_example.provider import AcmeProvider

__all__ = ["AcmeProvider"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("acmepay", AcmeProvider.from_env)
