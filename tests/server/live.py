"""What the real-browser tests share: Debian's Chromium through Playwright, and an ASGI app
under a real uvicorn server on a free port of 127.0.0.1.

The browser is the system's (``UNIPAY_TEST_CHROMIUM``), never one Playwright downloads.
``.ci/run`` installs it and sets ``UNIPAY_REQUIRE_BROWSER=1``, so in CI these tests run or fail,
never skip.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import uvicorn
from starlette.types import ASGIApp

if TYPE_CHECKING:
    from playwright.sync_api import Browser

BROWSER_ENV = "UNIPAY_TEST_CHROMIUM"
REQUIRED_ENV = "UNIPAY_REQUIRE_BROWSER"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRED_ENV}=1: the browser test must run)")
    pytest.skip(f"{reason}; set {BROWSER_ENV}=/usr/bin/chromium to run it")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, or a skip (a failure when the browser is required)."""
    path = os.environ.get(BROWSER_ENV)
    if not path or not Path(path).is_file():
        _unavailable(f"no Chromium at {BROWSER_ENV}={path!r}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (the test extra has it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """``app`` under uvicorn in a thread; its base URL until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
