"""``/docs`` and ``/redoc`` in a real headless Chromium, offline: every request the pages make
stays on 127.0.0.1, and the operations are rendered.

The browser is the system's Chromium (Debian's ``chromium``), driven by Playwright through
``executable_path``; Playwright's own browser downloads are never used. ``.ci/run`` installs it
and sets ``UNIPAY_TEST_CHROMIUM`` and ``UNIPAY_REQUIRE_BROWSER=1``, so in CI this test runs or
fails, never skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from starlette.types import ASGIApp

from unipay.server import ServerSettings, create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(serve: Callable[[ASGIApp], AbstractContextManager[str]]) -> Iterator[str]:
    """The app under a real uvicorn server on a free port of 127.0.0.1."""
    with serve(create_app(ServerSettings(database_url="memory://"))) as url:
        yield url


def _visit(browser: Browser, url: str, rendered: str, key: str) -> tuple[list[str], int]:
    """Load ``url`` with every non-local request recorded and refused (as on a machine with no
    internet); the URLs requested, and how many distinct ``key`` attributes the ``rendered``
    elements carry (one per operation)."""
    requested: list[str] = []

    def offline(route: Route) -> None:
        requested.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort("internetdisconnected")

    page = browser.new_page()
    try:
        page.route("**/*", offline)
        page.goto(url)
        page.wait_for_selector(rendered, timeout=30_000)
        page.wait_for_load_state("networkidle")
        keys = page.eval_on_selector_all(
            rendered, f"els => [...new Set(els.map(e => e.getAttribute('{key}')))]"
        )
        return requested, len(keys)
    finally:
        page.close()


def _operations(base_url: str) -> int:
    import httpx

    schema = httpx.get(f"{base_url}/openapi.json").json()
    return sum(len(methods) for methods in schema["paths"].values())


def test_swagger_ui_renders_every_operation_offline(browser: Browser, base_url: str) -> None:
    requested, shown = _visit(browser, f"{base_url}/docs", ".opblock", "id")
    assert requested, "the page made no request at all"
    outside = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    assert shown == _operations(base_url)


def test_redoc_renders_every_operation_offline(browser: Browser, base_url: str) -> None:
    rendered = "[data-section-id^='operation/']"
    requested, shown = _visit(browser, f"{base_url}/redoc", rendered, "data-section-id")
    outside = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    assert shown == _operations(base_url)
