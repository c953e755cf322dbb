"""unipay-stripe: the Stripe provider, on the official ``stripe`` SDK (sync and async over httpx).

Installed, it registers the provider ``stripe`` in the ``unipay`` entry-point group. It is listed
even without settings; using it then raises ``ProviderNotConfigured`` naming STRIPE_SECRET_KEY.
"""

from __future__ import annotations

from collections.abc import Mapping

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_stripe.provider import StripeProvider
from unipay_stripe.webhooks import EVENT_TYPES, TOLERANCE

__all__ = ["EVENT_TYPES", "TOLERANCE", "StripeProvider"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("stripe", StripeProvider.from_env)


@hookimpl
def unipay_configure_provider(name: str, settings: Mapping[str, str]) -> StripeProvider | None:
    """Stripe's settings, from what the host read (its environment and ``.env``)."""
    return StripeProvider.from_env(settings) if name == "stripe" else None
