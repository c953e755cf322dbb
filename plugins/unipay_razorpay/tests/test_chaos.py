"""The chaos suite's kill-at-random test against Razorpay, which takes no idempotency key.

A worker process is SIGKILLed at a random point of an order's creation, a capture or a refund
(tests/chaos/test_sigkill.py does the same to the mock, whose deduplication then recovers it);
then a retry with the same key settles the call. Here nothing deduplicates: the fake Razorpay
runs in a process of its own (its state shared by the workers and the test over HTTP) with its
refund deduplication off, so only unipay's at-most-once path (lookup by receipt, ``OutcomeUnknown``
where nothing can tell) stands between a crash and a second order, capture or refund. The test
counts what the fake did: 0 double charges, 0 double refunds, and every unknown outcome agrees
with what Razorpay holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipay import AsyncGateway, Gateway, IdempotencyPolicy, RetryPolicy
from unipay.errors import OutcomeUnknown, ProviderUnavailable
from unipay.gateway import _reference
from unipay.models import Payment, PaymentStatus, Refund
from unipay.storage import SQLStore
from unipay_razorpay import RazorpayProvider

from .conftest import KEY_ID, KEY_SECRET

HERE = Path(__file__).parent
POINTS = ("before_claim", "after_claim", "before_send", "mid_send", "after_send", "after_complete")
#: Rounds per operation and face: every point twice, in a random order.
ROUNDS = 2 * len(POINTS)
OPERATIONS = ("create_payment", "capture_payment", "refund_payment")


@dataclass
class World:
    """The fake Razorpay's server, the crasher, and a gateway for the retries, on one face."""

    face: str
    api: str
    crasher: subprocess.Popen[str]
    retry: Gateway | AsyncGateway
    loop: asyncio.AbstractEventLoop | None = None
    outcomes: dict[str, int] = field(default_factory=dict)

    def kill(self, operation: str, point: str, key: str, payment_id: str = "-") -> int:
        """A worker makes the call and dies at ``point``: its exit status (-9 when killed)."""
        assert self.crasher.stdin is not None and self.crasher.stdout is not None
        self.crasher.stdin.write(f"{self.face} {operation} {point} {key} {payment_id}\n")
        self.crasher.stdin.flush()
        return int(self.crasher.stdout.readline())

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.retry, method)(*args, **kwargs)
        if self.loop is not None:
            result = self.loop.run_until_complete(result)
        return result

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.api}/_test/state").json()
        return answer

    def paid(self, capture_method: str) -> Payment:
        """A payment the customer paid in Checkout: held (manual) or captured (automatic)."""
        created = self(
            "create_payment", provider="razorpay", amount=50000, currency="INR",
            capture_method=capture_method,
        )  # fmt: skip
        order_id = created.provider_payment_id
        answer = httpx.post(f"{self.api}/_test/pay", json={"order_id": order_id}).json()
        payment: Payment = self("confirm_payment", created.id, action_result=answer)
        return payment


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    face: str = request.param
    server = _start([sys.executable, str(HERE / "fake_server.py"), KEY_ID, KEY_SECRET])
    assert server.stdout is not None and server.stdin is not None
    api = f"http://127.0.0.1:{int(server.stdout.readline())}"
    url = f"sqlite:///{tmp_path / 'unipay.db'}"
    store = SQLStore(url)
    store.get_payment("razorpay:none")  # the tables exist before any child dies creating them
    crasher = _start([sys.executable, str(HERE / "chaos_crasher.py"), url, api, KEY_ID, KEY_SECRET])
    assert crasher.stdout is not None and crasher.stdin is not None
    assert crasher.stdout.readline().strip() == "ready"
    provider = RazorpayProvider(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        api_base=api,
        transport=httpx.HTTPTransport(),
        async_transport=httpx.AsyncHTTPTransport(),
    )
    # Once a dead worker's claim (0.2 s) runs out, the waiting retry takes the key over.
    options: dict[str, Any] = {
        "store": store,
        "providers": [provider],
        "load_installed": False,
        "idempotency": IdempotencyPolicy(lock_timeout=2.0, wait=10, poll_interval=0.02),
        "retry": RetryPolicy(attempts=3, base_delay=0),
    }
    loop = asyncio.new_event_loop() if face == "async" else None
    retry = AsyncGateway(**options) if face == "async" else Gateway(**options)
    try:
        yield World(face, api, crasher, retry, loop)
    finally:
        crasher.stdin.close()
        crasher.wait(30)
        if loop is not None:
            loop.run_until_complete(provider.http.aclose())
            loop.close()
        provider.http.close()
        store.close()
        server.stdin.close()
        server.wait(30)


