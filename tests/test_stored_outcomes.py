"""What a completed key stores: the outcome's JSON exactly as pydantic's ``model_dump_json``
writes it (``encode_result`` calls the serializer directly), and back again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from unipay.errors import PaymentDeclined
from unipay.idempotency import decode_result, encode_result
from unipay.models import (
    NextAction,
    Payment,
    PaymentStatus,
    PendingModification,
    Refund,
    RefundReason,
    RefundStatus,
    parse_request,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

PAYMENT = Payment(
    provider="mock",
    provider_payment_id="pi_1",
    status=PaymentStatus.REQUIRES_ACTION,
    amount=1299,
    currency="EUR",
    customer_email="buyer@example.com",
    metadata={"order": "42", "note": 'ü "quoted"'},
    next_action=NextAction(redirect_url="https://example.com/3ds", data={"b": [1, 2], "a": None}),
    pending=(PendingModification(operation="refund", amount=100),),
    created_at=AT,
)
REFUND = Refund(
    provider="mock",
    provider_refund_id="re_1",
    payment_id="mock:pi_1",
    amount=100,
    currency="EUR",
    status=RefundStatus.PENDING,
    reason=RefundReason.DUPLICATE,
    metadata={"x": "y"},
    created_at=AT,
)


@pytest.mark.parametrize(("kind", "result"), [("payment", PAYMENT), ("refund", REFUND)])
def test_an_outcome_is_stored_as_its_model_dump_json(kind: str, result: Payment | Refund) -> None:
    stored = encode_result(result)
    assert stored == f'{{"{kind}":{result.model_dump_json()}}}'
    assert json.loads(stored) == {kind: json.loads(result.model_dump_json())}
    assert isinstance(stored, str)
    replayed = decode_result(stored)
    assert replayed == result.model_copy(update={"replayed": True})
    assert replayed.replayed


def test_a_decline_is_stored_with_its_payment() -> None:
    declined = PaymentDeclined(
        "Your card was declined.", decline_code="card_declined", payment=PAYMENT
    )
    with pytest.raises(PaymentDeclined) as raised:
        decode_result(encode_result(declined))
    assert raised.value.decline_code == "card_declined"
    assert raised.value.payment == PAYMENT.model_copy(update={"replayed": True})


def test_a_request_mapping_is_validated_without_being_changed() -> None:
    """``parse_request`` no longer copies a dict before validating it: pydantic leaves it as it
    was, and a mapping that is not a dict is still accepted."""
    from types import MappingProxyType

    from unipay.models import RefundPaymentRequest

    data = {"amount": 5, "metadata": {"b": "2", "a": "1"}}
    request = parse_request(RefundPaymentRequest, data)
    assert data == {"amount": 5, "metadata": {"b": "2", "a": "1"}}
    assert list(data["metadata"]) == ["b", "a"]  # type: ignore[call-overload]
    assert list(request.metadata) == ["a", "b"]
    assert parse_request(RefundPaymentRequest, MappingProxyType(data)) == request
