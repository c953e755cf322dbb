"""Fixtures: a fake Adyen behind respx, a provider pointed at it, and Adyen-style signing.

The signing here is written from Adyen's documentation, independently of the plugin's own
(``unipay_adyen.webhooks``), so a shared mistake cannot pass unseen; ``test_webhooks`` checks
both against the example Adyen's documentation publishes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from unipay_adyen import AdyenProvider

from .fake_adyen import FakeAdyen, validate

API_KEY = (
    "AQEyhmfxK4PKbRZCw0m/n3Q5qf3VaY9UCJ14XWZE03G/k2NFikzVGEiYj+4vtN01BchqAcwQwV1bDb7kfNy1WIxIIkx"
    "gBw==-unipaytest"
)
MERCHANT_ACCOUNT = "UnipayTestECOM"
HMAC_KEY = "1D39A0B8D5A3C4F0E6A0B5C7D9E1F3A5B7C9D1E3F5A7B9C1D3E5F7A9B1C3D5E7"
OLD_HMAC_KEY = "0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C4B5A69788796A5B4C3D2E1F0"
WEBHOOK_USER, WEBHOOK_PASSWORD = "adyen-webhooks", "s3cret-webhook-password"
RETURN_URL = "https://shop.example/checkout/return"

ENVIRONMENT = (
    "ADYEN_API_KEY",
    "ADYEN_MERCHANT_ACCOUNT",
    "ADYEN_HMAC_KEY",
    "ADYEN_ENVIRONMENT",
    "ADYEN_LIVE_URL_PREFIX",
    "ADYEN_RETURN_URL",
    "ADYEN_WEBHOOK_USERNAME",
    "ADYEN_WEBHOOK_PASSWORD",
    "UNIPAY_ADYEN_ALLOW_LIVE",
    "UNIPAY_LOAD_PLUGINS",
    "UNIPAY_DISABLE_PLUGINS",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, whatever the developer's shell exports."""
    for variable in ENVIRONMENT:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def fake_adyen() -> Iterator[FakeAdyen]:
    fake = FakeAdyen(API_KEY, MERCHANT_ACCOUNT)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        fake.mount(router)
        router.route(host="127.0.0.1").pass_through()  # a real local server, in some tests
        yield fake


def make_provider(**options: Any) -> AdyenProvider:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "merchant_account": MERCHANT_ACCOUNT,
        "hmac_keys": [HMAC_KEY, OLD_HMAC_KEY],
        "return_url": RETURN_URL,
        "webhook_username": WEBHOOK_USER,
        "webhook_password": WEBHOOK_PASSWORD,
    }
    return AdyenProvider(**(settings | options))


@pytest.fixture
def adyen_provider(fake_adyen: FakeAdyen) -> Iterator[AdyenProvider]:
    provider = make_provider()
    yield provider
    provider.http.close()


def adyen_signature(item: dict[str, Any], hex_key: str) -> str:
    """``additionalData.hmacSignature`` as Adyen documents it: base64 of HMAC-SHA256, keyed by the
    hex key decoded to bytes, over pspReference:originalReference:merchantAccountCode:
    merchantReference:value:currency:eventCode:success (missing fields empty)."""
    amount = item.get("amount", {})
    fields = [
        item.get("pspReference", ""),
        item.get("originalReference", ""),
        item.get("merchantAccountCode", ""),
        item.get("merchantReference", ""),
        str(amount.get("value", "")),
        amount.get("currency", ""),
        item.get("eventCode", ""),
        item.get("success", ""),
    ]
    mac = hmac.new(bytes.fromhex(hex_key), ":".join(fields).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def adyen_delivery(
    items: list[dict[str, Any]],
    *,
    key: str = HMAC_KEY,
    auth: tuple[str, str] | None = (WEBHOOK_USER, WEBHOOK_PASSWORD),
    live: str = "false",
) -> tuple[bytes, dict[str, str]]:
    """One delivery of ``items``, each signed with ``key``, as Adyen posts it (JSON, with the
    endpoint's Basic auth). The delivery is validated against Adyen's NotificationRequest."""
    signed = []
    for item in items:
        item = json.loads(json.dumps(item))
        item.setdefault("additionalData", {})["hmacSignature"] = adyen_signature(item, key)
        signed.append({"NotificationRequestItem": item})
    delivery = {"live": live, "notificationItems": signed}
    validate("NotificationRequest", delivery)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return json.dumps(delivery).encode(), headers
