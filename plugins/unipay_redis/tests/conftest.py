"""Fixtures: the shared Redis (a key prefix of each test's own), private servers for faults,
and one local Redis Cluster (three primaries, a replica each) for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unipay_redis.testing import (
    REQUIRE_ENV,
    LocalCluster,
    RedisServer,
    delete_prefixed,
    require_binaries,
    shared_cluster,
    shared_redis_url,
    start_server,
)


def _drop_writes_after_connection_lost() -> None:
    """CPython's ``_SelectorSocketTransport.writelines`` lacks the check ``write`` has for a
    connection already lost (python/cpython#136234, in 3.12 and 3.13 as installed here): on a
    connection Redis closed, redis.asyncio's next command raises ``TypeError: 'NoneType' object
    is not callable`` instead of the ``ConnectionError`` it reconnects after, and the broken
    connection goes back to the pool. Seen once in CI (py312, the 64-task cluster claim test).
    This gives ``writelines`` the check ``write`` has, as the upstream fix does; unipay's code is
    unchanged, and docs/redis.md tells users on those versions."""
    import asyncio.selector_events as selector_events

    transport = selector_events._SelectorSocketTransport
    original = transport.writelines
    if getattr(original, "_unipay_checks_conn_lost", False):
        return

    def writelines(self: Any, list_of_data: Any) -> None:
        if self._conn_lost:  # what write() does: the data is dropped, the read then fails
            self._conn_lost += 1
            return
        original(self, list_of_data)

    writelines._unipay_checks_conn_lost = True  # type: ignore[attr-defined]
    transport.writelines = writelines  # type: ignore[method-assign]


_drop_writes_after_connection_lost()


def _unavailable(reason: str) -> None:
    """Skip, or fail where Redis is required (CI): there a missing Redis is a broken setup."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url, problem = shared_redis_url()
    if problem:
        _unavailable(problem)
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"unipay-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefixed(redis_url, prefix)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Six redis-server processes on free loopback ports, made a cluster by redis-cli."""
    problem = require_binaries()
    if problem:
        _unavailable(problem)
    with shared_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, without persistence: free to restart and kill."""
    problem = require_binaries()
    if problem:
        _unavailable(problem)
    server = start_server(tmp_path / "redis")
    yield server
    server.stop()
