"""Signed Stripe events of every shape: the plugin answers with an event or a refusal, never a
crash, and the webhook app never answers 5xx for them.

Events are Stripe's own (payment intent, refund, charge) with random statuses, fields left out
and fields of the wrong type, each signed with the plugin's own signing
(:func:`unipay_stripe.webhooks.sign`), so every one passes the signature check and reaches the
mapping.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unipay import Gateway, WebhookEvent
from unipay.errors import WebhookVerificationError
from unipay.models import PaymentStatus, RefundStatus, WebhookEventType
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay_stripe import StripeProvider
from unipay_stripe.mapping import LEGACY_PAYMENT_STATUSES
from unipay_stripe.webhooks import EVENT_TYPES, SIGNATURE_HEADER, sign

from .conftest import API_KEY, WEBHOOK_SECRET
from .fake_stripe import fixture

Json = dict[str, Any]
DROP = object()  # a field left out

PAYMENT_STATUSES = [*PaymentStatus, *LEGACY_PAYMENT_STATUSES]


def _intent() -> Json:
    intent = fixture("payment_intent")
    intent["latest_charge"] = intent["latest_charge"]["id"]  # events do not expand it
    return intent


def _charge() -> Json:
    charge: Json = fixture("event_charge_refunded")["data"]["object"]
    return charge


BASES: dict[str, Json] = {
    "payment_intent": _intent(),
    "refund": fixture("refund"),
    "charge": _charge(),
}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities too: Python's json writes and reads them
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
statuses = st.one_of(
    st.sampled_from([*PAYMENT_STATUSES, *RefundStatus, "requires_teleport", ""]), json_values
)
event_types = st.one_of(
    st.sampled_from(
        [*EVENT_TYPES, "payment_intent.created", "charge.succeeded", "customer.created"]
    ),
    st.text(max_size=20),
)


@st.composite
def stripe_objects(draw: st.DrawFn) -> tuple[Json, bool]:
    """A payment intent, refund or charge with some fields changed; and whether it is intact."""
    kind = draw(st.sampled_from(sorted(BASES)))
    obj = copy.deepcopy(BASES[kind])
    fields = sorted(k for k in obj if k != "object")
    changes = draw(
        st.dictionaries(
            st.sampled_from([*fields, "status", "currency", "amount", "created"]),
            st.one_of(st.just(DROP), statuses, json_values),
            max_size=3,
        )
    )
    for name, value in changes.items():
        if value is DROP:
            obj.pop(name, None)
        else:
            obj[name] = value
    if kind == "charge" and draw(st.booleans()):
        refund = obj.get("refunds")
        if isinstance(refund, dict) and refund.get("data"):
            refund["data"][0]["status"] = draw(statuses)
            changes["refunds"] = True
    if draw(st.booleans()) and kind != "charge":
        obj["status"] = draw(
            st.sampled_from(PAYMENT_STATUSES if kind == "payment_intent" else [*RefundStatus])
        )
    return obj, not changes


@st.composite
def stripe_events(draw: st.DrawFn) -> tuple[Json, bool]:
    """An event around a drawn object; whether it is intact (a well-formed event and object)."""
    obj, intact = draw(stripe_objects())
    event: Json = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1735689600,
        "data": {"object": obj},
        "livemode": False,
        "type": draw(event_types),
    }
    breakage = draw(
        st.dictionaries(
            st.sampled_from(["id", "type", "created", "data"]),
            st.one_of(st.just(DROP), json_values),
            max_size=1,
        )
    )
    for name, value in breakage.items():
        if value is DROP:
            event.pop(name)
        else:
            event[name] = value
    return event, intact and not breakage


def _unmapped_in_a_sound_envelope(event: Json) -> bool:
    kind, event_id, data = event.get("type"), event.get("id"), event.get("data")
    return (
        isinstance(kind, str)
        and kind not in EVENT_TYPES
        and isinstance(event_id, str)
        and 1 <= len(event_id) <= 200
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
        and event.get("created") == 1735689600
    )


def signed(event: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, {"content-type": "application/json", SIGNATURE_HEADER: sign(body, WEBHOOK_SECRET)}


def test_every_signed_event_becomes_an_event_or_a_refusal() -> None:
    provider = StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stripe_events())
    def check(drawn: tuple[Json, bool]) -> None:
        event, intact = drawn
        try:
            unified: WebhookEvent | None = provider.verify_webhook(*signed(event))
        except WebhookVerificationError as error:  # anything else fails the test
            refused, unified = str(error), None
        if unified is None:
            assert not intact, f"an intact event was refused: {refused}"
            assert WEBHOOK_SECRET not in refused
            return
        assert isinstance(unified, WebhookEvent)
        assert unified.data == json.loads(json.dumps(event))
        obj = event["data"]["object"]
        kind = obj.get("object")
        # A mapped type is read or refused, never skipped (a charge names its payment, or not).
        if unified.type is not WebhookEventType.OTHER and kind == "payment_intent":
            assert unified.payment is not None
        if unified.type is not WebhookEventType.OTHER and kind == "charge":
            assert (unified.payment is not None) == bool(obj.get("payment_intent"))
        if unified.type is not WebhookEventType.OTHER and kind == "refund":
            assert unified.refund is not None
        if intact and kind == "payment_intent":
            assert unified.payment is not None

    provider.close()
    check()


def test_the_app_never_answers_5xx_for_a_signed_stripe_event() -> None:
    provider = StripeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])
    gateway = Gateway(store=MemoryStore(), providers=[provider], load_installed=False)
    app = WebhookApp(gateway)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)

    async def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
            return await client.post("/stripe", content=body, headers=headers)

    with asyncio.Runner() as runner:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(stripe_events())
        def check(drawn: tuple[Json, bool]) -> None:
            event, intact = drawn
            before = len(seen)
            response = runner.run(post(*signed(event)))
            assert response.status_code in (200, 400), response.text
            if response.status_code == 400:
                assert len(seen) == before  # handlers never see what was refused
                assert WEBHOOK_SECRET not in response.text
            if intact or _unmapped_in_a_sound_envelope(event):
                # An event unipay does not map is accepted whatever its object holds.
                assert response.status_code == 200, response.text

        check()
    gateway.close()
