"""A connection torn down under redis-py's asyncio client (redis/redis-py#4287; a connection
disconnected while it connects on redis-py 8) leaks an AttributeError or TypeError, not a
ConnectionError: the store runs the command once more, and only for errors raised inside
redis-py or asyncio."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection
from unipay_redis import RedisStore
from unipay_redis.store import _torn_down

from unipay.errors import StoreUnavailable


async def _leaked() -> Any:
    """What redis-py raises writing on a connection whose stream is gone (``_writer`` None)."""
    return await Connection()._send_packed_command([b"PING\r\n"])


async def _ours() -> Any:
    raise AttributeError("a bug of ours, not redis-py's")


async def _caught(command: Any) -> BaseException:
    try:
        await command()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


async def test_only_redis_pys_own_failures_count_as_torn_down() -> None:
    assert _torn_down(await _caught(_leaked))
    assert not _torn_down(await _caught(_ours))


async def test_a_torn_down_connection_is_tried_once_more_then_fails_closed() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")  # never connected: the commands are given
    failures = [_leaked]

    async def flaky() -> str:
        if failures:
            await failures.pop()()
        return "answered"

    assert await store._aretried(flaky) == "answered"
    with pytest.raises(StoreUnavailable, match="AttributeError"):
        await store._aretried(_leaked)
    with pytest.raises(AttributeError, match="ours"):
        await store._aretried(_ours)
