"""``sign_test_delivery``: what ``unipay webhooks sign stripe`` prints is a real Stripe delivery."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import stripe

from unipay import CaptureMethod, NextAction, Payment, PaymentStatus, WebhookEventType
from unipay.errors import InvalidRequest
from unipay_stripe import StripeProvider

SECRET = "whsec_test_deliveries"


@pytest.fixture
def provider() -> StripeProvider:
    return StripeProvider(api_key="sk_test_deliveries", webhook_secrets=[SECRET])


def payment(**overrides: object) -> Payment:
    data: dict[str, object] = {
        "provider": "stripe",
        "provider_payment_id": "pi_3TestDelivery",
        "status": PaymentStatus.REQUIRES_ACTION,
        "amount": 129_900,
        "currency": "ISK",  # Stripe counts ISK in hundredths: the amounts must be converted back
        "capture_method": CaptureMethod.MANUAL,
        "customer_email": "buyer@example.com",
        "payment_method": "pm_card_authenticationRequired",
        "description": "order 42",
        "metadata": {"order": "42"},
        "next_action": NextAction(
            redirect_url="https://hooks.stripe.com/3ds", return_url="https://shop.example/back"
        ),
        "created_at": datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    }
    data.update(overrides)
    return Payment.model_validate(data)


def test_the_unified_payment_survives_the_round_trip(provider: StripeProvider) -> None:
    sent = payment()
    body, headers = provider.sign_test_delivery(WebhookEventType.PAYMENT_REQUIRES_ACTION, sent)
    event = provider.verify_webhook(body, headers)
    assert event.provider_type == "payment_intent.requires_action"
    assert event.payment == sent
    assert json.loads(body)["data"]["object"]["amount"] == 129_900 * 100


def test_the_signature_is_stripes_own(provider: StripeProvider) -> None:
    body, headers = provider.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, payment())
    stripe.WebhookSignature.verify_header(body.decode(), headers["stripe-signature"], SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            body.decode(), headers["stripe-signature"], "whsec_other", 300
        )


def test_event_types_stripe_never_sends_for_a_payment_are_refused(provider: StripeProvider) -> None:
    with pytest.raises(InvalidRequest, match=r"no payment_intent event for 'refund\.failed'"):
        provider.sign_test_delivery(WebhookEventType.REFUND_FAILED, payment())


def test_the_cli_prints_a_curl_command_stripe_would_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"STRIPE_SECRET_KEY": "sk_test_cli", "STRIPE_WEBHOOK_SECRET": SECRET, "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "unipay", "webhooks", "sign", "stripe"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    command = done.stdout
    assert "sk_test_cli" not in command and SECRET not in command
    words = shlex.split(command)
    assert words[0] == "curl" and any(w.endswith("/webhooks/stripe") for w in words)
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = words[words.index("--data-raw") + 1]
    stripe.WebhookSignature.verify_header(body, headers["stripe-signature"], SECRET, 300)
    assert json.loads(body)["type"] == "payment_intent.succeeded"
