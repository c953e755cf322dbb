"""Random requests: never a 5xx, and never a handler call without a valid signature."""

from __future__ import annotations

import asyncio
import base64
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unipay import Gateway, WebhookEvent
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider

from .conftest import SECRET, a_payment, signed
from .test_app import raw_post

header_values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
    st.just(str(int(time.time()))),
    st.binary(min_size=32, max_size=32).map(lambda b: "v1," + base64.b64encode(b).decode()),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
)
header_names = st.sampled_from(
    [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "x-anything",
    ]
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=2001, max_size=2050),  # over the app's limit
    st.just(signed()[0]),  # a real event body, without its signature
)
paths = st.one_of(
    st.sampled_from(["/mock", "/mock/", "/", "/stripe", "//mock", "/mock/../mock"]),
    st.text(max_size=20).map(lambda t: "/" + t),
)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "PATCH", "OPTIONS"])


def test_random_requests_never_fail_the_server_nor_reach_handlers() -> None:
    gateway = Gateway(
        store=MemoryStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    app = WebhookApp(gateway, max_body_size=2000)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)

    with asyncio.Runner() as runner:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(methods, paths, st.dictionaries(header_names, header_values, max_size=5), bodies)
        def check(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
            status = runner.run(raw_post(app, path, "", body, headers, method=method))
            assert isinstance(status, int) and 200 <= status < 500
            assert status != 200
            assert seen == []

        check()

        # The control: the same app does accept and dispatch a properly signed delivery.
        body, headers = signed("payment.succeeded", a_payment())
        assert runner.run(raw_post(app, "/mock", "", body, headers)) == 200
        assert len(seen) == 1


def test_tampering_with_any_byte_of_a_signed_delivery_is_refused() -> None:
    gateway = Gateway(
        store=MemoryStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    app = WebhookApp(gateway)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)
    body, headers = signed()

    with asyncio.Runner() as runner:

        @settings(max_examples=100, deadline=None)
        @given(st.integers(min_value=0, max_value=len(body) - 1), st.integers(1, 255))
        def check(position: int, flip: int) -> None:
            changed = bytearray(body)
            changed[position] ^= flip
            assert runner.run(raw_post(app, "/mock", "", bytes(changed), headers)) == 400

        check()
    assert seen == []
