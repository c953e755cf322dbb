"""The sync face's places for commands in flight (``max_connections``): callers beyond it wait
for a free place, a caller that waits too long fails closed naming the fix, and a command that
fails gives its place back."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from unipay_redis import RedisStore

from unipay.errors import StoreUnavailable
from unipay.storage.base import ClaimState

LEASE = {"lease": 60.0, "retention": 3600.0}


def _wrap_evalsha(store: RedisStore, around: Any) -> None:
    client = store.client()
    original = client.evalsha

    def evalsha(*args: Any) -> Any:
        return around(original, *args)

    client.evalsha = evalsha  # type: ignore[method-assign,assignment]


def test_callers_beyond_max_connections_wait_for_a_place(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix, max_connections=2)
    in_flight = most = 0
    lock = threading.Lock()

    def around(original: Any, *args: Any) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.002)  # long enough for the other threads to pile up
            return original(*args)
        finally:
            with lock:
                in_flight -= 1

    _wrap_evalsha(store, around)

    def claims(_: int) -> list[ClaimState]:
        return [store.claim("operation", uuid.uuid4().hex, "f", **LEASE).state for _ in range(10)]

    with ThreadPoolExecutor(8) as pool:
        states = [state for batch in pool.map(claims, range(8)) for state in batch]
    store.close()
    assert states == [ClaimState.CLAIMED] * 80
    assert most == 2


def test_a_caller_waiting_past_socket_timeout_fails_closed(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix, max_connections=1, socket_timeout=0.2)
    entered, leave = threading.Event(), threading.Event()

    def around(original: Any, *args: Any) -> Any:
        entered.set()
        leave.wait(5)
        return original(*args)

    _wrap_evalsha(store, around)
    holder = threading.Thread(
        target=store.claim, args=("operation", uuid.uuid4().hex, "f"), kwargs=LEASE
    )
    holder.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"stayed busy for 0.2 s.*max_connections"):
            store.claim("operation", uuid.uuid4().hex, "f", **LEASE)
        assert time.monotonic() - started >= 0.15
    finally:
        leave.set()
        holder.join(5)
    # The holder's place came back: the next call runs.
    assert store.claim("operation", uuid.uuid4().hex, "f", **LEASE).state is ClaimState.CLAIMED
    store.close()


def test_a_failed_command_gives_its_place_back(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix, max_connections=1, socket_timeout=0.2)
    failing = True

    def around(original: Any, *args: Any) -> Any:
        if failing:
            raise RedisConnectionError("refused")
        return original(*args)

    _wrap_evalsha(store, around)
    for _ in range(3):
        with pytest.raises(StoreUnavailable) as raised:
            store.complete("operation", uuid.uuid4().hex, "token", "{}")
        assert "stayed busy" not in str(raised.value)
    failing = False
    assert store.claim("operation", uuid.uuid4().hex, "f", **LEASE).state is ClaimState.CLAIMED
    assert store.get_result("operation", uuid.uuid4().hex) is None
    store.close()


def test_claim_tokens_are_distinct_32_hex_characters(redis_url: str, prefix: str) -> None:
    """The fencing token: as long as the uuid4 hex it replaced, and never the same twice."""
    store = RedisStore(redis_url, prefix=prefix)
    key = uuid.uuid4().hex
    tokens = set()
    for _ in range(50):
        claim = store.claim("operation", key, "f", lease=0.001, retention=3600.0)
        assert claim.state is ClaimState.CLAIMED and claim.token is not None
        assert len(claim.token) == 32 and int(claim.token, 16) >= 0
        tokens.add(claim.token)
        time.sleep(0.002)  # the lease runs out: the next claim takes the key over
    store.close()
    assert len(tokens) == 50
