"""Fixtures: a fake Razorpay behind respx, a provider pointed at it, both faces of the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import respx

from unipay import AsyncGateway, Gateway
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay_razorpay import RazorpayProvider

from .fake_razorpay import FakeRazorpay

KEY_ID = "rzp_test_1DP5mmOlF5G5ag"
KEY_SECRET = "thisisthetestsecretUNIPAY1"
WEBHOOK_SECRET = "unipay-webhook-secret-one"
OLD_WEBHOOK_SECRET = "unipay-webhook-secret-rolled-away"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, whatever the developer's shell exports."""
    for variable in (
        "RAZORPAY_KEY_ID",
        "RAZORPAY_KEY_SECRET",
        "RAZORPAY_WEBHOOK_SECRET",
        "RAZORPAY_API_BASE",
        "UNIPAY_RAZORPAY_ALLOW_LIVE",
        "UNIPAY_LOAD_PLUGINS",
        "UNIPAY_DISABLE_PLUGINS",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeRazorpay]:
    fake = FakeRazorpay(KEY_ID, KEY_SECRET, webhook_secret=WEBHOOK_SECRET)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake.mount(router)
        fake.router = router  # a test may let other traffic through (a local server)
        yield fake


@pytest.fixture
def razorpay(fake: FakeRazorpay) -> Iterator[RazorpayProvider]:
    provider = RazorpayProvider(
        key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secrets=[WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]
    )
    yield provider
    provider.http.close()


@pytest.fixture(params=["Gateway", "AsyncGateway"])
async def face(request: pytest.FixtureRequest, razorpay: RazorpayProvider) -> AsyncIterator[Face]:
    """One test, both faces: ``await face("create_payment", ...)`` calls the gateway's method."""
    kind = Gateway if request.param == "Gateway" else AsyncGateway
    gateway: Any = kind(providers=[razorpay], store=MemoryStore(), load_installed=False)
    yield Face(gateway)
    if isinstance(gateway, AsyncGateway):
        await gateway.aclose()
    else:
        gateway.close()
