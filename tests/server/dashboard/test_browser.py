"""The dashboard in a real headless Chromium under a real uvicorn server: sign-in, the list's
filters, a payment's timeline after create -> capture -> webhook -> refund, an action through
its confirmation, the metrics charts drawn with data, a phone-width view, and keyboard focus;
no request leaves 127.0.0.1 and the console stays free of errors.

It saves the screenshots the docs show (docs/img/dashboard-*.png, overwritten on each run), so
the pictures in docs/dashboard.md and the README are the ones this test takes.

The browser is the system's Chromium (``UNIPAY_TEST_CHROMIUM``), driven by Playwright through
``executable_path``; with ``UNIPAY_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) a missing browser
fails the test instead of skipping it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp

from unipay.cli import sample_payment
from unipay.models import WebhookEventType
from unipay.server import ServerSettings, create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route

pytestmark = pytest.mark.slow

IMAGES = Path(__file__).resolve().parents[3] / "docs" / "img"
API_KEY = "browser-test-key-0b7e"


@dataclass
class Site:
    url: str
    api: httpx.Client
    #: The payment that went through create -> capture -> webhook -> refund.
    lifecycle: str = ""
    #: An authorized payment, for the capture action.
    held: str = ""
    emails: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(serve: Callable[[ASGIApp], AbstractContextManager[str]]) -> Iterator[Site]:
    """The server as ``unipay serve`` runs it (an API key, activity recorded), on a free port
    of 127.0.0.1, with payments made through its REST API and a signed webhook delivery."""
    app = create_app(
        ServerSettings(database_url=SecretStr("memory://"), unipay_api_key=SecretStr(API_KEY))
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with serve(app) as url, httpx.Client(base_url=url, headers=headers) as api:
        yield _fill(Site(url, api), app.state.gateway)


def _create(api: httpx.Client, key: str, **body: object) -> dict[str, object]:
    answer = api.post("/payments", json=body, headers={"Idempotency-Key": key})
    assert answer.status_code in (201, 402), answer.text
    created: dict[str, object] = answer.json()
    return created


def _fill(site: Site, gateway: object) -> Site:
    api = site.api
    paid = _create(
        api,
        "create-lifecycle",
        provider="mock",
        amount=4200,
        currency="USD",
        payment_method="pm_card_visa",
        capture_method="manual",
        customer_email="ada@example.com",
        metadata={"order": "A-1001"},
    )
    site.lifecycle = str(paid["id"])
    captured = api.post(
        f"/payments/{site.lifecycle}/capture", headers={"Idempotency-Key": "capture-lifecycle"}
    )
    assert captured.status_code == 200, captured.text
    mock = gateway.providers.get("mock")  # type: ignore[attr-defined]
    event = sample_payment(
        "mock",
        WebhookEventType.PAYMENT_SUCCEEDED,
        amount=4200,
        currency="USD",
        payment_id=str(paid["provider_payment_id"]),
    )
    body, headers = mock.sign_test_delivery(WebhookEventType.PAYMENT_SUCCEEDED, event)
    assert api.post("/webhooks/mock", content=body, headers=headers).status_code == 200
    refunded = api.post(
        "/refunds",
        json={"payment_id": site.lifecycle, "amount": 1500},
        headers={"Idempotency-Key": "refund-lifecycle"},
    )
    assert refunded.status_code == 201, refunded.text
    for i, (currency, amount) in enumerate([("USD", 1299), ("USD", 2599), ("EUR", 5000)] * 3):
        _create(
            api,
            f"create-{i}",
            provider="mock",
            amount=amount + i,
            currency=currency,
            payment_method="pm_card_visa",
            customer_email=f"buyer{i}@example.com",
        )
    _create(api, "create-replayed", provider="mock", amount=1299, currency="USD")
    _create(api, "create-replayed", provider="mock", amount=1299, currency="USD")
    for i, card in enumerate(
        ["pm_card_chargeDeclinedInsufficientFunds", "pm_card_chargeDeclinedExpiredCard"]
    ):
        _create(
            api, f"declined-{i}", provider="mock", amount=999, currency="USD", payment_method=card
        )
    held = _create(
        api,
        "create-held",
        provider="mock",
        amount=1899,
        currency="EUR",
        payment_method="pm_card_visa",
        capture_method="manual",
    )
    site.held = str(held["id"])
    return site


@dataclass
class Watch:
    """What a browser context asked for, and what its pages logged as errors."""

    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        return [url for url in self.requested if urlsplit(url).hostname != "127.0.0.1"]


def _context(browser: Browser, watch: Watch, **options: object) -> BrowserContext:
    context = browser.new_context(**options)  # type: ignore[arg-type]

    def offline(route: Route) -> None:
        watch.requested.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    context.route("**/*", offline)
    context.on("page", lambda page: page.on("console", console))
    context.on("page", lambda page: page.on("pageerror", lambda e: watch.errors.append(str(e))))
    return context


def _sign_in(page: Page, site: Site, path: str = "/dashboard/") -> None:
    page.goto(site.url + path)
    assert "/dashboard/login" in page.url
    page.get_by_label("API key").fill(API_KEY)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url == site.url + path, page.locator("main").inner_text()


def _shot(page: Page, name: str, *, full: bool = True) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"dashboard-{name}.png"), full_page=full)


def test_the_dashboard_in_a_browser(browser: Browser, site: Site) -> None:
    watch = Watch()
    context = _context(browser, watch, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _sign_in(page, site)

        # The keyboard: the first Tab reaches the skip link, which leads to the content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"

        # The list and its filters.
        rows = page.locator("#payments tbody tr")
        assert rows.count() == 14
        page.get_by_label("Currency").fill("eur")
        page.get_by_label("Status").select_option("succeeded")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**currency=eur**")
        assert rows.count() == 3
        assert all("EUR" in text for text in rows.locator("td.num").first.all_inner_texts())
        page.goto(site.url + "/dashboard/")
        page.get_by_label("Search").fill("ada@example.com")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**search=**")
        assert rows.count() == 1
        page.goto(site.url + "/dashboard/")
        _shot(page, "payments")

        # A payment's timeline: create -> capture -> webhook -> refund, in time order.
        page.goto(site.url + "/dashboard/")
        page.get_by_role("link", name=site.lifecycle).click()
        page.wait_for_selector("#timeline")
        steps = page.locator("#timeline tbody th").all_inner_texts()
        assert [
            s.split()[0] if not s.startswith("webhook") else " ".join(s.split()[:2]) for s in steps
        ] == [
            "create_payment",
            "capture_payment",
            "webhook payment.succeeded",
            "refund_payment",
        ]
        assert page.locator("dd", has_text="27.00 USD").count() >= 1  # refundable
        _shot(page, "payment")

        # An action with its confirmation.
        page.goto(f"{site.url}/dashboard/payment?id={site.held}")
        page.get_by_role("link", name="Capture…").click()
        page.wait_for_url("**/payment/capture?**")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Capture payment")
        _shot(page, "confirm")
        assert page.get_by_label("Amount in EUR").input_value() == "18.99"
        page.get_by_role("button", name="Capture", exact=True).click()
        page.wait_for_url("**done=capture**")
        assert page.get_by_role("status").inner_text() == "Captured."
        assert "capture_payment" in page.locator("#timeline").inner_text()

        # The metrics: every chart an SVG with a size, and bars drawn with data.
        page.goto(site.url + "/dashboard/metrics?window=day")
        charts = page.locator("svg.chart")
        assert charts.count() >= 7
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
        bars = page.locator("svg.chart rect")
        assert bars.count() >= 8
        sizes = [bars.nth(i).bounding_box() for i in range(bars.count())]
        drawn = [b for b in sizes if b is not None and b["width"] > 0 and b["height"] > 0]
        assert len(drawn) >= 8
        assert "insufficient_funds" in page.locator("main").inner_text()
        _shot(page, "metrics")
    finally:
        context.close()

    # A phone: nothing wider than the screen but the tables, which scroll inside their box.
    phone = _context(browser, watch, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    try:
        _sign_in(page, site)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        box = page.locator(".table-scroll").first
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")
        _shot(page, "phone", full=False)
    finally:
        phone.close()

    assert watch.requested, "the pages made no request at all"
    assert watch.outside() == []
    assert watch.errors == []
