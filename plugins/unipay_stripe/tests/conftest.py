"""Fixtures: a fake Stripe behind respx, a provider pointed at it, and Stripe-style signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from unipay_stripe import StripeProvider

from .fake_stripe import API_HOST, FakeStripe

API_KEY = "sk_test_51QbZ0aLkdIwHu7ixUNIPAYtestKEY1"
WEBHOOK_SECRET = "whsec_unipaytestsecretNumberOne000000"
OLD_WEBHOOK_SECRET = "whsec_unipaytestsecretRolledAway00000"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, whatever the developer's shell exports."""
    for variable in (
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "UNIPAY_STRIPE_ALLOW_LIVE",
        "UNIPAY_LOAD_PLUGINS",
        "UNIPAY_DISABLE_PLUGINS",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.route(host=API_HOST).mock(side_effect=fake.handle)
        yield fake


@pytest.fixture
def stripe_provider(fake_stripe: FakeStripe) -> Iterator[StripeProvider]:
    provider = StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])
    yield provider
    provider.close()


def stripe_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` computed as Stripe documents it: HMAC-SHA256 of ``"{t}.{body}"``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signed_event(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret),
    }
