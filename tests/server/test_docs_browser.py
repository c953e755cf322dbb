"""``/docs`` and ``/redoc`` in a real headless Chromium, offline: every request the pages make
stays on 127.0.0.1, and the operations are rendered.

The browser is the system's Chromium (Debian's ``chromium``), driven by Playwright through
``executable_path``; Playwright's own browser downloads are never used. ``.ci/run`` installs it
and sets ``UNIPAY_TEST_CHROMIUM`` and ``UNIPAY_REQUIRE_BROWSER=1``, so in CI this test runs or
fails, never skips.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest
import uvicorn

from unipay.server import ServerSettings, create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.slow

BROWSER_ENV = "UNIPAY_TEST_CHROMIUM"
REQUIRED_ENV = "UNIPAY_REQUIRE_BROWSER"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRED_ENV}=1: the browser test must run)")
    pytest.skip(f"{reason}; set {BROWSER_ENV}=/usr/bin/chromium to run it")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = os.environ.get(BROWSER_ENV)
    if not path or not Path(path).is_file():
        _unavailable(f"no Chromium at {BROWSER_ENV}={path!r}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (the test extra has it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under a real uvicorn server on a free port of 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(ServerSettings(database_url="memory://"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


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
