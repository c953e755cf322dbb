"""Webhooks under abuse: thousands of random requests, and one event delivered 10 times at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unipay import AsyncGateway, Gateway, WebhookEvent
from unipay.storage import MemoryStore, SQLStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider

from ..webhooks.conftest import SECRET, signed  # noqa: TID252 - the webhook tests' helpers
from ..webhooks.test_app import raw_post  # noqa: TID252
from ..webhooks.test_fuzz import bodies, header_names, header_values, methods, paths  # noqa: TID252
from .conftest import Tally

pytestmark = pytest.mark.slow
CASES = 3000


def test_thousands_of_random_requests_no_5xx_no_unsigned_dispatch(tally: Tally) -> None:
    gateway = Gateway(
        store=MemoryStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    app = WebhookApp(gateway, max_body_size=2000)
    seen: list[WebhookEvent] = []
    app.on("*")(seen.append)
    statuses: list[object] = []

    with asyncio.Runner() as runner:

        @settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(methods, paths, st.dictionaries(header_names, header_values, max_size=5), bodies)
        def deliver(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
            statuses.append(runner.run(raw_post(app, path, "", body, headers, method=method)))

        deliver()
    tally.webhook_cases += len(statuses)
    tally.webhook_5xx += sum(1 for s in statuses if not isinstance(s, int) or s >= 500)
    tally.unsigned_dispatches += len(seen)
    assert len(statuses) >= 1000
    assert all(isinstance(s, int) and 200 < s < 500 for s in statuses)
    assert seen == []


async def test_one_event_delivered_10_times_at_once_runs_the_handlers_once(
    tmp_path: Path, tally: Tally
) -> None:
    gateway = AsyncGateway(
        store=SQLStore(f"sqlite:///{tmp_path / 'unipay.db'}"),
        providers=[MockProvider(webhook_secret=SECRET)],
        load_installed=False,
    )
    app = WebhookApp(gateway)
    ran: list[str] = []

    @app.on("payment.succeeded")
    async def handle(event: WebhookEvent) -> None:
        await asyncio.sleep(0.01)  # long enough for the other deliveries to arrive meanwhile
        ran.append(event.id)

    body, headers = signed()
    statuses = await asyncio.gather(*(raw_post(app, "/mock", "", body, headers) for _ in range(10)))
    await gateway.aclose()
    tally.webhook_cases += len(statuses)
    tally.webhook_5xx += sum(1 for s in statuses if not isinstance(s, int) or s >= 500)
    assert len(ran) == 1
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    assert 200 in statuses
