"""unipay-stripe: the Stripe provider. Registers ``stripe`` in the ``unipay`` entry-point group."""

from __future__ import annotations

import os

from unipay import hookimpl
from unipay.errors import ProviderNotConfigured
from unipay.hookspecs import ProviderRegistrar
from unipay.provider import Provider


def _from_env() -> Provider:
    if not os.environ.get("STRIPE_SECRET_KEY"):
        raise ProviderNotConfigured(
            "stripe", "STRIPE_SECRET_KEY", "Use a test-mode key (sk_test_...)."
        )
    raise ProviderNotConfigured("stripe", "STRIPE_SECRET_KEY", "The Stripe provider is not built yet.")


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("stripe", _from_env)
