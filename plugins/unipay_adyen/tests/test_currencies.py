"""Amounts are unipay's ISO 4217 minor units everywhere; Adyen's own minor units on the wire.

Adyen differs from ISO 4217 for CLP and ISK (two decimals at Adyen, none in ISO) and CVE and IDR
(none at Adyen, two in ISO). Zero- and three-decimal currencies are the same in both.
"""

from __future__ import annotations

import pytest

from unipay import Gateway
from unipay.errors import InvalidRequest
from unipay.money import to_minor_units
from unipay_adyen import AdyenProvider
from unipay_adyen.currencies import from_adyen_amount, to_adyen_amount

from .conftest import adyen_delivery
from .fake_adyen import FakeAdyen

TOKEN = "shopper-4242:tok_success"


@pytest.mark.parametrize(
    ("currency", "major", "unipay", "adyen"),
    [
        ("EUR", "12.99", 1299, 1299),
        ("JPY", "500", 500, 500),  # zero decimals in both
        ("KWD", "1.250", 1250, 1250),  # three decimals in both
        ("BHD", "0.005", 5, 5),
        ("CLP", "1500", 1500, 150000),  # ISO 0, Adyen 2
        ("ISK", "990", 990, 99000),  # ISO 0, Adyen 2
        ("IDR", "15000", 1500000, 15000),  # ISO 2, Adyen 0
        ("CVE", "250", 25000, 250),  # ISO 2, Adyen 0
    ],
)
def test_conversion(currency: str, major: str, unipay: int, adyen: int) -> None:
    assert to_minor_units(major, currency) == unipay
    assert to_adyen_amount(unipay, currency) == adyen
    assert from_adyen_amount(adyen, currency) == unipay


def test_what_cannot_be_converted_exactly_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="whole units") as refused:
        to_adyen_amount(1500050, "IDR")  # 15000.50 IDR: Adyen has no sen
    assert refused.value.param == "amount"
    with pytest.raises(ValueError, match="fraction"):
        from_adyen_amount(150050, "CLP")  # 1500.50 CLP: unipay has no centavos


@pytest.mark.parametrize(
    ("currency", "amount", "wire"),
    [("JPY", 1200, 1200), ("KWD", 2500, 2500), ("CLP", 1500, 150000), ("IDR", 1500000, 15000)],
)
def test_a_whole_lifecycle_in_unipay_units(
    adyen_provider: AdyenProvider, fake_adyen: FakeAdyen, currency: str, amount: int, wire: int
) -> None:
    gateway = Gateway(providers=[adyen_provider], load_installed=False)
    held = gateway.create_payment(
        provider="adyen", amount=amount, currency=currency, payment_method=TOKEN,
        capture_method="manual",
    )  # fmt: skip
    assert fake_adyen.requests[-1][1]["amount"] == {"value": wire, "currency": currency}
    assert (held.amount, held.amount_capturable) == (amount, amount)
    captured = gateway.capture_payment(held.id)
    assert fake_adyen.requests[-1][1]["amount"] == {"value": wire, "currency": currency}
    assert captured.pending[0].amount == amount
    fake_adyen.settle(captured.pending[0].provider_reference)
    settled = adyen_provider.verify_webhook(*adyen_delivery(fake_adyen.take_notifications()))
    refund = gateway.refund_payment(held.id)  # all of it: known once the capture settled
    assert refund.amount == amount
    assert fake_adyen.requests[-1][1]["amount"] == {"value": wire, "currency": currency}
    fake_adyen.settle(refund.provider_refund_id)
    items = fake_adyen.take_notifications()
    assert {item["amount"]["value"] for item in items} == {wire}
    events = settled + adyen_provider.verify_webhook(*adyen_delivery(items))
    payments = [e.payment for e in events if e.payment is not None]
    refunds = [e.refund for e in events if e.refund is not None]
    assert [(p.amount, p.currency) for p in payments] == [(amount, currency)] * 2
    assert payments[-1].amount_received == amount
    assert [(r.amount, r.status.value) for r in refunds] == [(amount, "succeeded")]
