"""The dashboard's read-only pages over ASGI: what each shows, its filters and pages, and the
headers every page carries (a strict CSP, no script); each over the memory store, a SQLite file
and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from unipay import AsyncGateway
from unipay.activity import Activity, ActivityKind, Outcome
from unipay.cli import sample_payment
from unipay.errors import PaymentDeclined
from unipay.idempotency import OPERATION_SCOPE
from unipay.models import Payment, PaymentStatus, PendingModification, WebhookEventType


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


ROW = re.compile(r'<a href="/dashboard/payment\?id=([^"]+)">')


def listed(html: str) -> list[str]:
    return [m.replace("%3A", ":") for m in ROW.findall(html)]


async def _pay(gateway: AsyncGateway, **fields: object) -> Payment:
    request: dict[str, object] = {
        "provider": "mock",
        "amount": 1299,
        "currency": "USD",
        "payment_method": "pm_card_visa",
    }
    return await gateway.create_payment(**(request | fields))  # type: ignore[arg-type]


async def test_every_page_has_a_strict_policy_and_no_script(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _pay(gateway)
    for path in (
        "/dashboard/",
        f"/dashboard/payment?id={paid.id}",
        "/dashboard/webhooks",
        "/dashboard/idempotency",
        "/dashboard/metrics",
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "<script" not in page.text
        assert 'href="#main"' in page.text  # the skip link
        assert '<nav aria-label="Dashboard">' in page.text
    css = await client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and ":focus-visible" in css.text


async def test_the_list_filters_by_provider_status_currency_and_dates(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    usd = await _pay(gateway)
    eur = await _pay(gateway, currency="EUR", capture_method="manual")
    everything = listed((await client.get("/dashboard/")).text)
    assert everything == [eur.id, usd.id]  # newest first
    page = await client.get("/dashboard/", params={"currency": "eur"})
    assert listed(page.text) == [eur.id]
    page = await client.get("/dashboard/", params={"status": "requires_capture"})
    assert listed(page.text) == [eur.id]
    page = await client.get("/dashboard/", params={"provider": "stripe"})
    assert listed(page.text) == [] and "match these filters" in page.text
    today = datetime.now(UTC).date()
    page = await client.get(
        "/dashboard/", params={"created_from": str(today), "created_to": str(today)}
    )
    assert listed(page.text) == [eur.id, usd.id]  # "to" includes the whole day
    later = today + timedelta(days=1)
    page = await client.get("/dashboard/", params={"created_from": str(later)})
    assert listed(page.text) == []


async def test_the_search_box_finds_ids_emails_and_metadata(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    wanted = await _pay(gateway, customer_email="ada@example.com", metadata={"order": "A-77"})
    await _pay(gateway, customer_email="bob@example.com", metadata={"order": "B-12"})
    for term in (wanted.id, wanted.provider_payment_id, "ada@example.com", "A-77"):
        page = await client.get("/dashboard/", params={"search": term})
        assert listed(page.text) == [wanted.id], term


async def test_bad_filters_are_a_400_saying_what_to_fix(client: httpx.AsyncClient) -> None:
    page = await client.get(
        "/dashboard/", params={"currency": "dollars", "created_from": "yesterday", "status": "x"}
    )
    assert page.status_code == 400
    assert "three-letter ISO 4217 code" in page.text
    assert "From must be a date such as 2025-03-31." in page.text
    assert "Status must be one of the listed statuses." in page.text


async def test_next_page_follows_on_without_overlap(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    made = [await _pay(gateway, amount=100 + i) for i in range(30)]
    first = await client.get("/dashboard/", params={"currency": "USD"})
    shown = listed(first.text)
    assert len(shown) == 25
    link = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "currency=USD" in url  # the filters travel with the cursor
    second = await client.get(url)
    rest = listed(second.text)
    assert len(rest) == 5 and not set(rest) & set(shown)
    assert set(shown + rest) == {p.id for p in made}
    assert 'rel="next"' not in second.text
    assert "First page" in second.text


async def test_a_payments_page_shows_its_amounts_refunds_and_timeline_in_order(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    paid = await _pay(gateway, capture_method="manual", idempotency_key="create-1")
    await gateway.capture_payment(paid.id, idempotency_key="capture-1")
    refund = await gateway.refund_payment(paid.id, amount=300, idempotency_key="refund-1")
    again = await gateway.refund_payment(paid.id, amount=300, idempotency_key="refund-1")
    assert again.replayed
    page = await client.get("/dashboard/payment", params={"id": paid.id})
    assert page.status_code == 200
    html = page.text
    assert "<dt>Captured</dt><dd>12.99 USD</dd>" in html
    assert "<dt>Refunded</dt><dd>3.00 USD</dd>" in html
    assert "<dt>Refundable</dt><dd>9.99 USD</dd>" in html
    assert refund.id in html
    timeline = html[html.index('id="timeline"') :]
    order = [timeline.index(f"<code>{key}</code>") for key in ("create-1", "capture-1", "refund-1")]
    assert order == sorted(order)
    assert timeline.count("<code>refund-1</code>") == 2
    replayed_row = timeline[timeline.rindex("<code>refund-1</code>") :].split("</tr>")[0]
    assert "<td>yes</td>" in replayed_row


async def test_a_decline_shows_its_code_in_the_timeline(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        await _pay(gateway, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.value.payment is not None
    payment_id = declined.value.payment.id
    page = await client.get("/dashboard/payment", params={"id": payment_id})
    assert "insufficient_funds" in page.text
    assert 'class="outcome outcome-declined"' in page.text


async def test_pending_modifications_are_shown(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    settling = Payment(
        provider="mock",
        provider_payment_id="pi_settling",
        status=PaymentStatus.REQUIRES_CAPTURE,
        amount=5000,
        currency="EUR",
        amount_capturable=5000,
        pending=(
            PendingModification(operation="capture", amount=5000, provider_reference="psp-9"),
        ),
    )
    gateway.store.save_payment(settling)
    page = await client.get("/dashboard/payment", params={"id": settling.id})
    assert "Settling" in page.text and "psp-9" in page.text and "50.00 EUR" in page.text


async def test_unknown_and_malformed_payment_ids(client: httpx.AsyncClient) -> None:
    assert (await client.get("/dashboard/payment", params={"id": "mock:nope"})).status_code == 404
    bad = await client.get("/dashboard/payment", params={"id": "not an id"})
    assert bad.status_code == 400 and "mock:pi_123" in bad.text


async def test_webhooks_lists_deliveries_with_outcome_and_reason(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    mock = gateway.providers.get("mock")
    payment = sample_payment(
        "mock", WebhookEventType.PAYMENT_SUCCEEDED, amount=700, currency="USD", payment_id="pi_hook"
    )
    body, headers = mock.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, payment)
    assert (await client.post("/webhooks/mock", content=body, headers=headers)).status_code == 200
    assert (await client.post("/webhooks/mock", content=body, headers=headers)).status_code == 200
    forged = {**headers, **{k: "t=1,v1=00" for k in headers if "signature" in k.lower()}}
    assert (await client.post("/webhooks/mock", content=body, headers=forged)).status_code == 400
    page = await client.get("/dashboard/webhooks")
    table = page.text[page.text.index('id="deliveries"') :]
    assert table.count("<tr>") == 1 + 3  # the head and three deliveries
    for outcome in ("processed", "duplicate", "rejected"):
        assert f"outcome-{outcome}" in table
    assert "WebhookVerificationError" in table
    rejected = await client.get("/dashboard/webhooks", params={"outcome": "rejected"})
    rows = rejected.text[rejected.text.index('id="deliveries"') :]
    assert rows.count("outcome-rejected") == 1 and "outcome-processed" not in rows
    # The delivery is on the payment's timeline too.
    timeline = await client.get("/dashboard/payment", params={"id": "mock:pi_hook"})
    assert "webhook payment.succeeded" in timeline.text
    assert (await client.get("/dashboard/webhooks", params={"outcome": "x"})).status_code == 400


async def test_idempotency_shows_claims_in_progress_and_a_stuck_one(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    store = gateway.store
    store.claim(OPERATION_SCOPE, "running-key", "fp", lease=600, retention=3600)
    store.claim(OPERATION_SCOPE, "crashed-key", "fp", lease=0.001, retention=3600)
    await asyncio.sleep(0.02)  # past the crashed claim's lease (a fast page came within it once)
    store.record_activity(
        [
            Activity(
                id="act_000000000000000000000000000001",
                at=datetime.now(UTC),
                kind=ActivityKind.OPERATION,
                provider="mock",
                operation="create_payment",
                outcome=Outcome.UNKNOWN,
                key="doubtful-key",
                error_type="OutcomeUnknown",
            )
        ]
    )
    page = await client.get("/dashboard/idempotency")
    keys = page.text[page.text.index('id="keys"') : page.text.index('id="unknown"')]
    running = keys[keys.index("running-key") :].split("</tr>")[0]
    crashed = keys[: keys.index("crashed-key")].rsplit("<tr", 1)[1]
    assert "stuck" not in running
    assert 'class="stuck"' in crashed
    assert "doubtful-key" in page.text
    assert "/idempotency/reconcile" not in page.text  # read-only: no buttons


async def test_metrics_draws_charts_with_their_numbers(
    client: httpx.AsyncClient, gateway: AsyncGateway
) -> None:
    for _ in range(3):
        await _pay(gateway)
    await _pay(gateway, currency="EUR", amount=500)
    with pytest.raises(PaymentDeclined):
        await _pay(gateway, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    for window in ("hour", "day", "30d"):
        page = await client.get("/dashboard/metrics", params={"window": window})
        assert page.status_code == 200
        html = page.text
        assert html.count('<svg class="chart"') >= 6
        assert "<dt>Payments succeeded</dt><dd>4</dd>" in html
        assert "<dt>Authorization rate</dt><dd>80%</dd>" in html
        assert "Volume in USD, per provider" in html and "38.97 USD" in html
        assert "insufficient_funds" in html
        # The count chart: one column holds all four payments (3 USD on 1 EUR), so its two
        # segments fill the plot's 194 pixels in the ratio 3:1.
        counts = html[html.index('<svg class="chart"') : html.index("</svg>")]
        heights = sorted(float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', counts))
        assert heights == [48.5, 145.5]
    assert (await client.get("/dashboard/metrics", params={"window": "week"})).status_code == 400
