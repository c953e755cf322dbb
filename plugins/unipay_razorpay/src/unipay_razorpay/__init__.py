"""unipay-razorpay: the Razorpay provider, orders paid in Razorpay Checkout (sync and async over
httpx), at most once where Razorpay takes no idempotency key.

Installed, it registers the provider ``razorpay`` in the ``unipay`` entry-point group. It is
listed even without settings; using it then raises ``ProviderNotConfigured`` naming
RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET.
"""

from __future__ import annotations

from collections.abc import Mapping

from unipay import hookimpl
from unipay.hookspecs import ProviderRegistrar
from unipay_razorpay.checkout import payment_signature
from unipay_razorpay.provider import RazorpayProvider
from unipay_razorpay.webhooks import EVENT_TYPES

__all__ = ["EVENT_TYPES", "RazorpayProvider", "payment_signature"]


@hookimpl
def unipay_register_providers(register: ProviderRegistrar) -> None:
    register("razorpay", RazorpayProvider.from_env)


@hookimpl
def unipay_configure_provider(name: str, settings: Mapping[str, str]) -> RazorpayProvider | None:
    """Razorpay's settings, from what the host read (its environment and ``.env``)."""
    return RazorpayProvider.from_env(settings) if name == "razorpay" else None
