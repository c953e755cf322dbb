"""The rule for every provider: a signed delivery never gets a 5xx, unless a handler failed or
the store is down.

Whatever a provider's plugin raises while verifying and reading a delivery is answered 400 with
the reason in the log line (the exception's type and place, never its text: that may quote the
payload). Transient unipay errors keep their 5xx, since a redelivery may succeed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from unipay import AsyncGateway, Gateway, WebhookEvent
from unipay.errors import InvalidRequest, ProviderUnavailable, StoreUnavailable
from unipay.storage import MemoryStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider

from .conftest import SECRET, signed
from .test_app import raw_post

PAYLOAD_TEXT = "buyer@example.com order 4242"  # what an exception's text might quote


class _Strict(BaseModel):
    amount: int


def _validation_error(text: str) -> Exception:
    """A pydantic ValidationError quoting ``text`` (made not to parse as an integer)."""
    try:
        _Strict.model_validate({"amount": f"not a number: {text}"})
    except ValueError as error:
        return error
    raise AssertionError("unreachable")


#: Exceptions a plugin's own reading code might raise, each carrying payload text.
FAILURES: list[Callable[[str], Exception]] = [
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    OverflowError,
    ZeroDivisionError,
    RecursionError,
    UnicodeError,
    RuntimeError,
    LookupError,
    OSError,
    NotImplementedError,
    AssertionError,
    _validation_error,
    lambda text: type("PluginBug", (Exception,), {})(text),
]


class ReadingFails(MockProvider):
    """The mock, whose reading step fails after the signature checked out."""

    def __init__(self, *, async_face: bool = True) -> None:
        super().__init__(webhook_secret=SECRET)
        self.failure: Exception | None = None
        self.answer: object = None
        if not async_face:
            self.averify_webhook = None  # type: ignore[method-assign,assignment]

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        event = super().verify_webhook(body, headers)
        if self.failure is not None:
            raise self.failure
        return event if self.answer is None else self.answer  # type: ignore[return-value]


def _app(
    provider: MockProvider, gateway_type: type[Gateway | AsyncGateway] = Gateway
) -> WebhookApp:
    gateway = gateway_type(store=MemoryStore(), providers=[provider], load_installed=False)
    return WebhookApp(gateway)


@pytest.mark.parametrize("async_face", [True, False])
@pytest.mark.parametrize("gateway_type", [Gateway, AsyncGateway])
def test_whatever_a_plugin_raises_reading_a_signed_delivery_is_a_400(
    async_face: bool, gateway_type: type[Gateway | AsyncGateway]
) -> None:
    provider = ReadingFails(async_face=async_face)
    app = _app(provider, gateway_type)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)

    with asyncio.Runner() as runner:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.sampled_from(FAILURES), st.text(max_size=30))
        def check(failure: Callable[[str], Exception], text: str) -> None:
            provider.failure = failure(text)
            status = runner.run(raw_post(app, "/mock", "", *signed()))
            assert status == 400
            assert seen == []

        check()


async def test_the_answer_and_the_log_line_give_the_reason_but_not_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="unipay")
    provider = ReadingFails()
    provider.failure = KeyError(PAYLOAD_TEXT)
    transport = httpx.ASGITransport(app=_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body, headers = signed()
        response = await client.post("/mock", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unreadable_delivery"
    (line,) = [r for r in caplog.records if r.name == "unipay.webhooks"]
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert "outcome=unreadable status=400" in message
    assert 'reason="ReadingFails.verify_webhook raised KeyError (at ' in message
    assert "test_signed_fuzz.py:" in message  # where: the plugin's file and line
    for leaked in (PAYLOAD_TEXT, SECRET[6:], headers["webhook-signature"]):
        assert leaked not in caplog.text and leaked not in response.text


async def test_a_refusal_of_the_plugin_is_logged_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="unipay")
    app = _app(MockProvider(webhook_secret=SECRET))
    body, headers = signed()
    assert await raw_post(app, "/mock", "", body + b" ", headers) == 400
    (line,) = [r for r in caplog.records if r.name == "unipay.webhooks"]
    assert "outcome=rejected status=400 duration_ms=" in line.getMessage()
    # JSON-quoted, so that a parser splitting the line on spaces keeps the reason whole.
    reason = json.loads(line.getMessage().split(" reason=", 1)[1])
    assert reason.startswith("Webhook rejected: no signature matches")
    assert line.webhook["reason"] == reason  # type: ignore[attr-defined]


async def test_a_plugin_returning_something_else_than_an_event_is_a_400() -> None:
    provider = ReadingFails()
    provider.answer = {"id": "evt_1"}
    assert await raw_post(_app(provider), "/mock", "", *signed()) == 400


async def test_a_unipay_error_keeps_its_code_unless_it_is_transient() -> None:
    provider = ReadingFails()
    app = _app(provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        provider.failure = InvalidRequest("the event names no payment", param="data")
        body, headers = signed()
        refused = await client.post("/mock", content=body, headers=headers)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert (error["code"], error["message"]) == (
            "invalid_request",
            "the event names no payment",
        )
        # The provider's API is down (a plugin that verifies by asking it): retrying helps.
        provider.failure = ProviderUnavailable("Acme Pay did not answer", provider="mock")
        assert (await client.post("/mock", content=body, headers=headers)).status_code == 500


class _DownStore(MemoryStore):
    def claim(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the database is unreachable")


async def test_handlers_and_the_store_still_fail_with_500() -> None:
    app = _app(MockProvider(webhook_secret=SECRET))

    @app.on("payment.succeeded")
    def broken(event: WebhookEvent) -> None:
        raise KeyError("a handler's own bug")

    assert await raw_post(app, "/mock", "", *signed()) == 500

    gateway = Gateway(
        store=_DownStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    assert await raw_post(WebhookApp(gateway), "/mock", "", *signed()) == 500
