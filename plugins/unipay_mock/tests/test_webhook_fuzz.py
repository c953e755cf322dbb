"""Signed mock events of every shape: the mock answers with an event or a refusal, never a crash,
and the webhook app never answers 5xx for them.

Events are the mock's own (a payment or a refund as unipay serialises it) with random statuses,
fields left out and fields of the wrong type, each signed with the mock's own signing
(:func:`unipay_mock.webhooks.build_delivery`), so every one passes the signature check.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unipay import Gateway, Payment, WebhookEvent
from unipay.errors import WebhookVerificationError
from unipay.models import PaymentStatus, Refund, RefundStatus, WebhookEventType
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay.webhooks.signatures import sign_headers
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event, refund_event

SECRET = "whsec_" + "bW9jay13ZWJob29rLWZ1enotc2VjcmV0LTAwMDAwMDA="
Json = dict[str, Any]
DROP = object()  # a field left out

PAYMENT = payment_event(
    "payment.succeeded",
    Payment(
        provider="mock",
        provider_payment_id="pi_fuzz",
        status="succeeded",
        amount=1299,
        currency="USD",
        amount_received=1299,
        metadata={"order": "42"},
    ),
)
REFUND = refund_event(
    "refund.succeeded",
    Refund(
        provider="mock",
        provider_refund_id="re_fuzz",
        payment_id="mock:pi_fuzz",
        amount=500,
        currency="USD",
        status="succeeded",
    ),
)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.text(max_size=12),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
statuses = st.one_of(
    st.sampled_from([*PaymentStatus, *RefundStatus, "requires_source", "requires_teleport"]),
    json_values,
)
event_types = st.one_of(
    st.sampled_from([*WebhookEventType, "charge.refunded"]), st.text(max_size=20)
)


@st.composite
def mock_events(draw: st.DrawFn) -> tuple[Json, bool]:
    """A mock event with some fields changed; and whether it is intact."""
    event = copy.deepcopy(draw(st.sampled_from([PAYMENT, REFUND])))
    event["id"] = f"evt_{uuid.uuid4().hex}"
    data = event["data"]
    changes = draw(
        st.dictionaries(
            st.sampled_from(sorted(data)),
            st.one_of(st.just(DROP), statuses, json_values),
            max_size=3,
        )
    )
    for name, value in changes.items():
        if value is DROP:
            data.pop(name, None)
        else:
            data[name] = value
    breakage = draw(
        st.dictionaries(
            st.sampled_from(["type", "timestamp", "data"]),
            st.one_of(st.just(DROP), json_values),
            max_size=1,
        )
    )
    if not breakage and draw(st.booleans()):
        # Another type of the same family, or one the mock does not know.
        event["type"] = draw(event_types)
        breakage["type"] = event["type"]
    for name, value in breakage.items():
        if value is DROP:
            event.pop(name)
        else:
            event[name] = value
    return event, not changes and not breakage


def signed(event: Json) -> tuple[bytes, dict[str, str]]:
    return build_delivery(event, secret=SECRET, msg_id=str(event["id"]))


def test_every_signed_event_becomes_an_event_or_a_refusal() -> None:
    mock = MockProvider(webhook_secret=SECRET)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mock_events())
    def check(drawn: tuple[Json, bool]) -> None:
        event, intact = drawn
        try:
            unified: WebhookEvent | None = mock.verify_webhook(*signed(event))
        except WebhookVerificationError as error:  # anything else fails the test
            refused, unified = str(error), None
        if unified is None:
            assert not intact, f"an intact event was refused: {refused}"
            assert SECRET[6:] not in refused
            return
        assert isinstance(unified, WebhookEvent)
        if intact:
            assert (unified.payment or unified.refund) is not None

    check()


def test_the_app_never_answers_5xx_for_a_signed_mock_event() -> None:
    gateway = Gateway(
        store=MemoryStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    app = WebhookApp(gateway)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)

    async def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
            return await client.post("/mock", content=body, headers=headers)

    with asyncio.Runner() as runner:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(mock_events())
        def check(drawn: tuple[Json, bool]) -> None:
            event, intact = drawn
            before = len(seen)
            response = runner.run(post(*signed(event)))
            assert response.status_code in (200, 400), response.text
            if response.status_code == 400:
                assert len(seen) == before
            if intact:
                assert response.status_code == 200, response.text

        check()


def test_deeply_nested_signed_json_is_refused() -> None:
    mock = MockProvider(webhook_secret=SECRET)
    body = b'{"type": "payment.succeeded", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = sign_headers(body, secret=SECRET, msg_id="evt_deep", timestamp=int(time.time()))
    with pytest.raises(WebhookVerificationError, match="not a JSON object"):
        mock.verify_webhook(body, headers)
