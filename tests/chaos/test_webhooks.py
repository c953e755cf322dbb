"""Webhooks under abuse: thousands of random requests, near-valid forgeries mixed with real
deliveries and their duplicates, and one event delivered 10 times at once."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unipay import AsyncGateway, Gateway, WebhookEvent
from unipay.storage import MemoryStore, SQLStore
from unipay.webhooks import WebhookApp
from unipay.webhooks.signatures import DEFAULT_TOLERANCE, WebhookSecret
from unipay_mock import MockProvider
from unipay_mock.webhooks import build_delivery, payment_event

from ..webhooks.conftest import SECRET, a_payment, signed  # noqa: TID252 - the webhook tests' helpers
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


Delivery = tuple[bytes, dict[str, str]]

#: Deliveries one detail away from valid. Each must be refused (400) and reach no handler; a
#: verifier that accepts any v1 signature, or ignores the body, id or timestamp, lets some through.
NEAR_MISSES = (
    "random v1 signature",
    "v1 signature of another delivery",
    "signed with another secret",
    "valid signature under another version",
    "body: one byte flipped",
    "body: whitespace changed",
    "webhook-id changed",
    "timestamp changed within tolerance",
    "signed, timestamp too old",
    "signed, timestamp too far ahead",
)
#: Real deliveries, mixed in: each new event runs its handlers once, each duplicate never again.
REAL = ("new event", "exact duplicate", "redelivery re-signed later")


def fresh_event(number: int) -> dict[str, object]:
    """A new event (its id is random), so a forgery that got through would show as a dispatch."""
    return payment_event("payment.succeeded", a_payment(provider_payment_id=f"pi_chaos{number}"))


def near_miss(kind: str, data: st.DataObject, number: int) -> Delivery:
    """A delivery of a new event, wrong in one detail only. Randomness is all drawn (hypothesis runs
    each distinct input once), with fixed bounds (hypothesis replays its draws)."""
    event = fresh_event(number)
    body, headers = build_delivery(event, secret=SECRET)
    signed_at = int(headers["webhook-timestamp"])
    if kind == "random v1 signature":
        mac = data.draw(st.binary(min_size=32, max_size=32), label="mac")
        headers["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
    elif kind == "v1 signature of another delivery":
        headers["webhook-signature"] = signed()[1]["webhook-signature"]
    elif kind == "signed with another secret":
        other = WebhookSecret(data.draw(st.binary(min_size=1, max_size=64), label="secret"))
        body, headers = build_delivery(event, secret=other)
    elif kind == "valid signature under another version":
        version = data.draw(st.sampled_from(["v0", "v2", "V1", "v1a", "1", ""]), label="version")
        headers["webhook-signature"] = version + headers["webhook-signature"].removeprefix("v1")
    elif kind == "body: one byte flipped":
        position = data.draw(st.integers(0, 10**6), label="position") % len(body)
        flipped = body[position] ^ data.draw(st.integers(1, 255), label="xor")
        body = body[:position] + bytes([flipped]) + body[position + 1 :]
    elif kind == "body: whitespace changed":  # the same JSON, other bytes
        body = data.draw(
            st.sampled_from(
                [
                    json.dumps(event).encode(),  # ", " and ": " instead of "," and ":"
                    json.dumps(event, indent=2).encode(),
                    body + b"\n",
                    b" " + body,
                    body.replace(b",", b", ", 1),
                ]
            ),
            label="body",
        )
    elif kind == "webhook-id changed":
        other_id = data.draw(st.binary(min_size=12, max_size=12), label="id").hex()
        headers["webhook-id"] = "evt_" + other_id
    elif kind == "timestamp changed within tolerance":
        shift = data.draw(st.integers(1, DEFAULT_TOLERANCE // 2), label="shift")
        sign = data.draw(st.sampled_from([-1, 1]), label="sign")
        headers["webhook-timestamp"] = str(signed_at + sign * shift)
    else:  # outside the tolerance, and correctly signed for that time
        beyond = data.draw(st.integers(5, 10**7), label="beyond")
        sign = -1 if kind == "signed, timestamp too old" else 1
        when = signed_at + sign * (DEFAULT_TOLERANCE + beyond)
        body, headers = build_delivery(event, secret=SECRET, timestamp=when)
    return body, headers


def test_near_valid_deliveries_are_refused_and_real_ones_run_exactly_once(tally: Tally) -> None:
    gateway = Gateway(
        store=MemoryStore(), providers=[MockProvider(webhook_secret=SECRET)], load_installed=False
    )
    app = WebhookApp(gateway)
    seen: list[str] = []
    app.on("*")(lambda event: seen.append(event.id))
    genuine: list[tuple[dict[str, object], Delivery]] = []
    refused: dict[str, list[object]] = {kind: [] for kind in NEAR_MISSES}
    real: dict[str, list[object]] = {kind: [] for kind in REAL}

    with asyncio.Runner() as runner:

        def post(delivery: Delivery) -> object:
            return runner.run(raw_post(app, "/mock", "", *delivery))

        def deliver_new(number: int) -> None:
            event = fresh_event(number)
            delivery = build_delivery(event, secret=SECRET)
            genuine.append((event, delivery))
            real["new event"].append(post(delivery))

        deliver_new(0)  # so that a duplicate always has an earlier delivery to repeat

        @settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.sampled_from(NEAR_MISSES + REAL), st.integers(1, 10**9), st.data())
        def deliver(kind: str, number: int, data: st.DataObject) -> None:
            if kind in NEAR_MISSES:
                refused[kind].append(post(near_miss(kind, data, number)))
            elif kind == "new event":
                deliver_new(number)
            else:
                event, delivery = genuine[number % len(genuine)]
                if kind == "redelivery re-signed later":  # same webhook-id, a new timestamp
                    later = int(time.time()) + number % 60
                    delivery = build_delivery(event, secret=SECRET, timestamp=later)
                real[kind].append(post(delivery))

        deliver()
    statuses = [s for found in (*refused.values(), *real.values()) for s in found]
    genuine_ids = [str(event["id"]) for event, _ in genuine]
    tally.webhook_cases += len(statuses)
    tally.webhook_5xx += sum(1 for s in statuses if not isinstance(s, int) or s >= 500)
    tally.unsigned_dispatches += sum(1 for event_id in seen if event_id not in genuine_ids)
    tried = {kind: len(found) for kind, found in {**refused, **real}.items()}
    assert min(tried.values()) >= 20, tried  # every kind, many times
    assert {kind: set(found) for kind, found in refused.items()} == {k: {400} for k in NEAR_MISSES}
    assert all(set(found) == {200} for found in real.values()), real
    # Each real event ran its handlers once, its duplicates never again, forgeries never.
    assert sorted(seen) == sorted(genuine_ids)


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
