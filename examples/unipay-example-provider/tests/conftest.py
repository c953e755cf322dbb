"""A fresh fake Acme Pay per test, mounted at the wire: the provider's httpx clients reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from unipay_example import AcmeProvider
from unipay_example.fake_api import FakeAcmePay
from unipay_example.provider import API_BASE

API_KEY = "ak_test_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_" + "YWNtZS1wYXktdGVzdC1zaWduaW5nLWtleQ=="


@pytest.fixture
def fake_acme() -> FakeAcmePay:
    return FakeAcmePay(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def wire(fake_acme: FakeAcmePay) -> Iterator[respx.MockRouter]:
    """Every request to Acme Pay goes to the fake; ``wire.calls`` records them."""
    with respx.mock(base_url=API_BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=fake_acme.handle)
        yield router


@pytest.fixture
def acme(wire: respx.MockRouter) -> AcmeProvider:
    return AcmeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])
