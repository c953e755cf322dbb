"""Signed Acme Pay events of every shape never get a 5xx from the webhook app.

Events are Acme Pay's own (a charge or a refund) with random statuses, fields left out and fields
of the wrong type, each signed as Acme Pay signs (:func:`unipay_example.fake_api.signed_event`),
so every one passes the signature check and reaches the mapping.

This file sits below ``tests/`` on purpose: the tutorial (docs/plugins/writing-a-provider.md)
builds ``tests/*.py`` verbatim, and repository-wide fuzzing is not part of what it teaches.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unipay_example import AcmeProvider, provider
from unipay_example.fake_api import signed_event

from unipay import Gateway, WebhookEvent
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay.webhooks.signatures import parse_secrets

API_KEY = "ak_test_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_" + "YWNtZS1wYXktZnV6ei1zaWduaW5nLWtleQ=="
(KEY,) = parse_secrets([WEBHOOK_SECRET])
Json = dict[str, Any]
DROP = object()  # a field left out

CHARGE: Json = {
    "id": "ch_fuzz",
    "object": "charge",
    "status": "paid",
    "amount": 1299,
    "currency": "USD",
    "capture_method": "automatic",
    "amount_capturable": 0,
    "amount_received": 1299,
    "amount_refunded": 0,
    "payment_method": "tok_acme_success",
    "customer_email": None,
    "description": None,
    "metadata": {"order": "42"},
    "decline_code": None,
    "reference": "unipay-0123456789abcdef0123456789abcdef",
    "redirect_url": None,
    "created": 1767225600,
}
REFUND: Json = {
    "id": "ref_fuzz",
    "object": "refund",
    "charge": "ch_fuzz",
    "amount": 500,
    "currency": "USD",
    "status": "succeeded",
    "reason": None,
    "metadata": {},
    "reference": None,
    "created": 1767225600,
}

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
    st.sampled_from([*provider.STATUSES, "pending", "succeeded", "failed", "disputed"]), json_values
)
kinds = st.one_of(
    st.sampled_from([*provider.EVENTS, "charge.disputed", "refund.created"]),
    st.text(max_size=20),
)


@st.composite
def acme_deliveries(draw: st.DrawFn) -> tuple[tuple[bytes, dict[str, str]], bool]:
    """A signed delivery of a charge or refund with some fields changed; whether it is intact."""
    data = copy.deepcopy(draw(st.sampled_from([CHARGE, REFUND])))
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
    family = "charge." if data is not REFUND and data.get("object") == "charge" else "refund."
    kind = draw(kinds)
    intact = not changes and kind.startswith(family) and kind in provider.EVENTS
    return signed_event(kind, data, KEY), intact


def test_the_app_never_answers_5xx_for_a_signed_acme_pay_event() -> None:
    provider = AcmeProvider(api_key=API_KEY, webhook_secrets=[WEBHOOK_SECRET])
    gateway = Gateway(store=MemoryStore(), providers=[provider], load_installed=False)
    app = WebhookApp(gateway)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)

    async def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
            return await client.post("/acmepay", content=body, headers=headers)

    with asyncio.Runner() as runner:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(acme_deliveries())
        def check(drawn: tuple[tuple[bytes, dict[str, str]], bool]) -> None:
            (body, headers), intact = drawn
            before = len(seen)
            response = runner.run(post(body, headers))
            assert response.status_code in (200, 400), response.text
            if response.status_code == 400:
                assert len(seen) == before
            if intact:
                assert response.status_code == 200, response.text

        check()
    gateway.close()
