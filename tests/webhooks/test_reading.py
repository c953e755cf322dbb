"""What a provider plugin does with a signed event whose objects unipay cannot read."""

from __future__ import annotations

import logging

import pytest

from unipay.errors import WebhookVerificationError
from unipay.models import Payment, Refund, WebhookEventType
from unipay.webhooks.reading import UnreadableObject, excerpt, reason, unified_objects

LOGGER = logging.getLogger("unipay.test_reading")


def _read_failing(error: Exception) -> tuple[Payment | None, Refund | None]:
    raise error


def _unified(unified: WebhookEventType, error: Exception) -> tuple[Payment | None, Refund | None]:
    return unified_objects(
        lambda: _read_failing(error),
        provider="acme",
        label="Acme Pay",
        event_id="evt_1",
        kind="charge.teleported",
        unified=unified,
        advice="Report the event to unipay.",
        logger=LOGGER,
    )


def test_an_unreadable_event_unipay_acts_on_is_refused_saying_why() -> None:
    error = UnreadableObject("the charge's status 'teleported' is not one unipay knows")
    with pytest.raises(WebhookVerificationError) as refused:
        _unified(WebhookEventType.PAYMENT_SUCCEEDED, error)
    assert refused.value.message == (
        "Acme Pay event 'evt_1' ('charge.teleported') is signed, but unipay cannot read it: the "
        "charge's status 'teleported' is not one unipay knows. Report the event to unipay."
    )
    assert refused.value.provider == "acme"


def test_any_other_unreadable_event_is_delivered_bare_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER.name):
        assert _unified(WebhookEventType.OTHER, KeyError("amount")) == (None, None)
    assert "delivered without a unified payment or refund" in caplog.text
    assert "its object has an unexpected shape (KeyError)" in caplog.text


def test_a_readable_event_is_read() -> None:
    payment = Payment(
        provider="acme", provider_payment_id="ch_1", status="succeeded", amount=100, currency="EUR"
    )
    read = unified_objects(
        lambda: (payment, None),
        provider="acme",
        label="Acme Pay",
        event_id="evt_1",
        kind="charge.paid",
        unified=WebhookEventType.PAYMENT_SUCCEEDED,
        advice="",
        logger=LOGGER,
    )
    assert read == (payment, None)


def test_the_reason_never_repeats_the_payload() -> None:
    secret_looking = "4242424242424242-card-number-in-metadata"
    try:
        Payment.model_validate({"provider": "acme", "status": secret_looking})
    except ValueError as error:
        said = reason(error)
    assert secret_looking not in said and "refuses" in said
    assert excerpt("x" * 100) == repr("x" * 100)[:37] + "..."
    assert excerpt("evt\x1b[2J") == repr("evt\x1b[2J")