def _round(world: World, operation: str, point: str) -> tuple[str, Payment | Refund | None]:
    """One call killed at ``point``, then retried: the key and what the retry answered (None for
    an unknown outcome)."""
    key = str(uuid.uuid4())
    target = "-"
    if operation == "capture_payment":
        held = world.paid("manual")
        assert held.status is PaymentStatus.REQUIRES_CAPTURE
        target = held.id
    elif operation == "refund_payment":
        target = world.paid("automatic").id
    status = world.kill(operation, point, key, target)
    assert status == -9 or point == "mid_send", (operation, point, status)
    args = () if operation == "create_payment" else (target,)
    kwargs: dict[str, Any] = {"idempotency_key": key}
    if operation == "create_payment":
        kwargs |= {"provider": "razorpay", "amount": 50000, "currency": "INR"}
    if operation == "refund_payment":
        kwargs["amount"] = 1000
    try:
        result = world(operation, *args, **kwargs)
    except OutcomeUnknown:
        result = None
    world.outcomes[f"{operation} {'unknown' if result is None else 'settled'}"] = (
        world.outcomes.get(f"{operation} {'unknown' if result is None else 'settled'}", 0) + 1
    )
    return key, result


@pytest.mark.slow
def test_killed_at_random_points_nothing_is_charged_or_refunded_twice(world: World) -> None:
    rng = random.Random(14)
    seen: list[tuple[str, str, str, Payment | Refund | None]] = []
    for operation in OPERATIONS:
        points = [*POINTS, *POINTS]
        rng.shuffle(points)
        for point in points:
            key, result = _round(world, operation, point)
            seen.append((operation, point, key, result))
    state = world.state()
    orders, refunds = state["orders"], state["refunds"]

    double_charges = [r for r, made in orders.items() if len(made) > 1]
    double_refunds = [r for r, made in refunds.items() if len(made) > 1]
    captures = sum(1 for operation, *_ in seen if operation == "capture_payment")
    assert (double_charges, double_refunds) == ([], [])
    assert state["captures"] == captures  # one each: none lost, none twice

    for operation, point, key, result in seen:
        reference = _reference(key)
        where = (operation, point)
        if operation == "create_payment":
            assert isinstance(result, Payment), where
            assert orders[reference] == [result.provider_payment_id], where
        elif operation == "capture_payment":
            assert isinstance(result, Payment), where
            assert result.status is PaymentStatus.SUCCEEDED, where
        elif isinstance(result, Refund):
            assert refunds[reference] == [result.provider_refund_id], where
        else:
            # Unknown: the request may have been sent, and Razorpay lists no refund for it.
            assert point in ("before_send", "mid_send"), where
            made = refunds.get(reference, [])
            if made:  # it landed after all: reconcile finds it
                settled = world("reconcile", key)
                assert isinstance(settled, Refund) and [settled.provider_refund_id] == made
            else:
                with pytest.raises(ProviderUnavailable, match="lists no refund"):
                    world("reconcile", key)
    assert world.outcomes["refund_payment unknown"] >= 2  # the killed-before-sending ones
    print(f"razorpay chaos ({world.face}): {len(seen)} rounds, {json.dumps(world.outcomes)}")
