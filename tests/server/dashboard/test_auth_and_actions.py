"""Who may see and act: read-only without an API key; with one, a sign-in form, a signed
HttpOnly session cookie, CSRF tokens and the Origin check on every POST; and actions through
a confirmation page whose form acts once however often it is sent."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from unipay import AsyncGateway, Payment
from unipay._flow import Flow, call
from unipay.errors import OutcomeUnknown, ProviderUnavailable
from unipay.models import CreatePaymentRequest, PaymentStatus, Refund, RefundPaymentRequest
from unipay.provider import CallContext, Capabilities, Provider
from unipay.server import ServerSettings, create_app
from unipay.server.dashboard import security
from unipay.server.dashboard.security import COOKIE
from unipay.testing.processor import ReferenceProcessor

from .conftest import API_KEY, _client, csrf_of, key_of, sign_in


async def _authorized(gateway: AsyncGateway, **fields: Any) -> Payment:
    request: dict[str, Any] = {
        "provider": "mock",
        "amount": 1299,
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
    }
    return await gateway.create_payment(**(request | fields))


# --- without an API key: open and read-only --------------------------------------------------


async def test_without_a_key_the_dashboard_shows_but_never_acts(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _authorized(gateway)
    page = await client.get("/dashboard/payment", params={"id": paid.id})
    assert page.status_code == 200
    assert "Read-only" in page.text and "UNIPAY_API_KEY" in page.text
    assert "/payment/capture" not in page.text and "Capture…" not in page.text
    confirm = await client.get("/dashboard/payment/capture", params={"id": paid.id})
    assert confirm.status_code == 403 and "UNIPAY_API_KEY" in confirm.text
    for path in ("/dashboard/payment/capture", "/dashboard/idempotency/reconcile"):
        refused = await client.post(path, data={"id": paid.id, "key": "k", "csrf_token": "x"})
        assert refused.status_code == 403 and "UNIPAY_API_KEY" in refused.text, path
    assert (await gateway.stored_payment(paid.id)).status is PaymentStatus.REQUIRES_CAPTURE


# --- with an API key: sign-in and sessions ---------------------------------------------------


async def test_pages_ask_for_the_key_first(anonymous: httpx.AsyncClient) -> None:
    answer = await anonymous.get("/dashboard/webhooks?provider=mock")
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == "/dashboard/login?next=%2Fdashboard%2Fwebhooks%3Fprovider%3Dmock"
    )
    login = await anonymous.get(answer.headers["location"])
    assert '<label for="api_key">' in login.text and 'type="password"' in login.text
    assert "Payments" not in login.text.split("<main")[0]  # no navigation before sign-in


async def test_a_wrong_key_is_refused(anonymous: httpx.AsyncClient) -> None:
    answer = await sign_in(anonymous, key="not-the-key")
    assert answer.status_code == 401
    assert "not this server's API key" in html.unescape(answer.text)
    assert "not-the-key" not in answer.text
    assert (await anonymous.get("/dashboard/")).status_code == 303


async def test_signing_in_sets_a_strict_httponly_cookie_without_the_key(
    anonymous: httpx.AsyncClient,
) -> None:
    page = await anonymous.get("/dashboard/login")
    answer = await anonymous.post(
        "/dashboard/login",
        data={"csrf_token": csrf_of(page.text), "api_key": API_KEY, "next": "/dashboard/metrics"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/metrics"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here
    assert API_KEY not in cookie
    assert (await anonymous.get("/dashboard/metrics")).status_code == 200


async def test_the_cookie_is_secure_over_https(protected_app: FastAPI) -> None:
    async for client in _client(protected_app, base_url="https://dash.example"):
        answer = await sign_in(client)
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


async def test_sign_in_never_sends_you_elsewhere(anonymous: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/docs"):
        page = await anonymous.get("/dashboard/login")
        answer = await anonymous.post(
            "/dashboard/login",
            data={"csrf_token": csrf_of(page.text), "api_key": API_KEY, "next": target},
        )
        assert answer.headers["location"] == "/dashboard/"


async def test_a_forged_or_tampered_cookie_is_no_session(anonymous: httpx.AsyncClient) -> None:
    await sign_in(anonymous)
    real = anonymous.cookies[COOKIE]
    nonce, issued, _, mac = real.split(".")
    for forged in (f"{nonce}.{issued}.1.{'0' * 64}", f"x{nonce}.{issued}.1.{mac}", "garbage"):
        anonymous.cookies.set(COOKIE, forged, path="/dashboard")
        assert (await anonymous.get("/dashboard/")).status_code == 303, forged


async def test_a_session_ends_after_its_time(
    operator: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await operator.get("/dashboard/")).status_code == 200
    later = time.time() + security.SESSION_SECONDS + 1
    monkeypatch.setattr(security, "_now", lambda: later)
    assert (await operator.get("/dashboard/")).status_code == 303


async def test_wrong_keys_are_throttled_per_address(
    anonymous: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    monkeypatch.setattr(security, "_now", lambda: now[0])
    # A right key clears the count: four wrong, one right, then four wrong again are all heard.
    for _ in range(4):
        assert (await sign_in(anonymous, key="guess")).status_code == 401
    assert (await sign_in(anonymous)).status_code == 303
    for _ in range(4):
        assert (await sign_in(anonymous, key="guess")).status_code == 401
    assert (await sign_in(anonymous, key="guess")).status_code == 401  # the fifth in a row
    refused = await sign_in(anonymous)  # now even the right key waits
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "Too many attempts" in refused.text and API_KEY not in refused.text
    now[0] += 61  # the window has passed
    assert (await sign_in(anonymous)).status_code == 303


async def test_sign_out(operator: httpx.AsyncClient) -> None:
    page = await operator.get("/dashboard/")
    out = await operator.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await operator.get("/dashboard/")).status_code == 303


# --- CSRF and origin --------------------------------------------------------------------------


async def test_posts_need_the_sessions_csrf_token_and_the_same_origin(
    operator: httpx.AsyncClient, protected_app: FastAPI, gateway: AsyncGateway
) -> None:
    paid = await _authorized(gateway)
    confirm = await operator.get("/dashboard/payment/capture", params={"id": paid.id})
    form = {"id": paid.id, "key": key_of(confirm.text), "csrf_token": csrf_of(confirm.text)}
    missing = {k: v for k, v in form.items() if k != "csrf_token"}
    assert (await operator.post("/dashboard/payment/capture", data=missing)).status_code == 403
    wrong = form | {"csrf_token": "0" * 64}
    assert (await operator.post("/dashboard/payment/capture", data=wrong)).status_code == 403
    # Another signed-in session's token is not this one's.
    async for other in _client(protected_app):
        await sign_in(other)
        theirs = csrf_of((await other.get("/dashboard/")).text)
        assert theirs != form["csrf_token"]
        stolen = form | {"csrf_token": theirs}
        assert (await operator.post("/dashboard/payment/capture", data=stolen)).status_code == 403
    cross = await operator.post(
        "/dashboard/payment/capture", data=form, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    site = await operator.post(
        "/dashboard/payment/capture", data=form, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert site.status_code == 403
    assert (await gateway.stored_payment(paid.id)).status is PaymentStatus.REQUIRES_CAPTURE
    same = await operator.post(
        "/dashboard/payment/capture", data=form, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 303
    assert (await gateway.stored_payment(paid.id)).status is PaymentStatus.SUCCEEDED


async def test_a_post_without_a_session_is_refused(
    anonymous: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _authorized(gateway)
    answer = await anonymous.post(
        "/dashboard/payment/cancel", data={"id": paid.id, "key": "k", "csrf_token": "x"}
    )
    assert answer.status_code == 401
    assert (await gateway.stored_payment(paid.id)).status is PaymentStatus.REQUIRES_CAPTURE


# --- actions ----------------------------------------------------------------------------------


def _offered(html: str) -> list[str]:
    return re.findall(r'href="/dashboard/payment/(capture|refund|cancel)\?', html)


async def test_offers_follow_the_status_and_capabilities(
    operator: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    held = await _authorized(gateway)
    page = await operator.get("/dashboard/payment", params={"id": held.id})
    assert _offered(page.text) == ["capture", "cancel"]
    charged = await _authorized(gateway, capture_method="automatic")
    page = await operator.get("/dashboard/payment", params={"id": charged.id})
    assert _offered(page.text) == ["refund"]
    await gateway.refund_payment(charged.id)
    page = await operator.get("/dashboard/payment", params={"id": charged.id})
    assert _offered(page.text) == []
    refused = await operator.get("/dashboard/payment/capture", params={"id": charged.id})
    assert refused.status_code == 409 and "rule it out" in refused.text
    assert '<form method="post"' not in refused.text.split("<main")[1]


async def test_a_refund_confirmed_and_sent_twice_refunds_once(
    operator: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _authorized(gateway, capture_method="automatic")
    confirm = await operator.get("/dashboard/payment/refund", params={"id": paid.id})
    assert confirm.status_code == 200
    assert 'name="amount"' in confirm.text and 'value="12.99"' in confirm.text
    assert '<label for="amount">' in confirm.text
    form = {
        "id": paid.id,
        "key": key_of(confirm.text),
        "csrf_token": csrf_of(confirm.text),
        "amount": "4.00",
    }
    first = await operator.post("/dashboard/payment/refund", data=form)
    second = await operator.post("/dashboard/payment/refund", data=form)
    assert first.status_code == second.status_code == 303
    assert "replayed" not in first.headers["location"]
    assert "replayed=1" in second.headers["location"]
    refunds = gateway.store.list_refunds(paid.id)
    assert [r.amount for r in refunds] == [400]
    shown = await operator.get(second.headers["location"])
    assert "Refund requested." in shown.text and "nothing ran twice" in shown.text
    # A fresh confirmation carries a fresh key.
    again = await operator.get("/dashboard/payment/refund", params={"id": paid.id})
    assert key_of(again.text) != form["key"]


async def test_capture_and_cancel_through_their_confirmation(
    operator: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    for action, status in (("capture", "succeeded"), ("cancel", "canceled")):
        held = await _authorized(gateway)
        confirm = await operator.get(f"/dashboard/payment/{action}", params={"id": held.id})
        form = {"id": held.id, "key": key_of(confirm.text), "csrf_token": csrf_of(confirm.text)}
        done = await operator.post(f"/dashboard/payment/{action}", data=form)
        assert done.status_code == 303, done.text
        stored = await gateway.stored_payment(held.id)
        assert stored is not None and stored.status.value == status
        page = await operator.get(done.headers["location"])
        timeline = page.text[page.text.index('id="timeline"') :]
        assert f"{action}_payment" in timeline and form["key"] in timeline


async def test_an_action_refused_by_the_gateway_shows_the_typed_errors_message(
    operator: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _authorized(gateway, capture_method="automatic")
    confirm = await operator.get("/dashboard/payment/refund", params={"id": paid.id})
    form = {"id": paid.id, "key": key_of(confirm.text), "csrf_token": csrf_of(confirm.text)}
    for amount, message in (("99.00", "left to refund"), ("1.234", "USD")):
        answer = await operator.post("/dashboard/payment/refund", data=form | {"amount": amount})
        assert answer.status_code == 400, answer.text
        assert 'role="alert"' in answer.text and message in answer.text
        assert key_of(answer.text) != form["key"]  # the retry gets a new key
    assert gateway.store.list_refunds(paid.id) == []


# --- reconcile --------------------------------------------------------------------------------


class Doubtful(Provider):
    """Acts on the reference processor, then times out on the way back, and cannot be looked
    up until ``reachable``: an unknown outcome waiting for reconcile."""

    def __init__(self) -> None:
        self.name = "doubtful"
        self.capabilities = Capabilities(
            confirmation=False, idempotency_keys=False, lookup_by_reference=True, retrieve=False
        )
        self.processor = ReferenceProcessor(idempotency_keys=False)
        self.reachable = False

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        yield from call(
            self.processor.create,
            request.amount,
            request.currency,
            payment_method="tok_ok",
            reference=ctx.reference,
        )
        raise ProviderUnavailable("timed out after the processor acted", provider=self.name)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        raise NotImplementedError
        yield

    def lookup(
        self, operation: str, provider_payment_id: str | None, ctx: CallContext
    ) -> Flow[Payment | Refund | None]:
        if not self.reachable:
            raise ProviderUnavailable("lookup timed out", provider=self.name)
        found = yield from call(self.processor.find_by_reference, ctx.reference)
        assert found is not None
        return Payment(
            provider=self.name,
            provider_payment_id=found.id,
            status=PaymentStatus(found.status),
            amount=found.amount,
            currency=found.currency,
            amount_received=found.amount_received,
        )


async def test_an_unknown_outcome_is_reconciled_from_the_idempotency_page() -> None:
    doubtful = Doubtful()
    async with AsyncGateway(
        providers=[doubtful], load_installed=False, record_activity=True
    ) as gateway:
        app = create_app(
            ServerSettings(database_url="memory://", unipay_api_key=API_KEY), gateway=gateway
        )
        async for client in _client(app):
            await sign_in(client)
            with pytest.raises(OutcomeUnknown):
                await gateway.create_payment(
                    provider="doubtful", amount=800, currency="EUR", idempotency_key="order-9"
                )
            page = await client.get("/dashboard/idempotency")
            unknown = page.text[page.text.index('id="unknown"') :]
            assert "order-9" in unknown and 'aria-label="Reconcile order-9"' in unknown
            form = {"key": "order-9", "csrf_token": csrf_of(page.text)}
            still = await client.post("/dashboard/idempotency/reconcile", data=form)
            assert still.status_code == 503 and "Not reconciled" in still.text
            doubtful.reachable = True
            done = await client.post("/dashboard/idempotency/reconcile", data=form)
            assert done.status_code == 200 and "succeeded" in done.text
            page = await client.get("/dashboard/idempotency")
            assert "order-9" not in page.text[page.text.index('id="unknown"') :]
