"""Conformance suites for providers and stores, for this repository and for third-party plugins.

Subclass a suite in your plugin's tests and override its fixtures; pytest collects the rest::

    from unipay.testing import ProviderConformance, StoreConformance

* [`ProviderConformance`][unipay.testing.ProviderConformance]: override ``provider``; its checks
  follow the provider's declared capabilities (and the test tokens, if yours are not the
  reference processor's).
* [`StoreConformance`][unipay.testing.StoreConformance]: override ``store`` with a fresh, empty
  store.
* [`Face`][unipay.testing.Face]: call ``Gateway`` and ``AsyncGateway`` alike, to write one test
  for both faces.
* [`ReferenceProcessor`][unipay.testing.processor.ReferenceProcessor]
  (``unipay.testing.processor``): the payment processor a fake provider API sits on.

Importing this package imports pytest: use it from tests only, installed with the ``testing``
extra (``pip install "unipay[testing]"``).
"""

from unipay.testing.faces import Face
from unipay.testing.provider import FailAfterActing, ProviderConformance, SignedDelivery
from unipay.testing.store import StoreConformance

__all__ = ["Face", "FailAfterActing", "ProviderConformance", "SignedDelivery", "StoreConformance"]
