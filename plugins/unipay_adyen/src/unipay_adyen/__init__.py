"""unipay-adyen: the Adyen provider, on Adyen's Checkout API v71 over httpx (sync and async).

Installed, it registers the provider ``adyen`` in the ``unipay`` entry-point group. It is listed
even without settings; using it then raises ``ProviderNotConfigured`` naming ADYEN_API_KEY and
ADYEN_MERCHANT_ACCOUNT.
"""

from __future__ import annotations

from collections.abc import Mapping

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_adyen.provider import AdyenProvider
from unipay_adyen.webhooks import hmac_signature, signing_string

__all__ = ["AdyenProvider", "hmac_signature", "signing_string"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("adyen", AdyenProvider.from_env)


@hookimpl
def unipay_configure_provider(name: str, settings: Mapping[str, str]) -> AdyenProvider | None:
    """Adyen's settings, from what the host read (its environment and ``.env``)."""
    return AdyenProvider.from_env(settings) if name == "adyen" else None
