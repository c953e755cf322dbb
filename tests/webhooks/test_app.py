"""Every answer of the app, in process through httpx's ASGI transport, over both gateways and
both kinds of store."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest

from unipay import AsyncGateway, Gateway, WebhookEvent, hookimpl
from unipay.storage import Store
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event

from .conftest import ROLLED_SECRET, SECRET, a_payment, signed


async def post(
    client: httpx.AsyncClient, delivery: tuple[bytes, dict[str, str]], path: str = "/mock"
) -> httpx.Response:
    body, headers = delivery
    return await client.post(path, content=body, headers=headers)


async def raw_post(
    app: WebhookApp,
    path: str,
    root_path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    method: str = "POST",
) -> object:
    """Call the app as a server would, without an HTTP client in between; return the status."""
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return messages[0]["status"]


def record(app: WebhookApp, event_type: str = "*") -> list[WebhookEvent]:
    seen: list[WebhookEvent] = []
    app.on(event_type)(seen.append)
    return seen


async def test_a_signed_delivery_reaches_its_handlers_and_answers_200(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    seen = record(app, "payment.succeeded")
    other = record(app, "payment.failed")
    delivery = signed("payment.succeeded")
    response = await post(client, delivery)
    assert response.status_code == 200
    assert response.json() == {
        "received": True,
        "id": delivery[1]["webhook-id"],
        "type": "payment.succeeded",
        "outcome": "processed",
    }
    assert [e.type.value for e in seen] == ["payment.succeeded"]
    assert seen[0].payment is not None and seen[0].payment.id == "mock:pi_webhooktest"
    assert other == []


async def test_sync_async_and_wildcard_handlers_all_run_in_order(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    calls: list[str] = []

    @app.on("*")
    def everything(event: WebhookEvent) -> None:
        calls.append("wildcard")

    @app.on("payment.succeeded", "payment.failed")
    async def first(event: WebhookEvent) -> None:
        calls.append("async")

    @app.on("payment.succeeded")
    def second(event: WebhookEvent) -> None:
        calls.append("sync")

    assert (await post(client, signed())).status_code == 200
    assert calls == ["async", "sync", "wildcard"]


async def test_the_plugin_hook_receives_the_event(store: Store) -> None:
    received: list[str] = []

    class Listener:
        @hookimpl
        def unipay_webhook_event(self, event: WebhookEvent) -> None:
            received.append(event.id)

    gateway = Gateway(
        store=store,
        providers=[MockProvider(webhook_secret=SECRET)],
        plugins=[Listener()],
        load_installed=False,
    )
    transport = httpx.ASGITransport(app=WebhookApp(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        delivery = signed()
        assert (await post(http, delivery)).status_code == 200
    assert received == [delivery[1]["webhook-id"]]


async def test_a_rolled_secret_is_accepted(app: WebhookApp, client: httpx.AsyncClient) -> None:
    seen = record(app)
    event = payment_event("payment.succeeded", a_payment())
    assert (await post(client, build_delivery(event, secret=ROLLED_SECRET))).status_code == 200
    assert len(seen) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-signature": "v1,AAAA"}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-id"}),
        lambda body, headers: (body, {**headers, "webhook-timestamp": str(int(time.time()) - 301)}),
    ],
    ids=["body", "signature", "missing-id", "stale"],
)
async def test_a_bad_signature_is_400_and_no_handler_runs(
    app: WebhookApp, client: httpx.AsyncClient, tamper: object
) -> None:
    seen = record(app)
    body, headers = tamper(*signed())  # type: ignore[operator]
    response = await post(client, (body, headers))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_verification_failed"
    assert seen == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "payment.succeeded"},
        {"type": "payment.succeeded", "data": {"object": "payment", "status": "nonsense"}},
        {"type": 7, "data": {}},
    ],
)
async def test_a_signed_but_malformed_payload_is_400(
    app: WebhookApp, client: httpx.AsyncClient, event: dict[str, object]
) -> None:
    seen = record(app)
    response = await post(client, build_delivery(event, secret=SECRET, msg_id="msg_1"))
    assert response.status_code == 400
    assert seen == []


async def test_signed_non_json_is_400(client: httpx.AsyncClient) -> None:
    from unipay.webhooks import sign_headers

    body = b"\xff not json"
    headers = sign_headers(body, secret=SECRET, msg_id="msg_2", timestamp=int(time.time()))
    assert (await post(client, (body, headers))).status_code == 400


@pytest.mark.parametrize("path", ["/stripe", "/nobody", "/", "/mock/extra", "/Mock"])
async def test_unknown_providers_and_paths_are_404(client: httpx.AsyncClient, path: str) -> None:
    assert (await post(client, signed(), path=path)).status_code == 404


async def test_other_methods_are_405_with_allow(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, "/mock")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


async def test_a_body_over_the_limit_is_413_announced_or_streamed(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    seen = record(app)
    big = b"x" * (app.max_body_size + 1)
    assert (await client.post("/mock", content=big)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked, counted as read
        for _ in range(app.max_body_size // 1024 + 1):
            yield b"y" * 1024

    assert (await client.post("/mock", content=chunks())).status_code == 413
    assert seen == []


async def test_a_bad_content_length_is_400(app: WebhookApp) -> None:
    status = await raw_post(app, "/mock", "", b"{}", {"content-length": "12abc"})
    assert status == 400


async def test_a_duplicate_is_200_without_running_handlers_again(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    seen = record(app)
    event = payment_event("payment.succeeded", a_payment())
    first = await post(client, build_delivery(event, secret=SECRET))
    # A redelivery: same event, fresh timestamp and signature.
    again = await post(client, build_delivery(event, secret=SECRET, timestamp=int(time.time()) + 1))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["outcome"] == "duplicate"
    assert len(seen) == 1


async def test_a_failing_handler_is_500_and_the_redelivery_runs_it_again(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    attempts: list[str] = []

    @app.on("payment.succeeded")
    async def flaky(event: WebhookEvent) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    delivery = signed()
    failed = await post(client, delivery)
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "handler_failed"
    assert (await post(client, delivery)).status_code == 200
    assert (await post(client, delivery)).json()["outcome"] == "duplicate"
    assert len(attempts) == 2


async def test_concurrent_duplicates_run_handlers_once(
    app: WebhookApp, client: httpx.AsyncClient
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    @app.on("payment.succeeded")
    async def slow(event: WebhookEvent) -> None:
        runs.append(event.id)
        started.set()
        await release.wait()

    delivery = signed()
    first = asyncio.create_task(post(client, delivery))
    await started.wait()
    racing = await asyncio.gather(*(post(client, delivery) for _ in range(5)))
    assert {r.status_code for r in racing} == {409}
    assert all(r.headers["retry-after"] for r in racing)
    release.set()
    assert (await first).status_code == 200
    assert (await post(client, delivery)).json()["outcome"] == "duplicate"
    assert len(runs) == 1


async def test_the_stored_payment_follows_events_and_never_moves_backwards(
    app: WebhookApp, client: httpx.AsyncClient, gateway: Gateway | AsyncGateway
) -> None:
    captured = a_payment("requires_capture", amount_capturable=1299, capture_method="manual")
    succeeded = a_payment("succeeded", amount_received=1299, capture_method="manual")
    refunded = succeeded.model_copy(update={"amount_refunded": 500})
    # Delivered out of order: succeeded first, then the stale requires_capture.
    await post(client, signed("payment.succeeded", succeeded))
    await post(client, signed("payment.requires_capture", captured))
    assert gateway.store.get_payment("mock:pi_webhooktest") == succeeded
    await post(client, signed("payment.succeeded", refunded))
    await post(client, signed("payment.succeeded", succeeded))  # an older snapshot, refund-less
    kept = gateway.store.get_payment("mock:pi_webhooktest")
    assert kept is not None
    assert (kept.status.value, kept.amount_refunded) == ("succeeded", 500)
    await post(client, signed("payment.canceled", a_payment("canceled")))
    assert gateway.store.get_payment("mock:pi_webhooktest") == kept


async def test_root_path_is_respected(gateway: Gateway | AsyncGateway) -> None:
    app = WebhookApp(gateway)
    seen = record(app)
    # Servers put the prefix in ``path`` (uvicorn --root-path, Starlette Mount); older ones don't.
    for root_path, path in (("/hooks", "/hooks/mock"), ("/hooks", "/mock")):
        body, headers = signed()
        assert await raw_post(app, path, root_path, body, headers) == 200
    assert await raw_post(app, "/hooks/mock", "/hook", *signed()) == 404
    assert len(seen) == 2


async def test_one_log_line_per_delivery_without_secrets_or_payloads(
    app: WebhookApp, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="unipay")
    payment = a_payment(customer_email="buyer@example.com", metadata={"order": "4242"})
    delivery = signed("payment.succeeded", payment)
    await post(client, delivery)
    await post(client, (delivery[0] + b"!", delivery[1]))
    lines = [r for r in caplog.records if r.name == "unipay.webhooks"]
    assert len(lines) == 2
    first, second = (r.getMessage() for r in lines)
    assert f"event_id={delivery[1]['webhook-id']}" in first
    assert "type=payment.succeeded outcome=processed status=200" in first
    assert "provider=mock" in second and "status=400" in second
    text = caplog.text
    for secret_or_payload in (
        SECRET[6:],
        "buyer@example.com",
        "4242",
        delivery[1]["webhook-signature"],
    ):
        assert secret_or_payload not in text


def test_unknown_event_types_are_refused_at_registration(app: WebhookApp) -> None:
    from unipay.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"payment\.succeeded"):
        app.on("payment.succeded")
