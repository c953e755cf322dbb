"""Conformance suites for providers and stores, for this repository and for third-party plugins.

* :mod:`unipay.testing.provider`: subclass ``ProviderConformance`` in your plugin's tests.
* :mod:`unipay.testing.store`: subclass ``StoreConformance`` for a custom store.
"""
