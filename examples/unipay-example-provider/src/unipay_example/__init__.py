"""Acme Pay for unipay: the provider plugin built in docs/plugins/writing-a-provider.md."""

from unipay_example.provider import AcmeProvider, unipay_register_providers

__all__ = ["AcmeProvider", "unipay_register_providers"]
